//! CrowdSec's expression helpers (`pkg/exprhelpers`, spec §11.5): capitalised functions such as `Upper`,
//! `IpInRange`, `JsonExtract`, `File`, `GetFromStash`, grouped by theme in the submodules. This module holds the
//! name table the compiler looks functions up in.
//!
//! Not here: helpers the compiler specialises (`File`/`RegexpInFile`/`LookupFile` with a constant name,
//! `UnmarshalJSON`/`ParseKV`/`ParseKVLax`, which record mutations) — their run-time fallbacks are, though.

pub mod files;
pub mod ip;
pub mod json;
pub mod kv;
pub mod misc;
pub mod strings;
pub mod time;
pub mod url;
pub mod xml;

use super::builtins::Builtin;
use super::host::Ty;

const MANY: usize = usize::MAX;

macro_rules! h {
    ($name:literal, $f:path, $min:expr, $max:expr, $ty:ident) => {
        Builtin { name: $name, f: $f, min: $min, max: $max, ty: Ty::$ty }
    };
}

static HELPERS: &[Builtin] = &[
    // strings
    h!("Upper", strings::upper, 1, 1, Str),
    h!("Lower", strings::lower, 1, 1, Str),
    h!("TrimSpace", strings::trim_space, 1, 1, Str),
    h!("TrimPrefix", strings::trim_prefix, 2, 2, Str),
    h!("TrimSuffix", strings::trim_suffix, 2, 2, Str),
    h!("Trim", strings::trim, 2, 2, Str),
    h!("TrimLeft", strings::trim_left, 2, 2, Str),
    h!("TrimRight", strings::trim_right, 2, 2, Str),
    h!("Split", strings::split, 2, 2, Any),
    h!("SplitN", strings::split_n, 3, 3, Any),
    h!("SplitAfter", strings::split_after, 2, 2, Any),
    h!("SplitAfterN", strings::split_after_n, 3, 3, Any),
    h!("Fields", strings::fields, 1, 1, Any),
    h!("Join", strings::join, 2, 2, Str),
    h!("Index", strings::index, 2, 2, Int),
    h!("IndexAny", strings::index_any, 2, 2, Int),
    h!("Replace", strings::replace, 4, 4, Str),
    h!("ReplaceAll", strings::replace_all, 3, 3, Str),
    h!("Sprintf", strings::sprintf, 1, MANY, Str),
    h!("ToString", strings::to_string, 1, 1, Str),
    h!("Match", strings::glob_match, 2, 2, Bool),
    h!("B64Decode", strings::b64_decode, 1, 1, Str),
    h!("Get", strings::get, 2, 2, Str),
    h!("Atof", strings::atof, 1, 1, Float),
    h!("KeyExists", strings::key_exists, 2, 2, Bool),
    h!("LogInfo", strings::log_info, 1, MANY, Bool),
    h!("basename", strings::basename, 1, 1, Str),
    // URL
    h!("PathUnescape", url::path_unescape, 1, 1, Str),
    h!("QueryUnescape", url::query_unescape, 1, 1, Str),
    h!("PathEscape", url::path_escape, 1, 1, Str),
    h!("QueryEscape", url::query_escape, 1, 1, Str),
    h!("ParseUri", url::parse_uri, 1, 1, Any),
    h!("ParseQuery", url::parse_query, 1, 1, Any),
    h!("ExtractQueryParam", url::extract_query_param, 2, 2, Any),
    // JSON / KV / XML (UnmarshalJSON, ParseKV, ParseKVLax are compiled specially)
    h!("JsonExtract", json::json_extract, 2, 2, Str),
    h!("JsonExtractUnescape", json::json_extract_unescape, 1, MANY, Str),
    h!("JsonExtractLib", json::json_extract_lib, 1, MANY, Str),
    h!("JsonExtractSlice", json::json_extract_slice, 2, 2, Any),
    h!("JsonExtractObject", json::json_extract_object, 2, 2, Any),
    h!("ToJsonString", json::to_json_string, 1, 1, Str),
    h!("XMLGetNodeValue", xml::node_value, 2, 2, Str),
    h!("XMLGetAttributeValue", xml::attribute_value, 3, 3, Str),
    // data files
    h!("File", files::file, 1, 1, Any),
    h!("RegexpInFile", files::regexp_in_file, 2, 2, Bool),
    h!("LookupFile", files::lookup_file, 2, 2, Str),
    h!("FileMap", files::file_map, 1, 1, Any),
    // IP
    h!("IpInRange", ip::ip_in_range, 2, 2, Bool),
    h!("IpToRange", ip::ip_to_range, 2, 2, Str),
    h!("IsIP", ip::is_ip, 1, 1, Bool),
    h!("IsIPV4", ip::is_ipv4, 1, 1, Bool),
    h!("IsIPV6", ip::is_ipv6, 1, 1, Bool),
    h!("LookupHost", ip::lookup_host, 1, 1, Any),
    h!("Distance", misc::distance, 4, 4, Float),
    // time
    h!("TimeNow", time::time_now, 0, 0, Str),
    h!("ParseUnix", time::parse_unix, 1, 1, Str),
    h!("MedianInterval", time::median_interval, 1, 1, Any),
    h!("AverageInterval", time::average_interval, 1, 1, Any),
    // stash
    h!("GetFromStash", misc::get_from_stash, 2, 2, Str),
    h!("SetInStash", misc::set_in_stash, 3, 4, Any),
    // decisions (LAPI side)
    h!("GetDecisionsCount", misc::decisions_count, 1, 1, Int),
    h!("GetDecisionsSinceCount", misc::decisions_since_count, 2, 2, Int),
    h!("GetActiveDecisionsCount", misc::active_decisions_count, 1, 1, Int),
    h!("GetActiveDecisionsTimeLeft", misc::active_decisions_time_left, 1, 1, Any),
    // misc
    h!("Hostname", misc::hostname, 0, 0, Str),
    h!("FloatApproxEqual", misc::float_approx_equal, 2, 2, Bool),
    h!("Flatten", misc::flatten, 0, MANY, Any),
    h!("Distinct", misc::distinct, 1, 1, Any),
    h!("FlattenDistinct", misc::flatten_distinct, 0, MANY, Any),
    // network (off unless enabled)
    h!("HTTPGet", misc::network_unsupported, 1, MANY, Any),
    h!("HTTPHead", misc::network_unsupported, 1, MANY, Any),
    h!("HTTPPost", misc::network_unsupported, 1, MANY, Any),
    h!("HTTPRequest", misc::network_unsupported, 1, MANY, Any),
    h!("CrowdsecCTI", misc::network_unsupported, 1, 1, Any),
];

pub fn lookup(name: &str) -> Option<&'static Builtin> {
    HELPERS.iter().find(|b| b.name == name)
}

pub fn names() -> impl Iterator<Item = &'static str> {
    HELPERS.iter().map(|b| b.name).chain(["UnmarshalJSON", "ParseKV", "ParseKVLax"])
}

/// Helpers with side effects (writes, logs, network): never evaluated once in place of a loop.
pub fn is_effectful(name: &str) -> bool {
    matches!(
        name,
        "UnmarshalJSON"
            | "ParseKV"
            | "ParseKVLax"
            | "SetInStash"
            | "LogInfo"
            | "LookupHost"
            | "HTTPGet"
            | "HTTPHead"
            | "HTTPPost"
            | "HTTPRequest"
            | "CrowdsecCTI"
            | "now"
            | "TimeNow"
    )
}
