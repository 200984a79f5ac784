//! expr-lang's builtin functions (lower-case names: `len`, `upper`, `split`, `int`, `toJSON`, `duration`, ...)
//! except the predicate ones (`any`, `filter`, `map`, ...), which the compiler evaluates itself because they run
//! a closure.
//!
//! Each builtin takes its evaluated arguments and returns a value or an error message; the compiler checks the
//! argument count and the call node attaches the source span.

use std::borrow::Cow;
use std::rc::Rc;

use base64::Engine;

use super::Scope;
use super::helpers;
use super::host::{HostKind, Ty};
use super::value::{Value, ValueMap, compare, from_json_owned};

/// A builtin or helper function.
pub type BuiltinFn = for<'a> fn(&mut Scope<'a>, Vec<Value<'a>>) -> Result<Value<'a>, String>;

pub struct Builtin {
    pub name: &'static str,
    pub f: BuiltinFn,
    pub min: usize,
    pub max: usize,
    /// Static result type (for compile-time checks of comparisons).
    pub ty: Ty,
}

const MANY: usize = usize::MAX;

macro_rules! b {
    ($name:literal, $f:path, $min:expr, $max:expr, $ty:ident) => {
        Builtin { name: $name, f: $f, min: $min, max: $max, ty: Ty::$ty }
    };
}

static BUILTINS: &[Builtin] = &[
    b!("len", len, 1, 1, Int),
    b!("first", first, 1, 1, Any),
    b!("last", last, 1, 1, Any),
    b!("get", get, 2, 2, Any),
    b!("take", take, 2, 2, Any),
    b!("keys", keys, 1, 1, Any),
    b!("values", values, 1, 1, Any),
    b!("lower", lower, 1, 1, Str),
    b!("upper", upper, 1, 1, Str),
    b!("trim", trim, 1, 2, Str),
    b!("trimPrefix", trim_prefix, 1, 2, Str),
    b!("trimSuffix", trim_suffix, 1, 2, Str),
    b!("split", split, 2, 3, Any),
    b!("splitAfter", split_after, 2, 3, Any),
    b!("join", join, 1, 2, Str),
    b!("replace", replace, 3, 4, Str),
    b!("reverse", reverse, 1, 1, Any),
    b!("bitand", bitand, 2, 2, Int),
    b!("bitor", bitor, 2, 2, Int),
    b!("bitxor", bitxor, 2, 2, Int),
    b!("bitnand", bitnand, 2, 2, Int),
    b!("bitnot", bitnot, 1, 1, Int),
    b!("bitshl", bitshl, 2, 2, Int),
    b!("bitshr", bitshr, 2, 2, Int),
    b!("bitushr", bitushr, 2, 2, Int),
    b!("repeat", repeat, 2, 2, Str),
    b!("indexOf", index_of, 2, 2, Int),
    b!("lastIndexOf", last_index_of, 2, 2, Int),
    b!("hasPrefix", has_prefix, 2, 2, Bool),
    b!("hasSuffix", has_suffix, 2, 2, Bool),
    b!("int", to_int, 1, 1, Int),
    b!("float", to_float, 1, 1, Float),
    b!("string", to_string, 1, 1, Str),
    b!("type", type_of, 1, 1, Str),
    b!("abs", abs, 1, 1, Any),
    b!("ceil", ceil, 1, 1, Float),
    b!("floor", floor, 1, 1, Float),
    b!("round", round, 1, 1, Float),
    b!("min", min, 1, MANY, Any),
    b!("max", max, 1, MANY, Any),
    b!("mean", mean, 1, MANY, Float),
    b!("median", median, 1, MANY, Float),
    b!("concat", concat, 1, MANY, Any),
    b!("flatten", flatten, 1, 1, Any),
    b!("uniq", uniq, 1, 1, Any),
    b!("sort", sort, 1, 2, Any),
    b!("toPairs", to_pairs, 1, 1, Any),
    b!("fromPairs", from_pairs, 1, 1, Any),
    b!("toJSON", to_json, 1, 1, Str),
    b!("fromJSON", from_json, 1, 1, Any),
    b!("toBase64", to_base64, 1, 1, Str),
    b!("fromBase64", from_base64, 1, 1, Str),
    b!("duration", duration, 1, 1, Any),
    b!("date", date, 1, 3, Time),
    b!("now", now, 0, 0, Time),
];

