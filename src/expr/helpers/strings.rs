//! String helpers with Go `strings`/`fmt` semantics: `Upper`, `TrimSpace`, `Split`, `Sprintf`, `Match` (glob), ...

use base64::Engine;

use super::super::Scope;
use super::super::builtins::{arg_int, arg_str, go_replace, go_split, is_go_space, parse_go_float};
use super::super::value::{Value, go_float_g};

type Res<'a> = Result<Value<'a>, String>;

pub fn upper<'a>(_: &mut Scope<'a>, a: Vec<Value<'a>>) -> Res<'a> {
    Ok(Value::string(arg_str(&a, 0, "Upper")?.to_uppercase()))
}

pub fn lower<'a>(_: &mut Scope<'a>, a: Vec<Value<'a>>) -> Res<'a> {
    Ok(Value::string(arg_str(&a, 0, "Lower")?.to_lowercase()))
}

pub fn trim_space<'a>(_: &mut Scope<'a>, a: Vec<Value<'a>>) -> Res<'a> {
    Ok(Value::string(arg_str(&a, 0, "TrimSpace")?.trim_matches(is_go_space).to_string()))
}

pub fn trim_prefix<'a>(_: &mut Scope<'a>, a: Vec<Value<'a>>) -> Res<'a> {
    let s = arg_str(&a, 0, "TrimPrefix")?;
    Ok(Value::string(s.strip_prefix(arg_str(&a, 1, "TrimPrefix")?).unwrap_or(s).to_string()))
}

pub fn trim_suffix<'a>(_: &mut Scope<'a>, a: Vec<Value<'a>>) -> Res<'a> {
    let s = arg_str(&a, 0, "TrimSuffix")?;
    Ok(Value::string(s.strip_suffix(arg_str(&a, 1, "TrimSuffix")?).unwrap_or(s).to_string()))
}

pub fn trim<'a>(_: &mut Scope<'a>, a: Vec<Value<'a>>) -> Res<'a> {
    let cut = arg_str(&a, 1, "Trim")?;
    Ok(Value::string(arg_str(&a, 0, "Trim")?.trim_matches(|c| cut.contains(c)).to_string()))
}

pub fn trim_left<'a>(_: &mut Scope<'a>, a: Vec<Value<'a>>) -> Res<'a> {
    let cut = arg_str(&a, 1, "TrimLeft")?;
    Ok(Value::string(arg_str(&a, 0, "TrimLeft")?.trim_start_matches(|c| cut.contains(c)).to_string()))
}

pub fn trim_right<'a>(_: &mut Scope<'a>, a: Vec<Value<'a>>) -> Res<'a> {
    let cut = arg_str(&a, 1, "TrimRight")?;
    Ok(Value::string(arg_str(&a, 0, "TrimRight")?.trim_end_matches(|c| cut.contains(c)).to_string()))
}

fn strings_value<'a>(v: Vec<String>) -> Value<'a> {
    Value::array(v.into_iter().map(Value::string))
}

pub fn split<'a>(_: &mut Scope<'a>, a: Vec<Value<'a>>) -> Res<'a> {
    Ok(strings_value(go_split(arg_str(&a, 0, "Split")?, arg_str(&a, 1, "Split")?, -1, false)))
}

pub fn split_n<'a>(_: &mut Scope<'a>, a: Vec<Value<'a>>) -> Res<'a> {
    let n = arg_int(&a, 2, "SplitN")?;
    Ok(strings_value(go_split(arg_str(&a, 0, "SplitN")?, arg_str(&a, 1, "SplitN")?, n, false)))
}

pub fn split_after<'a>(_: &mut Scope<'a>, a: Vec<Value<'a>>) -> Res<'a> {
    Ok(strings_value(go_split(arg_str(&a, 0, "SplitAfter")?, arg_str(&a, 1, "SplitAfter")?, -1, true)))
}

