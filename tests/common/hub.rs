//! Reads the grok parts of hub parser files (pattern_syntax entries and grok patterns), in CrowdSec's load order.

use std::fmt;
use std::path::{Path, PathBuf};

use correlator::grok::{CompiledGrok, PatternLibrary};
use serde::Deserialize;
use serde::de::{MapAccess, Visitor};

/// `pattern_syntax`: an ordered map (entries are registered in document order).
#[derive(Debug, Default)]
pub struct Ordered(pub Vec<(String, String)>);

impl<'de> Deserialize<'de> for Ordered {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Ordered;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a map of pattern names to grok patterns")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Ordered, A::Error> {
                let mut v = Vec::new();
                while let Some((k, val)) = m.next_entry::<String, String>()? {
                    v.push((k, val));
                }
                Ok(Ordered(v))
            }
        }
        d.deserialize_map(V)
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct Grok {
    pub pattern: Option<String>,
    pub name: Option<String>,
    pub apply_on: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Node {
    pub name: Option<String>,
    #[serde(default)]
    pub pattern_syntax: Ordered,
    pub grok: Option<Grok>,
    #[serde(default)]
    pub nodes: Vec<Node>,
}

/// A compiled hub grok: where it comes from and what it applies to.
pub struct HubGrok {
    pub file: PathBuf,
    pub node: String,
    pub apply_on: String,
    pub grok: CompiledGrok,
}

/// Parser files of a hub tree (`parsers/<stage>/<author>/<name>.yaml`), in the order an installed CrowdSec loads
/// them: by stage, then by file name (the author folder is not part of the installed path).
pub fn parser_files(hub: &Path, kind: &str) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let Ok(stages) = std::fs::read_dir(hub.join(kind)) else { return files };
    for stage in stages.flatten() {
        for author in std::fs::read_dir(stage.path()).into_iter().flatten().flatten() {
            for f in std::fs::read_dir(author.path()).into_iter().flatten().flatten() {
                let p = f.path();
                if matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")) {
                    files.push(p);
                }
            }
        }
    }
    let key = |p: &PathBuf| {
        let stage = p.parent().and_then(Path::parent).and_then(Path::file_name).map(|s| s.to_os_string());
        (stage, p.file_name().map(|s| s.to_os_string()), p.clone())
    };
    files.sort_by_key(key);
    files
}

/// Registers pattern_syntax entries and compiles every grok of `files` into `lib`, node by node in load order.
/// Returns the compiled groks, the number of pattern_syntax entries, the redefinition warnings, and the errors.
pub fn compile_hub(lib: &mut PatternLibrary, files: &[PathBuf]) -> (Vec<HubGrok>, usize, usize, Vec<String>) {
    let mut groks = Vec::new();
    let (mut syntax, mut warnings) = (0, 0);
    let mut errors = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(file).expect("read parser file");
        let docs: Vec<Node> = match serde_saphyr::from_multiple(&text) {
            Ok(d) => d,
            Err(e) => {
                errors.push(format!("{}: {e}", file.display()));
                continue;
            }
        };
        let mut stack: Vec<Node> = docs.into_iter().rev().collect();
        while let Some(node) = stack.pop() {
            let name = node.name.clone().unwrap_or_default();
            for (k, v) in &node.pattern_syntax.0 {
                syntax += 1;
                match lib.add_pattern_syntax(k, v) {
                    Ok(Some(_)) => warnings += 1,
                    Ok(None) => {}
                    Err(e) => errors.push(format!("{}: pattern_syntax {k}: {e}", file.display())),
                }
            }
            if let Some(g) = &node.grok {
                let compiled = match (&g.pattern, &g.name) {
                    (Some(p), _) => Some(lib.compile(p)),
                    (None, Some(n)) => Some(lib.compile_named(n)),
                    (None, None) => None,
                };
                match compiled {
                    Some(Ok(grok)) => groks.push(HubGrok {
                        file: file.clone(),
                        node: name.clone(),
                        apply_on: g.apply_on.clone().unwrap_or_default(),
                        grok,
                    }),
                    Some(Err(e)) => errors.push(format!("{}: node {name:?}: {e}", file.display())),
                    None => {}
                }
            }
            // Children are compiled after their parent, in document order.
            stack.extend(node.nodes.into_iter().rev());
        }
    }
    (groks, syntax, warnings, errors)
}
