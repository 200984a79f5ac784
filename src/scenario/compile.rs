//! From a scenario's YAML to a compiled [`Scenario`]: CrowdSec's validation rules per bucket type, durations,
//! expressions with the right variables, data files; every problem as `file:line:col: message`.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use crate::config::yaml::{ConfigError, ConfigErrors, Expr, Located, ScalarText, check_format, position};
use crate::event::Severity;
use crate::expr::{self, CompileEnv, Program, RootType};
use crate::gocompat::duration::parse_duration;
use crate::output::template::{Escape, Template};

use super::limiter::Rate;
use super::spec::ScenarioSpec;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Leaky,
    Trigger,
    Counter,
    Conditional,
    Bayesian,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Leaky => "leaky",
            Kind::Trigger => "trigger",
            Kind::Counter => "counter",
            Kind::Conditional => "conditional",
            Kind::Bayesian => "bayesian",
        }
    }
}

/// `scope:` of the alert source.
#[derive(Clone, Debug)]
pub struct ScopeRule {
    /// `Ip` (default), `Range`, or any custom scope name.
    pub kind: String,
    pub expr: Option<Program>,
}

#[derive(Clone, Debug)]
pub struct BayesCondition {
    pub condition: Program,
    pub prob_given_evil: f32,
    pub prob_given_benign: f32,
    pub guillotine: bool,
}

#[derive(Clone, Debug)]
pub struct Bayes {
    pub prior: f32,
    pub threshold: f32,
    pub conditions: Vec<BayesCondition>,
}

/// Correlator's audit schema: one row per overflow, one column per expression.
#[derive(Clone, Debug)]
pub struct AuditSchema {
    pub name: String,
    pub fields: Vec<(String, Program)>,
}

impl AuditSchema {
    /// One row: each field evaluated in a scope from `scope` (the overflow event, plus whatever the caller binds);
    /// a field that fails is empty and reported to `failed` (field name, error) for counting and logging.
    pub fn record<'s>(
        &'s self,
        mut scope: impl FnMut() -> expr::Scope<'s>,
        mut failed: impl FnMut(&str, &expr::ExprError),
    ) -> crate::event::AuditRecord {
        let columns = self
            .fields
            .iter()
            .map(|(name, p)| {
                let value = match p.eval(&mut scope()) {
                    Ok(v) => v.as_str().map(str::to_string).unwrap_or_else(|| v.to_go_string()),
                    Err(e) => {
                        failed(name, &e);
                        String::new()
                    }
                };
                (name.clone(), value)
            })
            .collect();
        crate::event::AuditRecord { schema: self.name.clone(), columns }
    }
}

/// Lifecycle counters of a scenario (exported as `cs_bucket_*` metrics).
#[derive(Debug, Default)]
pub struct ScenarioStats {
    pub poured: AtomicU64,
    pub overflows: AtomicU64,
    pub instantiated: AtomicU64,
    pub underflows: AtomicU64,
    pub canceled: AtomicU64,
    pub blackholed: AtomicU64,
    /// Runtime errors of the scenario's expressions and templates (filter, groupby, distinct, cancel_on,
    /// condition, bayesian conditions, overflow_filter, audit fields, summary/message, alert building): each is
    /// also logged, rate-limited, so this is what tells how many there were.
    pub errors: AtomicU64,
}