pub fn split_after_n<'a>(_: &mut Scope<'a>, a: Vec<Value<'a>>) -> Res<'a> {
    let n = arg_int(&a, 2, "SplitAfterN")?;
    Ok(strings_value(go_split(arg_str(&a, 0, "SplitAfterN")?, arg_str(&a, 1, "SplitAfterN")?, n, true)))
}

pub fn fields<'a>(_: &mut Scope<'a>, a: Vec<Value<'a>>) -> Res<'a> {
    Ok(Value::array(
        arg_str(&a, 0, "Fields")?.split(is_go_space).filter(|s| !s.is_empty()).map(|s| Value::string(s.to_string())),
    ))
}

pub fn join<'a>(_: &mut Scope<'a>, a: Vec<Value<'a>>) -> Res<'a> {
    let sep = arg_str(&a, 1, "Join")?;
    let items = a[0].to_list().map_err(|e| format!("Join: {e}"))?;
    let mut parts = Vec::with_capacity(items.len());
    for v in items.iter() {
        parts.push(v.as_str().ok_or_else(|| format!("Join: expected strings, got {}", v.type_name()))?.to_string());
    }
    Ok(Value::string(parts.join(sep)))
}

pub fn index<'a>(_: &mut Scope<'a>, a: Vec<Value<'a>>) -> Res<'a> {
    let s = arg_str(&a, 0, "Index")?;
    Ok(Value::Int(s.find(arg_str(&a, 1, "Index")?).map(|i| i as i64).unwrap_or(-1)))
}

pub fn index_any<'a>(_: &mut Scope<'a>, a: Vec<Value<'a>>) -> Res<'a> {
    let s = arg_str(&a, 0, "IndexAny")?;
    let chars = arg_str(&a, 1, "IndexAny")?;
    Ok(Value::Int(s.find(|c| chars.contains(c)).map(|i| i as i64).unwrap_or(-1)))
}

pub fn replace<'a>(_: &mut Scope<'a>, a: Vec<Value<'a>>) -> Res<'a> {
    let n = arg_int(&a, 3, "Replace")?;
    Ok(Value::string(go_replace(arg_str(&a, 0, "Replace")?, arg_str(&a, 1, "Replace")?, arg_str(&a, 2, "Replace")?, n)))
}

pub fn replace_all<'a>(_: &mut Scope<'a>, a: Vec<Value<'a>>) -> Res<'a> {
    let s = arg_str(&a, 0, "ReplaceAll")?;
    Ok(Value::string(go_replace(s, arg_str(&a, 1, "ReplaceAll")?, arg_str(&a, 2, "ReplaceAll")?, -1)))
}

pub fn to_string<'a>(_: &mut Scope<'a>, mut a: Vec<Value<'a>>) -> Res<'a> {
    Ok(match a.pop() {
        Some(Value::Str(s)) => Value::Str(s),
        _ => Value::str(""),
    })
}

/// `Match(pattern, s)`: CrowdSec's byte-wise glob (`*` any run, `?` one byte).
pub fn glob_match<'a>(_: &mut Scope<'a>, a: Vec<Value<'a>>) -> Res<'a> {
    let p = arg_str(&a, 0, "Match")?.as_bytes();
    let s = arg_str(&a, 1, "Match")?.as_bytes();
    Ok(Value::Bool(glob(p, s)))
}

/// The exact result of CrowdSec's recursive `Match`, computed bottom-up over (pattern suffix, name suffix) pairs so
/// hostile names cannot trigger its exponential backtracking. Its quirks are kept: an empty name only matches the
/// pattern `*` (or an empty pattern), so `a**` does not match `a`.
pub fn glob(p: &[u8], s: &[u8]) -> bool {
    let (np, ns) = (p.len(), s.len());
    // m[j] = Match(p[i..], s[j..]) for the current i, computed from i = np down to 0.
    let mut next: Vec<bool> = (0..=ns).map(|j| j == ns).collect();
    let mut cur = vec![false; ns + 1];
    for i in (0..np).rev() {
        let rest_is_star = np - i == 1 && p[i] == b'*';
        // Suffix OR of `next` for the `*` case: any k >= j with Match(p[i+1..], s[k..]).
        let mut any_from = false;
        for j in (0..=ns).rev() {
            any_from |= next[j];
            cur[j] = if j == ns {
                rest_is_star
            } else if p[i] == b'*' {
                any_from
            } else {
                (p[i] == b'?' || p[i] == s[j]) && next[j + 1]
            };
        }
        std::mem::swap(&mut next, &mut cur);
    }
    next[0]
}