pub fn lookup(name: &str) -> Option<&'static Builtin> {
    BUILTINS.iter().find(|b| b.name == name)
}

pub fn names() -> impl Iterator<Item = &'static str> {
    BUILTINS.iter().map(|b| b.name)
}

type Res<'a> = Result<Value<'a>, String>;

/// Argument `i` as a string, or a type error naming the function.
pub fn arg_str<'v>(args: &'v [Value<'_>], i: usize, f: &str) -> Result<&'v str, String> {
    match args.get(i) {
        Some(Value::Str(s)) => Ok(s),
        Some(other) => Err(format!("{f}: argument {} must be a string, got {}", i + 1, other.type_name())),
        None => Err(format!("{f}: missing argument {}", i + 1)),
    }
}

pub fn arg_int(args: &[Value<'_>], i: usize, f: &str) -> Result<i64, String> {
    match args.get(i) {
        Some(Value::Int(n)) => Ok(*n),
        Some(Value::Float(x)) if x.fract() == 0.0 => Ok(*x as i64),
        Some(other) => Err(format!("{f}: argument {} must be an integer, got {}", i + 1, other.type_name())),
        None => Err(format!("{f}: missing argument {}", i + 1)),
    }
}

/// Returns `s` unchanged when the result equals the input (keeps borrowed strings borrowed).
fn keep_or<'a>(orig: &Value<'a>, new: String) -> Value<'a> {
    match orig {
        Value::Str(Cow::Borrowed(b)) if *b == new => Value::str(b),
        _ => Value::string(new),
    }
}

fn len<'a>(_: &mut Scope<'a>, a: Vec<Value<'a>>) -> Res<'a> {
    Ok(Value::Int(match &a[0] {
        // Bytes, as Go's `len(string)` (expr-lang uses reflect's Len).
        Value::Str(s) => s.len() as i64,
        Value::Array(v) => v.len() as i64,
        Value::Map(m) => m.len() as i64,
        Value::Host(h) if h.kind() != HostKind::Struct => h.len() as i64,
        other => return Err(format!("invalid argument for len (type {})", other.type_name())),
    }))
}

fn list_arg<'a>(v: &Value<'a>, f: &str) -> Result<Vec<Value<'a>>, String> {
    v.to_list().map(|l| l.into_owned()).map_err(|_| format!("{f}: expected an array, got {}", v.type_name()))
}

// `first`, `last` and `get` are expr-lang's member access with every failure turned into nil.

fn first<'a>(_: &mut Scope<'a>, mut a: Vec<Value<'a>>) -> Res<'a> {
    Ok(super::ops::index(a.pop().unwrap_or(Value::Nil), 0).unwrap_or(Value::Nil))
}

fn last<'a>(_: &mut Scope<'a>, mut a: Vec<Value<'a>>) -> Res<'a> {
    Ok(super::ops::index(a.pop().unwrap_or(Value::Nil), -1).unwrap_or(Value::Nil))
}

fn get<'a>(_: &mut Scope<'a>, mut a: Vec<Value<'a>>) -> Res<'a> {
    let key = a.pop().unwrap_or(Value::Nil);
    let obj = a.pop().unwrap_or(Value::Nil);
    Ok(super::ops::member(obj, &key).unwrap_or(Value::Nil))
}

fn take<'a>(_: &mut Scope<'a>, a: Vec<Value<'a>>) -> Res<'a> {
    let n = arg_int(&a, 1, "take")?.max(0) as usize;
    let l = list_arg(&a[0], "take")?;
    Ok(Value::array(l.into_iter().take(n)))
}

