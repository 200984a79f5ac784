//! From YAML node specs to compiled [`Node`]s: validation (CrowdSec's rules, spec §2.2–§2.3), expression and grok
//! compilation, data files and stash caches. Every problem is collected as `file:line:col: message`; a node with
//! problems is left out, the others still compile, and the caller decides whether any error is fatal.

use std::path::Path;
use std::sync::Arc;

use crate::config::yaml::{ConfigError, ConfigErrors, Expr, Located, check_format, position};
use crate::expr::{self, CompileEnv, Program};
use crate::gocompat::duration::parse_duration;
use crate::grok::PatternLibrary;

use super::node::{GrokSource, GrokStep, Node, NodeStats, StashStep, build_prefilter};
use super::spec::{DataSpec, NodeSpec, StaticSpec};
use super::statics::{Field, Source, Static, Target};
use super::whitelist::{Whitelist, parse_cidr, parse_ip};

/// Children sharing an input from this many on get a regex-set prefilter.
const PREFILTER_MIN_CHILDREN: usize = 3;

/// Everything node compilation needs.
pub struct NodeCompiler<'a> {
    pub env: &'a CompileEnv,
    pub patterns: &'a mut PatternLibrary,
    pub data_dir: &'a Path,
    pub errors: &'a mut ConfigErrors,
    /// Warnings worth telling the user (pattern redefinitions, skipped documents, missing data files, unknown
    /// enricher methods).
    pub warnings: &'a mut Vec<ConfigError>,
}

