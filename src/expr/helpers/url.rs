//! URL helpers with Go `net/url` semantics: escaping, unescaping (an invalid escape returns the input, as
//! CrowdSec does), query parsing.

use std::collections::BTreeMap;

use super::super::Scope;
use super::super::builtins::arg_str;
use super::super::value::Value;

type Res<'a> = Result<Value<'a>, String>;

fn unhex(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

/// Go `url.QueryUnescape` (`query = true`: `+` is a space) / `url.PathUnescape`.
pub fn unescape(s: &str, query: bool) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hi = b.get(i + 1).copied().and_then(unhex)?;
                let lo = b.get(i + 2).copied().and_then(unhex)?;
                out.push(hi * 16 + lo);
                i += 3;
            }
            b'+' if query => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}

fn escape(s: &str, path: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for &c in s.as_bytes() {
        let keep = c.is_ascii_alphanumeric()
            || matches!(c, b'-' | b'_' | b'.' | b'~')
            || (path && matches!(c, b'$' | b'&' | b'+' | b':' | b'=' | b'@'));
        if keep {
            out.push(c as char);
        } else if c == b' ' && !path {
            out.push('+');
        } else {
            out.push_str(&format!("%{c:02X}"));
        }
    }
    out
}

pub fn path_unescape<'a>(_: &mut Scope<'a>, a: Vec<Value<'a>>) -> Res<'a> {
    let s = arg_str(&a, 0, "PathUnescape")?;
    Ok(unescape(s, false).map(Value::string).unwrap_or_else(|| a[0].clone()))
}

pub fn query_unescape<'a>(_: &mut Scope<'a>, a: Vec<Value<'a>>) -> Res<'a> {
    let s = arg_str(&a, 0, "QueryUnescape")?;
    Ok(unescape(s, true).map(Value::string).unwrap_or_else(|| a[0].clone()))
}

pub fn path_escape<'a>(_: &mut Scope<'a>, a: Vec<Value<'a>>) -> Res<'a> {
    Ok(Value::string(escape(arg_str(&a, 0, "PathEscape")?, true)))
}

pub fn query_escape<'a>(_: &mut Scope<'a>, a: Vec<Value<'a>>) -> Res<'a> {
    Ok(Value::string(escape(arg_str(&a, 0, "QueryEscape")?, false)))
}

/// Go `url.ParseQuery`: `k=v&k2=v2`. Pairs with a bad escape or a `;` are skipped, and `complete` tells whether
/// every pair was valid (Go returns the first error alongside the valid pairs).
pub fn parse_query_string(q: &str) -> (BTreeMap<String, Vec<String>>, bool) {
    let mut m: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut complete = true;
    for part in q.split('&') {
        if part.is_empty() {
            continue;
        }
        if part.contains(';') {
            complete = false;
            continue;
        }
        let (k, v) = part.split_once('=').unwrap_or((part, ""));
        match (unescape(k, true), unescape(v, true)) {
            (Some(k), Some(v)) => m.entry(k).or_default().push(v),
            _ => complete = false,
        }
    }
    (m, complete)
}

fn query_value<'a>(m: BTreeMap<String, Vec<String>>) -> Value<'a> {
    Value::map(m.into_iter().map(|(k, v)| (k, Value::array(v.into_iter().map(Value::string)))))
}

fn query_of(uri: &str) -> &str {
    let no_frag = uri.split('#').next().unwrap_or("");
    no_frag.split_once('?').map(|(_, q)| q).unwrap_or("")
}

/// `ParseUri(uri)`: the query parameters; CrowdSec returns an empty map when any of them is malformed.
pub fn parse_uri<'a>(_: &mut Scope<'a>, a: Vec<Value<'a>>) -> Res<'a> {
    let (m, complete) = parse_query_string(query_of(arg_str(&a, 0, "ParseUri")?));
    Ok(query_value(if complete { m } else { BTreeMap::new() }))
}

pub fn parse_query<'a>(_: &mut Scope<'a>, a: Vec<Value<'a>>) -> Res<'a> {
    Ok(query_value(parse_query_string(arg_str(&a, 0, "ParseQuery")?).0))
}

pub fn extract_query_param<'a>(_: &mut Scope<'a>, a: Vec<Value<'a>>) -> Res<'a> {
    let uri = arg_str(&a, 0, "ExtractQueryParam")?;
    let name = arg_str(&a, 1, "ExtractQueryParam")?;
    let (m, _) = parse_query_string(query_of(uri));
    Ok(Value::array(m.get(name).cloned().unwrap_or_default().into_iter().map(Value::string)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_round_trips() {
        assert_eq!(unescape("a%20b+c", true).as_deref(), Some("a b c"));
        assert_eq!(unescape("a%20b+c", false).as_deref(), Some("a b+c"));
        assert_eq!(unescape("bad%zz", true), None);
        assert_eq!(escape("a b/c?d=e", false), "a+b%2Fc%3Fd%3De");
        assert_eq!(escape("a b/c?d=e", true), "a%20b%2Fc%3Fd=e");
        let (q, complete) = parse_query_string("a=1&b=x%20y&a=2");
        assert!(complete);
        assert!(!parse_query_string("a=%zz&b=1").1);
        assert_eq!(q["a"], vec!["1", "2"]);
        assert_eq!(q["b"], vec!["x y"]);
        assert_eq!(query_of("/p?x=1#frag"), "x=1");
    }
}
