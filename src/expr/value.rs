//! Runtime values of the expression language.
//!
//! A [`Value`] borrows from what it was read from (the event, the compiled program, data files) for the lifetime
//! `'a` of one evaluation, so `evt.Meta.source_ip` costs a map lookup and no copy. Owned data (results of `+`,
//! `Upper`, JSON decoding) lives in `Cow::Owned` strings and reference-counted arrays/maps.
//!
//! Host objects (the event, alerts, a scenario bucket, hubtest results) appear as [`Value::Host`] and expose their
//! Go-named fields and methods through [`HostObject`](super::host::HostObject). Building values for other modules:
//!
//! ```ignore
//! let queue: Value = Value::array(events.iter().map(Value::host));   // []Event, each borrowed
//! scope.bind("results", Value::map([("s01-parse".to_string(), per_node_map)]));
//! ```
//!
//! Not for: the static types the compiler reasons with (`compile::Ty`).

use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::rc::Rc;

use super::host::{HostKind, HostObject};
use crate::event::{Timestamp, format_rfc3339};

/// An owned map value (`{a: 1}`, `fromJSON`, `ParseKV` results, `groupBy`). Keys are kept sorted so iteration,
/// `keys()` and printing are deterministic (Go maps are unordered).
pub type ValueMap<'a> = BTreeMap<String, Value<'a>>;

#[derive(Clone)]
pub enum Value<'a> {
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Cow<'a, str>),
    Array(Rc<Vec<Value<'a>>>),
    Map(Rc<ValueMap<'a>>),
    /// A borrowed host object (event, alert, source, JSON tree, bucket, ...).
    Host(&'a dyn HostObject),
    /// Go `time.Time` (keeps its UTC offset).
    Time(Timestamp),
    /// Go `time.Duration`, in nanoseconds.
    Duration(i64),
    /// Go `time.Weekday` (0 = Sunday): an integer with a `String()` method.
    Weekday(u8),
    /// Go `time.Month` (1 = January): an integer with a `String()` method.
    Month(u8),
}

impl<'a> Value<'a> {
    pub fn str(s: &'a str) -> Self {
        Value::Str(Cow::Borrowed(s))
    }

    pub fn string(s: String) -> Self {
        Value::Str(Cow::Owned(s))
    }

    pub fn host(h: &'a dyn HostObject) -> Self {
        Value::Host(h)
    }

    pub fn array(items: impl IntoIterator<Item = Value<'a>>) -> Self {
        Value::Array(Rc::new(items.into_iter().collect()))
    }

    pub fn map(entries: impl IntoIterator<Item = (String, Value<'a>)>) -> Self {
        Value::Map(Rc::new(entries.into_iter().collect()))
    }

    pub fn is_nil(&self) -> bool {
        matches!(self, Value::Nil)
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// An integer (also Go's integer-kinded `Weekday`/`Month`).
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            Value::Weekday(d) | Value::Month(d) => Some(*d as i64),
            _ => None,
        }
    }

    /// A number as float (ints converted).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Float(f) => Some(*f),
            other => other.as_int().map(|i| i as f64),
        }
    }

    /// expr-lang's `type()` names.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Nil => "nil",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float",
            Value::Str(_) => "string",
            Value::Array(_) => "array",
            Value::Map(_) => "map",
            Value::Host(h) => match h.kind() {
                HostKind::List => "array",
                HostKind::Map => "map",
                HostKind::Struct => h.type_name(),
            },
            Value::Time(_) => "time.Time",
            Value::Duration(_) => "time.Duration",
            Value::Weekday(_) => "time.Weekday",
            Value::Month(_) => "time.Month",
        }
    }

    /// The elements of a list value (an array or a list-like host object).
    pub fn to_list(&self) -> Result<Cow<'_, [Value<'a>]>, String> {
        match self {
            Value::Array(a) => Ok(Cow::Borrowed(&a[..])),
            Value::Host(h) if h.kind() == HostKind::List => {
                let n = h.len();
                Ok(Cow::Owned((0..n).filter_map(|i| h.index(i)).collect()))
            }
            other => Err(format!("cannot iterate over {}", other.type_name())),
        }
    }

    /// CrowdSec's statics conversion (spec §3.4): strings as is, ints in decimal, floats with Go's `%f` (six
    /// decimals); nil, maps and arrays give `Ok(None)` (the static is skipped); any other type is an error (the
    /// node fails).
    pub fn to_static_string(&self) -> Result<Option<String>, String> {
        match self {
            Value::Str(s) => Ok(Some(s.to_string())),
            Value::Int(i) => Ok(Some(i.to_string())),
            Value::Float(f) => Ok(Some(go_percent_f(*f))),
            Value::Nil | Value::Array(_) | Value::Map(_) => Ok(None),
            Value::Host(h) if h.kind() != HostKind::Struct => Ok(None),
            other => Err(format!("unexpected type {} for a static value", other.type_name())),
        }
    }

    /// The value as JSON (Go field names for host objects, RFC 3339 for times, nanoseconds for durations).
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match self {
            Value::Nil => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Int(i) => J::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f).map(J::Number).unwrap_or(J::Null),
            Value::Str(s) => J::String(s.to_string()),
            Value::Array(a) => J::Array(a.iter().map(Value::to_json).collect()),
            Value::Map(m) => J::Object(m.iter().map(|(k, v)| (k.clone(), v.to_json())).collect()),
            Value::Host(h) => h.to_json(),
            Value::Time(t) => J::String(format_rfc3339(t)),
            Value::Duration(d) => J::from(*d),
            Value::Weekday(d) | Value::Month(d) => J::from(*d),
        }
    }

    /// Go's `fmt` `%v` rendering, used by `string()`, `Sprintf("%v")`, `ToString`-like conversions and `join`.
    pub fn to_go_string(&self) -> String {
        match self {
            Value::Nil => "<nil>".to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Int(i) => i.to_string(),
            Value::Float(f) => go_float_g(*f),
            Value::Str(s) => s.to_string(),
            Value::Array(a) => format!("[{}]", a.iter().map(Value::to_go_string).collect::<Vec<_>>().join(" ")),
            Value::Map(m) => format!(
                "map[{}]",
                m.iter().map(|(k, v)| format!("{k}:{}", v.to_go_string())).collect::<Vec<_>>().join(" ")
            ),
            Value::Host(h) => match h.kind() {
                HostKind::List => {
                    let items: Vec<String> =
                        (0..h.len()).filter_map(|i| h.index(i)).map(|v| v.to_go_string()).collect();
                    format!("[{}]", items.join(" "))
                }
                HostKind::Map => {
                    let items: Vec<String> = h
                        .keys()
                        .into_iter()
                        .map(|k| {
                            let v = h.field(&k).map(|v| v.to_go_string()).unwrap_or_default();
                            format!("{k}:{v}")
                        })
                        .collect();
                    format!("map[{}]", items.join(" "))
                }
                HostKind::Struct => h.to_json().to_string(),
            },
            Value::Time(t) => t.format("%Y-%m-%d %H:%M:%S%.f %z").to_string(),
            Value::Duration(d) => crate::gocompat::duration::format_duration(*d),
            Value::Weekday(d) => weekday_name(*d).to_string(),
            Value::Month(m) => month_name(*m).to_string(),
        }
    }
}