impl ScenarioStats {
    /// Counts one runtime error.
    pub fn error(&self) {
        self.errors.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// One subject of a filter's required literals (`expr::literals::Atom`), compiled like the filter (so that they
/// share its memo).
#[derive(Clone, Debug)]
pub struct NeedSubject {
    pub subject: Program,
    /// The argument of a case change (`Upper(X)`: `X`), searched up to ASCII case when its value is ASCII.
    pub inner: Option<Program>,
    pub literals: Vec<String>,
}

/// What a filter leaves to evaluate once its exact guard (its first conjunct) has admitted the event.
#[derive(Debug)]
pub enum AfterGuard {
    /// The guard was the whole filter: it is true.
    Nothing,
    /// The conjuncts after the guard's, compiled on their own.
    Rest(Program),
}

#[derive(Debug)]
pub struct Scenario {
    pub name: Arc<str>,
    pub description: String,
    /// `file:line` of the document.
    pub origin: Arc<str>,
    pub kind: Kind,
    pub debug: bool,
    pub filter: Option<Program>,
    /// A necessary condition of `filter`, checked with one field lookup before evaluating it (`expr::guard`).
    pub guard: Option<crate::expr::guard::Guard>,
    /// What is left to evaluate once an exact guard has admitted the event (`expr::guard`); `None`: `filter`.
    pub after_guard: Option<AfterGuard>,
    /// The filter's required literals (`expr::literals`), by subject. The filter is only evaluated when one
    /// occurs (`prefilter`).
    pub needs: Option<Vec<NeedSubject>>,
    pub groupby: Option<Program>,
    pub distinct: Option<Program>,
    pub cancel_on: Option<Program>,
    pub overflow_filter: Option<Program>,
    pub condition: Option<Program>,
    pub bayes: Option<Bayes>,
    pub capacity: i64,
    /// Nanoseconds per leaked token; 0 when unset.
    pub leakspeed: i64,
    /// The token bucket of `capacity` and `leakspeed`, which every instance's limiter follows.
    pub rate: Rate,
    /// Counter lifetime in nanoseconds; 0 when unset.
    pub duration: i64,
    /// Counters: report at each multiple of this period (nanoseconds) instead of `duration` after the first event.
    pub every: Option<i64>,
    /// Report an expiring instance instead of dropping it (Correlator extension).
    pub report_on_expiry: bool,
    /// How long an instance lives without a pour (CrowdSec's `Duration`), in nanoseconds.
    pub expiry: i64,
    pub blackhole: Option<i64>,
    pub reprocess: bool,
    /// Events kept per instance (the queue keeps one more); `None` = unbounded.
    pub queue_limit: Option<usize>,
    pub scope: ScopeRule,
    pub labels: BTreeMap<String, serde_json::Value>,
    pub remediation: bool,
    pub version: String,
    pub severity: Severity,
    /// `summary:` (or `labels.summary`), compiled; rendered into `Alert.summary` at overflow.
    pub summary: Option<Template>,
    /// `message:` (or `labels.message`), compiled; rendered into `Alert.message` at overflow.
    pub message: Option<Template>,
    pub audit: Option<AuditSchema>,
    /// Hash of everything that decides how the buckets behave: a reload keeps the live buckets of a scenario whose
    /// name and fingerprint did not change.
    pub fingerprint: u64,
    pub stats: ScenarioStats,
}

/// Compiles the scenario documents of one file.
pub struct ScenarioCompiler<'a> {
    pub services: Arc<expr::Services>,
    pub data_dir: &'a Path,
    pub errors: &'a mut ConfigErrors,
    pub warnings: &'a mut Vec<ConfigError>,
}

impl ScenarioCompiler<'_> {
    fn env(&self, roots: &[(&str, RootType)]) -> CompileEnv {
        let mut env = CompileEnv::for_event(Arc::clone(&self.services));
        for (name, ty) in roots {
            env = env.with_root(name, *ty);
        }
        env
    }

    fn expr(&mut self, file: &Path, e: &Expr, env: &CompileEnv, what: &str) -> Option<Program> {
        if e.is_blank() {
            return None;
        }
        match expr::compile(&e.src, env) {
            Ok(p) => Some(p),
            Err(err) => {
                self.errors.push(ConfigError::at_expr(file, e, err.offset(), format!("{what}: {err}")));
                None
            }
        }
    }

