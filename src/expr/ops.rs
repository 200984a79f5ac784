//! Generic run-time operations on [`Value`]s: member access, indexing, slicing, arithmetic, comparisons, `in`
//! and the string operators, with expr-lang's semantics. Errors are plain strings; nodes attach the span.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::rc::Rc;

use super::ast::BinOp;
use super::host::HostKind;
use super::value::{Value, compare, equal};

/// `obj.key` / `obj[key]`.
pub fn member<'a>(obj: Value<'a>, key: &Value<'_>) -> Result<Value<'a>, String> {
    match (&obj, key) {
        (_, Value::Str(k)) => member_str(obj, k),
        (Value::Array(_) | Value::Host(_) | Value::Str(_), _) if key.as_int().is_some() || key.as_f64().is_some() => {
            let i = match key {
                Value::Float(f) if f.fract() != 0.0 => return Err(format!("invalid array index {f}")),
                Value::Float(f) => *f as i64,
                other => other.as_int().unwrap_or(0),
            };
            index(obj, i)
        }
        (Value::Nil, _) => Err(format!("cannot fetch {} from nil", key.to_go_string())),
        (Value::Map(_), _) => Ok(Value::Nil),
        _ => Err(format!("cannot fetch {} from {}", key.to_go_string(), obj.type_name())),
    }
}

/// `obj.name` with a string key.
pub fn member_str<'a>(obj: Value<'a>, key: &str) -> Result<Value<'a>, String> {
    match obj {
        Value::Host(h) => match h.kind() {
            HostKind::List => Err(format!("cannot fetch {key} from {}", h.type_name())),
            _ => h.field(key).ok_or_else(|| format!("type {} has no field {key}", h.type_name())),
        },
        Value::Map(m) => Ok(m.get(key).cloned().unwrap_or(Value::Nil)),
        Value::Nil => Err(format!("cannot fetch {key} from nil")),
        other => Err(format!("cannot fetch {key} from {}", other.type_name())),
    }
}

fn wrap_index(i: i64, len: usize) -> Result<usize, String> {
    let j = if i < 0 { i + len as i64 } else { i };
    if j < 0 || j >= len as i64 {
        return Err(format!("index out of range: {i} (array length is {len})"));
    }
    Ok(j as usize)
}

/// `obj[i]` with expr-lang's negative indices (from the end) and an error when out of range.
pub fn index<'a>(obj: Value<'a>, i: i64) -> Result<Value<'a>, String> {
    match obj {
        Value::Array(a) => Ok(a[wrap_index(i, a.len())?].clone()),
        Value::Host(h) if h.kind() == HostKind::List => {
            let j = wrap_index(i, h.len())?;
            h.index(j).ok_or_else(|| format!("index out of range: {i}"))
        }
        Value::Str(s) => {
            // Characters, not bytes, so the result is valid text.
            let chars: Vec<char> = s.chars().collect();
            let j = wrap_index(i, chars.len())?;
            Ok(Value::string(chars[j].to_string()))
        }
        Value::Nil => Err(format!("cannot fetch {i} from nil")),
        other => Err(format!("cannot fetch {i} from {}", other.type_name())),
    }
}

fn slice_bounds(len: usize, from: Option<i64>, to: Option<i64>) -> (usize, usize) {
    let len_i = len as i64;
    let mut a = from.unwrap_or(0);
    let mut b = to.unwrap_or(len_i);
    if a < 0 {
        a += len_i;
    }
    if b < 0 {
        b += len_i;
    }
    let a = a.clamp(0, len_i);
    let b = b.clamp(0, len_i);
    let a = a.min(b);
    (a as usize, b as usize)
}

/// `obj[from:to]`: bounds may be negative (from the end) and are clamped, as expr-lang does.
pub fn slice<'a>(obj: Value<'a>, from: Option<i64>, to: Option<i64>) -> Result<Value<'a>, String> {
    match obj {
        Value::Array(a) => {
            let (x, y) = slice_bounds(a.len(), from, to);
            Ok(Value::Array(Rc::new(a[x..y].to_vec())))
        }
        Value::Host(h) if h.kind() == HostKind::List => {
            let (x, y) = slice_bounds(h.len(), from, to);
            Ok(Value::array((x..y).filter_map(|i| h.index(i))))
        }
        Value::Str(s) => {
            let (x, y) = slice_bounds(s.len(), from, to);
            let (x, y) = (floor_boundary(&s, x), floor_boundary(&s, y));
            Ok(match s {
                Cow::Borrowed(b) => Value::str(&b[x..y]),
                Cow::Owned(o) => Value::string(o[x..y].to_string()),
            })
        }
        Value::Nil => Err("cannot slice nil".to_string()),
        other => Err(format!("cannot slice {}", other.type_name())),
    }
}