pub fn weekday_name(d: u8) -> &'static str {
    ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]
        .get(d as usize)
        .copied()
        .unwrap_or("")
}

pub fn month_name(m: u8) -> &'static str {
    [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ]
    .get((m as usize).wrapping_sub(1))
    .copied()
    .unwrap_or("")
}

/// Go's `%f`: six decimals, `+Inf`/`-Inf`/`NaN` spelled the Go way.
pub fn go_percent_f(f: f64) -> String {
    if f.is_nan() {
        "NaN".into()
    } else if f.is_infinite() {
        if f > 0.0 { "+Inf".into() } else { "-Inf".into() }
    } else {
        format!("{f:.6}")
    }
}

/// Go's `strconv.FormatFloat(f, 'g', -1, 64)`, what `%v` prints: shortest round-trip digits, exponent form when
/// the decimal exponent is < -4 or >= 6 (`1e+06`, `1e-05`, `123456`).
pub fn go_float_g(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf".into() } else { "-Inf".into() };
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0".into() } else { "0".into() };
    }
    // Shortest round-trip digits and decimal exponent.
    let sci = format!("{f:e}"); // e.g. "1.2345e6", "-5e-7"
    let (mant, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..6).contains(&exp) {
        let (neg, m) = mant.strip_prefix('-').map(|m| (true, m)).unwrap_or((false, mant));
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{}{m}e{sign}{:02}", if neg { "-" } else { "" }, exp.abs());
    }
    format!("{f}")
}

/// Go `strconv.FormatFloat(f, 'f', -1, 64)`-like plain rendering used for JSON output (no exponent between 1e-6 and
/// 1e21, as `encoding/json` does).
pub fn go_json_float(f: f64) -> String {
    if !f.is_finite() {
        return "null".into();
    }
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let sci = format!("{f:e}");
        let (mant, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
        let exp: i32 = exp.parse().unwrap_or(0);
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{mant}e{sign}{:02}", exp.abs());
    }
    format!("{f}")
}