pub fn b64_decode<'a>(_: &mut Scope<'a>, a: Vec<Value<'a>>) -> Res<'a> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(arg_str(&a, 0, "B64Decode")?)
        .map_err(|e| format!("B64Decode: {e}"))?;
    Ok(Value::string(String::from_utf8_lossy(&bytes).into_owned()))
}

pub fn get<'a>(_: &mut Scope<'a>, a: Vec<Value<'a>>) -> Res<'a> {
    let i = arg_int(&a, 1, "Get")?;
    let list = a[0].to_list().map_err(|e| format!("Get: {e}"))?;
    if i < 0 {
        return Err(format!("Get: index out of range [{i}]"));
    }
    if i as usize >= list.len() {
        return Ok(Value::str(""));
    }
    Ok(list[i as usize].clone())
}

pub fn atof<'a>(_: &mut Scope<'a>, a: Vec<Value<'a>>) -> Res<'a> {
    let s = arg_str(&a, 0, "Atof")?;
    Ok(Value::Float(parse_go_float(s).unwrap_or_else(|| {
        tracing::warn!("Atof: cannot parse {s:?} as a float");
        0.0
    })))
}

pub fn key_exists<'a>(_: &mut Scope<'a>, a: Vec<Value<'a>>) -> Res<'a> {
    let k = arg_str(&a, 0, "KeyExists")?;
    Ok(Value::Bool(match &a[1] {
        Value::Map(m) => m.contains_key(k),
        Value::Host(h) => h.contains_key(k),
        _ => false,
    }))
}

pub fn log_info<'a>(_: &mut Scope<'a>, a: Vec<Value<'a>>) -> Res<'a> {
    let fmt = arg_str(&a, 0, "LogInfo")?;
    tracing::info!("{}", go_sprintf(fmt, &a[1..]));
    Ok(Value::Bool(true))
}

/// `filepath.Base`.
pub fn basename<'a>(_: &mut Scope<'a>, a: Vec<Value<'a>>) -> Res<'a> {
    let p = arg_str(&a, 0, "basename")?;
    if p.is_empty() {
        return Ok(Value::str("."));
    }
    let t = p.trim_end_matches('/');
    if t.is_empty() {
        return Ok(Value::str("/"));
    }
    Ok(Value::string(t.rsplit('/').next().unwrap_or(t).to_string()))
}

pub fn sprintf<'a>(_: &mut Scope<'a>, a: Vec<Value<'a>>) -> Res<'a> {
    let fmt = arg_str(&a, 0, "Sprintf")?;
    Ok(Value::string(go_sprintf(fmt, &a[1..])))
}

