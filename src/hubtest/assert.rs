//! Evaluating assert lines: each is an expression over `results` that must be true. Includes cscli's
//! backward-compatibility shim for `datasource_path` (HUBTEST-FORMAT.md §5.2).

use std::sync::Arc;

use crate::expr::{self, CompileEnv, RootType, Scope, Services, Value};

/// cscli wraps the left side of a `datasource_path` assertion in `basename()` (the source is an absolute path).
pub fn apply_basename_shim(line: &str) -> String {
    if !line.contains("datasource_path") || line.contains("basename(") {
        return line.to_string();
    }
    match line.split_once("==") {
        Some((lhs, rhs)) => format!("basename({}) =={}", lhs.trim_end(), rhs),
        None => line.to_string(),
    }
}

/// Why an assertion did not hold.
#[derive(Debug, Clone)]
pub struct AssertFailure {
    pub line: String,
    /// What the left side evaluated to (or the error), for the report.
    pub got: String,
}

/// Evaluates every line; returns the first failure, if any, and how many lines were evaluated.
pub fn check_all(lines: &[String], results: &Value<'_>, services: &Arc<Services>) -> (usize, Option<AssertFailure>) {
    let env = CompileEnv::new(Arc::clone(services)).with_root("results", RootType::Any);
    for (i, raw) in lines.iter().enumerate() {
        let line = apply_basename_shim(raw);
        let program = match expr::compile(&line, &env) {
            Ok(p) => p,
            Err(e) => return (i + 1, Some(AssertFailure { line: raw.clone(), got: format!("compile error: {e}") })),
        };
        let mut scope = Scope::new(services);
        scope.bind("results", results.clone());
        match program.eval(&mut scope) {
            Ok(Value::Bool(true)) => {}
            Ok(Value::Bool(false)) => {
                return (
                    i + 1,
                    Some(AssertFailure { line: raw.clone(), got: left_side(&line, results, &env, services) }),
                );
            }
            Ok(other) => {
                return (
                    i + 1,
                    Some(AssertFailure { line: raw.clone(), got: format!("non-bool {}", other.type_name()) }),
                );
            }
            Err(e) => return (i + 1, Some(AssertFailure { line: raw.clone(), got: format!("error: {e}") })),
        }
    }
    (lines.len(), None)
}

/// The value of the left side of `LHS == RHS`, rendered as JSON, to show what the engine produced.
fn left_side(line: &str, results: &Value<'_>, env: &CompileEnv, services: &Services) -> String {
    let Some((lhs, _)) = line.split_once("==") else { return "false".to_string() };
    match expr::compile(lhs.trim(), env) {
        Ok(p) => {
            let mut scope = Scope::new(services);
            scope.bind("results", results.clone());
            match p.eval(&mut scope) {
                Ok(v) => v.to_json().to_string(),
                Err(e) => format!("error: {e}"),
            }
        }
        Err(_) => "false".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basename_shim() {
        assert_eq!(
            apply_basename_shim(r#"results["a"]["b"][0].Evt.Meta["datasource_path"] == "x.log""#),
            r#"basename(results["a"]["b"][0].Evt.Meta["datasource_path"]) == "x.log""#
        );
        let untouched = r#"basename(results[0].Evt.Meta["datasource_path"]) == "x.log""#;
        assert_eq!(apply_basename_shim(untouched), untouched);
        assert_eq!(apply_basename_shim("len(results) == 2"), "len(results) == 2");
    }
}