impl NodeCompiler<'_> {
    /// Compiles one top-level node of `file`. `None` when the node has errors (recorded) or is skipped.
    pub fn compile(&mut self, file: &Path, spec: &Located<NodeSpec>) -> Option<Node> {
        if let Some(fmt) = &spec.value.format
            && let Err(e) = check_format(&fmt.text)
        {
            let (l, c) = position(spec);
            // CrowdSec skips such a node with an error log rather than failing the whole load.
            self.warnings.push(ConfigError::new(file, l, c, format!("node skipped: {e}")));
            return None;
        }
        let before = self.errors.0.len();
        let node = self.node(file, spec, None);
        if self.errors.0.len() > before { None } else { node }
    }

    fn err(&mut self, file: &Path, (line, col): (u32, u32), msg: impl Into<String>) {
        self.errors.push(ConfigError::new(file, line, col, msg));
    }

    fn expr(&mut self, file: &Path, e: &Expr) -> Option<Program> {
        match expr::compile(&e.src, self.env) {
            Ok(p) => Some(p),
            Err(err) => {
                self.errors.push(ConfigError::at_expr(file, e, err.offset(), format!("expression: {err}")));
                None
            }
        }
    }

    fn node(&mut self, file: &Path, spec: &Located<NodeSpec>, parent: Option<&str>) -> Option<Node> {
        let pos = position(spec);
        let s = &spec.value;
        let name: Arc<str> = match (&s.name, parent) {
            (Some(n), _) if !n.is_empty() => Arc::from(n.as_str()),
            (_, Some(p)) => Arc::from(format!("child-{p}")),
            _ => Arc::from(""),
        };
        let next_stage = match s.onsuccess.as_deref().map(str::trim) {
            None | Some("") | Some("continue") => false,
            Some("next_stage") => true,
            Some(other) => {
                self.err(file, pos, format!("onsuccess must be next_stage or continue, not {other:?}"));
                false
            }
        };

        // Data files and pattern definitions come first: expressions and groks below may use them.
        for d in s.data.iter().flatten() {
            self.data(file, pos, d);
        }
        for (pname, body) in s.pattern_syntax.iter().flat_map(|m| m.0.iter()) {
            match self.patterns.add_pattern_syntax(pname, body) {
                Ok(Some(w)) => self.warnings.push(ConfigError::new(file, pos.0, pos.1, w)),
                Ok(None) => {}
                Err(e) => self.err(file, pos, format!("pattern_syntax {pname}: {e}")),
            }
        }

        let filter = s.filter.as_ref().filter(|f| !f.is_blank()).and_then(|f| self.expr(file, f));
        let whitelist = s.whitelist.as_ref().map(|w| {
            let mut ips = Vec::new();
            for ip in w.ip.iter().flatten() {
                match parse_ip(ip) {
                    Some(a) => ips.push(a),
                    None => self.err(file, pos, format!("whitelist: invalid ip {ip:?}")),
                }
            }
            let mut cidrs = Vec::new();
            for c in w.cidr.iter().flatten() {
                match parse_cidr(c) {
                    Ok(n) => cidrs.push(n),
                    Err(e) => self.err(file, pos, format!("whitelist: {e}")),
                }
            }
            let exprs = w.expression.iter().flatten().filter_map(|e| self.expr(file, e)).collect();
            Whitelist { reason: w.reason.clone().unwrap_or_default(), ips, cidrs, exprs }
        });

        let grok = s.grok.as_ref().and_then(|g| {
            let source = match (&g.apply_on, &g.expression) {
                (Some(a), _) if a.trim() == "Line.Raw" => Some(GrokSource::Raw),
                (Some(a), _) if !a.trim().is_empty() => Some(GrokSource::Parsed(crate::event::field_key(a.trim()))),
                (_, Some(e)) if !e.is_blank() => self.expr(file, e).map(GrokSource::Expr),
                _ => {
                    self.err(file, pos, "grok needs apply_on or expression");
                    None
                }
            };
            let pattern = match (&g.pattern, &g.name) {
                (Some(p), _) if !p.is_blank() => match self.patterns.compile(&p.src) {
                    Ok(c) => Some(c),
                    Err(e) => {
                        self.errors.push(ConfigError::new(file, p.line, p.col, format!("grok pattern: {e}")));
                        None
                    }
                },
                (_, Some(n)) if !n.trim().is_empty() => match self.patterns.compile_named(n.trim()) {
                    Ok(c) => Some(c),
                    Err(e) => {
                        self.err(file, pos, format!("grok name {n}: {e}"));
                        None
                    }
                },
                _ => {
                    self.err(file, pos, "grok needs pattern or name");
                    None
                }
            };
            let statics = self.statics(file, pos, g.statics.as_deref().unwrap_or(&[]));
            Some(GrokStep { source: source?, pattern: Arc::new(pattern?), statics })
        });

        let mut stash = Vec::new();
        for st in s.stash.iter().flatten() {
            let (Some(cache), Some(k), Some(v)) = (&st.name, &st.key, &st.value) else {
                self.err(file, pos, "stash needs name, key and value");
                continue;
            };
            let ttl = match st.ttl.as_ref().map(|t| parse_duration(&t.text)) {
                Some(Ok(t)) if t > 0 => t,
                Some(Ok(_)) | None => {
                    self.err(file, pos, format!("stash {cache}: ttl is required"));
                    continue;
                }
                Some(Err(e)) => {
                    self.err(file, pos, format!("stash {cache}: ttl: {e}"));
                    continue;
                }
            };
            let size = st.size.filter(|s| *s > 0).unwrap_or(100) as usize;
            self.env.services().stash.configure(cache, size, ttl);
            if let (Some(key), Some(value)) = (self.expr(file, k), self.expr(file, v)) {
                stash.push(StashStep { cache: cache.clone(), key, value });
            }
        }

        let mut children = Vec::new();
        for c in s.nodes.iter().flatten() {
            if let Some(child) = self.node(file, c, Some(&name)) {
                children.push(child);
            }
        }
        let statics = self.statics(file, pos, s.statics.as_deref().unwrap_or(&[]));
        let audit = s.audit.as_ref().map(|a| {
            if a.name.trim().is_empty() || a.fields.is_empty() {
                self.err(file, pos, "audit: needs a name and at least one field");
            }
            let fields =
                a.fields.iter().filter_map(|f| self.expr(file, &f.expression).map(|p| (f.name.clone(), p))).collect();
            crate::scenario::compile::AuditSchema { name: a.name.clone(), fields }
        });

        let useful = s.grok.is_some()
            || s.nodes.as_ref().is_some_and(|n| !n.is_empty())
            || s.statics.as_ref().is_some_and(|n| !n.is_empty())
            || s.whitelist.is_some()
            || s.stash.as_ref().is_some_and(|n| !n.is_empty())
            || s.audit.is_some();
        if !useful {
            self.err(file, pos, "node is empty: it needs a grok, nodes, statics, stash or whitelist");
        }
        let prefilter = build_prefilter(&children, PREFILTER_MIN_CHILDREN);
        Some(Node {
            origin: Arc::from(format!("{}:{}", file.display(), pos.0)),
            name,
            debug: s.debug.unwrap_or(false),
            filter,
            next_stage,
            whitelist,
            grok,
            stash,
            children,
            prefilter,
            statics,
            audit,
            stats: NodeStats::default(),
        })
    }

    fn statics(&mut self, file: &Path, pos: (u32, u32), specs: &[StaticSpec]) -> Vec<Static> {
        let mut out = Vec::new();
        for st in specs {
            let source = match (&st.value, &st.expression) {
                // CrowdSec: a literal value wins over an expression.
                (Some(v), _) => Some(Source::Value(v.text.as_str().into())),
                (None, Some(e)) if !e.is_blank() => match self.expr(file, e) {
                    Some(p) => Some(Source::Expr(p)),
                    None => continue,
                },
                _ => None,
            };
            let target = if let Some(m) = st.method.as_ref().filter(|m| !m.is_blank()) {
                if !crate::parser::enrich::Enrichers::NAMES.contains(&m.src.as_str()) {
                    // CrowdSec ignores an unknown method at run time (debug log only): say it once, at load.
                    self.warnings.push(ConfigError::at_expr(
                        file,
                        m,
                        0,
                        format!(
                            "statics: unknown enricher method {:?} (known: {}); it will do nothing",
                            m.src,
                            crate::parser::enrich::Enrichers::NAMES.join(", ")
                        ),
                    ));
                }
                Some(Target::Method(Arc::from(m.src.as_str())))
            } else if let Some(k) = st.meta.as_deref().filter(|k| !k.is_empty()) {
                Some(Target::Meta(crate::event::field_key(k)))
            } else if let Some(k) = st.parsed.as_deref().filter(|k| !k.is_empty()) {
                Some(Target::Parsed(crate::event::field_key(k)))
            } else if let Some(k) = st.enriched.as_deref().filter(|k| !k.is_empty()) {
                Some(Target::Enriched(crate::event::field_key(k)))
            } else if let Some(p) = st.target.as_deref().filter(|k| !k.is_empty()) {
                match Field::parse(p) {
                    Ok(f) => Some(Target::Field(f)),
                    Err(e) => {
                        self.err(file, pos, format!("statics: {e}"));
                        continue;
                    }
                }
            } else {
                None
            };
            match (target, source) {
                (Some(target), Some(source)) => out.push(Static { target, source }),
                (None, _) => {
                    self.err(file, pos, "statics: an entry needs one of meta, parsed, enriched, target, method")
                }
                (Some(_), None) => self.err(file, pos, "statics: an entry needs a value or an expression"),
            }
        }
        out
    }

    fn data(&mut self, file: &Path, pos: (u32, u32), d: &DataSpec) {
        let Some(dest) = d.dest_file.as_deref().filter(|f| !f.is_empty()) else {
            self.err(file, pos, "data: dest_file is required");
            return;
        };
        let Some(kind) = d.kind.as_deref().filter(|k| !k.is_empty()) else {
            // Untyped data (an mmdb file): only needs to exist for whoever opens it.
            return;
        };
        let kind = match expr::DataKind::parse(kind) {
            Some(k) => k,
            None => {
                self.err(file, pos, format!("data: unknown type {kind:?} (string, regexp, map)"));
                return;
            }
        };
        if let Err(e) = self.env.services().data.load(dest, kind, self.data_dir) {
            // CrowdSec logs and goes on: File() of a missing list is empty.
            self.warnings.push(ConfigError::new(file, pos.0, pos.1, format!("data file {dest}: {e}")));
        }
    }
}