fn map_entries<'a>(v: &Value<'a>, f: &str) -> Result<Vec<(String, Value<'a>)>, String> {
    match v {
        Value::Map(m) => Ok(m.iter().map(|(k, v)| (k.clone(), v.clone())).collect()),
        Value::Host(h) if h.kind() == HostKind::Map => {
            Ok(h.keys().into_iter().map(|k| (k.clone(), h.field(&k).unwrap_or(Value::Nil))).collect())
        }
        other => Err(format!("cannot get {f} from {}", other.type_name())),
    }
}

fn keys<'a>(_: &mut Scope<'a>, a: Vec<Value<'a>>) -> Res<'a> {
    Ok(Value::array(map_entries(&a[0], "keys")?.into_iter().map(|(k, _)| Value::string(k))))
}

fn values<'a>(_: &mut Scope<'a>, a: Vec<Value<'a>>) -> Res<'a> {
    Ok(Value::array(map_entries(&a[0], "values")?.into_iter().map(|(_, v)| v)))
}

fn lower<'a>(_: &mut Scope<'a>, a: Vec<Value<'a>>) -> Res<'a> {
    let s = arg_str(&a, 0, "lower")?.to_lowercase();
    Ok(keep_or(&a[0], s))
}

fn upper<'a>(_: &mut Scope<'a>, a: Vec<Value<'a>>) -> Res<'a> {
    let s = arg_str(&a, 0, "upper")?.to_uppercase();
    Ok(keep_or(&a[0], s))
}

/// Go `unicode.IsSpace`.
pub fn is_go_space(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\x0b' | '\x0c' | '\r' | ' ' | '\u{85}' | '\u{a0}') || (c > '\u{ff}' && c.is_whitespace())
}

fn trim<'a>(_: &mut Scope<'a>, a: Vec<Value<'a>>) -> Res<'a> {
    let s = arg_str(&a, 0, "trim")?;
    let out = match a.get(1) {
        None => s.trim_matches(is_go_space),
        Some(_) => {
            let set = arg_str(&a, 1, "trim")?;
            s.trim_matches(|c| set.contains(c))
        }
    };
    Ok(keep_or(&a[0], out.to_string()))
}

fn trim_prefix<'a>(_: &mut Scope<'a>, a: Vec<Value<'a>>) -> Res<'a> {
    let s = arg_str(&a, 0, "trimPrefix")?;
    let p = if a.len() > 1 { arg_str(&a, 1, "trimPrefix")? } else { " " };
    Ok(keep_or(&a[0], s.strip_prefix(p).unwrap_or(s).to_string()))
}

fn trim_suffix<'a>(_: &mut Scope<'a>, a: Vec<Value<'a>>) -> Res<'a> {
    let s = arg_str(&a, 0, "trimSuffix")?;
    let p = if a.len() > 1 { arg_str(&a, 1, "trimSuffix")? } else { " " };
    Ok(keep_or(&a[0], s.strip_suffix(p).unwrap_or(s).to_string()))
}

/// Go `strings.SplitN` / `SplitAfterN` (`n < 0` = all).
pub fn go_split(s: &str, sep: &str, n: i64, after: bool) -> Vec<String> {
    if n == 0 {
        return Vec::new();
    }
    if sep.is_empty() {
        // Split into UTF-8 characters.
        let chars: Vec<String> = s.chars().map(String::from).collect();
        if n < 0 || (n as usize) >= chars.len() {
            return chars;
        }
        let n = n as usize;
        let mut out: Vec<String> = chars[..n - 1].to_vec();
        out.push(chars[n - 1..].concat());
        return out;
    }
    let mut out = Vec::new();
    let mut rest = s;
    while n < 0 || (out.len() as i64) < n - 1 {
        match rest.find(sep) {
            Some(i) => {
                let end = if after { i + sep.len() } else { i };
                out.push(rest[..end].to_string());
                rest = &rest[i + sep.len()..];
            }
            None => break,
        }
    }
    out.push(rest.to_string());
    out
}