/// expr-lang equality: numbers compare across int/float, everything else is type-strict; arrays and maps compare
/// deeply (element types included, as Go's `reflect.DeepEqual` does).
pub fn equal(a: &Value<'_>, b: &Value<'_>) -> bool {
    match (a, b) {
        (Value::Nil, Value::Nil) => true,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Str(x), Value::Str(y)) => x == y,
        (Value::Int(x), Value::Int(y)) => x == y,
        (Value::Float(x), Value::Float(y)) => x == y,
        (Value::Int(x), Value::Float(y)) | (Value::Float(y), Value::Int(x)) => (*x as f64) == *y,
        (Value::Weekday(x), Value::Weekday(y)) | (Value::Month(x), Value::Month(y)) => x == y,
        (Value::Weekday(x) | Value::Month(x), Value::Int(y)) | (Value::Int(y), Value::Weekday(x) | Value::Month(x)) => {
            *x as i64 == *y
        }
        (Value::Time(x), Value::Time(y)) => x == y,
        (Value::Duration(x), Value::Duration(y)) => x == y,
        (Value::Duration(x), Value::Int(y)) | (Value::Int(y), Value::Duration(x)) => x == y,
        (Value::Array(_) | Value::Map(_) | Value::Host(_), Value::Array(_) | Value::Map(_) | Value::Host(_)) => {
            deep_equal(a, b)
        }
        _ => false,
    }
}

fn deep_equal(a: &Value<'_>, b: &Value<'_>) -> bool {
    match (a, b) {
        (Value::Host(x), Value::Host(y)) => {
            std::ptr::addr_eq(*x as *const dyn HostObject, *y as *const dyn HostObject) || x.to_json() == y.to_json()
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y.iter()).all(|(p, q)| p.type_name() == q.type_name() && equal(p, q))
        }
        (Value::Map(x), Value::Map(y)) => {
            x.len() == y.len()
                && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| v.type_name() == w.type_name() && equal(v, w)))
        }
        _ => a.to_json() == b.to_json() && a.type_name() == b.type_name(),
    }
}

/// Ordering for `< <= > >=`, `sort`, `min`/`max`: numbers (across int/float), strings, times, durations.
pub fn compare(a: &Value<'_>, b: &Value<'_>) -> Result<Ordering, String> {
    let ord = match (a, b) {
        (Value::Str(x), Value::Str(y)) => Some(x.as_bytes().cmp(y.as_bytes())),
        (Value::Int(x), Value::Int(y)) => Some(x.cmp(y)),
        (Value::Time(x), Value::Time(y)) => Some(x.cmp(y)),
        (Value::Duration(x), Value::Duration(y)) => Some(x.cmp(y)),
        (Value::Duration(x), Value::Int(y)) | (Value::Int(y), Value::Duration(x))
            if matches!(a, Value::Duration(_)) =>
        {
            Some(x.cmp(y))
        }
        (Value::Int(x), Value::Duration(y)) => Some(x.cmp(y)),
        _ => match (a.as_f64(), b.as_f64()) {
            (Some(x), Some(y)) if !matches!(a, Value::Duration(_)) && !matches!(b, Value::Duration(_)) => {
                Some(x.partial_cmp(&y).unwrap_or(Ordering::Equal))
            }
            _ => match (a, b) {
                (Value::Duration(x), Value::Float(y)) => (*x as f64).partial_cmp(y),
                (Value::Float(x), Value::Duration(y)) => x.partial_cmp(&(*y as f64)),
                _ => None,
            },
        },
    };
    ord.ok_or_else(|| format!("invalid operation: {} < {} (mismatched types)", a.type_name(), b.type_name()))
}

impl From<bool> for Value<'_> {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

impl From<i64> for Value<'_> {
    fn from(i: i64) -> Self {
        Value::Int(i)
    }
}

impl From<i32> for Value<'_> {
    fn from(i: i32) -> Self {
        Value::Int(i as i64)
    }
}

impl From<usize> for Value<'_> {
    fn from(i: usize) -> Self {
        Value::Int(i as i64)
    }
}

impl From<f64> for Value<'_> {
    fn from(f: f64) -> Self {
        Value::Float(f)
    }
}

impl<'a> From<&'a str> for Value<'a> {
    fn from(s: &'a str) -> Self {
        Value::Str(Cow::Borrowed(s))
    }
}

impl From<String> for Value<'_> {
    fn from(s: String) -> Self {
        Value::Str(Cow::Owned(s))
    }
}