/// Go's `fmt.Sprintf` for the common verbs (`%v %+v %s %q %d %f %e %g %x %X %o %b %c %t %T %%`) with flags
/// (`-+# 0`), width and precision. Mismatches print Go's `%!verb(type=value)` markers.
pub fn go_sprintf(fmt: &str, args: &[Value<'_>]) -> String {
    let mut out = String::new();
    let mut it = fmt.chars().peekable();
    let mut next = 0;
    while let Some(c) = it.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let (mut minus, mut plus, mut sharp, mut zero, mut space) = (false, false, false, false, false);
        while let Some(&f) = it.peek() {
            match f {
                '-' => minus = true,
                '+' => plus = true,
                '#' => sharp = true,
                '0' => zero = true,
                ' ' => space = true,
                _ => break,
            }
            it.next();
        }
        let mut width: Option<usize> = None;
        while let Some(d) = it.peek().and_then(|c| c.to_digit(10)) {
            width = Some(width.unwrap_or(0) * 10 + d as usize);
            it.next();
        }
        let mut prec: Option<usize> = None;
        if it.peek() == Some(&'.') {
            it.next();
            prec = Some(0);
            while let Some(d) = it.peek().and_then(|c| c.to_digit(10)) {
                prec = Some(prec.unwrap_or(0) * 10 + d as usize);
                it.next();
            }
        }
        let Some(verb) = it.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.get(next) else {
            out.push_str(&format!("%!{verb}(MISSING)"));
            continue;
        };
        next += 1;
        let bad = || format!("%!{verb}({}={})", go_type(arg), arg.to_go_string());
        let body = match (verb, arg) {
            ('v', Value::Float(f)) => match prec {
                Some(p) => format!("{f:.p$}"),
                None => go_float_g(*f),
            },
            ('v', Value::Str(s)) if sharp => format!("{s:?}"),
            ('v', v) => v.to_go_string(),
            ('T', v) => go_type(v).to_string(),
            ('s', Value::Str(s)) => match prec {
                Some(p) => s.chars().take(p).collect(),
                None => s.to_string(),
            },
            ('s', v @ (Value::Array(_) | Value::Map(_))) => v.to_go_string(),
            ('q', Value::Str(s)) => go_quote(s),
            ('d', v) if v.as_int().is_some() => {
                let i = v.as_int().unwrap_or(0);
                if plus && i >= 0 {
                    format!("+{i}")
                } else if space && i >= 0 {
                    format!(" {i}")
                } else {
                    i.to_string()
                }
            }
            ('x', Value::Int(i)) => hex(*i, false, sharp),
            ('X', Value::Int(i)) => hex(*i, true, sharp),
            ('x', Value::Str(s)) => s.bytes().map(|b| format!("{b:02x}")).collect(),
            ('X', Value::Str(s)) => s.bytes().map(|b| format!("{b:02X}")).collect(),
            ('o', Value::Int(i)) => {
                if sharp {
                    format!("0{i:o}")
                } else {
                    format!("{i:o}")
                }
            }
            ('b', Value::Int(i)) => format!("{i:b}"),
            ('c', Value::Int(i)) => char::from_u32(*i as u32).map(String::from).unwrap_or_else(|| "\u{fffd}".into()),
            ('t', Value::Bool(b)) => b.to_string(),
            ('f' | 'F', v) if matches!(v, Value::Float(_) | Value::Int(_)) && matches!(v, Value::Float(_)) => {
                let f = v.as_f64().unwrap_or(0.0);
                let p = prec.unwrap_or(6);
                let s = format!("{f:.p$}");
                if plus && f >= 0.0 { format!("+{s}") } else { s }
            }
            ('e' | 'E', Value::Float(f)) => {
                let s = go_exp(*f, prec.unwrap_or(6));
                if verb == 'E' { s.to_uppercase() } else { s }
            }
            ('g' | 'G', Value::Float(f)) => match prec {
                None => go_float_g(*f),
                Some(p) => {
                    let s = format!("{:.*e}", p.saturating_sub(1), f);
                    let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
                    let e: i32 = e.parse().unwrap_or(0);
                    if e < -4 || e >= p.max(1) as i32 {
                        go_exp(*f, p.saturating_sub(1))
                    } else {
                        let decimals = (p as i32 - 1 - e).max(0) as usize;
                        let s = format!("{f:.decimals$}");
                        let _ = m;
                        if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_string() } else { s }
                    }
                }
            },
            _ => bad(),
        };
        let w = width.unwrap_or(0);
        let len = body.chars().count();
        if len >= w {
            out.push_str(&body);
        } else if minus {
            out.push_str(&body);
            out.push_str(&" ".repeat(w - len));
        } else if zero && !matches!(verb, 's' | 'q' | 'v' | 'T' | 't' | 'c') {
            let (sign, digits) = match body.strip_prefix('-') {
                Some(d) => ("-", d),
                None => match body.strip_prefix('+') {
                    Some(d) => ("+", d),
                    None => ("", body.as_str()),
                },
            };
            out.push_str(sign);
            out.push_str(&"0".repeat(w - len));
            out.push_str(digits);
        } else {
            out.push_str(&" ".repeat(w - len));
            out.push_str(&body);
        }
    }
    if next < args.len() {
        let extra: Vec<String> = args[next..].iter().map(|a| format!("{}={}", go_type(a), a.to_go_string())).collect();
        out.push_str(&format!("%!(EXTRA {})", extra.join(", ")));
    }
    out
}