fn floor_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// `needle in haystack`: array membership (expr-lang equality) or map key presence.
pub fn contains_in(needle: &Value<'_>, hay: &Value<'_>) -> Result<bool, String> {
    match hay {
        Value::Array(a) => Ok(a.iter().any(|v| equal(needle, v))),
        Value::Map(m) => match needle {
            Value::Str(k) => Ok(m.contains_key(&**k)),
            _ => Ok(false),
        },
        Value::Host(h) => match h.kind() {
            HostKind::List => Ok((0..h.len()).filter_map(|i| h.index(i)).any(|v| equal(needle, &v))),
            HostKind::Map => Ok(needle.as_str().is_some_and(|k| h.contains_key(k))),
            HostKind::Struct => Ok(needle.as_str().is_some_and(|k| h.field(k).is_some())),
        },
        Value::Nil => Ok(false),
        other => Err(format!("operator \"in\" not defined on {}", other.type_name())),
    }
}

fn strings<'x>(op: BinOp, l: &'x Value<'_>, r: &'x Value<'_>) -> Result<(&'x str, &'x str), String> {
    match (l, r) {
        (Value::Str(a), Value::Str(b)) => Ok((a, b)),
        _ => Err(format!("invalid operation: {} {} {} (mismatched types)", l.type_name(), op.symbol(), r.type_name())),
    }
}

fn mismatch(op: BinOp, l: &Value<'_>, r: &Value<'_>) -> String {
    format!("invalid operation: {} {} {} (mismatched types)", l.type_name(), op.symbol(), r.type_name())
}