fn split<'a>(_: &mut Scope<'a>, a: Vec<Value<'a>>) -> Res<'a> {
    let n = if a.len() > 2 { arg_int(&a, 2, "split")? } else { -1 };
    let parts = go_split(arg_str(&a, 0, "split")?, arg_str(&a, 1, "split")?, n, false);
    Ok(Value::array(parts.into_iter().map(Value::string)))
}

fn split_after<'a>(_: &mut Scope<'a>, a: Vec<Value<'a>>) -> Res<'a> {
    let n = if a.len() > 2 { arg_int(&a, 2, "splitAfter")? } else { -1 };
    let parts = go_split(arg_str(&a, 0, "splitAfter")?, arg_str(&a, 1, "splitAfter")?, n, true);
    Ok(Value::array(parts.into_iter().map(Value::string)))
}

fn join<'a>(_: &mut Scope<'a>, a: Vec<Value<'a>>) -> Res<'a> {
    let sep = if a.len() > 1 { arg_str(&a, 1, "join")? } else { "" };
    let items = list_arg(&a[0], "join")?;
    let mut parts = Vec::with_capacity(items.len());
    for v in &items {
        match v {
            Value::Str(s) => parts.push(s.to_string()),
            other => {
                return Err(format!(
                    "join: expected an array of strings, got an element of type {}",
                    other.type_name()
                ));
            }
        }
    }
    Ok(Value::string(parts.join(sep)))
}

fn replace<'a>(_: &mut Scope<'a>, a: Vec<Value<'a>>) -> Res<'a> {
    let s = arg_str(&a, 0, "replace")?;
    let old = arg_str(&a, 1, "replace")?;
    let new = arg_str(&a, 2, "replace")?;
    let n = if a.len() > 3 { arg_int(&a, 3, "replace")? } else { -1 };
    Ok(Value::string(go_replace(s, old, new, n)))
}

fn reverse<'a>(_: &mut Scope<'a>, a: Vec<Value<'a>>) -> Res<'a> {
    let mut l = a[0].to_list().map_err(|_| format!("cannot reverse {}", a[0].type_name()))?.into_owned();
    l.reverse();
    Ok(Value::from(l))
}

