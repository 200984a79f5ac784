//! Configuration files and their loading, each with `file:line:col` errors.
//!
//! What this module is not: the runtime objects built from a configuration (those live beside the code that uses
//! them, e.g. `acquisition`).

pub mod acquis;

use std::path::{Path, PathBuf};

/// One configuration problem, located in a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    pub file: PathBuf,
    /// 1-based; 0 when the problem has no precise place (e.g. the file cannot be read).
    pub line: u64,
    pub col: u64,
    pub message: String,
}

impl ConfigError {
    pub fn new(file: &Path, line: u64, col: u64, message: impl Into<String>) -> Self {
        ConfigError { file: file.to_path_buf(), line, col, message: message.into() }
    }
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file.display(), self.message)
        } else {
            write!(f, "{}:{}:{}: {}", self.file.display(), self.line, self.col, self.message)
        }
    }
}

impl std::error::Error for ConfigError {}

/// Every problem found while loading a configuration (never empty when returned as an error).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl std::fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

impl From<ConfigError> for ConfigErrors {
    fn from(e: ConfigError) -> Self {
        ConfigErrors(vec![e])
    }
}
