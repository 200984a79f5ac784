//! Required literals: a necessary condition of a filter read off its text, of the form "one of these strings
//! occurs in one of these string sub-expressions of the event".
//!
//! Most http scenarios are a CVE probe: `Upper(evt.Meta.http_path) contains Upper('/vendor/htmlawed/…')`, a
//! `matches` on the path, an `any(File('list.txt'), {Upper(evt.Meta.http_path) contains Upper(#)})`. Their
//! [`super::guard`] (`evt.Meta.log_type in ['http_access-log', …]`) admits every request, so 35 filters ran on every
//! request and almost all were false. A filter's [`Needs`] lists literals by subject: the subject is a pure
//! string expression of one event field (`Upper(evt.Meta.http_path)`), the literal a constant. The scenario manager
//! searches each distinct subject once per event for all the literals of all the filters (one Aho-Corasick pass)
//! and evaluates only the filters one of whose literals occurs.
//!
//! Exactness: when none of its literals occurs, the filter evaluates to `false` with no error and no write. The
//! analysis only claims that:
//! * `X contains C`, `X startsWith C`, `X endsWith C` (`C` a constant): false unless `X` contains `C`;
//! * `X matches C`: false unless `X` contains one of the literal prefixes every match of `C` starts with (when that
//!   set is finite and has no empty string);
//! * `any(File('f'), {X OP #})` with `OP` one of those or `==`, `#` possibly under `Upper`/`Lower`: false unless `X`
//!   contains one of the (transformed) lines; an empty file gives an empty set: never true;
//! * `a or b`: the union of both sides' literals (each side is then false, so the whole is);
//! * `a and b`: `a`'s literals; or, when `a` has none but is *total* (a pure string comparison of event fields and
//!   constants, which cannot fail or write), `b`'s: `a` is then evaluated without effect and `b` is false.
//!
//! `X` reads exactly one field, `evt.Meta.K` or `evt.Parsed.K` (always a string, `""` when missing), through
//! `Upper`, `Lower`, `PathUnescape` or `QueryUnescape`, all of which take any string. The caller evaluates `X`
//! itself to search it; should that fail, it evaluates the filters as usual.

use super::ast::{BinOp, Expr, Kind, UnOp};
use super::compile::hash_transform;
use super::{CompileEnv, RootType, parser};
use crate::gocompat::regex as goregex;

/// One (subject, literal) pair of a filter's [`Needs`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Atom {
    /// The subject's source text, as written in the filter (compiled on its own by the caller).
    pub subject: String,
    /// When the subject is `Upper(Y)` or `Lower(Y)`: `Y`'s text. On an ASCII value of `Y`, the subject contains the
    /// literal only if `Y` contains it up to ASCII case, so a caller may search `Y` that way instead of computing
    /// the subject (a superset: fine for a necessary condition).
    pub inner: Option<String>,
    pub literal: String,
}

/// A necessary condition of a filter: it can only be true when one of its subjects contains one of that
/// subject's literals. No subjects: the filter is never true.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Needs {
    /// Per distinct subject text, in order of first use: the subject, its case change's argument
    /// ([`Atom::inner`]), and its literals.
    pub subjects: Vec<(String, Option<String>, Vec<String>)>,
}

/// The most literals one filter may contribute (a longer data file is left to the filter's own matcher).
const MAX_ATOMS: usize = 2048;

/// String helpers a subject may go through: pure, and defined on every string.
const STRING_FNS: &[&str] = &["Upper", "Lower", "upper", "lower", "PathUnescape", "QueryUnescape"];

/// The required literals of filter `src`, if it has the shapes above.
pub fn derive(src: &str, env: &CompileEnv) -> Option<Needs> {
    if env.root("evt") != Some(RootType::Event) {
        return None;
    }
    let ast = parser::parse(src).ok()?;
    let cx = Cx { src, env };
    let atoms = cx.needs(&ast)?;
    if atoms.iter().any(|a| a.literal.is_empty()) || atoms.len() > MAX_ATOMS {
        return None;
    }
    let mut subjects: Vec<(String, Option<String>, Vec<String>)> = Vec::new();
    for a in atoms {
        match subjects.iter_mut().find(|(s, ..)| *s == a.subject) {
            Some((.., literals)) => literals.push(a.literal),
            None => subjects.push((a.subject, a.inner, vec![a.literal])),
        }
    }
    Some(Needs { subjects })
}

struct Cx<'s> {
    src: &'s str,
    env: &'s CompileEnv,
}

