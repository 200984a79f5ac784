//! JSON helpers: `JsonExtract*` (path extraction returning raw JSON text, as CrowdSec's jsonparser-based helpers
//! do), `ToJsonString`, and Go-compatible JSON encoding (`encoding/json`: sorted keys, HTML-safe escapes, floats
//! without a trailing `.0`).

use super::super::Scope;
use super::super::builtins::arg_str;
use super::super::value::{Value, from_json_owned, go_json_float};

type Res<'a> = Result<Value<'a>, String>;

/// Encodes like Go's `json.Marshal` (`indent = false`) or `json.MarshalIndent(v, "", "  ")`.
pub fn go_json(v: &serde_json::Value, indent: bool) -> String {
    let mut out = String::new();
    write_json(v, indent, 0, &mut out);
    out
}

fn write_json(v: &serde_json::Value, indent: bool, level: usize, out: &mut String) {
    use serde_json::Value as J;
    let nl = |out: &mut String, level: usize| {
        if indent {
            out.push('\n');
            out.push_str(&"  ".repeat(level));
        }
    };
    match v {
        J::Null => out.push_str("null"),
        J::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        J::Number(n) => {
            if n.is_f64() {
                out.push_str(&go_json_float(n.as_f64().unwrap_or(0.0)));
            } else {
                out.push_str(&n.to_string());
            }
        }
        J::String(s) => write_str(s, out),
        J::Array(a) => {
            if a.is_empty() {
                out.push_str("[]");
                return;
            }
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                nl(out, level + 1);
                write_json(x, indent, level + 1, out);
            }
            nl(out, level);
            out.push(']');
        }
        J::Object(o) => {
            if o.is_empty() {
                out.push_str("{}");
                return;
            }
            out.push('{');
            let mut keys: Vec<&String> = o.keys().collect();
            keys.sort();
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                nl(out, level + 1);
                write_str(k, out);
                out.push(':');
                if indent {
                    out.push(' ');
                }
                write_json(&o[k], indent, level + 1, out);
            }
            nl(out, level);
            out.push('}');
        }
    }
}

fn write_str(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => out.push_str(&format!("\\u{:04x}", c as u32)),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

// --- A small raw JSON navigator: finds the byte range of the value at a path without decoding the rest. ---

struct Cursor<'s> {
    b: &'s [u8],
    i: usize,
}