impl<'a> From<Vec<Value<'a>>> for Value<'a> {
    fn from(v: Vec<Value<'a>>) -> Self {
        Value::Array(Rc::new(v))
    }
}

impl<'a> From<ValueMap<'a>> for Value<'a> {
    fn from(m: ValueMap<'a>) -> Self {
        Value::Map(Rc::new(m))
    }
}

impl<'a, T: HostObject> From<&'a T> for Value<'a> {
    fn from(h: &'a T) -> Self {
        Value::Host(h)
    }
}

impl<'a, T: Into<Value<'a>>> From<Option<T>> for Value<'a> {
    fn from(o: Option<T>) -> Self {
        o.map(Into::into).unwrap_or(Value::Nil)
    }
}

/// Converts a borrowed JSON value: scalars become values (JSON numbers are floats, as Go decodes them into
/// `interface{}`), objects and arrays stay borrowed as host objects.
pub fn from_json(j: &serde_json::Value) -> Value<'_> {
    use serde_json::Value as J;
    match j {
        J::Null => Value::Nil,
        J::Bool(b) => Value::Bool(*b),
        J::Number(n) => Value::Float(n.as_f64().unwrap_or(0.0)),
        J::String(s) => Value::Str(Cow::Borrowed(s)),
        J::Array(a) => Value::Host(a),
        J::Object(o) => Value::Host(o),
    }
}

/// Converts an owned JSON value into an owned value tree (for `fromJSON`, `JsonExtractObject`, ...).
pub fn from_json_owned<'a>(j: serde_json::Value) -> Value<'a> {
    use serde_json::Value as J;
    match j {
        J::Null => Value::Nil,
        J::Bool(b) => Value::Bool(b),
        J::Number(n) => Value::Float(n.as_f64().unwrap_or(0.0)),
        J::String(s) => Value::Str(Cow::Owned(s)),
        J::Array(a) => Value::array(a.into_iter().map(from_json_owned)),
        J::Object(o) => Value::map(o.into_iter().map(|(k, v)| (k, from_json_owned(v)))),
    }
}

impl std::fmt::Debug for Value<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::Str(s) => write!(f, "{s:?}"),
            Value::Time(t) => write!(f, "Time({})", format_rfc3339(t)),
            Value::Duration(d) => write!(f, "Duration({})", crate::gocompat::duration::format_duration(*d)),
            Value::Float(x) => write!(f, "{x:?}"),
            _ => write!(f, "{}", self.to_json()),
        }
    }
}

impl PartialEq for Value<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.type_name() == other.type_name() && equal(self, other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_string_rules() {
        assert_eq!(Value::from("a").to_static_string(), Ok(Some("a".into())));
        assert_eq!(Value::Int(42).to_static_string(), Ok(Some("42".into())));
        assert_eq!(Value::Float(200.0).to_static_string(), Ok(Some("200.000000".into())));
        assert_eq!(Value::Nil.to_static_string(), Ok(None));
        assert_eq!(Value::array([Value::Int(1)]).to_static_string(), Ok(None));
        assert!(Value::Bool(true).to_static_string().is_err());
    }

    #[test]
    fn equality_is_type_strict_except_numbers() {
        assert!(equal(&Value::Int(1), &Value::Float(1.0)));
        assert!(!equal(&Value::from("1"), &Value::Int(1)));
        assert!(!equal(&Value::Nil, &Value::from("")));
        assert!(equal(&Value::array([Value::Int(1)]), &Value::array([Value::Int(1)])));
        assert!(!equal(&Value::array([Value::Int(1)]), &Value::array([Value::Float(1.0)])));
    }

    #[test]
    fn go_float_formatting() {
        assert_eq!(go_float_g(1.5), "1.5");
        assert_eq!(go_float_g(100.0), "100");
        assert_eq!(go_float_g(1e21), "1e+21");
        assert_eq!(go_float_g(1e6), "1e+06");
        assert_eq!(go_float_g(123456.0), "123456");
        assert_eq!(go_float_g(0.00001), "1e-05");
        assert_eq!(go_json_float(1.0), "1");
        assert_eq!(go_json_float(0.5), "0.5");
    }

    #[test]
    fn compare_mixed_numbers_and_errors() {
        assert_eq!(compare(&Value::Int(1), &Value::Float(1.5)), Ok(Ordering::Less));
        assert_eq!(compare(&Value::from("b"), &Value::from("a")), Ok(Ordering::Greater));
        assert!(compare(&Value::from("b"), &Value::Int(1)).is_err());
        assert_eq!(compare(&Value::Duration(5), &Value::Duration(3)), Ok(Ordering::Greater));
    }
}
