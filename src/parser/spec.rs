//! The parser node as written in YAML (CrowdSec's `parser.Node` keys, strict): what `hub/parsers/<stage>/*.yaml`
//! and `postoverflows/<stage>/*.yaml` documents contain, before compilation.
//!
//! Only shape and types are checked here; meaning (which combinations are valid, expressions, patterns) is checked
//! when the node is compiled, with the positions kept by [`Expr`].

use serde::Deserialize;

use crate::config::yaml::{Expr, Located, OrderedMap, ScalarText};

/// One node (a YAML document, or an entry of a parent's `nodes:`).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSpec {
    pub format: Option<ScalarText>,
    pub name: Option<String>,
    pub author: Option<String>,
    pub description: Option<String>,
    pub references: Option<Vec<String>>,
    pub debug: Option<bool>,
    pub profiling: Option<bool>,
    pub filter: Option<Expr>,
    /// `next_stage`, `continue` or empty.
    pub onsuccess: Option<String>,
    /// Named grok patterns registered when the node is compiled, in order.
    pub pattern_syntax: Option<OrderedMap>,
    pub grok: Option<GrokSpec>,
    pub nodes: Option<Vec<Located<NodeSpec>>>,
    pub statics: Option<Vec<StaticSpec>>,
    pub stash: Option<Vec<StashSpec>>,
    pub whitelist: Option<WhitelistSpec>,
    pub data: Option<Vec<DataSpec>>,
    /// Correlator: in a postoverflow, turns each overflow the node succeeds on into an audit event of this schema
    /// (one row, these columns; replaces the scenario's own row). Ignored on log events.
    pub audit: Option<crate::scenario::spec::AuditSpec>,
    /// Present in CrowdSec's struct but always overwritten by the directory name.
    pub stage: Option<String>,
}

impl NodeSpec {
    /// CrowdSec skips documents with none of name/description/author (a trailing `---`, a comment block).
    pub fn is_empty_document(&self) -> bool {
        self.name.is_none() && self.description.is_none() && self.author.is_none()
    }
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrokSpec {
    /// Inline grok pattern.
    pub pattern: Option<Expr>,
    /// Name of a registered pattern.
    pub name: Option<String>,
    /// `Line.Raw` or a key of `evt.Parsed`.
    pub apply_on: Option<String>,
    /// An expression whose string value is matched.
    pub expression: Option<Expr>,
    pub statics: Option<Vec<StaticSpec>>,
}

/// One assignment: exactly one target (`parsed`, `meta`, `enriched`, `target`, `method`) and one source
/// (`value` or `expression`).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticSpec {
    pub target: Option<String>,
    pub parsed: Option<String>,
    pub meta: Option<String>,
    pub enriched: Option<String>,
    /// An enricher name; kept with its position so an unknown one can be pointed at.
    pub method: Option<Expr>,
    pub expression: Option<Expr>,
    pub value: Option<ScalarText>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StashSpec {
    pub name: Option<String>,
    pub key: Option<Expr>,
    pub value: Option<Expr>,
    pub ttl: Option<ScalarText>,
    pub size: Option<i64>,
    pub strategy: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WhitelistSpec {
    pub reason: Option<String>,
    pub ip: Option<Vec<String>>,
    pub cidr: Option<Vec<String>>,
    pub expression: Option<Vec<Expr>>,
}

/// A `data:` entry: a file the item needs in the data directory.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataSpec {
    pub source_url: Option<String>,
    pub dest_file: Option<String>,
    /// `string`, `regexp`/`regex`, `map`, `bots`; absent = just a file (e.g. an mmdb).
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub strategy: Option<String>,
    pub size: Option<i64>,
    pub ttl: Option<ScalarText>,
    pub cache: Option<bool>,
}

/// Reads every node document of a parser/postoverflow file, skipping empty documents (spec §2.2). Every broken
/// document is reported, not only the first.
pub fn read_node_file(path: &std::path::Path) -> Result<Vec<Located<NodeSpec>>, crate::config::yaml::ConfigErrors> {
    let (docs, errors) = read_node_file_each(path);
    crate::config::yaml::ConfigErrors(errors).into_result(docs)
}

/// The documents of a node file that read, and the problems of those that did not (a linter checks the former
/// and reports the latter).
pub fn read_node_file_each(path: &std::path::Path) -> (Vec<Located<NodeSpec>>, Vec<crate::config::yaml::ConfigError>) {
    let text = match crate::config::yaml::read_file(path) {
        Ok(t) => t,
        Err(e) => return (Vec::new(), vec![e]),
    };
    let (docs, errors) = crate::config::yaml::from_documents_each::<Located<NodeSpec>>(path, &text);
    (docs.into_iter().flatten().filter(|d| !d.value.is_empty_document()).collect(), errors)
}