impl Cx<'_> {
    fn needs(&self, e: &Expr) -> Option<Vec<Atom>> {
        match &e.kind {
            Kind::Binary { op: BinOp::Or, lhs, rhs } => {
                let mut a = self.needs(lhs)?;
                a.extend(self.needs(rhs)?);
                Some(a)
            }
            Kind::Binary { op: BinOp::And, lhs, rhs } => {
                self.needs(lhs).or_else(|| if total_bool(lhs) { self.needs(rhs) } else { None })
            }
            Kind::Binary { op: BinOp::Contains | BinOp::StartsWith | BinOp::EndsWith, lhs, rhs } => {
                let (subject, inner) = self.subject(lhs)?;
                Some(vec![Atom { subject, inner, literal: const_str(rhs)? }])
            }
            Kind::Binary { op: BinOp::Matches, lhs, rhs } => {
                let (subject, inner) = self.subject(lhs)?;
                let prefixes = regex_prefixes(&const_str(rhs)?)?;
                Some(
                    prefixes
                        .into_iter()
                        .map(|literal| Atom { subject: subject.clone(), inner: inner.clone(), literal })
                        .collect(),
                )
            }
            Kind::Call { name, args, .. } if name == "any" && args.len() == 2 => self.any_file(&args[0], &args[1]),
            _ => None,
        }
    }

    /// `any(File('f'), {X OP #})`.
    fn any_file(&self, list: &Expr, closure: &Expr) -> Option<Vec<Atom>> {
        let lines = self.file_lines(list)?;
        let Kind::Closure(body) = &closure.kind else { return None };
        let Kind::Binary { op, lhs, rhs } = &body.kind else { return None };
        let (x, needle) = match op {
            BinOp::Contains | BinOp::StartsWith | BinOp::EndsWith => (lhs, rhs),
            BinOp::Eq if hash_transform(rhs).is_some() => (lhs, rhs),
            BinOp::Eq => (rhs, lhs),
            _ => return None,
        };
        let transform = hash_transform(needle)?;
        let (subject, inner) = self.subject(x)?;
        Some(
            lines
                .iter()
                .map(|l| Atom { subject: subject.clone(), inner: inner.clone(), literal: transform(l) })
                .collect(),
        )
    }

    fn file_lines(&self, e: &Expr) -> Option<Vec<String>> {
        let Kind::Call { name, args, .. } = &e.kind else { return None };
        let [arg] = args.as_slice() else { return None };
        let Kind::Str(file) = &arg.kind else { return None };
        (name == "File").then(|| self.env.services().data.strings(file)).flatten().map(|l| l.lines.clone())
    }

    /// The source text of `e` if it is a subject (see the module comment), and that of its argument when it is a
    /// case change (see [`Atom::inner`]).
    fn subject(&self, e: &Expr) -> Option<(String, Option<String>)> {
        let text = |e: &Expr| self.src.get(e.span.start..e.span.end).map(str::to_string);
        if !is_subject(e) {
            return None;
        }
        let inner = match &e.kind {
            Kind::Call { name, args, .. } if matches!(name.as_str(), "Upper" | "Lower" | "upper" | "lower") => {
                Some(text(&args[0])?)
            }
            _ => None,
        };
        Some((text(e)?, inner))
    }
}

/// One field under string helpers.
fn is_subject(e: &Expr) -> bool {
    match &e.kind {
        Kind::Call { name, args, .. } if STRING_FNS.contains(&name.as_str()) => {
            matches!(args.as_slice(), [a] if is_subject(a))
        }
        // `evt.Meta.K` or `evt.Parsed.K` with a constant key.
        _ => super::guard::field(e).is_some(),
    }
}

/// A string that cannot fail to evaluate: a subject or a constant.
fn total_str(e: &Expr) -> bool {
    is_subject(e) || const_str(e).is_some()
}

/// A comparison of event fields and constants that cannot fail or write (see the module comment).
fn total_bool(e: &Expr) -> bool {
    match &e.kind {
        Kind::Bool(_) => true,
        Kind::Unary { op: UnOp::Not, expr } => total_bool(expr),
        Kind::Binary { op: BinOp::And | BinOp::Or, lhs, rhs } => total_bool(lhs) && total_bool(rhs),
        Kind::Binary {
            op: BinOp::Eq | BinOp::Ne | BinOp::Contains | BinOp::StartsWith | BinOp::EndsWith,
            lhs,
            rhs,
        } => total_str(lhs) && total_str(rhs),
        Kind::Binary { op: BinOp::Matches, lhs, rhs } => {
            total_str(lhs) && const_str(rhs).is_some_and(|p| goregex::compile(&p).is_ok())
        }
        Kind::Binary { op: BinOp::In, lhs, rhs } => {
            total_str(lhs)
                && matches!(&rhs.kind, Kind::Array(items) if items.iter().all(|i| matches!(i.kind, Kind::Str(_))))
        }
        _ => false,
    }
}

/// The value of a constant string expression: a literal, possibly under `Upper`/`Lower`.
fn const_str(e: &Expr) -> Option<String> {
    match &e.kind {
        Kind::Str(s) => Some(s.clone()),
        Kind::Call { name, args, .. } => {
            let [a] = args.as_slice() else { return None };
            let s = const_str(a)?;
            match name.as_str() {
                "Upper" | "upper" => Some(s.to_uppercase()),
                "Lower" | "lower" => Some(s.to_lowercase()),
                _ => None,
            }
        }
        _ => None,
    }
}

