//! What an expression refers to, read from its syntax tree: data files (`File('x')`, `RegexpInFile(s, 'x')`,
//! `LookupFile(s, 'x')`, `FileMap('x')`), Meta keys it reads (`evt.Meta.k`, `evt.Meta["k"]`, `evt.GetMeta("k")`)
//! and Meta keys it writes (`evt.SetMeta("k", v)`). Only constant names count: a computed name is reported as
//! unknown so callers can stay silent rather than guess.

use crate::expr::DataKind;
use crate::expr::ast::{Expr, Kind};

/// A reference with the byte offset where it starts in the expression's source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ref {
    pub name: String,
    pub offset: usize,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Refs {
    /// Data files by the kind the helper needs.
    pub data: Vec<(Ref, DataKind)>,
    pub meta_reads: Vec<Ref>,
    pub meta_writes: Vec<Ref>,
    /// `SetMeta` with a key that is not a constant: the keys written cannot be known.
    pub dynamic_meta_write: bool,
}

/// The references of a parsed expression.
pub fn collect(e: &Expr) -> Refs {
    let mut r = Refs::default();
    walk(e, &mut r);
    r
}

fn const_str(e: &Expr) -> Option<&str> {
    match &e.kind {
        Kind::Str(s) => Some(s),
        _ => None,
    }
}

fn is_evt(e: &Expr) -> bool {
    matches!(&e.kind, Kind::Ident(n) if n == "evt")
}

/// `evt.Meta` (also inside `?.` chains, which wrap the whole chain, not the receiver).
fn is_evt_meta(e: &Expr) -> bool {
    match &e.kind {
        Kind::Member { obj, key, .. } => is_evt(obj) && const_str(key) == Some("Meta"),
        _ => false,
    }
}

fn walk(e: &Expr, r: &mut Refs) {
    match &e.kind {
        Kind::Member { obj, key, .. } => {
            if is_evt_meta(obj)
                && let Some(k) = const_str(key)
            {
                r.meta_reads.push(Ref { name: k.to_string(), offset: key.span.start });
            }
        }
        Kind::Method { obj, name, args, .. } if is_evt(obj) => match (name.as_str(), args.first()) {
            ("GetMeta", Some(a)) => {
                if let Some(k) = const_str(a) {
                    r.meta_reads.push(Ref { name: k.to_string(), offset: a.span.start });
                }
            }
            ("SetMeta", Some(a)) => match const_str(a) {
                Some(k) => r.meta_writes.push(Ref { name: k.to_string(), offset: a.span.start }),
                None => r.dynamic_meta_write = true,
            },
            ("SetMeta", None) => r.dynamic_meta_write = true,
            _ => {}
        },
        Kind::Call { name, args, .. } => {
            let data = match (name.as_str(), args.len()) {
                ("File", 1) => Some((&args[0], DataKind::String)),
                ("FileMap", 1) => Some((&args[0], DataKind::Map)),
                ("RegexpInFile", 2) => Some((&args[1], DataKind::Regexp)),
                ("LookupFile", 2) => Some((&args[1], DataKind::Map)),
                _ => None,
            };
            if let Some((arg, kind)) = data
                && let Some(n) = const_str(arg)
            {
                r.data.push((Ref { name: n.to_string(), offset: arg.span.start }, kind));
            }
        }
        _ => {}
    }
    e.kind.for_each_child(|c| walk(c, r));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refs(src: &str) -> Refs {
        collect(&crate::expr::parser::parse(src).unwrap())
    }

    #[test]
    fn finds_meta_reads_and_writes() {
        let r = refs(
            "evt.Meta.log_type == 'x' && evt.Meta['source_ip'] != '' && evt.GetMeta('user') != '' && evt.Meta?.svc == 'a'",
        );
        let names: Vec<&str> = r.meta_reads.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["log_type", "source_ip", "user", "svc"]);
        assert_eq!(r.meta_reads[0].offset, 9);
        let r = refs("evt.SetMeta('a', 'b') && evt.SetMeta(evt.Parsed.k, 'c')");
        assert_eq!(r.meta_writes.len(), 1);
        assert!(r.dynamic_meta_write);
        // Not Meta: Parsed, or a Meta of something other than evt.
        assert!(refs("evt.Parsed.x == '' && other.Meta.y == ''").meta_reads.is_empty());
    }

    #[test]
    fn finds_constant_data_files() {
        let r =
            refs("any(File('a.txt'), {# == evt.Meta.x}) || RegexpInFile(evt.Meta.ua, 'b.regex') || LookupFile(x, y)");
        let got: Vec<(&str, DataKind)> = r.data.iter().map(|(d, k)| (d.name.as_str(), *k)).collect();
        assert_eq!(got, [("a.txt", DataKind::String), ("b.regex", DataKind::Regexp)]);
        assert_eq!(r.data[0].0.offset, 9);
    }
}
