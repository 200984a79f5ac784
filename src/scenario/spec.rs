//! The scenario as written in YAML (CrowdSec's `leakybucket.BucketFactory` keys, strict), plus Correlator's own
//! optional keys for its event system. Validation of combinations happens when the scenario is compiled.
//!
//! Every field the compiler validates keeps its position (expressions as [`Expr`], plain values as [`Located`]),
//! so a bad `capacity` or `leakspeed` is reported on its own line, not at the start of the document.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::config::yaml::{Expr, Located, ScalarText};
use crate::parser::spec::DataSpec;

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioSpec {
    pub format: Option<ScalarText>,
    pub author: Option<String>,
    pub description: Option<String>,
    pub references: Option<Vec<String>>,
    /// `leaky`, `trigger`, `counter`, `conditional`, `bayesian`.
    #[serde(rename = "type")]
    pub kind: Option<Located<String>>,
    pub name: Option<String>,
    pub capacity: Option<Located<i64>>,
    /// Go duration: time to leak one token.
    pub leakspeed: Option<Located<ScalarText>>,
    /// Go duration: counter lifetime.
    pub duration: Option<Located<ScalarText>>,
    pub filter: Option<Expr>,
    pub groupby: Option<Expr>,
    pub distinct: Option<Expr>,
    pub debug: Option<bool>,
    pub labels: Option<BTreeMap<String, serde_json::Value>>,
    pub blackhole: Option<Located<ScalarText>>,
    pub reprocess: Option<bool>,
    pub cache_size: Option<i64>,
    pub profiling: Option<bool>,
    pub overflow_filter: Option<Expr>,
    pub condition: Option<Expr>,
    pub bayesian_prior: Option<Located<f64>>,
    pub bayesian_threshold: Option<Located<f64>>,
    pub bayesian_conditions: Option<Vec<BayesianConditionSpec>>,
    pub scope: Option<Located<ScopeSpec>>,
    pub data: Option<Vec<DataSpec>>,
    pub cancel_on: Option<Expr>,
    pub version: Option<ScalarText>,

    // Correlator extensions (ignored by CrowdSec, which would reject them: they are new optional keys).
    /// `notice`, `warning` or `error` for the alerts/events this scenario raises.
    pub severity: Option<Located<String>>,
    /// One-line summary template (minijinja) of the alert (read with its position for error messages).
    pub summary: Option<Expr>,
    /// Longer message template (minijinja) of the alert.
    pub message: Option<Expr>,
    /// Audit schema: every overflow also emits one row with these fields.
    pub audit: Option<AuditSpec>,
    /// Counters only: report at every multiple of this period (`1m`, `1h`) on the clock, instead of `duration`
    /// after the first event (statistics aligned to the minute or hour).
    pub every: Option<Located<ScalarText>>,
    /// Leaky/conditional/bayesian: when an instance expires without overflowing, report it (an overflow with what
    /// it holds) instead of dropping it silently. For correlations that must always end in a record (sessions).
    pub report_on_expiry: Option<bool>,
}

impl ScenarioSpec {
    pub fn is_empty_document(&self) -> bool {
        self.name.is_none() && self.description.is_none() && self.kind.is_none() && self.filter.is_none()
    }
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BayesianConditionSpec {
    pub condition: Option<Expr>,
    pub prob_given_evil: Option<f64>,
    pub prob_given_benign: Option<f64>,
    pub guillotine: Option<bool>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScopeSpec {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub expression: Option<Expr>,
}

/// An audit schema: the name of the table/CSV file and its ordered columns, each an expression.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditSpec {
    pub name: String,
    pub fields: Vec<AuditField>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditField {
    pub name: String,
    pub expression: Expr,
}

/// Reads every scenario document of a file, skipping empty documents. Every broken document is reported.
pub fn read_scenario_file(
    path: &std::path::Path,
) -> Result<Vec<crate::config::yaml::Located<ScenarioSpec>>, crate::config::yaml::ConfigErrors> {
    let (docs, errors) = read_scenario_file_each(path);
    crate::config::yaml::ConfigErrors(errors).into_result(docs)
}

/// The documents of a scenario file that read, and the problems of those that did not.
pub fn read_scenario_file_each(
    path: &std::path::Path,
) -> (Vec<crate::config::yaml::Located<ScenarioSpec>>, Vec<crate::config::yaml::ConfigError>) {
    let text = match crate::config::yaml::read_file(path) {
        Ok(t) => t,
        Err(e) => return (Vec::new(), vec![e]),
    };
    let (docs, errors) =
        crate::config::yaml::from_documents_each::<crate::config::yaml::Located<ScenarioSpec>>(path, &text);
    (docs.into_iter().flatten().filter(|d| !d.value.is_empty_document()).collect(), errors)
}