impl<'s> Cursor<'s> {
    fn ws(&mut self) {
        while self.i < self.b.len() && matches!(self.b[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    /// Skips a string starting at `"`; returns the raw content range (without quotes).
    fn string(&mut self) -> Option<(usize, usize)> {
        if self.peek() != Some(b'"') {
            return None;
        }
        self.i += 1;
        let start = self.i;
        while self.i < self.b.len() {
            match self.b[self.i] {
                b'\\' => self.i += 2,
                b'"' => {
                    self.i += 1;
                    return Some((start, self.i - 1));
                }
                _ => self.i += 1,
            }
        }
        None
    }

    /// Skips any value; returns its range. Depth-limited so hostile input cannot exhaust the stack.
    fn value(&mut self, depth: usize) -> Option<(usize, usize)> {
        if depth > 512 {
            return None;
        }
        self.ws();
        let start = self.i;
        match self.peek()? {
            b'"' => {
                self.string()?;
            }
            b'{' | b'[' => {
                let close = if self.b[self.i] == b'{' { b'}' } else { b']' };
                let obj = close == b'}';
                self.i += 1;
                self.ws();
                if self.peek() == Some(close) {
                    self.i += 1;
                    return Some((start, self.i));
                }
                loop {
                    if obj {
                        self.ws();
                        self.string()?;
                        self.ws();
                        if self.peek() != Some(b':') {
                            return None;
                        }
                        self.i += 1;
                    }
                    self.value(depth + 1)?;
                    self.ws();
                    match self.peek()? {
                        b',' => self.i += 1,
                        c if c == close => {
                            self.i += 1;
                            break;
                        }
                        _ => return None,
                    }
                }
            }
            _ => {
                while self.i < self.b.len()
                    && !matches!(self.b[self.i], b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r')
                {
                    self.i += 1;
                }
                if self.i == start {
                    return None;
                }
            }
        }
        Some((start, self.i))
    }
}

fn unescape_json_str(raw: &str) -> Option<String> {
    serde_json::from_str::<String>(&format!("\"{raw}\"")).ok()
}

/// The raw byte range of the value at `path` (object keys, or `[n]` array indices).
fn find<'s>(json: &'s str, path: &[String]) -> Option<(&'s str, u8)> {
    let mut c = Cursor { b: json.as_bytes(), i: 0 };
    c.ws();
    for key in path {
        c.ws();
        if let Some(idx) = key.strip_prefix('[').and_then(|k| k.strip_suffix(']')) {
            let n: usize = idx.parse().ok()?;
            if c.peek()? != b'[' {
                return None;
            }
            c.i += 1;
            c.ws();
            if c.peek()? == b']' {
                return None;
            }
            let mut k = 0;
            loop {
                c.ws();
                if k == n {
                    break;
                }
                c.value(0)?;
                c.ws();
                match c.peek()? {
                    b',' => c.i += 1,
                    _ => return None,
                }
                k += 1;
            }
        } else {
            if c.peek()? != b'{' {
                return None;
            }
            c.i += 1;
            let found;
            loop {
                c.ws();
                if c.peek()? == b'}' {
                    return None;
                }
                let (ks, ke) = c.string()?;
                let raw_key = &json[ks..ke];
                let matches =
                    raw_key == key || (raw_key.contains('\\') && unescape_json_str(raw_key).as_deref() == Some(key));
                c.ws();
                if c.peek()? != b':' {
                    return None;
                }
                c.i += 1;
                c.ws();
                if matches {
                    found = true;
                    break;
                }
                c.value(0)?;
                c.ws();
                match c.peek()? {
                    b',' => c.i += 1,
                    _ => return None,
                }
            }
            if !found {
                return None;
            }
        }
    }
    c.ws();
    let first = c.peek()?;
    let (s, e) = c.value(0)?;
    if first == b'"' {
        return Some((&json[s + 1..e - 1], first));
    }
    Some((&json[s..e], first))
}

/// CrowdSec's path syntax: `a.b[0].c` → `["a", "b", "[0]", "c"]`.
fn split_path(target: &str) -> Vec<String> {
    let t = if target.starts_with('[') { target.to_string() } else { target.replace('[', ".[") };
    t.split('.').map(str::to_string).collect()
}

pub fn json_extract<'a>(_: &mut Scope<'a>, a: Vec<Value<'a>>) -> Res<'a> {
    let json = arg_str(&a, 0, "JsonExtract")?;
    let path = split_path(arg_str(&a, 1, "JsonExtract")?);
    Ok(Value::string(find(json, &path).map(|(s, _)| s.to_string()).unwrap_or_default()))
}

fn keys_of(a: &[Value<'_>], f: &str) -> Result<Vec<String>, String> {
    (1..a.len()).map(|i| arg_str(a, i, f).map(str::to_string)).collect()
}

/// `JsonExtractUnescape(json, keys...)`: a string value, unescaped; `""` when missing or not a string.
pub fn json_extract_unescape<'a>(_: &mut Scope<'a>, a: Vec<Value<'a>>) -> Res<'a> {
    let json = arg_str(&a, 0, "JsonExtractUnescape")?;
    let keys = keys_of(&a, "JsonExtractUnescape")?;
    Ok(Value::string(match find(json, &keys) {
        Some((s, b'"')) => unescape_json_str(s).unwrap_or_default(),
        _ => String::new(),
    }))
}

/// `JsonExtractLib(json, keys...)`: like `JsonExtract` with the path given as separate keys (raw text).
pub fn json_extract_lib<'a>(_: &mut Scope<'a>, a: Vec<Value<'a>>) -> Res<'a> {
    let json = arg_str(&a, 0, "JsonExtractLib")?;
    let keys = keys_of(&a, "JsonExtractLib")?;
    Ok(Value::string(find(json, &keys).map(|(s, _)| s.to_string()).unwrap_or_default()))
}

fn decoded_at(json: &str, path: &str) -> Option<serde_json::Value> {
    let (raw, first) = find(json, &split_path(path))?;
    if first == b'"' {
        return None;
    }
    serde_json::from_str(raw).ok()
}

pub fn json_extract_slice<'a>(_: &mut Scope<'a>, a: Vec<Value<'a>>) -> Res<'a> {
    let v = decoded_at(arg_str(&a, 0, "JsonExtractSlice")?, arg_str(&a, 1, "JsonExtractSlice")?);
    Ok(match v {
        Some(j @ serde_json::Value::Array(_)) => from_json_owned(j),
        _ => Value::Nil,
    })
}

pub fn json_extract_object<'a>(_: &mut Scope<'a>, a: Vec<Value<'a>>) -> Res<'a> {
    let v = decoded_at(arg_str(&a, 0, "JsonExtractObject")?, arg_str(&a, 1, "JsonExtractObject")?);
    Ok(match v {
        Some(j @ serde_json::Value::Object(_)) => from_json_owned(j),
        _ => Value::Nil,
    })
}

pub fn to_json_string<'a>(_: &mut Scope<'a>, a: Vec<Value<'a>>) -> Res<'a> {
    Ok(Value::string(go_json(&a[0].to_json(), false)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extract_raw_values() {
        let j = r#"{"a": {"b": [1, {"c": "x\"y"}], "n": 1.50, "o": {"k": true}}, "s": "v\u00e9"}"#;
        let p = |s: &str| find(j, &split_path(s)).map(|x| x.0.to_string());
        assert_eq!(p("a.b[1].c").as_deref(), Some("x\\\"y"));
        assert_eq!(p("a.n").as_deref(), Some("1.50"));
        assert_eq!(p("a.o").as_deref(), Some("{\"k\": true}"));
        assert_eq!(p("s").as_deref(), Some("v\\u00e9"));
        assert_eq!(p("a.b[5]"), None);
        assert_eq!(p("nope"), None);
        assert_eq!(find("not json", &["a".into()]), None);
    }

    #[test]
    fn go_encoding() {
        let v: serde_json::Value = serde_json::from_str(r#"{"b": 1.0, "a": "<x>", "c": [1.5, null]}"#).unwrap();
        assert_eq!(go_json(&v, false), r#"{"a":"\u003cx\u003e","b":1,"c":[1.5,null]}"#);
        assert_eq!(go_json(&serde_json::json!({"a": []}), true), "{\n  \"a\": []\n}");
    }
}