/// Every binary operator except the short-circuit ones (`and`, `or`, `??`), `in` and `matches`.
pub fn binary<'a>(op: BinOp, l: Value<'a>, r: Value<'a>) -> Result<Value<'a>, String> {
    use Value::*;
    Ok(match op {
        BinOp::Eq => Bool(equal(&l, &r)),
        BinOp::Ne => Bool(!equal(&l, &r)),
        BinOp::Lt => Bool(compare(&l, &r)? == Ordering::Less),
        BinOp::Le => Bool(compare(&l, &r)? != Ordering::Greater),
        BinOp::Gt => Bool(compare(&l, &r)? == Ordering::Greater),
        BinOp::Ge => Bool(compare(&l, &r)? != Ordering::Less),
        BinOp::Contains => {
            let (a, b) = strings(op, &l, &r)?;
            Bool(a.contains(b))
        }
        BinOp::StartsWith => {
            let (a, b) = strings(op, &l, &r)?;
            Bool(a.starts_with(b))
        }
        BinOp::EndsWith => {
            let (a, b) = strings(op, &l, &r)?;
            Bool(a.ends_with(b))
        }
        BinOp::In => Bool(contains_in(&l, &r)?),
        BinOp::Add => match (&l, &r) {
            (Int(a), Int(b)) => Int(a.wrapping_add(*b)),
            (Str(a), Str(b)) => {
                let mut s = String::with_capacity(a.len() + b.len());
                s.push_str(a);
                s.push_str(b);
                Value::string(s)
            }
            (Time(t), Duration(d)) | (Duration(d), Time(t)) => {
                Time(t.checked_add_signed(chrono::Duration::nanoseconds(*d)).ok_or("time out of range")?)
            }
            (Duration(a), Duration(b)) => Duration(a.wrapping_add(*b)),
            (Array(a), Array(b)) => Value::array(a.iter().chain(b.iter()).cloned()),
            _ => match (l.as_f64(), r.as_f64()) {
                (Some(a), Some(b)) if is_num(&l) && is_num(&r) => Float(a + b),
                _ => return Err(mismatch(op, &l, &r)),
            },
        },
        BinOp::Sub => match (&l, &r) {
            (Int(a), Int(b)) => Int(a.wrapping_sub(*b)),
            (Time(a), Time(b)) => Duration((*a - *b).num_nanoseconds().unwrap_or(i64::MAX)),
            (Time(t), Duration(d)) => {
                Time(t.checked_sub_signed(chrono::Duration::nanoseconds(*d)).ok_or("time out of range")?)
            }
            (Duration(a), Duration(b)) => Duration(a.wrapping_sub(*b)),
            _ => match (l.as_f64(), r.as_f64()) {
                (Some(a), Some(b)) if is_num(&l) && is_num(&r) => Float(a - b),
                _ => return Err(mismatch(op, &l, &r)),
            },
        },
        BinOp::Mul => match (&l, &r) {
            (Int(a), Int(b)) => Int(a.wrapping_mul(*b)),
            (Duration(d), Int(i)) | (Int(i), Duration(d)) => Duration(d.wrapping_mul(*i)),
            _ => match (l.as_f64(), r.as_f64()) {
                (Some(a), Some(b)) if is_num(&l) && is_num(&r) => Float(a * b),
                _ => return Err(mismatch(op, &l, &r)),
            },
        },
        BinOp::Div => match (l.as_f64(), r.as_f64()) {
            (Some(a), Some(b)) if is_num(&l) && is_num(&r) => {
                if b == 0.0 {
                    return Err("division by zero".to_string());
                }
                Float(a / b)
            }
            _ => return Err(mismatch(op, &l, &r)),
        },
        BinOp::Mod => match (&l, &r) {
            (Int(a), Int(b)) => {
                if *b == 0 {
                    return Err("integer divide by zero".to_string());
                }
                Int(a.wrapping_rem(*b))
            }
            _ => return Err(mismatch(op, &l, &r)),
        },
        BinOp::Pow => match (l.as_f64(), r.as_f64()) {
            (Some(a), Some(b)) if is_num(&l) && is_num(&r) => Float(a.powf(b)),
            _ => return Err(mismatch(op, &l, &r)),
        },
        BinOp::Range => match (&l, &r) {
            (Int(a), Int(b)) => {
                if b.saturating_sub(*a) > 10_000_000 {
                    return Err("range too large".to_string());
                }
                Value::array((*a..=*b).map(Int))
            }
            _ => return Err(mismatch(op, &l, &r)),
        },
        BinOp::And | BinOp::Or | BinOp::Coalesce | BinOp::Matches => {
            return Err(format!("operator {} is not a plain binary operator", op.symbol()));
        }
    })
}

fn is_num(v: &Value<'_>) -> bool {
    matches!(v, Value::Int(_) | Value::Float(_))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexing_and_slicing() {
        let a = Value::array([Value::Int(1), Value::Int(2), Value::Int(3)]);
        assert_eq!(index(a.clone(), -1).unwrap(), Value::Int(3));
        assert!(index(a.clone(), 3).unwrap_err().contains("out of range"));
        assert_eq!(slice(a.clone(), Some(-2), None).unwrap(), Value::array([Value::Int(2), Value::Int(3)]));
        assert_eq!(slice(a, Some(5), Some(1)).unwrap(), Value::array([]));
        assert_eq!(slice(Value::from("hello"), Some(1), Some(3)).unwrap(), Value::from("el"));
    }

    #[test]
    fn arithmetic() {
        assert_eq!(binary(BinOp::Add, Value::Int(1), Value::Int(2)).unwrap(), Value::Int(3));
        assert_eq!(binary(BinOp::Add, Value::Int(1), Value::Float(0.5)).unwrap(), Value::Float(1.5));
        assert_eq!(binary(BinOp::Div, Value::Int(3), Value::Int(2)).unwrap(), Value::Float(1.5));
        assert!(binary(BinOp::Div, Value::Int(3), Value::Int(0)).is_err());
        assert!(binary(BinOp::Mod, Value::Int(3), Value::Int(0)).is_err());
        assert!(binary(BinOp::Add, Value::from("a"), Value::Int(1)).is_err());
        assert_eq!(binary(BinOp::Add, Value::from("a"), Value::from("b")).unwrap(), Value::from("ab"));
    }
}