fn bit_args(a: &[Value<'_>], f: &str) -> Result<(i64, i64), String> {
    Ok((arg_int(a, 0, f)?, arg_int(a, 1, f)?))
}

fn bitand<'a>(_: &mut Scope<'a>, a: Vec<Value<'a>>) -> Res<'a> {
    let (x, y) = bit_args(&a, "bitand")?;
    Ok(Value::Int(x & y))
}

fn bitor<'a>(_: &mut Scope<'a>, a: Vec<Value<'a>>) -> Res<'a> {
    let (x, y) = bit_args(&a, "bitor")?;
    Ok(Value::Int(x | y))
}

fn bitxor<'a>(_: &mut Scope<'a>, a: Vec<Value<'a>>) -> Res<'a> {
    let (x, y) = bit_args(&a, "bitxor")?;
    Ok(Value::Int(x ^ y))
}

fn bitnand<'a>(_: &mut Scope<'a>, a: Vec<Value<'a>>) -> Res<'a> {
    let (x, y) = bit_args(&a, "bitnand")?;
    Ok(Value::Int(x & !y))
}

fn bitnot<'a>(_: &mut Scope<'a>, a: Vec<Value<'a>>) -> Res<'a> {
    Ok(Value::Int(!arg_int(&a, 0, "bitnot")?))
}

fn shift_count(y: i64) -> Result<u32, String> {
    if y < 0 {
        return Err(format!("invalid operation: negative shift count {y} (type int)"));
    }
    Ok(y.min(64) as u32)
}

fn bitshl<'a>(_: &mut Scope<'a>, a: Vec<Value<'a>>) -> Res<'a> {
    let (x, y) = bit_args(&a, "bitshl")?;
    Ok(Value::Int(x.checked_shl(shift_count(y)?).unwrap_or(0)))
}

fn bitshr<'a>(_: &mut Scope<'a>, a: Vec<Value<'a>>) -> Res<'a> {
    let (x, y) = bit_args(&a, "bitshr")?;
    let n = shift_count(y)?;
    Ok(Value::Int(x.checked_shr(n).unwrap_or(if x < 0 { -1 } else { 0 })))
}

fn bitushr<'a>(_: &mut Scope<'a>, a: Vec<Value<'a>>) -> Res<'a> {
    let (x, y) = bit_args(&a, "bitushr")?;
    Ok(Value::Int((x as u64).checked_shr(shift_count(y)?).unwrap_or(0) as i64))
}

/// Go `strings.Replace` (an empty `old` inserts `new` around every character).
pub fn go_replace(s: &str, old: &str, new: &str, n: i64) -> String {
    if n == 0 || old == new && !old.is_empty() {
        return s.to_string();
    }
    if old.is_empty() {
        let mut out = String::new();
        let mut count = 0;
        for c in s.chars() {
            if n < 0 || count < n {
                out.push_str(new);
                count += 1;
            }
            out.push(c);
        }
        if n < 0 || count < n {
            out.push_str(new);
        }
        return out;
    }
    if n < 0 { s.replace(old, new) } else { s.replacen(old, new, n as usize) }
}

fn repeat<'a>(_: &mut Scope<'a>, a: Vec<Value<'a>>) -> Res<'a> {
    let s = arg_str(&a, 0, "repeat")?;
    let n = arg_int(&a, 1, "repeat")?;
    if n < 0 {
        return Err(format!("invalid argument for repeat (expected positive integer, got {n})"));
    }
    if n > 1_000_000 || s.len().saturating_mul(n as usize) > 64 * 1024 * 1024 {
        return Err("memory budget exceeded".to_string());
    }
    Ok(Value::string(s.repeat(n as usize)))
}

fn index_of<'a>(_: &mut Scope<'a>, a: Vec<Value<'a>>) -> Res<'a> {
    let s = arg_str(&a, 0, "indexOf")?;
    let sub = arg_str(&a, 1, "indexOf")?;
    Ok(Value::Int(s.find(sub).map(|i| i as i64).unwrap_or(-1)))
}

fn last_index_of<'a>(_: &mut Scope<'a>, a: Vec<Value<'a>>) -> Res<'a> {
    let s = arg_str(&a, 0, "lastIndexOf")?;
    let sub = arg_str(&a, 1, "lastIndexOf")?;
    Ok(Value::Int(s.rfind(sub).map(|i| i as i64).unwrap_or(-1)))
}

fn has_prefix<'a>(_: &mut Scope<'a>, a: Vec<Value<'a>>) -> Res<'a> {
    Ok(Value::Bool(arg_str(&a, 0, "hasPrefix")?.starts_with(arg_str(&a, 1, "hasPrefix")?)))
}

fn has_suffix<'a>(_: &mut Scope<'a>, a: Vec<Value<'a>>) -> Res<'a> {
    Ok(Value::Bool(arg_str(&a, 0, "hasSuffix")?.ends_with(arg_str(&a, 1, "hasSuffix")?)))
}

fn to_int<'a>(_: &mut Scope<'a>, a: Vec<Value<'a>>) -> Res<'a> {
    Ok(Value::Int(match &a[0] {
        Value::Int(i) => *i,
        Value::Float(f) => {
            if f.is_nan() {
                i64::MIN
            } else {
                *f as i64
            }
        }
        Value::Duration(d) => *d,
        Value::Weekday(d) | Value::Month(d) => *d as i64,
        Value::Str(s) => s.parse::<i64>().map_err(|_| format!("strconv.Atoi: parsing {s:?}: invalid syntax"))?,
        other => return Err(format!("invalid operation: int({})", other.type_name())),
    }))
}

fn to_float<'a>(_: &mut Scope<'a>, a: Vec<Value<'a>>) -> Res<'a> {
    Ok(Value::Float(match &a[0] {
        Value::Int(i) => *i as f64,
        Value::Float(f) => *f,
        Value::Duration(d) => *d as f64,
        Value::Str(s) => {
            parse_go_float(s).ok_or_else(|| format!("strconv.ParseFloat: parsing {s:?}: invalid syntax"))?
        }
        other => return Err(format!("invalid operation: float({})", other.type_name())),
    }))
}

/// Go `strconv.ParseFloat`: decimal, exponent, `inf`/`infinity`/`nan` (any case), underscores not allowed.
pub fn parse_go_float(s: &str) -> Option<f64> {
    let lower = s.to_ascii_lowercase();
    let body = lower.trim_start_matches(['+', '-']);
    if matches!(body, "inf" | "infinity" | "nan") {
        return lower.parse::<f64>().ok().or(Some(if lower.starts_with('-') {
            f64::NEG_INFINITY
        } else if body == "nan" {
            f64::NAN
        } else {
            f64::INFINITY
        }));
    }
    if s.is_empty() || s.contains('_') || s.contains(char::is_whitespace) {
        return None;
    }
    s.parse::<f64>().ok()
}

fn to_string<'a>(_: &mut Scope<'a>, mut a: Vec<Value<'a>>) -> Res<'a> {
    match a.pop() {
        Some(Value::Str(s)) => Ok(Value::Str(s)),
        Some(v) => Ok(Value::string(v.to_go_string())),
        None => Ok(Value::str("")),
    }
}

fn type_of<'a>(_: &mut Scope<'a>, a: Vec<Value<'a>>) -> Res<'a> {
    Ok(Value::str(a[0].type_name()))
}

fn abs<'a>(_: &mut Scope<'a>, a: Vec<Value<'a>>) -> Res<'a> {
    match &a[0] {
        Value::Int(i) => Ok(Value::Int(i.wrapping_abs())),
        Value::Float(f) => Ok(Value::Float(f.abs())),
        other => Err(format!("invalid argument for abs (type {})", other.type_name())),
    }
}

fn num_arg(v: &Value<'_>, f: &str) -> Result<f64, String> {
    match v {
        Value::Int(i) => Ok(*i as f64),
        Value::Float(x) => Ok(*x),
        other => Err(format!("invalid argument for {f} (type {})", other.type_name())),
    }
}

fn ceil<'a>(_: &mut Scope<'a>, a: Vec<Value<'a>>) -> Res<'a> {
    Ok(Value::Float(num_arg(&a[0], "ceil")?.ceil()))
}

fn floor<'a>(_: &mut Scope<'a>, a: Vec<Value<'a>>) -> Res<'a> {
    Ok(Value::Float(num_arg(&a[0], "floor")?.floor()))
}

fn round<'a>(_: &mut Scope<'a>, a: Vec<Value<'a>>) -> Res<'a> {
    // Go math.Round: half away from zero, like Rust's f64::round.
    Ok(Value::Float(num_arg(&a[0], "round")?.round()))
}

/// Arguments of a variadic numeric builtin: `f(1, 2, 3)` or `f([1, 2, 3])` (nested arrays flattened).
fn numbers<'a>(a: Vec<Value<'a>>, f: &str) -> Result<Vec<Value<'a>>, String> {
    let mut out = Vec::new();
    for v in a {
        match &v {
            Value::Int(_) | Value::Float(_) => out.push(v),
            Value::Array(_) | Value::Host(_) => {
                let inner = list_arg(&v, f)?;
                out.extend(numbers(inner, f)?);
            }
            other => return Err(format!("invalid argument for {f} (type {})", other.type_name())),
        }
    }
    Ok(out)
}

