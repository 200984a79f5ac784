//! Grok: named regex building blocks (`%{IP:source_ip}`) expanded onto Rust's linear-time `regex` engine, with
//! CrowdSec's (grokky's) semantics.
//!
//! * [`PatternLibrary`] holds the pattern names: a built-in base layer (`base.patterns`, the names CrowdSec's grok
//!   library registers itself), pattern files (`/etc/crowdsec/patterns` style), and `pattern_syntax` entries added
//!   by parser nodes at load time.
//! * [`PatternLibrary::compile`] expands a grok expression into one regex plus a semantic → capture-group table
//!   ([`CompiledGrok`]); matching returns every semantic of the expression ([`Captures`]).
//! * [`GrokSet`] runs one `RegexSet` pass over several compiled patterns tried on the same input, so a parser stage
//!   only runs capture searches on the patterns that can match.
//!
//! What this module is not: it does not know about events, nodes or statics (the parser decides which field a
//! pattern is applied to and where the captures go), and it never runs a backtracking engine: log lines are
//! attacker-controlled, and every search here is linear in the input length.

mod backtrack;
mod expand;
mod guard;
mod library;
mod matcher;
mod set;

pub use library::{Origin, PatternLibrary};
pub use matcher::{Captures, CompiledGrok};
pub use set::{Candidates, GrokSet};

use std::fmt;

/// Why a pattern, a pattern file or a grok expression could not be loaded or compiled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GrokError {
    /// `%{NAME}` references a name no layer defines.
    UnknownPattern { name: String, referenced_by: String },
    /// A pattern references itself, directly or through others (the chain starts and ends with the same name).
    Cycle { chain: Vec<String> },
    /// The expanded regex does not compile.
    Regex { pattern: String, message: String },
    /// Two pattern files define the same name.
    Duplicate { name: String, first: Origin, second: Origin },
    /// A pattern file or directory could not be read.
    Io { path: String, message: String },
    /// A definition from a pattern file failed; `error` says why.
    InFile { origin: Origin, error: Box<GrokError> },
}

impl fmt::Display for GrokError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GrokError::UnknownPattern { name, referenced_by } => {
                write!(f, "grok pattern {referenced_by:?} references unknown pattern %{{{name}}}")
            }
            GrokError::Cycle { chain } => {
                write!(f, "grok patterns reference each other in a cycle: {}", chain.join(" -> "))
            }
            GrokError::Regex { pattern, message } => write!(f, "grok pattern {pattern:?}: {message}"),
            GrokError::Duplicate { name, first, second } => {
                write!(f, "{second}: grok pattern {name} is already defined at {first}")
            }
            GrokError::Io { path, message } => write!(f, "{path}: {message}"),
            GrokError::InFile { origin, error } => write!(f, "{origin}: {error}"),
        }
    }
}

impl std::error::Error for GrokError {}
