//! Run-time fallbacks of the data-file helpers, used when the file name is not a constant or the file was not
//! loaded when the expression was compiled. A file that is not loaded gives an empty result and an error log,
//! as in CrowdSec.

use super::super::Scope;
use super::super::builtins::arg_str;
use super::super::value::Value;

type Res<'a> = Result<Value<'a>, String>;

pub fn file<'a>(cx: &mut Scope<'a>, a: Vec<Value<'a>>) -> Res<'a> {
    let name = arg_str(&a, 0, "File")?;
    match cx.services.data.strings(name) {
        Some(list) => Ok(Value::array(list.lines.iter().map(|s| Value::string(s.clone())))),
        None => {
            tracing::error!("File: data file {name:?} is not loaded");
            Ok(Value::array([]))
        }
    }
}

pub fn regexp_in_file<'a>(cx: &mut Scope<'a>, a: Vec<Value<'a>>) -> Res<'a> {
    let s = arg_str(&a, 0, "RegexpInFile")?;
    let name = arg_str(&a, 1, "RegexpInFile")?;
    match cx.services.data.regexps(name) {
        Some(list) => Ok(Value::Bool(list.is_match(s))),
        None => {
            tracing::error!("RegexpInFile: data file {name:?} is not loaded");
            Ok(Value::Bool(false))
        }
    }
}

pub fn lookup_file<'a>(cx: &mut Scope<'a>, a: Vec<Value<'a>>) -> Res<'a> {
    let s = arg_str(&a, 0, "LookupFile")?;
    let name = arg_str(&a, 1, "LookupFile")?;
    match cx.services.data.map(name) {
        Some(m) => Ok(Value::string(m.lookup(s).to_string())),
        None => {
            tracing::error!("LookupFile: data file {name:?} is not loaded");
            Ok(Value::str(""))
        }
    }
}

pub fn file_map<'a>(cx: &mut Scope<'a>, a: Vec<Value<'a>>) -> Res<'a> {
    let name = arg_str(&a, 0, "FileMap")?;
    match cx.services.data.map(name) {
        Some(m) => Ok(Value::array(m.rows.iter().map(|r| {
            Value::map([
                ("pattern".to_string(), Value::string(r.pattern.clone())),
                ("tag".to_string(), Value::string(r.tag.clone())),
                ("type".to_string(), Value::string(r.kind.clone())),
            ])
        }))),
        None => {
            tracing::error!("FileMap: data file {name:?} is not loaded");
            Ok(Value::array([]))
        }
    }
}