fn min<'a>(_: &mut Scope<'a>, a: Vec<Value<'a>>) -> Res<'a> {
    extreme(a, "min", std::cmp::Ordering::Less)
}

fn max<'a>(_: &mut Scope<'a>, a: Vec<Value<'a>>) -> Res<'a> {
    extreme(a, "max", std::cmp::Ordering::Greater)
}

fn extreme<'a>(a: Vec<Value<'a>>, f: &str, want: std::cmp::Ordering) -> Res<'a> {
    let nums = numbers(a, f)?;
    let mut best: Option<Value<'a>> = None;
    for v in nums {
        best = Some(match best {
            None => v,
            Some(b) => {
                if compare(&v, &b)? == want {
                    v
                } else {
                    b
                }
            }
        });
    }
    best.ok_or_else(|| format!("{f}: no arguments"))
}

fn mean<'a>(_: &mut Scope<'a>, a: Vec<Value<'a>>) -> Res<'a> {
    let nums = numbers(a, "mean")?;
    if nums.is_empty() {
        return Ok(Value::Float(0.0));
    }
    let sum: f64 = nums.iter().filter_map(Value::as_f64).sum();
    Ok(Value::Float(sum / nums.len() as f64))
}

fn median<'a>(_: &mut Scope<'a>, a: Vec<Value<'a>>) -> Res<'a> {
    let mut nums: Vec<f64> = numbers(a, "median")?.iter().filter_map(Value::as_f64).collect();
    if nums.is_empty() {
        return Ok(Value::Float(0.0));
    }
    nums.sort_by(|x, y| x.partial_cmp(y).unwrap_or(std::cmp::Ordering::Equal));
    let n = nums.len();
    Ok(Value::Float(if n.is_multiple_of(2) { (nums[n / 2 - 1] + nums[n / 2]) / 2.0 } else { nums[n / 2] }))
}

