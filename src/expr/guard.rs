//! Guards: a cheap necessary condition read off a filter, so most filters need not run at all.
//!
//! A scenario set is 40 filters deep on a typical install (sshd + nginx + the base http scenarios), and every parsed
//! event meets all of them; an sshd event fails every http filter on its first test (`evt.Meta.log_type in
//! ['http_access-log', …]`, `Upper(evt.Meta.http_path) contains …`). A [`Guard`] is that first test in a form
//! checked with one field lookup: "this filter can only be true when `evt.Meta.K` is one of these strings" or "…when
//! `evt.Meta.K` is not empty".
//!
//! Exactness: only the *first* conjunct of the filter's top-level `and` chain is used, because it is evaluated
//! first; when it is false, expr-lang short-circuits and the filter is `false` without evaluating anything else,
//! so no error or write an evaluation might raise is skipped. The conjunct must read exactly one field,
//! `evt.Meta.K` or `evt.Parsed.K` with a constant `K` (a missing key reads as `""`, so absent and empty are the
//! same), and call only pure helpers. The "not empty" form is proven by evaluating the conjunct once at load with
//! that field empty: it must give `false`, not an error.
//!
//! A guard of the literal form is not only necessary but *exact*: it is the first conjunct itself (one field, `==`
//! or `in` constants, which cannot fail). When it admits an event, the filter's value is that of the conjuncts after
//! it, so [`rest_after_first`] gives them to compile on their own, and a filter that is nothing but its guard
//! (`evt.Meta.log_type == 'ssh_failed-auth'`) is not evaluated at all.
//!
//! What this module is not: it does not evaluate filters (the compiled [`super::Program`] does); a filter without
//! a guard is simply always evaluated.

use super::ast::{BinOp, Expr, Kind};
use super::{CompileEnv, RootType, Scope, parser};
use crate::event::Event;

/// Which string map of the event a guard reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GuardMap {
    Meta,
    Parsed,
}

/// What the guarded field's value must satisfy for the filter to have a chance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GuardTest {
    /// One of these exact strings (`==` a literal, `in` a list of literals).
    OneOf(Vec<String>),
    /// Not `""`.
    NonEmpty,
}

/// A necessary condition of a filter: when [`Guard::admits`] is false, the filter evaluates to `false`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Guard {
    pub map: GuardMap,
    pub key: String,
    pub test: GuardTest,
    /// The test is the first conjunct itself, not only implied by it (see the module comment).
    pub exact: bool,
}

impl Guard {
    /// Whether the event passes the guard, i.e. the filter must be evaluated.
    pub fn admits(&self, evt: &Event) -> bool {
        let map = match self.map {
            GuardMap::Meta => &evt.meta,
            GuardMap::Parsed => &evt.parsed,
        };
        let v = map.get_or_empty(&self.key);
        match &self.test {
            GuardTest::NonEmpty => !v.is_empty(),
            GuardTest::OneOf(vals) => vals.iter().any(|x| x == v),
        }
    }
}

/// Helpers and builtins that only compute from their arguments: no event writes, no clock, no decisions, no
/// stash. A conjunct calling anything else gets no guard.
pub(crate) const PURE: &[&str] = &[
    "Upper",
    "Lower",
    "upper",
    "lower",
    "trim",
    "trimPrefix",
    "trimSuffix",
    "TrimPrefix",
    "TrimSuffix",
    "PathUnescape",
    "PathEscape",
    "QueryUnescape",
    "QueryEscape",
    "File",
    "RegexpInFile",
    "len",
    "any",
    "all",
    "none",
    "one",
    "count",
    "filter",
    "map",
    "split",
    "Split",
    "ToString",
    "IsIPV4",
    "IsIPV6",
    "IsIP",
    "IpInRange",
];

/// Derives the guard of a filter, if its first conjunct has one of the shapes above.
pub fn derive(src: &str, env: &CompileEnv) -> Option<Guard> {
    if env.root("evt") != Some(RootType::Event) {
        return None;
    }
    let ast = parser::parse(src).ok()?;
    let mut first = &ast;
    while let Kind::Binary { op: BinOp::And, lhs, .. } = &first.kind {
        first = lhs;
    }
    if let Some(g) = literal_guard(first) {
        return Some(g);
    }
    non_empty_guard(src, first, env)
}