/// The literal prefixes of Go pattern `pattern` as strings (see `goregex::required_prefixes`); `None` also when the
/// pattern does not compile (the filter then fails as usual) or a prefix is not UTF-8.
fn regex_prefixes(pattern: &str) -> Option<Vec<String>> {
    goregex::compile(pattern).ok()?;
    goregex::required_prefixes(pattern)?.into_iter().map(|l| String::from_utf8(l).ok()).collect()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::expr::Services;
    use crate::expr::data::DataKind;

    fn env() -> CompileEnv {
        let s = Services::new();
        s.data.load_text("paths.txt", DataKind::String, "/.env\n/wp-admin\n").unwrap();
        s.data.load_text("none.txt", DataKind::String, "# empty\n").unwrap();
        CompileEnv::for_event(Arc::new(s))
    }

    fn atoms(src: &str) -> Option<Vec<(String, String)>> {
        derive(src, &env()).map(|n| {
            n.subjects.into_iter().flat_map(|(s, _, lits)| lits.into_iter().map(move |l| (s.clone(), l))).collect()
        })
    }

    #[test]
    fn case_changes_name_their_argument() {
        let inner = |src: &str| derive(src, &env()).unwrap().subjects[0].1.clone();
        assert_eq!(inner("Upper(PathUnescape(evt.Meta.p)) contains 'X'").as_deref(), Some("PathUnescape(evt.Meta.p)"));
        assert_eq!(inner("lower(evt.Meta.p) contains 'x'").as_deref(), Some("evt.Meta.p"));
        assert_eq!(inner("PathUnescape(Upper(evt.Meta.p)) contains 'X'"), None);
        assert_eq!(inner("evt.Meta.p contains 'X'"), None);
    }

    fn pairs(v: &[(&str, &str)]) -> Option<Vec<(String, String)>> {
        Some(v.iter().map(|(s, l)| (s.to_string(), l.to_string())).collect())
    }

    #[test]
    fn contains_and_or_chains() {
        assert_eq!(
            atoms("Upper(evt.Meta.http_path) contains Upper('/a') || Upper(evt.Meta.http_path) startsWith '/B'"),
            pairs(&[("Upper(evt.Meta.http_path)", "/A"), ("Upper(evt.Meta.http_path)", "/B")])
        );
        // The first conjunct is total: the second one's literal.
        assert_eq!(
            atoms("evt.Meta.log_type in ['a', 'b'] and evt.Parsed.file_name endsWith 'w00t' and x"),
            pairs(&[("evt.Parsed.file_name", "w00t")])
        );
        // Not total (a helper that may fail, a variable): nothing after it counts.
        assert_eq!(atoms("len(evt.Meta.x) > 2 and evt.Meta.p contains 'x'"), None);
        assert_eq!(atoms("x and evt.Meta.p contains 'x'"), None);
        // One side of an `or` without literals: none.
        assert_eq!(atoms("evt.Meta.p contains 'x' or evt.Meta.q == 'y'"), None);
        // Subjects read one field through string helpers only.
        assert_eq!(atoms("Upper(evt.Meta.a + evt.Meta.b) contains 'X'"), None);
        assert_eq!(
            atoms("Upper(PathUnescape(evt.Meta.p)) contains '${'"),
            pairs(&[("Upper(PathUnescape(evt.Meta.p))", "${")])
        );
        assert_eq!(atoms("evt.Meta.p contains ''"), None);
        assert_eq!(atoms("not (evt.Meta.p contains 'x')"), None);
    }

    #[test]
    fn files_and_regexes() {
        assert_eq!(
            atoms("any(File('paths.txt'), {Upper(evt.Meta.p) contains Upper(#)})"),
            pairs(&[("Upper(evt.Meta.p)", "/.ENV"), ("Upper(evt.Meta.p)", "/WP-ADMIN")])
        );
        assert_eq!(
            atoms("any(File('paths.txt'), {evt.Parsed.f == #})"),
            pairs(&[("evt.Parsed.f", "/.env"), ("evt.Parsed.f", "/wp-admin")])
        );
        assert_eq!(atoms("any(File('none.txt'), {evt.Parsed.f contains #})"), pairs(&[]));
        assert_eq!(atoms("any(File('missing.txt'), {evt.Parsed.f contains #})"), None);
        assert_eq!(atoms("any(File('paths.txt'), {evt.Parsed.f matches #})"), None);
        assert_eq!(
            atoms("evt.Meta.p matches '/ui/(a|bc)\\\\?url=(file|http)'"),
            pairs(&[
                ("evt.Meta.p", "/ui/a?url=file"),
                ("evt.Meta.p", "/ui/a?url=http"),
                ("evt.Meta.p", "/ui/bc?url=file"),
                ("evt.Meta.p", "/ui/bc?url=http")
            ])
        );
        // No finite set of non-empty prefixes.
        assert_eq!(atoms("evt.Meta.p matches '.*x'"), None);
        assert_eq!(atoms("evt.Meta.p matches 'x|(a|)'"), None);
        assert_eq!(atoms("evt.Meta.p matches '('"), None);
    }
}
