//! `correlator eval`: compile and evaluate one expression against an event, print the result as JSON.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;

use crate::event::Event;
use crate::expr::{CompileEnv, DataKind, Scope, Services, compile};

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  correlator eval \"1 + 2 * 3\"
  correlator eval \"evt.Meta.log_type in ['ssh_failed-auth', 'ssh_invalid-user']\" --event event.yaml
  correlator eval \"any(File('backdoors.txt'), {evt.Parsed.request contains #})\" \\
      --event event.json --data-dir ./data --data backdoors.txt:string

The event file is JSON or YAML with CrowdSec's Go field names, e.g.
  {\"Meta\": {\"log_type\": \"ssh_failed-auth\"}, \"Parsed\": {\"request\": \"/x.php\"}, \"Line\": {\"Labels\": {\"type\": \"syslog\"}}}
Without --event the expression sees an empty event. Writes made by the expression (evt.SetMeta, UnmarshalJSON, \
ParseKV) are listed under \"mutations\" when there are any.
Exit status: 0 on success, 2 on a compile or runtime error (printed with a caret under the column).")]
pub struct EvalArgs {
    /// The expression (expr-lang syntax with CrowdSec helpers).
    pub expression: String,
    /// Event to bind as `evt` (JSON or YAML).
    #[arg(long)]
    pub event: Option<PathBuf>,
    /// Directory holding the data files named by --data.
    #[arg(long, default_value = ".")]
    pub data_dir: PathBuf,
    /// Data file to load, as NAME:KIND (KIND = string, regexp, map). Repeatable.
    #[arg(long = "data", value_name = "NAME:KIND")]
    pub data: Vec<String>,
}

pub fn run(args: EvalArgs) -> ExitCode {
    match eval(&args) {
        Ok(out) => {
            println!("{out}");
            ExitCode::SUCCESS
        }
        Err(msg) => {
            eprintln!("{msg}");
            ExitCode::from(2)
        }
    }
}

fn load_event(path: &PathBuf) -> Result<Event, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    match serde_json::from_str::<Event>(&text) {
        Ok(e) => Ok(e),
        Err(json_err) => serde_saphyr::from_str::<Event>(&text).map_err(|yaml_err| {
            format!("{}: not a valid event (as JSON: {json_err}; as YAML: {yaml_err})", path.display())
        }),
    }
}

/// Does the work of `run`, returning the text to print or the error message.
pub fn eval(args: &EvalArgs) -> Result<String, String> {
    let services = Arc::new(Services::new());
    for spec in &args.data {
        let (name, kind) = spec.rsplit_once(':').ok_or_else(|| format!("--data {spec:?}: expected NAME:KIND"))?;
        let kind = DataKind::parse(kind).ok_or_else(|| format!("--data {spec:?}: unknown kind {kind:?}"))?;
        services.data.load(name, kind, &args.data_dir)?;
    }
    let evt = match &args.event {
        Some(p) => load_event(p)?,
        None => Event::default(),
    };
    let env = CompileEnv::for_event(services.clone());
    let src = &args.expression;
    let program = compile(src, &env).map_err(|e| format!("compile error: {}", e.render(src)))?;
    // With an arena, as in the pipeline: a write is visible to the rest of the expression that makes it.
    let arena = crate::expr::EvalArena::new();
    let mut scope = Scope::new(&services).with_evt(&evt).with_arena(&arena);
    let value = program.eval(&mut scope).map_err(|e| format!("runtime error: {}", e.render(src)))?;
    let result = value.to_json();
    let mutations = scope.take_mutations();
    let out = if mutations.is_empty() {
        result
    } else {
        let mut after = evt.clone();
        let listed: Vec<String> = mutations.iter().map(|m| format!("{m:?}")).collect();
        for m in mutations {
            m.apply(&mut after);
        }
        serde_json::json!({"result": result, "mutations": listed, "event": after})
    };
    serde_json::to_string_pretty(&out).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(expr: &str) -> EvalArgs {
        EvalArgs { expression: expr.to_string(), event: None, data_dir: ".".into(), data: vec![] }
    }

    #[test]
    fn evaluates_and_reports_errors() {
        assert_eq!(eval(&args("1 + 2")).unwrap(), "3");
        let e = eval(&args("evt.Nope == 1")).unwrap_err();
        assert!(e.contains("has no field Nope") && e.contains('^'), "{e}");
        let e = eval(&args("1 / 0")).unwrap_err();
        assert!(e.starts_with("runtime error"), "{e}");
    }

    #[test]
    fn reads_yaml_event_and_data() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("e.yaml"), "Meta:\n  log_type: ssh\nParsed:\n  request: /a.php\n").unwrap();
        std::fs::write(dir.path().join("l.txt"), "a.php\n").unwrap();
        let a = EvalArgs {
            expression: "evt.Meta.log_type == 'ssh' && any(File('l.txt'), {evt.Parsed.request contains #})".into(),
            event: Some(dir.path().join("e.yaml")),
            data_dir: dir.path().to_path_buf(),
            data: vec!["l.txt:string".into()],
        };
        assert_eq!(eval(&a).unwrap(), "true");
        let m = eval(&args("evt.SetMeta('k', 'v')")).unwrap();
        assert!(m.contains("\"mutations\"") && m.contains("\"k\": \"v\""), "{m}");
    }
}