/// `sum`: ints stay ints, any float makes the sum a float.
pub fn sum_values<'a>(items: impl Iterator<Item = Value<'a>>) -> Result<Value<'a>, String> {
    let mut int_sum: i64 = 0;
    let mut float_sum = 0.0;
    let mut is_float = false;
    for v in items {
        match v {
            Value::Int(i) => int_sum = int_sum.wrapping_add(i),
            Value::Float(f) => {
                is_float = true;
                float_sum += f;
            }
            other => return Err(format!("invalid argument for sum (type {})", other.type_name())),
        }
    }
    Ok(if is_float { Value::Float(float_sum + int_sum as f64) } else { Value::Int(int_sum) })
}

fn concat<'a>(_: &mut Scope<'a>, a: Vec<Value<'a>>) -> Res<'a> {
    let mut out = Vec::new();
    for v in &a {
        out.extend(list_arg(v, "concat")?);
    }
    Ok(Value::from(out))
}

fn flatten_into<'a>(v: Value<'a>, out: &mut Vec<Value<'a>>, depth: usize) -> Result<(), String> {
    if depth > 64 {
        return Err("flatten: nesting too deep".to_string());
    }
    match &v {
        Value::Array(_) => {
            for x in list_arg(&v, "flatten")? {
                flatten_into(x, out, depth + 1)?;
            }
        }
        Value::Host(h) if h.kind() == HostKind::List => {
            for x in list_arg(&v, "flatten")? {
                flatten_into(x, out, depth + 1)?;
            }
        }
        _ => out.push(v),
    }
    Ok(())
}

pub(crate) fn flatten_value<'a>(v: Value<'a>) -> Result<Vec<Value<'a>>, String> {
    let mut out = Vec::new();
    for x in list_arg(&v, "flatten")? {
        flatten_into(x, &mut out, 0)?;
    }
    Ok(out)
}

fn flatten<'a>(_: &mut Scope<'a>, mut a: Vec<Value<'a>>) -> Res<'a> {
    Ok(Value::from(flatten_value(a.pop().unwrap_or(Value::Nil))?))
}

pub(crate) fn uniq_values<'a>(items: Vec<Value<'a>>) -> Vec<Value<'a>> {
    let mut out: Vec<Value<'a>> = Vec::with_capacity(items.len());
    for v in items {
        if !out.iter().any(|o| o == &v) {
            out.push(v);
        }
    }
    out
}

fn uniq<'a>(_: &mut Scope<'a>, a: Vec<Value<'a>>) -> Res<'a> {
    Ok(Value::from(uniq_values(list_arg(&a[0], "uniq")?)))
}