    /// Compiles the `summary:`/`message:` template (or its `labels.` fallback, which has no position of its own:
    /// errors then point at the document).
    fn template(
        &mut self,
        file: &Path,
        doc_pos: (u32, u32),
        name: &str,
        what: &str,
        field: Option<&Expr>,
        label: Option<String>,
    ) -> Option<Template> {
        let (src, at) = match (field, label) {
            (Some(e), _) => (e.src.clone(), Some(e)),
            (None, Some(l)) => (l, None),
            (None, None) => return None,
        };
        match Template::compile(&src, Escape::None) {
            Ok(t) => Some(t),
            Err(e) => {
                let line = match at {
                    // The template's own line N sits N-1 lines below the scalar's first line (block scalars).
                    Some(x) if e.line > 1 => {
                        let offset = src.split_inclusive('\n').take(e.line - 1).map(str::len).sum();
                        x.position_of(offset).0
                    }
                    Some(x) => x.line,
                    None => doc_pos.0,
                };
                self.errors.push(ConfigError::new(file, line, 0, format!("scenario {name}: {what} template: {e}")));
                None
            }
        }
    }

    pub fn compile(&mut self, file: &Path, doc: &Located<ScenarioSpec>) -> Option<Scenario> {
        let pos = position(doc);
        let s = &doc.value;
        let before = self.errors.0.len();
        let err = |errors: &mut ConfigErrors, msg: String| errors.push(ConfigError::new(file, pos.0, pos.1, msg));
        // An error about a field: at the field when it is written, else (a missing field) at the document.
        let err_at = |errors: &mut ConfigErrors, at: Option<(u32, u32)>, msg: String| {
            let (line, col) = at.unwrap_or(pos);
            errors.push(ConfigError::new(file, line, col, msg))
        };

        if let Some(f) = &s.format
            && let Err(e) = check_format(&f.text)
        {
            self.warnings.push(ConfigError::new(file, pos.0, pos.1, format!("scenario skipped: {e}")));
            return None;
        }
        let name = s.name.clone().unwrap_or_default();
        if name.is_empty() {
            err(self.errors, "scenario must have a name".into());
        }
        let description = s.description.clone().unwrap_or_default();
        if description.is_empty() {
            err(self.errors, format!("scenario {name}: description is mandatory"));
        }
        let kind = match s.kind.as_ref().map(|k| k.value.trim()) {
            Some("leaky") => Some(Kind::Leaky),
            Some("trigger") => Some(Kind::Trigger),
            Some("counter") => Some(Kind::Counter),
            Some("conditional") => Some(Kind::Conditional),
            Some("bayesian") => Some(Kind::Bayesian),
            other => {
                err_at(
                    self.errors,
                    s.kind.as_ref().map(position),
                    format!(
                        "scenario {name}: unknown type {:?} (leaky, trigger, counter, conditional, bayesian)",
                        other.unwrap_or("")
                    ),
                );
                None
            }
        };
        // A duration field: `Some(0)` when absent, `None` when written but invalid (reported here, at the field, so
        // the checks below do not add "needs a leakspeed" to "leakspeed: invalid duration").
        let dur = |errors: &mut ConfigErrors, field: &str, v: &Option<Located<ScalarText>>| -> Option<i64> {
            let Some(v) = v else { return Some(0) };
            let t = v.value.text.trim();
            if t.is_empty() {
                return Some(0);
            }
            match parse_duration(t) {
                Ok(d) => Some(d),
                Err(e) => {
                    err_at(errors, Some(position(v)), format!("scenario {name}: {field}: {e}"));
                    None
                }
            }
        };
        let field_at = |v: &Option<Located<ScalarText>>| v.as_ref().map(position);
        let leakspeed_ok = dur(self.errors, "leakspeed", &s.leakspeed);
        let leakspeed = leakspeed_ok.unwrap_or(0);
        let every = match dur(self.errors, "every", &s.every).unwrap_or(0) {
            0 => None,
            e => Some(e),
        };
        // A periodic counter needs no duration of its own: its period is its lifetime.
        let duration_ok = dur(self.errors, "duration", &s.duration);
        let duration = match (duration_ok.unwrap_or(0), every) {
            (0, Some(e)) => e,
            (d, _) => d,
        };
        if every.is_some() && kind != Some(Kind::Counter) {
            err_at(self.errors, field_at(&s.every), format!("scenario {name}: every is only for counter scenarios"));
        }
        let blackhole = match dur(self.errors, "blackhole", &s.blackhole).unwrap_or(0) {
            0 => None,
            d => Some(d),
        };
        let capacity = s.capacity.as_ref().map_or(0, |c| c.value);
        let capacity_at = s.capacity.as_ref().map(position);
        // "needs a leakspeed" only when it is missing or not positive: an unparsable one is already reported.
        let needs_leakspeed = leakspeed_ok.is_some() && leakspeed <= 0;
        let leakspeed_at = field_at(&s.leakspeed);
        match kind {
            Some(Kind::Leaky) => {
                if capacity <= 0 {
                    err_at(
                        self.errors,
                        capacity_at,
                        format!("scenario {name}: bad capacity for leaky '{capacity}': must be > 0"),
                    );
                }
                if needs_leakspeed {
                    err_at(self.errors, leakspeed_at, format!("scenario {name}: leaky needs a leakspeed"));
                }
            }
            Some(Kind::Counter) => {
                if duration_ok.is_some() && duration <= 0 {
                    err_at(self.errors, field_at(&s.duration), format!("scenario {name}: counter needs a duration"));
                }
                if capacity != -1 {
                    err_at(self.errors, capacity_at, format!("scenario {name}: counter bucket must have -1 capacity"));
                }
            }
            Some(Kind::Trigger) if capacity != 0 => {
                err_at(self.errors, capacity_at, format!("scenario {name}: trigger bucket must have 0 capacity"));
            }
            Some(Kind::Trigger) => {}
            Some(Kind::Conditional) => {
                if needs_leakspeed {
                    err_at(self.errors, leakspeed_at, format!("scenario {name}: conditional needs a leakspeed"));
                }
                if s.condition.as_ref().is_none_or(|c| c.is_blank()) {
                    err(self.errors, format!("scenario {name}: conditional needs a condition"));
                }
            }
            Some(Kind::Bayesian) => {
                if needs_leakspeed {
                    err_at(self.errors, leakspeed_at, format!("scenario {name}: bayesian needs a leakspeed"));
                }
                if capacity != -1 {
                    err_at(self.errors, capacity_at, format!("scenario {name}: bayesian bucket must have -1 capacity"));
                }
                for (field, v) in [("bayesian_prior", &s.bayesian_prior), ("bayesian_threshold", &s.bayesian_threshold)]
                {
                    match v.as_ref().map(|p| p.value) {
                        Some(p) if p > 0.0 && p <= 1.0 => {}
                        _ => err_at(
                            self.errors,
                            v.as_ref().map(position),
                            format!("scenario {name}: {field} must be in (0, 1]"),
                        ),
                    }
                }
                if s.bayesian_conditions.as_ref().is_none_or(|c| c.is_empty()) {
                    err(self.errors, format!("scenario {name}: bayesian needs bayesian_conditions"));
                }
            }
            None => {}
        }

        // Data files first: filters may precompile File(...) lists.
        for d in s.data.iter().flatten() {
            if let (Some(dest), Some(kind)) = (d.dest_file.as_deref(), d.kind.as_deref()) {
                match expr::DataKind::parse(kind) {
                    Some(k) => {
                        if let Err(e) = self.services.data.load(dest, k, self.data_dir) {
                            self.warnings.push(ConfigError::new(file, pos.0, pos.1, format!("data file {dest}: {e}")));
                        }
                    }
                    None => err(self.errors, format!("scenario {name}: data: unknown type {kind:?}")),
                }
            }
        }

        let evt_env = self.env(&[]);
        let cond_env = self.env(&[("queue", RootType::Any), ("leaky", RootType::Any)]);
        let ovf_env = self.env(&[("queue", RootType::Any), ("leaky", RootType::Any), ("signal", RootType::Any)]);
        // Filters run on every event: their shared `Upper(evt.Meta.http_path)` & co are computed once per event.
        let filter_env = self.env(&[]).with_memo();
        let filter = s.filter.as_ref().and_then(|e| self.expr(file, e, &filter_env, "filter"));
        if s.filter.as_ref().is_none_or(|f| f.is_blank()) {
            self.errors.push(ConfigError::new(file, pos.0, pos.1, format!("scenario {name}: filter is mandatory")));
        }
        let groupby = s.groupby.as_ref().and_then(|e| self.expr(file, e, &evt_env, "groupby"));
        let distinct = s.distinct.as_ref().and_then(|e| self.expr(file, e, &evt_env, "distinct"));
        let cancel_on = s.cancel_on.as_ref().and_then(|e| self.expr(file, e, &evt_env, "cancel_on"));
        let overflow_filter = s.overflow_filter.as_ref().and_then(|e| self.expr(file, e, &ovf_env, "overflow_filter"));
        let condition = s.condition.as_ref().and_then(|e| self.expr(file, e, &cond_env, "condition"));
        let bayes = if kind == Some(Kind::Bayesian) {
            let mut conditions = Vec::new();
            for c in s.bayesian_conditions.iter().flatten() {
                let Some(cond) = c.condition.as_ref() else {
                    self.errors.push(ConfigError::new(
                        file,
                        pos.0,
                        pos.1,
                        format!("scenario {name}: bayesian condition without condition"),
                    ));
                    continue;
                };
                if let Some(p) = self.expr(file, cond, &cond_env, "bayesian condition") {
                    conditions.push(BayesCondition {
                        condition: p,
                        prob_given_evil: c.prob_given_evil.unwrap_or(0.0) as f32,
                        prob_given_benign: c.prob_given_benign.unwrap_or(0.0) as f32,
                        guillotine: c.guillotine.unwrap_or(false),
                    });
                }
            }
            Some(Bayes {
                prior: s.bayesian_prior.as_ref().map_or(0.0, |p| p.value) as f32,
                threshold: s.bayesian_threshold.as_ref().map_or(0.0, |p| p.value) as f32,
                conditions,
            })
        } else {
            None
        };

        let scope = match &s.scope {
            None => ScopeRule { kind: "Ip".into(), expr: None },
            Some(located) => {
                let sc = &located.value;
                let (line, col) = position(located);
                let kind = sc.kind.clone().filter(|k| !k.is_empty()).unwrap_or_else(|| "Ip".into());
                let expr = sc.expression.as_ref().and_then(|e| self.expr(file, e, &evt_env, "scope.expression"));
                if kind == "Ip" && expr.is_some() {
                    self.errors.push(ConfigError::new(
                        file,
                        line,
                        col,
                        format!("scenario {name}: scope Ip takes no expression"),
                    ));
                }
                if kind != "Ip" && kind != "Range" && expr.is_none() {
                    self.errors.push(ConfigError::new(
                        file,
                        line,
                        col,
                        format!("scenario {name}: scope {kind} needs an expression"),
                    ));
                }
                ScopeRule { kind, expr }
            }
        };

        let labels = s.labels.clone().unwrap_or_default();
        let remediation = labels.get("remediation").and_then(|v| v.as_bool()).unwrap_or(false);
        let label_str = |k: &str| labels.get(k).and_then(|v| v.as_str()).map(str::to_string);
        // `labels.severity` has no position of its own: its errors point at the document.
        let severity_at = s.severity.as_ref().map(position);
        let severity_text = s.severity.as_ref().map(|v| v.value.clone()).or_else(|| label_str("severity"));
        let severity = match severity_text.as_deref() {
            None => {
                if remediation {
                    Severity::Warning
                } else {
                    Severity::Notice
                }
            }
            Some(t) => Severity::parse(t).unwrap_or_else(|| {
                err_at(
                    self.errors,
                    severity_at,
                    format!("scenario {name}: severity {t:?}: expected notice, warning or error"),
                );
                Severity::Notice
            }),
        };
        let audit = s.audit.as_ref().map(|a| AuditSchema {
            name: a.name.clone(),
            fields: a
                .fields
                .iter()
                .filter_map(|f| self.expr(file, &f.expression, &ovf_env, "audit field").map(|p| (f.name.clone(), p)))
                .collect(),
        });

        let summary = self.template(file, pos, &name, "summary", s.summary.as_ref(), label_str("summary"));
        let message = self.template(file, pos, &name, "message", s.message.as_ref(), label_str("message"));
        if self.errors.0.len() > before {
            return None;
        }
        let kind = kind?;
        // CrowdSec: the queue holds `capacity` events (or `cache_size` when it is smaller, or when the capacity is
        // unbounded), plus the one that overflows.
        let cache = s.cache_size.unwrap_or(0);
        let qsize = if cache > 0 && (cache <= capacity || capacity == -1) { cache } else { capacity };
        let queue_limit = if qsize < 0 { None } else { Some(qsize as usize) };
        let expiry = match kind {
            Kind::Counter => duration,
            Kind::Conditional | Kind::Bayesian => leakspeed,
            _ if capacity > 0 && leakspeed > 0 => (capacity + 1) * leakspeed,
            _ => duration,
        };
        let fingerprint = {
            use std::hash::{Hash, Hasher};
            let src = |p: &Option<Program>| p.as_ref().map(|p| p.source().to_string());
            let mut h = std::collections::hash_map::DefaultHasher::new();
            (kind.as_str(), capacity, leakspeed, duration, every, blackhole, queue_limit).hash(&mut h);
            (src(&filter), src(&groupby), src(&distinct), src(&cancel_on), src(&overflow_filter), src(&condition))
                .hash(&mut h);
            (s.report_on_expiry, s.reprocess, &scope.kind, src(&scope.expr)).hash(&mut h);
            if let Some(b) = &bayes {
                (b.prior.to_bits(), b.threshold.to_bits()).hash(&mut h);
                for c in &b.conditions {
                    (c.condition.source(), c.prob_given_evil.to_bits(), c.prob_given_benign.to_bits(), c.guillotine)
                        .hash(&mut h);
                }
            }
            h.finish()
        };
        let guard = filter.as_ref().and_then(|f| crate::expr::guard::derive(f.source(), &evt_env));
        let after_guard = match (&guard, &filter) {
            (Some(g), Some(f)) if g.exact => match crate::expr::guard::rest_after_first(f.source()) {
                Some(rest) if rest.is_empty() => Some(AfterGuard::Nothing),
                Some(rest) => crate::expr::compile(&rest, &filter_env).ok().map(AfterGuard::Rest),
                None => None,
            },
            _ => None,
        };
        let needs = match (&after_guard, &filter) {
            (Some(AfterGuard::Nothing), _) | (_, None) => None,
            (_, Some(f)) => crate::expr::literals::derive(f.source(), &filter_env).and_then(|n| {
                let compile = |src: &str| crate::expr::compile(src, &filter_env).ok();
                n.subjects
                    .into_iter()
                    .map(|(subject, inner, literals)| {
                        let inner = match inner {
                            Some(i) => Some(compile(&i)?),
                            None => None,
                        };
                        Some(NeedSubject { subject: compile(&subject)?, inner, literals })
                    })
                    .collect()
            }),
        };
        Some(Scenario {
            fingerprint,
            needs,
            name: Arc::from(name.as_str()),
            description,
            origin: Arc::from(format!("{}:{}", file.display(), pos.0)),
            kind,
            debug: s.debug.unwrap_or(false),
            guard,
            after_guard,
            filter,
            groupby,
            distinct,
            cancel_on,
            overflow_filter,
            condition,
            bayes,
            capacity,
            leakspeed,
            rate: Rate::new(leakspeed.max(1), capacity),
            duration,
            every,
            report_on_expiry: s.report_on_expiry.unwrap_or(false),
            expiry,
            blackhole,
            reprocess: s.reprocess.unwrap_or(false),
            queue_limit,
            scope,
            remediation,
            labels,
            version: s.version.as_ref().map(|v| v.text.clone()).unwrap_or_default(),
            severity,
            summary,
            message,
            audit,
            stats: ScenarioStats::default(),
        })
    }
}
