//! Decoders that write into `evt.Unmarshaled[key]`: `UnmarshalJSON` (any JSON), `ParseKV` (`k=v` and
//! `k="quoted \"v\""` pairs) and `ParseKVLax` (values run up to the next `key=`).

use std::sync::LazyLock;

use regex::Regex;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decoder {
    UnmarshalJson,
    ParseKv,
    ParseKvLax,
}

static KV: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?P<key>[^=\s]+)=(?:"(?P<quoted>[^"\\]*(?:\\.[^"\\]*)*)"|(?P<value>[^=\s]+)|\s*)"#)
        .expect("valid constant regex")
});

/// CrowdSec's `keyStart`: where a key of `ParseKVLax` begins (no word boundary is required, as in CrowdSec).
static LAX_KEY: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"([a-zA-Z_][a-zA-Z0-9_.\-]*)=").expect("valid constant regex"));

/// What a decoder produces for `evt.Unmarshaled[key]`.
#[derive(Clone, Debug, PartialEq)]
pub enum Decoded {
    /// `UnmarshalJSON`: the value replaces `evt.Unmarshaled[key]`.
    Replace(serde_json::Value),
    /// `ParseKV`, `ParseKVLax`: the pairs are added to the string map `evt.Unmarshaled[key]` (created if missing).
    Merge(serde_json::Map<String, serde_json::Value>),
}

impl Decoder {
    pub fn of(name: &str) -> Option<Decoder> {
        match name {
            "UnmarshalJSON" => Some(Decoder::UnmarshalJson),
            "ParseKV" => Some(Decoder::ParseKv),
            "ParseKVLax" => Some(Decoder::ParseKvLax),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Decoder::UnmarshalJson => "UnmarshalJSON",
            Decoder::ParseKv => "ParseKV",
            Decoder::ParseKvLax => "ParseKVLax",
        }
    }

    /// Decodes `input`. `existing` is the current `evt.Unmarshaled[key]`: the key/value decoders refuse to merge
    /// into something that is not a map, as CrowdSec does.
    pub fn decode(self, input: &str, existing: Option<&serde_json::Value>) -> Result<Decoded, String> {
        if self != Decoder::UnmarshalJson && existing.is_some_and(|v| !v.is_object()) {
            return Err(format!("{}: target is not a map[string]string", self.name()));
        }
        match self {
            Decoder::UnmarshalJson => {
                serde_json::from_str(input).map(Decoded::Replace).map_err(|e| format!("UnmarshalJSON: {e}"))
            }
            Decoder::ParseKv => parse_kv(input).map(Decoded::Merge),
            Decoder::ParseKvLax => parse_kv_lax(input).map(Decoded::Merge),
        }
    }
}

type Pairs = serde_json::Map<String, serde_json::Value>;

fn parse_kv(input: &str) -> Result<Pairs, String> {
    let mut m = serde_json::Map::new();
    for c in KV.captures_iter(input) {
        let key = c.name("key").map(|k| k.as_str()).unwrap_or("");
        let value = c
            .name("quoted")
            .filter(|v| !v.as_str().is_empty())
            .or_else(|| c.name("value").filter(|v| !v.as_str().is_empty()))
            .map(|v| v.as_str())
            .unwrap_or("");
        m.insert(key.to_string(), serde_json::Value::String(value.to_string()));
    }
    if m.is_empty() {
        return Err("ParseKV: invalid input format (no key/value pair found)".to_string());
    }
    Ok(m)
}

/// Whether byte `pos` lies inside a double-quoted value (counting unescaped quotes up to it).
fn inside_quotes(s: &[u8], pos: usize) -> bool {
    let mut inside = false;
    for i in 0..=pos.min(s.len().saturating_sub(1)) {
        if s[i] != b'"' {
            continue;
        }
        let backslashes = s[..i].iter().rev().take_while(|c| **c == b'\\').count();
        if backslashes % 2 == 0 {
            inside = !inside;
        }
    }
    inside
}

/// A lax value: surrounding double quotes removed (with `\\` and `\"` unescaped); an unterminated quote only
/// loses its opening quote.
fn lax_value(s: &str) -> String {
    let Some(body) = s.strip_prefix('"') else { return s.to_string() };
    match body.strip_suffix('"') {
        Some(inner) => inner.replace("\\\\", "\\").replace("\\\"", "\""),
        None => body.to_string(),
    }
}

fn parse_kv_lax(input: &str) -> Result<Pairs, String> {
    let bytes = input.as_bytes();
    let keys: Vec<(usize, usize, &str)> = LAX_KEY
        .captures_iter(input)
        .filter_map(|c| {
            let whole = c.get(0)?;
            Some((whole.start(), whole.end(), c.get(1)?.as_str()))
        })
        .filter(|(start, _, _)| !inside_quotes(bytes, *start))
        .collect();
    if keys.is_empty() {
        return Err("ParseKVLax: invalid input format (no key/value pair found)".to_string());
    }
    let mut m = serde_json::Map::new();
    for (i, (_, value_start, key)) in keys.iter().enumerate() {
        let end = keys.get(i + 1).map(|k| k.0).unwrap_or(input.len());
        let raw = input[*value_start..end].trim_matches(super::super::builtins::is_go_space);
        m.insert(key.to_string(), serde_json::Value::String(lax_value(raw)));
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kv_strict_and_lax() {
        let v = parse_kv(r#"a=1 b="two words" c="esc \"q\"" d="#).unwrap();
        assert_eq!(v["a"], "1");
        assert_eq!(v["b"], "two words");
        assert_eq!(v["c"], "esc \\\"q\\\"");
        assert_eq!(v["d"], "");
        assert!(parse_kv("no pairs here").is_err());
        let v = parse_kv_lax(r#"msg=hello world user="bob \"b\"" x.y=3 q="a=b c""#).unwrap();
        assert_eq!(v["msg"], "hello world");
        assert_eq!(v["user"], "bob \"b\"");
        assert_eq!(v["x.y"], "3");
        assert_eq!(v["q"], "a=b c", "a key inside a quoted value is not a key");
        let v = parse_kv_lax("url=http://x/?a=1").unwrap();
        assert_eq!((v["url"].as_str(), v["a"].as_str()), (Some("http://x/?"), Some("1")), "no word boundary needed");
        assert!(Decoder::UnmarshalJson.decode("{bad", None).is_err());
        assert_eq!(
            Decoder::UnmarshalJson.decode(r#"{"a":1}"#, None).unwrap(),
            Decoded::Replace(serde_json::json!({"a": 1}))
        );
        let not_map = serde_json::json!([1]);
        assert!(Decoder::ParseKv.decode("a=1", Some(&not_map)).unwrap_err().contains("not a map"));
    }
}
