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

static LAX_KEY: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?:^|\s)([A-Za-z_][A-Za-z0-9_.\-]*)=").expect("valid constant regex"));

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

    pub fn decode(self, input: &str) -> Result<serde_json::Value, String> {
        match self {
            Decoder::UnmarshalJson => serde_json::from_str(input).map_err(|e| format!("UnmarshalJSON: {e}")),
            Decoder::ParseKv => parse_kv(input),
            Decoder::ParseKvLax => parse_kv_lax(input),
        }
    }
}

fn parse_kv(input: &str) -> Result<serde_json::Value, String> {
    let mut m = serde_json::Map::new();
    for c in KV.captures_iter(input) {
        let key = c.name("key").map(|k| k.as_str()).unwrap_or("");
        let value = c.name("quoted").or_else(|| c.name("value")).map(|v| v.as_str()).unwrap_or("");
        m.insert(key.to_string(), serde_json::Value::String(value.to_string()));
    }
    if m.is_empty() {
        return Err("ParseKV: no key-value pair found".to_string());
    }
    Ok(serde_json::Value::Object(m))
}

fn strip_quotes(v: &str) -> &str {
    for q in ['"', '\''] {
        if v.len() >= 2 && v.starts_with(q) && v.ends_with(q) {
            return &v[1..v.len() - 1];
        }
    }
    v
}

fn parse_kv_lax(input: &str) -> Result<serde_json::Value, String> {
    let keys: Vec<(usize, usize, &str)> = LAX_KEY
        .captures_iter(input)
        .filter_map(|c| {
            let whole = c.get(0)?;
            let k = c.get(1)?;
            Some((k.start(), whole.end(), k.as_str()))
        })
        .collect();
    if keys.is_empty() {
        return Err("ParseKVLax: no key-value pair found".to_string());
    }
    let mut m = serde_json::Map::new();
    for (i, (_, value_start, key)) in keys.iter().enumerate() {
        let end = keys.get(i + 1).map(|k| k.0).unwrap_or(input.len());
        let value = strip_quotes(input[*value_start..end].trim());
        m.insert(key.to_string(), serde_json::Value::String(value.to_string()));
    }
    Ok(serde_json::Value::Object(m))
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
        let v = parse_kv_lax(r#"msg=hello world user="bob" x.y=3"#).unwrap();
        assert_eq!(v["msg"], "hello world");
        assert_eq!(v["user"], "bob");
        assert_eq!(v["x.y"], "3");
        assert!(Decoder::UnmarshalJson.decode("{bad").is_err());
        assert_eq!(Decoder::UnmarshalJson.decode(r#"{"a":1}"#).unwrap()["a"], 1);
    }
}