fn sort<'a>(_: &mut Scope<'a>, a: Vec<Value<'a>>) -> Res<'a> {
    let desc = match a.get(1) {
        None => false,
        Some(v) => match v.as_str() {
            Some("asc") => false,
            Some("desc") => true,
            _ => return Err("sort: order must be \"asc\" or \"desc\"".to_string()),
        },
    };
    let mut items = list_arg(&a[0], "sort")?;
    let mut err = None;
    items.sort_by(|x, y| {
        let o = compare(x, y).unwrap_or_else(|e| {
            err.get_or_insert(e);
            std::cmp::Ordering::Equal
        });
        if desc { o.reverse() } else { o }
    });
    match err {
        Some(e) => Err(format!("sort: {e}")),
        None => Ok(Value::from(items)),
    }
}

fn to_pairs<'a>(_: &mut Scope<'a>, a: Vec<Value<'a>>) -> Res<'a> {
    Ok(Value::array(map_entries(&a[0], "toPairs")?.into_iter().map(|(k, v)| Value::array([Value::string(k), v]))))
}

fn from_pairs<'a>(_: &mut Scope<'a>, a: Vec<Value<'a>>) -> Res<'a> {
    let mut m = ValueMap::new();
    for p in list_arg(&a[0], "fromPairs")? {
        let pair = list_arg(&p, "fromPairs")?;
        if pair.len() != 2 {
            return Err("fromPairs: each pair must have two elements".to_string());
        }
        let key = match &pair[0] {
            Value::Str(s) => s.to_string(),
            other => other.to_go_string(),
        };
        m.insert(key, pair[1].clone());
    }
    Ok(Value::Map(Rc::new(m)))
}

fn to_json<'a>(_: &mut Scope<'a>, a: Vec<Value<'a>>) -> Res<'a> {
    Ok(Value::string(helpers::json::go_json(&a[0].to_json(), true)))
}

fn from_json<'a>(_: &mut Scope<'a>, a: Vec<Value<'a>>) -> Res<'a> {
    let s = arg_str(&a, 0, "fromJSON")?;
    let j: serde_json::Value = serde_json::from_str(s).map_err(|e| format!("fromJSON: {e}"))?;
    Ok(from_json_owned(j))
}

fn to_base64<'a>(_: &mut Scope<'a>, a: Vec<Value<'a>>) -> Res<'a> {
    Ok(Value::string(base64::engine::general_purpose::STANDARD.encode(arg_str(&a, 0, "toBase64")?)))
}

fn from_base64<'a>(_: &mut Scope<'a>, a: Vec<Value<'a>>) -> Res<'a> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(arg_str(&a, 0, "fromBase64")?)
        .map_err(|e| format!("fromBase64: {e}"))?;
    Ok(Value::string(String::from_utf8_lossy(&bytes).into_owned()))
}

fn duration<'a>(_: &mut Scope<'a>, a: Vec<Value<'a>>) -> Res<'a> {
    match &a[0] {
        Value::Str(s) => crate::gocompat::duration::parse_duration(s).map(Value::Duration),
        Value::Int(i) => Ok(Value::Duration(*i)),
        Value::Duration(d) => Ok(Value::Duration(*d)),
        other => Err(format!("duration: expected a string, got {}", other.type_name())),
    }
}

fn date<'a>(_: &mut Scope<'a>, a: Vec<Value<'a>>) -> Res<'a> {
    let s = arg_str(&a, 0, "date")?;
    let tz = match a.get(2) {
        Some(_) => Some(arg_str(&a, 2, "date")?),
        None => None,
    };
    if tz.is_some_and(|z| z != "UTC" && z != "Local") {
        return Err(format!("date: unsupported time zone {:?} (only UTC is available)", tz.unwrap_or("")));
    }
    let t = match a.get(1) {
        Some(_) => helpers::time::parse_go_layout(s, arg_str(&a, 1, "date")?)?,
        None => helpers::time::parse_any(s).ok_or_else(|| format!("invalid date {s}"))?,
    };
    Ok(Value::Time(t))
}

fn now<'a>(cx: &mut Scope<'a>, _: Vec<Value<'a>>) -> Res<'a> {
    Ok(Value::Time(cx.services.now()))
}