fn hex(i: i64, upper: bool, sharp: bool) -> String {
    let (neg, u) = (i < 0, i.unsigned_abs());
    let digits = if upper { format!("{u:X}") } else { format!("{u:x}") };
    let prefix = if sharp { if upper { "0X" } else { "0x" } } else { "" };
    format!("{}{prefix}{digits}", if neg { "-" } else { "" })
}

fn go_exp(f: f64, prec: usize) -> String {
    let s = format!("{f:.prec$e}");
    let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
    let e: i32 = e.parse().unwrap_or(0);
    format!("{m}e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs())
}

/// Go's `%q` / `strconv.Quote`.
pub fn go_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c == '\x7f' => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn go_type(v: &Value<'_>) -> &'static str {
    match v {
        Value::Nil => "<nil>",
        Value::Bool(_) => "bool",
        Value::Int(_) => "int",
        Value::Float(_) => "float64",
        Value::Str(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Map(_) => "map[string]interface {}",
        Value::Host(h) => h.type_name(),
        Value::Time(_) => "time.Time",
        Value::Duration(_) => "time.Duration",
        Value::Weekday(_) => "time.Weekday",
        Value::Month(_) => "time.Month",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sprintf_verbs() {
        let f = |fmt: &str, args: Vec<Value<'static>>| go_sprintf(fmt, &args);
        assert_eq!(f("%s-%d", vec![Value::from("a"), Value::Int(3)]), "a-3");
        assert_eq!(f("%v", vec![Value::Float(1.5)]), "1.5");
        assert_eq!(f("%v", vec![Value::Float(3.0)]), "3");
        assert_eq!(f("%05d|%-4s|%4s", vec![Value::Int(42), Value::from("ab"), Value::from("c")]), "00042|ab  |   c");
        assert_eq!(f("%.2f", vec![Value::Float(1.23456)]), "1.23");
        assert_eq!(f("%x %X", vec![Value::Int(255), Value::Int(255)]), "ff FF");
        assert_eq!(f("%q", vec![Value::from("a\"b")]), "\"a\\\"b\"");
        assert_eq!(f("%d", vec![Value::from("x")]), "%!d(string=x)");
        assert_eq!(f("%d %d", vec![Value::Int(1)]), "1 %!d(MISSING)");
        assert_eq!(f("%d", vec![Value::Int(1), Value::Int(2)]), "1%!(EXTRA int=2)");
        assert_eq!(f("100%%", vec![]), "100%");
        assert_eq!(f("%e", vec![Value::Float(1234.5678)]), "1.234568e+03");
        assert_eq!(f("%t %v", vec![Value::Bool(true), Value::Nil]), "true <nil>");
    }

    #[test]
    fn glob_matching() {
        let g = |p: &str, s: &str| glob(p.as_bytes(), s.as_bytes());
        assert!(g("*.php", "index.php"));
        assert!(g("a?c", "abc"));
        assert!(!g("a?c", "ac"));
        assert!(g("*", ""));
        assert!(g("", ""));
        assert!(!g("", "a"));
        assert!(g("a*", "a"));
        assert!(!g("a**", "a"), "CrowdSec quirk: an empty name only matches a lone *");
        assert!(g("a**", "ab"));
        assert!(g("a*b*c", "axxbyyc"));
        assert!(!g("a*b*c", "axxbyy"));
        let long = "a".repeat(5000);
        assert!(!g("*a*a*a*a*a*a*b", &long));
    }
}