/// The conjuncts of `src`'s top-level `and` chain after the first, as one expression (each in parentheses, in
/// order); `""` when there are none. `None` when `src` does not parse.
pub fn rest_after_first(src: &str) -> Option<String> {
    let ast = parser::parse(src).ok()?;
    let mut rest = Vec::new();
    let mut first = &ast;
    while let Kind::Binary { op: BinOp::And, lhs, rhs } = &first.kind {
        rest.push(src.get(rhs.span.start..rhs.span.end)?);
        first = lhs;
    }
    rest.reverse();
    Some(rest.iter().map(|c| format!("({c})")).collect::<Vec<_>>().join(" and "))
}

/// `evt.Meta.K` / `evt.Parsed.K` with a constant key.
pub(crate) fn field(e: &Expr) -> Option<(GuardMap, &str)> {
    let Kind::Member { obj, key, optional: false } = &e.kind else { return None };
    let Kind::Str(k) = &key.kind else { return None };
    let Kind::Member { obj: root, key: map, optional: false } = &obj.kind else { return None };
    let (Kind::Ident(r), Kind::Str(m)) = (&root.kind, &map.kind) else { return None };
    if r != "evt" {
        return None;
    }
    let map = match m.as_str() {
        "Meta" => GuardMap::Meta,
        "Parsed" => GuardMap::Parsed,
        _ => return None,
    };
    Some((map, k.as_str()))
}

fn literal_guard(e: &Expr) -> Option<Guard> {
    let Kind::Binary { op, lhs, rhs } = &e.kind else { return None };
    let (map, key, vals) = match op {
        BinOp::Eq => match (field(lhs), field(rhs), &lhs.kind, &rhs.kind) {
            (Some((m, k)), _, _, Kind::Str(s)) | (_, Some((m, k)), Kind::Str(s), _) => (m, k, vec![s.clone()]),
            _ => return None,
        },
        BinOp::In => {
            let (m, k) = field(lhs)?;
            let Kind::Array(items) = &rhs.kind else { return None };
            let vals = items
                .iter()
                .map(|i| match &i.kind {
                    Kind::Str(s) => Some(s.clone()),
                    _ => None,
                })
                .collect::<Option<Vec<_>>>()?;
            (m, k, vals)
        }
        _ => return None,
    };
    Some(Guard { map, key: key.to_string(), test: GuardTest::OneOf(vals), exact: true })
}

fn non_empty_guard(src: &str, e: &Expr, env: &CompileEnv) -> Option<Guard> {
    let mut found: Option<(GuardMap, &str)> = None;
    if !pure_one_field(e, &mut found) {
        return None;
    }
    let (map, key) = found?;
    let text = src.get(e.span.start..e.span.end)?;
    let prog = super::compile(text, env).ok()?;
    let evt = Event::default();
    let mut scope = Scope::new(env.services()).with_evt(&evt);
    match prog.eval_bool(&mut scope) {
        Ok(false) if scope.take_mutations().is_empty() => {
            Some(Guard { map, key: key.to_string(), test: GuardTest::NonEmpty, exact: false })
        }
        _ => None,
    }
}

/// True when `e` reads no event data but the one field recorded in `found` (at least once), and calls only
/// [`PURE`] helpers.
fn pure_one_field<'e>(e: &'e Expr, found: &mut Option<(GuardMap, &'e str)>) -> bool {
    if let Some(f) = field(e) {
        return match found {
            None => {
                *found = Some(f);
                true
            }
            Some(prev) => *prev == f,
        };
    }
    match &e.kind {
        Kind::Nil | Kind::Bool(_) | Kind::Int(_) | Kind::Float(_) | Kind::Str(_) | Kind::Pointer(_) => true,
        // Any other identifier (`evt` itself, a `let` variable, another root) is out of scope of the analysis.
        Kind::Ident(_) | Kind::Let { .. } | Kind::Method { .. } | Kind::Member { .. } | Kind::Chain(_) => false,
        Kind::Array(items) => items.iter().all(|i| pure_one_field(i, found)),
        Kind::Map(items) => items.iter().all(|(k, v)| pure_one_field(k, found) && pure_one_field(v, found)),
        Kind::Slice { obj, from, to } => {
            pure_one_field(obj, found)
                && from.as_deref().is_none_or(|f| pure_one_field(f, found))
                && to.as_deref().is_none_or(|t| pure_one_field(t, found))
        }
        Kind::Call { name, args, .. } => PURE.contains(&name.as_str()) && args.iter().all(|a| pure_one_field(a, found)),
        Kind::Closure(b) | Kind::Unary { expr: b, .. } => pure_one_field(b, found),
        Kind::Binary { lhs, rhs, .. } => pure_one_field(lhs, found) && pure_one_field(rhs, found),
        Kind::Ternary { cond, then, other } => {
            pure_one_field(cond, found) && pure_one_field(then, found) && pure_one_field(other, found)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::expr::Services;

    fn guard(src: &str) -> Option<Guard> {
        derive(src, &CompileEnv::for_event(Arc::new(Services::new())))
    }

    fn evt(meta: &[(&str, &str)]) -> Event {
        let mut e = Event::default();
        for (k, v) in meta {
            e.meta.insert(k, *v);
        }
        e
    }

    #[test]
    fn literal_first_conjunct() {
        let g =
            guard("evt.Meta.log_type in ['http_access-log', 'http_error-log'] && evt.Parsed.verb == 'POST'").unwrap();
        assert_eq!(g.map, GuardMap::Meta);
        assert_eq!(g.key, "log_type");
        assert!(g.admits(&evt(&[("log_type", "http_error-log")])));
        assert!(!g.admits(&evt(&[("log_type", "ssh_failed-auth")])));
        assert!(!g.admits(&evt(&[])));
        let g = guard("'sshd' == evt.Parsed.program").unwrap();
        assert_eq!((g.map, g.test), (GuardMap::Parsed, GuardTest::OneOf(vec!["sshd".into()])));
    }

    #[test]
    fn non_empty_is_proven_by_evaluation() {
        let g =
            guard("(Upper(evt.Meta.http_path) contains Upper('/a') || Upper(evt.Meta.http_path) contains '/B') && x")
                .unwrap();
        assert_eq!((g.key.as_str(), &g.test), ("http_path", &GuardTest::NonEmpty));
        assert!(g.admits(&evt(&[("http_path", "/x")])));
        assert!(!g.admits(&evt(&[("http_path", "")])));
        // True on an empty field: no guard.
        assert_eq!(guard("evt.Meta.http_path == '' or evt.Meta.http_path contains 'x'"), None);
        assert_eq!(guard("not (evt.Meta.x contains 'a')"), None);
    }

    #[test]
    fn literal_guards_are_exact_and_leave_the_other_conjuncts() {
        assert!(guard("evt.Meta.log_type == 'ssh_failed-auth'").unwrap().exact);
        assert!(!guard("Upper(evt.Meta.http_path) contains '/A' && x").unwrap().exact);
        assert_eq!(rest_after_first("evt.Meta.log_type == 'ssh_failed-auth'").as_deref(), Some(""));
        assert_eq!(
            rest_after_first("evt.Meta.t in ['a', 'b'] && evt.Parsed.v == 'POST' and (x || y) && z").as_deref(),
            Some("(evt.Parsed.v == 'POST') and (x || y) and (z)")
        );
        // An `or` at the top is one conjunct.
        assert_eq!(rest_after_first("a == 'x' or b == 'y'").as_deref(), Some(""));
    }

    #[test]
    fn only_the_first_conjunct_and_only_pure_single_field_ones() {
        // The second conjunct would be a guard, but the first is evaluated before it and could fail.
        assert_eq!(guard("evt.Meta.a startsWith evt.Meta.b && evt.Meta.log_type == 'x'"), None);
        // Two fields, an impure helper, another root, a let.
        assert_eq!(guard("evt.Meta.a contains 'x' or evt.Meta.b contains 'y'"), None);
        assert_eq!(guard("GetDecisionsCount(evt.Meta.ip) > 0"), None);
        assert_eq!(guard("evt.Line.Raw contains 'x'"), None);
        assert_eq!(guard("let p = evt.Meta.a; p contains 'x'"), None);
        // `or` at the top: its left side alone is not necessary.
        assert_eq!(guard("evt.Meta.log_type == 'a' or evt.Meta.b == 'c'"), None);
    }
}
