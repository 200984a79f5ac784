//! The compile step: AST → a tree of evaluation nodes (trait objects), with names, field paths, constant regexps
//! and data-file matchers resolved once.
//!
//! Specialisations (each gives the same result as the generic path, which the tests check):
//! * `evt.Meta.k` / `evt.Parsed["k"]` / `evt.Enriched.k` / `evt.Line.Labels.k` → one sorted-map lookup, borrowed.
//! * `evt.Meta.k == 'c'` (and `!=`) → lookup and compare without building a value.
//! * `x in [8+ string constants]` → hash set; `x in File('f')` and `any(File('f'), {x == #})` → the file's set.
//! * `any(File('f'), {x contains #})` → one Aho-Corasick automaton over the file's lines.
//! * `x matches 'const'` → regexp compiled once; `RegexpInFile(x, 'f')` → the file's `RegexSet`.
//!
//! Static types ([`Ty`]) come from the root declarations: a member of a known struct (`evt.Foo`) is a compile
//! error, like in CrowdSec; anything typed `Ty::Any` is checked at run time.

use std::collections::HashSet;
use std::sync::Arc;

use aho_corasick::AhoCorasick;
use regex::bytes::Regex;

use super::ast::{BinOp, Expr, Kind, UnOp};
use super::builtins::{self, BuiltinFn};
use super::data::{MapFile, RegexpList, StringList};
use super::error::{ExprError, Span};
use super::helpers;
use super::host::Ty;
use super::ops;
use super::parser;
use super::value::{Value, equal};
use super::{CompileEnv, Mutation, Program, RootType, Scope};
use crate::event::{Event, FieldKey, FieldMap, field_key};
use crate::gocompat::regex as goregex;

pub(crate) type R<'a> = Result<Value<'a>, ExprError>;

/// One compiled node.
pub(crate) trait Node: Send + Sync {
    fn eval<'a>(&'a self, cx: &mut Scope<'a>) -> R<'a>;

    fn eval_bool<'a>(&'a self, cx: &mut Scope<'a>) -> Result<bool, ExprError> {
        match self.eval(cx)? {
            Value::Bool(b) => Ok(b),
            other => Err(ExprError::new(format!("expected bool, but got {}", other.type_name()), self.span())),
        }
    }

    fn span(&self) -> Span;

    /// For a plain read of an event map with a constant key (`evt.Parsed.remote_addr`): the map and the key, so a
    /// caller that only copies the value can skip the evaluation machinery.
    fn field_read(&self) -> Option<(FieldRead, &str)> {
        None
    }

    /// For a plain read of one of the event's own text fields (`evt.StrTime`, `evt.Line.Src`): which one.
    fn text_read(&self) -> Option<EvtText> {
        None
    }
}

type N = Box<dyn Node>;

pub(crate) struct ProgramInner {
    pub source: String,
    pub root: N,
}

/// Compiles `src` for the roots of `env`.
pub fn compile(src: &str, env: &CompileEnv) -> Result<Program, ExprError> {
    let mut ast = parser::parse(src).map_err(|e| e.locate(src))?;
    fold_constants(&mut ast, env);
    let mut c = Compiler { env, lets: Vec::new(), closures: Vec::new(), next_slot: 0 };
    let (root, _) = c.expr(&ast).map_err(|e| e.locate(src))?;
    Ok(Program { inner: Arc::new(ProgramInner { source: src.to_string(), root }) })
}

fn rt(span: Span) -> impl Fn(String) -> ExprError {
    move |m| ExprError::new(m, span)
}

fn evt_of<'a>(cx: &Scope<'a>, span: Span) -> Result<&'a Event, ExprError> {
    cx.evt.ok_or_else(|| ExprError::new("evt is not bound in this evaluation", span))
}

fn set_local<'a>(cx: &mut Scope<'a>, slot: usize, v: Value<'a>) {
    if cx.locals.len() > slot {
        cx.locals.truncate(slot);
    }
    while cx.locals.len() < slot {
        cx.locals.push(Value::Nil);
    }
    cx.locals.push(v);
}

// ---------------------------------------------------------------------------------------------------------------
// Leaves

#[derive(Clone, Debug)]
enum ConstV {
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
}

impl ConstV {
    fn of(e: &Expr) -> Option<ConstV> {
        Some(match &e.kind {
            Kind::Nil => ConstV::Nil,
            Kind::Bool(b) => ConstV::Bool(*b),
            Kind::Int(i) => ConstV::Int(*i),
            Kind::Float(f) => ConstV::Float(*f),
            Kind::Str(s) => ConstV::Str(s.clone()),
            _ => return None,
        })
    }

    fn value(&self) -> Value<'_> {
        match self {
            ConstV::Nil => Value::Nil,
            ConstV::Bool(b) => Value::Bool(*b),
            ConstV::Int(i) => Value::Int(*i),
            ConstV::Float(f) => Value::Float(*f),
            ConstV::Str(s) => Value::str(s),
        }
    }
}

struct Lit(ConstV, Span);
impl Node for Lit {
    fn eval<'a>(&'a self, _: &mut Scope<'a>) -> R<'a> {
        Ok(self.0.value())
    }
    fn span(&self) -> Span {
        self.1
    }
}

struct ArrayLit(Vec<N>, Span);
impl Node for ArrayLit {
    fn eval<'a>(&'a self, cx: &mut Scope<'a>) -> R<'a> {
        let mut v = Vec::with_capacity(self.0.len());
        for n in &self.0 {
            v.push(n.eval(cx)?);
        }
        Ok(Value::from(v))
    }
    fn span(&self) -> Span {
        self.1
    }
}

struct MapLit(Vec<(N, N)>, Span);
impl Node for MapLit {
    fn eval<'a>(&'a self, cx: &mut Scope<'a>) -> R<'a> {
        let mut m = super::ValueMap::new();
        for (k, v) in &self.0 {
            let key = k.eval(cx)?;
            let key = match key {
                Value::Str(s) => s.into_owned(),
                other => other.to_go_string(),
            };
            m.insert(key, v.eval(cx)?);
        }
        Ok(Value::from(m))
    }
    fn span(&self) -> Span {
        self.1
    }
}

struct EvtRoot(Span);
impl Node for EvtRoot {
    fn eval<'a>(&'a self, cx: &mut Scope<'a>) -> R<'a> {
        Ok(Value::Host(evt_of(cx, self.0)?))
    }
    fn span(&self) -> Span {
        self.0
    }
}

struct RootVar(String, Span);
impl Node for RootVar {
    fn eval<'a>(&'a self, cx: &mut Scope<'a>) -> R<'a> {
        match cx.root(&self.0) {
            Some(v) => Ok(v.clone()),
            None if self.0 == "evt" => Ok(Value::Host(evt_of(cx, self.1)?)),
            None => Err(ExprError::new(format!("variable {} is not bound in this evaluation", self.0), self.1)),
        }
    }
    fn span(&self) -> Span {
        self.1
    }
}

struct Local(usize, Span);
impl Node for Local {
    fn eval<'a>(&'a self, cx: &mut Scope<'a>) -> R<'a> {
        Ok(cx.locals.get(self.0).cloned().unwrap_or(Value::Nil))
    }
    fn span(&self) -> Span {
        self.1
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Event fast paths

/// One of the event's string maps (a compiled `evt.Meta.K` & co reads one; [`Node::field_read`] names it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldRead {
    Meta,
    Parsed,
    Enriched,
    Labels,
}

impl FieldRead {
    #[inline]
    pub fn of(self, e: &Event) -> &FieldMap {
        match self {
            FieldRead::Meta => &e.meta,
            FieldRead::Parsed => &e.parsed,
            FieldRead::Enriched => &e.enriched,
            FieldRead::Labels => e.line.labels(),
        }
    }
}

/// A text field of the event itself or of its line: what `evt.StrTime`, `evt.Line.Raw` and the like compile to, so
/// that a read costs one load instead of two field lookups by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EvtText {
    Stage,
    WhitelistReason,
    StrTime,
    StrTimeFormat,
    MarshaledTime,
    LineRaw,
    LineSrc,
    LineModule,
}

impl EvtText {
    /// The field named `name` of the event (`line: false`) or of `evt.Line`, when it is text.
    fn named(name: &str, line: bool) -> Option<EvtText> {
        Some(match (line, name) {
            (false, "Stage") => EvtText::Stage,
            (false, "WhitelistReason") => EvtText::WhitelistReason,
            (false, "StrTime") => EvtText::StrTime,
            (false, "StrTimeFormat") => EvtText::StrTimeFormat,
            (false, "MarshaledTime") => EvtText::MarshaledTime,
            (true, "Raw") => EvtText::LineRaw,
            (true, "Src") => EvtText::LineSrc,
            (true, "Module") => EvtText::LineModule,
            _ => return None,
        })
    }

    #[inline]
    pub fn of(self, e: &Event) -> &str {
        match self {
            EvtText::Stage => &e.stage,
            EvtText::WhitelistReason => e.whitelist_reason(),
            EvtText::StrTime => &e.str_time,
            EvtText::StrTimeFormat => e.str_time_format(),
            EvtText::MarshaledTime => &e.marshaled_time,
            EvtText::LineRaw => &e.line.raw,
            EvtText::LineSrc => e.line.src(),
            EvtText::LineModule => e.line.module(),
        }
    }
}

struct EvtTextGet {
    field: EvtText,
    span: Span,
}
impl Node for EvtTextGet {
    fn eval<'a>(&'a self, cx: &mut Scope<'a>) -> R<'a> {
        Ok(Value::str(self.field.of(evt_of(cx, self.span)?)))
    }
    fn span(&self) -> Span {
        self.span
    }
    fn text_read(&self) -> Option<EvtText> {
        Some(self.field)
    }
}

struct EvtMapGet {
    sel: FieldRead,
    /// Interned ([`crate::event::field_key`]): the map finds an entry stored under the same name by its address.
    key: FieldKey,
    span: Span,
}
impl Node for EvtMapGet {
    fn eval<'a>(&'a self, cx: &mut Scope<'a>) -> R<'a> {
        Ok(Value::str(self.sel.of(evt_of(cx, self.span)?).get_or_empty(&self.key)))
    }
    fn span(&self) -> Span {
        self.span
    }
    fn field_read(&self) -> Option<(FieldRead, &str)> {
        Some((self.sel, &self.key))
    }
}

struct EvtMapEq {
    sel: FieldRead,
    /// Interned, as [`EvtMapGet`]'s.
    key: FieldKey,
    value: String,
    negate: bool,
    span: Span,
}
impl Node for EvtMapEq {
    fn eval<'a>(&'a self, cx: &mut Scope<'a>) -> R<'a> {
        self.eval_bool(cx).map(Value::Bool)
    }
    #[inline]
    fn eval_bool<'a>(&'a self, cx: &mut Scope<'a>) -> Result<bool, ExprError> {
        let evt = evt_of(cx, self.span)?;
        Ok((self.sel.of(evt).get_or_empty(&self.key) == self.value) != self.negate)
    }
    fn span(&self) -> Span {
        self.span
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Members, slices, methods

struct MemberConst {
    obj: N,
    key: String,
    optional: bool,
    span: Span,
}
impl Node for MemberConst {
    fn eval<'a>(&'a self, cx: &mut Scope<'a>) -> R<'a> {
        let o = self.obj.eval(cx)?;
        if self.optional && o.is_nil() {
            return Err(ExprError::chain_abort());
        }
        ops::member_str(o, &self.key).map_err(rt(self.span))
    }
    fn span(&self) -> Span {
        self.span
    }
}

struct MemberDyn {
    obj: N,
    key: N,
    optional: bool,
    span: Span,
}
impl Node for MemberDyn {
    fn eval<'a>(&'a self, cx: &mut Scope<'a>) -> R<'a> {
        let o = self.obj.eval(cx)?;
        if self.optional && o.is_nil() {
            return Err(ExprError::chain_abort());
        }
        let k = self.key.eval(cx)?;
        ops::member(o, &k).map_err(rt(self.span))
    }
    fn span(&self) -> Span {
        self.span
    }
}

struct SliceNode {
    obj: N,
    from: Option<N>,
    to: Option<N>,
    span: Span,
}
impl Node for SliceNode {
    fn eval<'a>(&'a self, cx: &mut Scope<'a>) -> R<'a> {
        let o = self.obj.eval(cx)?;
        let bound = |n: &'a Option<N>, cx: &mut Scope<'a>| -> Result<Option<i64>, ExprError> {
            match n {
                None => Ok(None),
                Some(n) => match n.eval(cx)? {
                    v @ (Value::Int(_) | Value::Float(_)) => Ok(v.as_f64().map(|f| f as i64)),
                    other => Err(ExprError::new(
                        format!("slice index must be an integer, got {}", other.type_name()),
                        n.span(),
                    )),
                },
            }
        };
        let from = bound(&self.from, cx)?;
        let to = bound(&self.to, cx)?;
        ops::slice(o, from, to).map_err(rt(self.span))
    }
    fn span(&self) -> Span {
        self.span
    }
}

struct MethodCall {
    obj: N,
    name: String,
    args: Vec<N>,
    optional: bool,
    span: Span,
}
impl Node for MethodCall {
    fn eval<'a>(&'a self, cx: &mut Scope<'a>) -> R<'a> {
        let o = self.obj.eval(cx)?;
        if o.is_nil() && self.optional {
            return Err(ExprError::chain_abort());
        }
        let mut args = Vec::with_capacity(self.args.len());
        for a in &self.args {
            args.push(a.eval(cx)?);
        }
        helpers::time::call_method(o, &self.name, args).map_err(rt(self.span))
    }
    fn span(&self) -> Span {
        self.span
    }
}

/// `evt.SetMeta(k, v)` / `evt.SetParsed(k, v)`: records a mutation, returns true.
struct SetField {
    meta: bool,
    key: N,
    value: N,
    span: Span,
}
impl Node for SetField {
    fn eval<'a>(&'a self, cx: &mut Scope<'a>) -> R<'a> {
        let k = self.key.eval(cx)?;
        let v = self.value.eval(cx)?;
        let (Some(k), Some(v)) = (k.as_str(), v.as_str()) else {
            return Err(ExprError::new(
                format!("{} expects (string, string)", if self.meta { "SetMeta" } else { "SetParsed" }),
                self.span,
            ));
        };
        let m = if self.meta {
            Mutation::SetMeta(k.to_string(), v.to_string())
        } else {
            Mutation::SetParsed(k.to_string(), v.to_string())
        };
        cx.record(m);
        Ok(Value::Bool(true))
    }
    fn span(&self) -> Span {
        self.span
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Calls

struct Call {
    f: BuiltinFn,
    args: Vec<N>,
    span: Span,
}
impl Node for Call {
    fn eval<'a>(&'a self, cx: &mut Scope<'a>) -> R<'a> {
        let mut args = Vec::with_capacity(self.args.len());
        for a in &self.args {
            args.push(a.eval(cx)?);
        }
        (self.f)(cx, args).map_err(rt(self.span))
    }
    fn span(&self) -> Span {
        self.span
    }
}

/// A pure helper call of `evt` fields whose string value is kept in the per-event memo (`expr::memo`).
struct Memoized {
    slot: usize,
    inner: N,
}
impl Node for Memoized {
    fn eval<'a>(&'a self, cx: &mut Scope<'a>) -> R<'a> {
        let Some(cell) = cx.memo.and_then(|m| m.cell(cx.evt, self.slot)) else { return self.inner.eval(cx) };
        if let Some(s) = cell.get() {
            return Ok(Value::str(s));
        }
        match self.inner.eval(cx)? {
            Value::Str(s) => Ok(Value::str(cell.get_or_init(|| s.into_owned()))),
            other => Ok(other),
        }
    }
    fn span(&self) -> Span {
        self.inner.span()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PredKind {
    All,
    Any,
    None,
    One,
    Filter,
    Map,
    Count,
    Sum,
    Find,
    FindIndex,
    FindLast,
    FindLastIndex,
    GroupBy,
    SortBy,
    Reduce,
}

impl PredKind {
    fn of(name: &str) -> Option<PredKind> {
        Some(match name {
            "all" => PredKind::All,
            "any" => PredKind::Any,
            "none" => PredKind::None,
            "one" => PredKind::One,
            "filter" => PredKind::Filter,
            "map" => PredKind::Map,
            "count" => PredKind::Count,
            "sum" => PredKind::Sum,
            "find" => PredKind::Find,
            "findIndex" => PredKind::FindIndex,
            "findLast" => PredKind::FindLast,
            "findLastIndex" => PredKind::FindLastIndex,
            "groupBy" => PredKind::GroupBy,
            "sortBy" => PredKind::SortBy,
            "reduce" => PredKind::Reduce,
            _ => return None,
        })
    }
}

struct Pred {
    kind: PredKind,
    arr: N,
    body: Option<N>,
    extra: Option<N>,
    slot: usize,
    span: Span,
}

impl Pred {
    fn test<'a>(&'a self, cx: &mut Scope<'a>, body: &'a N, i: usize, v: &Value<'a>) -> Result<bool, ExprError> {
        set_local(cx, self.slot, v.clone());
        set_local(cx, self.slot + 1, Value::Int(i as i64));
        body.eval_bool(cx)
    }

    fn apply<'a>(&'a self, cx: &mut Scope<'a>, body: &'a N, i: usize, v: &Value<'a>) -> R<'a> {
        set_local(cx, self.slot, v.clone());
        set_local(cx, self.slot + 1, Value::Int(i as i64));
        body.eval(cx)
    }
}

impl Node for Pred {
    fn eval<'a>(&'a self, cx: &mut Scope<'a>) -> R<'a> {
        let base = cx.locals.len().min(self.slot);
        let list_v = self.arr.eval(cx)?;
        let list = list_v.to_list().map_err(rt(self.span))?;
        let r = self.run(cx, &list);
        cx.locals.truncate(base);
        r
    }
    fn span(&self) -> Span {
        self.span
    }
}

impl Pred {
    fn run<'a>(&'a self, cx: &mut Scope<'a>, list: &[Value<'a>]) -> R<'a> {
        use PredKind as K;
        let Some(body) = &self.body else {
            // One-argument forms: `count(bools)`, `sum(numbers)`.
            return match self.kind {
                K::Count => {
                    let mut n = 0;
                    for v in list {
                        match v {
                            Value::Bool(true) => n += 1,
                            Value::Bool(false) => {}
                            other => {
                                return Err(ExprError::new(
                                    format!("count: expected bool, got {}", other.type_name()),
                                    self.span,
                                ));
                            }
                        }
                    }
                    Ok(Value::Int(n))
                }
                K::Sum => builtins::sum_values(list.iter().cloned()).map_err(rt(self.span)),
                _ => Err(ExprError::new("missing predicate", self.span)),
            };
        };
        Ok(match self.kind {
            K::All => {
                for (i, v) in list.iter().enumerate() {
                    if !self.test(cx, body, i, v)? {
                        return Ok(Value::Bool(false));
                    }
                }
                Value::Bool(true)
            }
            K::Any => {
                for (i, v) in list.iter().enumerate() {
                    if self.test(cx, body, i, v)? {
                        return Ok(Value::Bool(true));
                    }
                }
                Value::Bool(false)
            }
            K::None => {
                for (i, v) in list.iter().enumerate() {
                    if self.test(cx, body, i, v)? {
                        return Ok(Value::Bool(false));
                    }
                }
                Value::Bool(true)
            }
            K::One => {
                let mut n = 0;
                for (i, v) in list.iter().enumerate() {
                    if self.test(cx, body, i, v)? {
                        n += 1;
                        if n > 1 {
                            return Ok(Value::Bool(false));
                        }
                    }
                }
                Value::Bool(n == 1)
            }
            K::Filter => {
                let mut out = Vec::new();
                for (i, v) in list.iter().enumerate() {
                    if self.test(cx, body, i, v)? {
                        out.push(v.clone());
                    }
                }
                Value::from(out)
            }
            K::Map => {
                let mut out = Vec::with_capacity(list.len());
                for (i, v) in list.iter().enumerate() {
                    out.push(self.apply(cx, body, i, v)?);
                }
                Value::from(out)
            }
            K::Count => {
                let mut n = 0;
                for (i, v) in list.iter().enumerate() {
                    if self.test(cx, body, i, v)? {
                        n += 1;
                    }
                }
                Value::Int(n)
            }
            K::Sum => {
                let mut vals = Vec::with_capacity(list.len());
                for (i, v) in list.iter().enumerate() {
                    vals.push(self.apply(cx, body, i, v)?);
                }
                builtins::sum_values(vals.into_iter()).map_err(rt(self.span))?
            }
            K::Find | K::FindIndex => {
                for (i, v) in list.iter().enumerate() {
                    if self.test(cx, body, i, v)? {
                        return Ok(if self.kind == K::Find { v.clone() } else { Value::Int(i as i64) });
                    }
                }
                if self.kind == K::Find { Value::Nil } else { Value::Int(-1) }
            }
            K::FindLast | K::FindLastIndex => {
                for (i, v) in list.iter().enumerate().rev() {
                    if self.test(cx, body, i, v)? {
                        return Ok(if self.kind == K::FindLast { v.clone() } else { Value::Int(i as i64) });
                    }
                }
                if self.kind == K::FindLast { Value::Nil } else { Value::Int(-1) }
            }
            K::GroupBy => {
                let mut groups: std::collections::BTreeMap<String, Vec<Value<'a>>> = Default::default();
                for (i, v) in list.iter().enumerate() {
                    let k = self.apply(cx, body, i, v)?;
                    let k = match k {
                        Value::Str(s) => s.into_owned(),
                        other => other.to_go_string(),
                    };
                    groups.entry(k).or_default().push(v.clone());
                }
                Value::map(groups.into_iter().map(|(k, v)| (k, Value::from(v))))
            }
            K::SortBy => {
                let desc = match &self.extra {
                    None => false,
                    Some(n) => match n.eval(cx)?.as_str() {
                        Some("asc") => false,
                        Some("desc") => true,
                        _ => return Err(ExprError::new("sortBy: order must be \"asc\" or \"desc\"", n.span())),
                    },
                };
                let mut keyed = Vec::with_capacity(list.len());
                for (i, v) in list.iter().enumerate() {
                    keyed.push((self.apply(cx, body, i, v)?, v.clone()));
                }
                let mut err = None;
                keyed.sort_by(|(a, _), (b, _)| {
                    let o = super::value::compare(a, b).unwrap_or_else(|e| {
                        err.get_or_insert(e);
                        std::cmp::Ordering::Equal
                    });
                    if desc { o.reverse() } else { o }
                });
                if let Some(e) = err {
                    return Err(ExprError::new(e, self.span));
                }
                Value::array(keyed.into_iter().map(|(_, v)| v))
            }
            K::Reduce => {
                let (mut acc, start) = match &self.extra {
                    Some(init) => (init.eval(cx)?, 0),
                    None => match list.first() {
                        Some(v) => (v.clone(), 1),
                        None => return Err(ExprError::new("reduce of empty array with no initial value", self.span)),
                    },
                };
                for (i, v) in list.iter().enumerate().skip(start) {
                    set_local(cx, self.slot, v.clone());
                    set_local(cx, self.slot + 1, Value::Int(i as i64));
                    set_local(cx, self.slot + 2, acc);
                    acc = body.eval(cx)?;
                }
                acc
            }
        })
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Operators

struct Not(N, Span);
impl Node for Not {
    fn eval<'a>(&'a self, cx: &mut Scope<'a>) -> R<'a> {
        self.eval_bool(cx).map(Value::Bool)
    }
    fn eval_bool<'a>(&'a self, cx: &mut Scope<'a>) -> Result<bool, ExprError> {
        match self.0.eval(cx)? {
            Value::Bool(b) => Ok(!b),
            other => Err(ExprError::new(format!("invalid operation: ! {}", other.type_name()), self.1)),
        }
    }
    fn span(&self) -> Span {
        self.1
    }
}

struct Neg(N, bool, Span);
impl Node for Neg {
    fn eval<'a>(&'a self, cx: &mut Scope<'a>) -> R<'a> {
        let v = self.0.eval(cx)?;
        let neg = self.1;
        Ok(match v {
            Value::Int(i) => Value::Int(if neg { i.wrapping_neg() } else { i }),
            Value::Float(f) => Value::Float(if neg { -f } else { f }),
            Value::Duration(d) => Value::Duration(if neg { d.wrapping_neg() } else { d }),
            other => {
                return Err(ExprError::new(
                    format!("invalid operation: {} {}", if neg { "-" } else { "+" }, other.type_name()),
                    self.2,
                ));
            }
        })
    }
    fn span(&self) -> Span {
        self.2
    }
}

struct AndOr {
    and: bool,
    l: N,
    r: N,
    span: Span,
}
impl Node for AndOr {
    fn eval<'a>(&'a self, cx: &mut Scope<'a>) -> R<'a> {
        self.eval_bool(cx).map(Value::Bool)
    }
    #[inline]
    fn eval_bool<'a>(&'a self, cx: &mut Scope<'a>) -> Result<bool, ExprError> {
        let l = self.l.eval_bool(cx)?;
        if l != self.and {
            return Ok(l);
        }
        self.r.eval_bool(cx)
    }
    fn span(&self) -> Span {
        self.span
    }
}

struct Bin {
    op: BinOp,
    l: N,
    r: N,
    span: Span,
}
impl Node for Bin {
    fn eval<'a>(&'a self, cx: &mut Scope<'a>) -> R<'a> {
        let l = self.l.eval(cx)?;
        let r = self.r.eval(cx)?;
        ops::binary(self.op, l, r).map_err(rt(self.span))
    }
    fn span(&self) -> Span {
        self.span
    }
}

struct Coalesce(N, N, Span);
impl Node for Coalesce {
    fn eval<'a>(&'a self, cx: &mut Scope<'a>) -> R<'a> {
        match self.0.eval(cx)? {
            Value::Nil => self.1.eval(cx),
            v => Ok(v),
        }
    }
    fn span(&self) -> Span {
        self.2
    }
}

/// `x in [string constants]` with a hash set.
struct InStrSet {
    l: N,
    set: HashSet<String>,
    span: Span,
}
impl Node for InStrSet {
    fn eval<'a>(&'a self, cx: &mut Scope<'a>) -> R<'a> {
        self.eval_bool(cx).map(Value::Bool)
    }
    fn eval_bool<'a>(&'a self, cx: &mut Scope<'a>) -> Result<bool, ExprError> {
        Ok(match self.l.eval(cx)? {
            Value::Str(s) => self.set.contains(&*s),
            _ => false,
        })
    }
    fn span(&self) -> Span {
        self.span
    }
}

/// `x in [constants]`, short list: linear scan with expr-lang equality.
struct InConstList {
    l: N,
    items: Vec<ConstV>,
    span: Span,
}
impl Node for InConstList {
    fn eval<'a>(&'a self, cx: &mut Scope<'a>) -> R<'a> {
        self.eval_bool(cx).map(Value::Bool)
    }
    fn eval_bool<'a>(&'a self, cx: &mut Scope<'a>) -> Result<bool, ExprError> {
        let v = self.l.eval(cx)?;
        Ok(match &v {
            Value::Str(s) => self.items.iter().any(|c| matches!(c, ConstV::Str(x) if x == s)),
            _ => self.items.iter().any(|c| equal(&v, &c.value())),
        })
    }
    fn span(&self) -> Span {
        self.span
    }
}

struct MatchConst {
    l: N,
    re: Regex,
    span: Span,
}
impl Node for MatchConst {
    fn eval<'a>(&'a self, cx: &mut Scope<'a>) -> R<'a> {
        self.eval_bool(cx).map(Value::Bool)
    }
    fn eval_bool<'a>(&'a self, cx: &mut Scope<'a>) -> Result<bool, ExprError> {
        match self.l.eval(cx)? {
            Value::Str(s) => Ok(self.re.is_match(s.as_bytes())),
            other => Err(ExprError::new(format!("invalid operation: {} matches string", other.type_name()), self.span)),
        }
    }
    fn span(&self) -> Span {
        self.span
    }
}

/// Distinct dynamic patterns a `matches` node keeps compiled.
const MATCH_CACHE_MAX: usize = 1024;

struct MatchDyn {
    l: N,
    r: N,
    span: Span,
    /// Patterns compiled so far: dynamic patterns come from a small set (the lines of a data file in
    /// `any(File('f'), {x matches Upper(#)})`, a field that repeats from event to event), and compiling costs
    /// far more than matching. Bounded: emptied when full, so event-controlled patterns cannot grow it.
    cache: std::sync::Mutex<std::collections::HashMap<String, Arc<Regex>>>,
}
impl Node for MatchDyn {
    fn eval<'a>(&'a self, cx: &mut Scope<'a>) -> R<'a> {
        let l = self.l.eval(cx)?;
        let r = self.r.eval(cx)?;
        match (l.as_str(), r.as_str()) {
            (Some(s), Some(p)) => {
                let cached = self.cache.lock().unwrap_or_else(|e| e.into_inner()).get(p).cloned();
                let re = match cached {
                    Some(re) => re,
                    None => {
                        let re = Arc::new(goregex::compile(p).map_err(rt(self.span))?);
                        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
                        if cache.len() >= MATCH_CACHE_MAX {
                            cache.clear();
                        }
                        cache.insert(p.to_string(), Arc::clone(&re));
                        re
                    }
                };
                Ok(Value::Bool(re.is_match(s.as_bytes())))
            }
            _ => Err(ExprError::new(
                format!("invalid operation: {} matches {}", l.type_name(), r.type_name()),
                self.span,
            )),
        }
    }
    fn span(&self) -> Span {
        self.span
    }
}

struct Ternary(N, N, N, Span);
impl Node for Ternary {
    fn eval<'a>(&'a self, cx: &mut Scope<'a>) -> R<'a> {
        if self.0.eval_bool(cx)? { self.1.eval(cx) } else { self.2.eval(cx) }
    }
    fn eval_bool<'a>(&'a self, cx: &mut Scope<'a>) -> Result<bool, ExprError> {
        if self.0.eval_bool(cx)? { self.1.eval_bool(cx) } else { self.2.eval_bool(cx) }
    }
    fn span(&self) -> Span {
        self.3
    }
}

struct Let {
    slot: usize,
    value: N,
    body: N,
    span: Span,
}
impl Node for Let {
    fn eval<'a>(&'a self, cx: &mut Scope<'a>) -> R<'a> {
        let v = self.value.eval(cx)?;
        set_local(cx, self.slot, v);
        let r = self.body.eval(cx);
        cx.locals.truncate(self.slot);
        r
    }
    fn span(&self) -> Span {
        self.span
    }
}

struct Chain(N, Span);
impl Node for Chain {
    fn eval<'a>(&'a self, cx: &mut Scope<'a>) -> R<'a> {
        match self.0.eval(cx) {
            Err(e) if e.is_chain_abort() => Ok(Value::Nil),
            r => r,
        }
    }
    fn span(&self) -> Span {
        self.1
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Data files

/// `File('name')` of a file loaded at compile time: its lines, borrowed from the program.
struct FileConst(Arc<StringList>, Span);
impl Node for FileConst {
    fn eval<'a>(&'a self, _: &mut Scope<'a>) -> R<'a> {
        Ok(Value::array(self.0.lines.iter().map(|s| Value::str(s))))
    }
    fn span(&self) -> Span {
        self.1
    }
}

/// How `any(File('name'), {x OP #})` tests `x` against the file's lines, each prepared once at load.
enum LineMatcher {
    /// `contains`: one automaton for all the lines; `None` for an empty file.
    Contains(Option<AhoCorasick>),
    /// `matches`: every line compiled as a regex, tried in order.
    Matches(Vec<Regex>),
    /// `startsWith`: one automaton of the lines, searched anchored at the start of `x`; `None` for an empty file.
    StartsWith(Option<AhoCorasick>),
    /// `endsWith`: one automaton of the lines reversed byte by byte, searched anchored at the start of `x`
    /// reversed (a line is a suffix of `x` when, reversed, it is a prefix of `x` reversed).
    EndsWith(Option<AhoCorasick>),
}

impl LineMatcher {
    fn is_empty(&self) -> bool {
        match self {
            LineMatcher::Contains(ac) | LineMatcher::StartsWith(ac) | LineMatcher::EndsWith(ac) => ac.is_none(),
            LineMatcher::Matches(res) => res.is_empty(),
        }
    }

    fn test(&self, s: &str) -> bool {
        match self {
            LineMatcher::Contains(ac) => ac.as_ref().is_some_and(|ac| ac.is_match(s.as_bytes())),
            LineMatcher::Matches(res) => res.iter().any(|re| re.is_match(s.as_bytes())),
            LineMatcher::StartsWith(ac) => ac.as_ref().is_some_and(|ac| ac.is_match(anchored(s.as_bytes()))),
            LineMatcher::EndsWith(ac) => ac.as_ref().is_some_and(|ac| {
                // Reversed on the stack: subjects are paths and requests, rarely longer.
                let mut buf = [0u8; 256];
                let mut heap = Vec::new();
                let rev: &mut [u8] = if s.len() <= buf.len() {
                    &mut buf[..s.len()]
                } else {
                    heap.resize(s.len(), 0);
                    &mut heap
                };
                rev.iter_mut().zip(s.bytes().rev()).for_each(|(d, b)| *d = b);
                ac.is_match(anchored(rev))
            }),
        }
    }

    /// The automaton of `lines` for an anchored search (`startsWith`, and `endsWith` on reversed lines).
    fn anchored_automaton(lines: Vec<Vec<u8>>) -> Result<Option<AhoCorasick>, String> {
        if lines.is_empty() {
            return Ok(None);
        }
        AhoCorasick::builder()
            .start_kind(aho_corasick::StartKind::Anchored)
            .build(&lines)
            .map(Some)
            .map_err(|e| e.to_string())
    }

    fn op(&self) -> &'static str {
        match self {
            LineMatcher::Contains(_) => "contains",
            LineMatcher::Matches(_) => "matches",
            LineMatcher::StartsWith(_) => "startsWith",
            LineMatcher::EndsWith(_) => "endsWith",
        }
    }
}

/// An anchored search input over `bytes`.
fn anchored(bytes: &[u8]) -> aho_corasick::Input<'_> {
    aho_corasick::Input::new(bytes).anchored(aho_corasick::Anchored::Yes)
}

/// `any(File('name'), {x contains #})`, `{x matches Upper(#)}`, `{x startsWith #}`, `{x endsWith Lower(#)}`: `x`
/// evaluated once and tested against lines prepared at load, instead of a closure call per line. Same result as
/// the loop: an empty list is false without evaluating `x`; a non-string `x` is the loop's type error.
struct AnyFileLine {
    subject: N,
    matcher: LineMatcher,
    span: Span,
}
impl Node for AnyFileLine {
    fn eval<'a>(&'a self, cx: &mut Scope<'a>) -> R<'a> {
        self.eval_bool(cx).map(Value::Bool)
    }
    fn eval_bool<'a>(&'a self, cx: &mut Scope<'a>) -> Result<bool, ExprError> {
        if self.matcher.is_empty() {
            return Ok(false);
        }
        match self.subject.eval(cx)? {
            Value::Str(s) => Ok(self.matcher.test(&s)),
            other => Err(ExprError::new(
                format!("invalid operation: {} {} string (mismatched types)", other.type_name(), self.matcher.op()),
                self.span,
            )),
        }
    }
    fn span(&self) -> Span {
        self.span
    }
}

/// `x in File('name')`, `any(File('name'), {x == #})`: the file's hash set.
struct InFile {
    subject: N,
    list: Arc<StringList>,
    span: Span,
}
impl Node for InFile {
    fn eval<'a>(&'a self, cx: &mut Scope<'a>) -> R<'a> {
        self.eval_bool(cx).map(Value::Bool)
    }
    fn eval_bool<'a>(&'a self, cx: &mut Scope<'a>) -> Result<bool, ExprError> {
        if self.list.lines.is_empty() {
            return Ok(false);
        }
        Ok(match self.subject.eval(cx)? {
            Value::Str(s) => self.list.set.contains(&*s),
            _ => false,
        })
    }
    fn span(&self) -> Span {
        self.span
    }
}

struct RegexpInFileConst {
    subject: N,
    list: Arc<RegexpList>,
    span: Span,
}
impl Node for RegexpInFileConst {
    fn eval<'a>(&'a self, cx: &mut Scope<'a>) -> R<'a> {
        self.eval_bool(cx).map(Value::Bool)
    }
    fn eval_bool<'a>(&'a self, cx: &mut Scope<'a>) -> Result<bool, ExprError> {
        match self.subject.eval(cx)? {
            Value::Str(s) => Ok(self.list.is_match(&s)),
            other => {
                Err(ExprError::new(format!("RegexpInFile: expected string, got {}", other.type_name()), self.span))
            }
        }
    }
    fn span(&self) -> Span {
        self.span
    }
}

struct LookupFileConst {
    subject: N,
    map: Arc<MapFile>,
    span: Span,
}
impl Node for LookupFileConst {
    fn eval<'a>(&'a self, cx: &mut Scope<'a>) -> R<'a> {
        match self.subject.eval(cx)? {
            Value::Str(s) => Ok(Value::str(self.map.lookup(&s))),
            other => Err(ExprError::new(format!("LookupFile: expected string, got {}", other.type_name()), self.span)),
        }
    }
    fn span(&self) -> Span {
        self.span
    }
}

/// `UnmarshalJSON(s, evt.Unmarshaled, key)`, `ParseKV(..)`, `ParseKVLax(..)`: decode, record the write.
struct UnmarshalInto {
    kind: helpers::kv::Decoder,
    input: N,
    key: N,
    span: Span,
}
impl Node for UnmarshalInto {
    fn eval<'a>(&'a self, cx: &mut Scope<'a>) -> R<'a> {
        let input = self.input.eval(cx)?;
        let key = self.key.eval(cx)?;
        let (Some(input), Some(key)) = (input.as_str(), key.as_str()) else {
            return Err(ExprError::new(format!("{}: expected (string, map, string)", self.kind.name()), self.span));
        };
        let existing = evt_of(cx, self.span)?.unmarshaled().get(key);
        let m = match self.kind.decode(input, existing).map_err(rt(self.span))? {
            helpers::kv::Decoded::Replace(v) => Mutation::SetUnmarshaled(key.to_string(), v),
            helpers::kv::Decoded::Merge(pairs) => Mutation::MergeUnmarshaled(key.to_string(), pairs),
        };
        cx.record(m);
        Ok(Value::Nil)
    }
    fn span(&self) -> Span {
        self.span
    }
}

// ---------------------------------------------------------------------------------------------------------------
// The compiler

struct Compiler<'e> {
    env: &'e CompileEnv,
    lets: Vec<(String, usize)>,
    /// Slot base of each enclosing closure (innermost last).
    closures: Vec<usize>,
    next_slot: usize,
}

fn err(msg: impl Into<String>, span: Span) -> ExprError {
    ExprError::new(msg, span)
}

/// A closure body that does not use `#` (or any closure) and writes nothing: safe to evaluate once.
fn is_invariant(e: &Expr) -> bool {
    match &e.kind {
        Kind::Pointer(_) | Kind::Closure(_) | Kind::Let { .. } => false,
        Kind::Nil | Kind::Bool(_) | Kind::Int(_) | Kind::Float(_) | Kind::Str(_) | Kind::Ident(_) => true,
        Kind::Array(items) => items.iter().all(is_invariant),
        Kind::Map(items) => items.iter().all(|(k, v)| is_invariant(k) && is_invariant(v)),
        Kind::Member { obj, key, .. } => is_invariant(obj) && is_invariant(key),
        Kind::Slice { obj, from, to } => {
            is_invariant(obj) && from.as_deref().is_none_or(is_invariant) && to.as_deref().is_none_or(is_invariant)
        }
        Kind::Call { name, args, .. } => !helpers::is_effectful(name) && args.iter().all(is_invariant),
        Kind::Method { obj, name, args, .. } => {
            !name.starts_with("Set") && is_invariant(obj) && args.iter().all(is_invariant)
        }
        Kind::Chain(e) => is_invariant(e),
        Kind::Unary { expr, .. } => is_invariant(expr),
        Kind::Binary { lhs, rhs, .. } => is_invariant(lhs) && is_invariant(rhs),
        Kind::Ternary { cond, then, other } => is_invariant(cond) && is_invariant(then) && is_invariant(other),
    }
}

/// Whether `e` is computed from constants only: no variable, no event, no closure argument, and only calls to
/// pure helpers, so evaluating it once at compile time gives the value every evaluation would.
fn is_closed(e: &Expr) -> bool {
    match &e.kind {
        Kind::Nil | Kind::Bool(_) | Kind::Int(_) | Kind::Float(_) | Kind::Str(_) => true,
        Kind::Array(items) => items.iter().all(is_closed),
        Kind::Call { name, args, .. } => super::guard::PURE.contains(&name.as_str()) && args.iter().all(is_closed),
        Kind::Unary { expr, .. } => is_closed(expr),
        Kind::Binary { lhs, rhs, .. } => is_closed(lhs) && is_closed(rhs),
        Kind::Ternary { cond, then, other } => is_closed(cond) && is_closed(then) && is_closed(other),
        _ => false,
    }
}

/// The closure argument `#`, or `Upper(#)` / `Lower(#)` (and the builtins `upper`, `lower`), as the function
/// that turns a file line into the value the closure compares with.
pub(crate) fn hash_transform(e: &Expr) -> Option<fn(&str) -> String> {
    let is_hash = |e: &Expr| matches!(&e.kind, Kind::Pointer(p) if p.is_empty());
    if is_hash(e) {
        return Some(|s| s.to_string());
    }
    let Kind::Call { name, args, .. } = &e.kind else { return None };
    if args.len() != 1 || !is_hash(&args[0]) {
        return None;
    }
    match name.as_str() {
        "Upper" | "upper" => Some(|s| s.to_uppercase()),
        "Lower" | "lower" => Some(|s| s.to_lowercase()),
        _ => None,
    }
}

/// Replaces calls of pure helpers on constants (`Upper('/admin')`, `Lower('X')`) by their value, bottom-up, so
/// the specialised nodes (`x contains 'c'`, `x matches 'c'` with a regex compiled once, `evt.Meta.k == 'c'`) apply
/// to them too. A call that fails (a type error) is left alone: it must fail when evaluated, as before. `File` is
/// left alone too: the data-file specialisations look for it.
fn fold_constants(e: &mut Expr, env: &CompileEnv) {
    e.kind.for_each_child_mut(|c| fold_constants(c, env));
    let Kind::Call { name, .. } = &e.kind else { return };
    if matches!(name.as_str(), "File" | "RegexpInFile") || !is_closed(e) {
        return;
    }
    let mut c = Compiler { env, lets: Vec::new(), closures: Vec::new(), next_slot: 0 };
    let Ok((node, _)) = c.expr(e) else { return };
    let mut scope = Scope::new(&env.services);
    let folded = match node.eval(&mut scope) {
        Ok(Value::Str(s)) => Kind::Str(s.to_string()),
        Ok(Value::Int(i)) => Kind::Int(i),
        Ok(Value::Bool(b)) => Kind::Bool(b),
        _ => return,
    };
    if scope.take_mutations().is_empty() {
        let (span, depth) = (e.span, e.depth);
        *e = Expr { kind: folded, span, depth };
    }
}

fn const_str(e: &Expr) -> Option<&str> {
    match &e.kind {
        Kind::Str(s) => Some(s),
        _ => None,
    }
}

/// Stack kept free before recursing into a sub-expression; below it `stacker` continues on a fresh segment, so
/// the tree-depth limit is about evaluation cost, not about the caller's stack size (debug builds use ~10 KiB a
/// level here).
const RED_ZONE: usize = 64 * 1024;
const NEW_STACK: usize = 1024 * 1024;

impl Compiler<'_> {
    fn expr(&mut self, e: &Expr) -> Result<(N, Ty), ExprError> {
        stacker::maybe_grow(RED_ZONE, NEW_STACK, || self.expr_inner(e))
    }

    fn expr_inner(&mut self, e: &Expr) -> Result<(N, Ty), ExprError> {
        let span = e.span;
        Ok(match &e.kind {
            Kind::Nil => (Box::new(Lit(ConstV::Nil, span)), Ty::Any),
            Kind::Bool(b) => (Box::new(Lit(ConstV::Bool(*b), span)), Ty::Bool),
            Kind::Int(i) => (Box::new(Lit(ConstV::Int(*i), span)), Ty::Int),
            Kind::Float(f) => (Box::new(Lit(ConstV::Float(*f), span)), Ty::Float),
            Kind::Str(s) => (Box::new(Lit(ConstV::Str(s.clone()), span)), Ty::Str),
            Kind::Array(items) => {
                let mut v = Vec::with_capacity(items.len());
                for i in items {
                    v.push(self.expr(i)?.0);
                }
                (Box::new(ArrayLit(v, span)), Ty::Any)
            }
            Kind::Map(entries) => {
                let mut v = Vec::with_capacity(entries.len());
                for (k, x) in entries {
                    v.push((self.expr(k)?.0, self.expr(x)?.0));
                }
                (Box::new(MapLit(v, span)), Ty::Any)
            }
            Kind::Ident(name) => self.ident(name, span)?,
            Kind::Pointer(name) => {
                let Some(base) = self.closures.last().copied() else {
                    return Err(err(format!("#{name} can only be used inside a closure"), span));
                };
                let slot = match name.as_str() {
                    "" => base,
                    "index" => base + 1,
                    "acc" => base + 2,
                    other => return Err(err(format!("unknown pointer #{other}"), span)),
                };
                (Box::new(Local(slot, span)), Ty::Any)
            }
            Kind::Member { obj, key, optional } => self.member(obj, key, *optional, span)?,
            Kind::Slice { obj, from, to } => {
                let (o, _) = self.expr(obj)?;
                let from = from.as_ref().map(|f| self.expr(f).map(|x| x.0)).transpose()?;
                let to = to.as_ref().map(|f| self.expr(f).map(|x| x.0)).transpose()?;
                (Box::new(SliceNode { obj: o, from, to, span }), Ty::Any)
            }
            Kind::Call { name, name_span, args } => self.call(name, *name_span, args, span)?,
            Kind::Method { obj, name, args, optional } => self.method(obj, name, args, *optional, span)?,
            Kind::Chain(inner) => {
                let (n, t) = self.expr(inner)?;
                (Box::new(Chain(n, span)), t)
            }
            Kind::Closure(_) => {
                return Err(err("a closure can only be passed to a builtin such as any() or filter()", span));
            }
            Kind::Unary { op, expr } => {
                let (n, t) = self.expr(expr)?;
                match op {
                    UnOp::Not => (Box::new(Not(n, span)), Ty::Bool),
                    UnOp::Neg => (Box::new(Neg(n, true, span)), t),
                    UnOp::Plus => (Box::new(Neg(n, false, span)), t),
                }
            }
            Kind::Binary { op, lhs, rhs } => self.binary(*op, lhs, rhs, span)?,
            Kind::Ternary { cond, then, other } => {
                let (c, _) = self.expr(cond)?;
                let (a, ta) = self.expr(then)?;
                let (b, tb) = self.expr(other)?;
                (Box::new(Ternary(c, a, b, span)), if ta == tb { ta } else { Ty::Any })
            }
            Kind::Let { name, value, body } => {
                let (v, _) = self.expr(value)?;
                let slot = self.next_slot;
                self.next_slot += 1;
                self.lets.push((name.clone(), slot));
                let r = self.expr(body);
                self.lets.pop();
                self.next_slot -= 1;
                let (b, t) = r?;
                (Box::new(Let { slot, value: v, body: b, span }), t)
            }
        })
    }

    fn ident(&mut self, name: &str, span: Span) -> Result<(N, Ty), ExprError> {
        if let Some((_, slot)) = self.lets.iter().rev().find(|(n, _)| n == name) {
            return Ok((Box::new(Local(*slot, span)), Ty::Any));
        }
        match self.env.root(name) {
            Some(RootType::Event) if name == "evt" => Ok((Box::new(EvtRoot(span)), Ty::Event)),
            Some(t) => Ok((Box::new(RootVar(name.to_string(), span)), t.ty())),
            None => {
                let hint = if builtins::lookup(name).is_some() || helpers::lookup(name).is_some() {
                    format!(" ({name} is a function: call it with parentheses)")
                } else {
                    String::new()
                };
                Err(err(format!("unknown name {name}{hint}"), span))
            }
        }
    }

    fn is_evt_root(&self, e: &Expr) -> bool {
        matches!(&e.kind, Kind::Ident(n) if n == "evt")
            && self.env.root("evt") == Some(RootType::Event)
            && !self.lets.iter().any(|(n, _)| n == "evt")
    }

    /// `evt.Meta.k`, `evt.Parsed["k"]`, `evt.Enriched.k`, `evt.Line.Labels.k` with a constant key.
    fn evt_map_key(&self, e: &Expr) -> Option<(FieldRead, String)> {
        let Kind::Member { obj, key, optional: false } = &e.kind else { return None };
        self.evt_map_member(obj, key)
    }

    fn evt_map_member(&self, obj: &Expr, key: &Expr) -> Option<(FieldRead, String)> {
        let key = const_str(key)?;
        let Kind::Member { obj: root, key: field, optional: false } = &obj.kind else { return None };
        let field = const_str(field)?;
        if self.is_evt_root(root) {
            let sel = match field {
                "Meta" => FieldRead::Meta,
                "Parsed" => FieldRead::Parsed,
                "Enriched" => FieldRead::Enriched,
                _ => return None,
            };
            return Some((sel, key.to_string()));
        }
        if field == "Labels"
            && let Kind::Member { obj: r2, key: line, optional: false } = &root.kind
            && const_str(line) == Some("Line")
            && self.is_evt_root(r2)
        {
            return Some((FieldRead::Labels, key.to_string()));
        }
        None
    }

    /// `evt.StrTime`, `evt.Line.Src` and the event's other text fields.
    fn evt_text_member(&self, obj: &Expr, key: &Expr) -> Option<EvtText> {
        let name = const_str(key)?;
        if self.is_evt_root(obj) {
            return EvtText::named(name, false);
        }
        let Kind::Member { obj: root, key: line, optional: false } = &obj.kind else { return None };
        if const_str(line) == Some("Line") && self.is_evt_root(root) { EvtText::named(name, true) } else { None }
    }

    fn member(&mut self, obj: &Expr, key: &Expr, optional: bool, span: Span) -> Result<(N, Ty), ExprError> {
        if !optional && let Some((sel, k)) = self.evt_map_member(obj, key) {
            return Ok((Box::new(EvtMapGet { sel, key: field_key(&k), span }), Ty::Str));
        }
        if !optional && let Some(field) = self.evt_text_member(obj, key) {
            return Ok((Box::new(EvtTextGet { field, span }), Ty::Str));
        }
        let (o, ty) = self.expr(obj)?;
        if let Some(k) = const_str(key) {
            let Some(fty) = ty.field(k) else {
                return Err(err(format!("type {} has no field {k}", ty.name()), key.span));
            };
            // Errors point at the member that could not be read, not at the whole chain.
            return Ok((Box::new(MemberConst { obj: o, key: k.to_string(), optional, span: key.span }), fty));
        }
        let (k, _) = self.expr(key)?;
        let fty = match ty {
            Ty::StrMap => Ty::Str,
            Ty::SourceMap => Ty::Source,
            _ => Ty::Any,
        };
        Ok((Box::new(MemberDyn { obj: o, key: k, optional, span: key.span }), fty))
    }

    fn method(
        &mut self,
        obj: &Expr,
        name: &str,
        args: &[Expr],
        optional: bool,
        span: Span,
    ) -> Result<(N, Ty), ExprError> {
        if self.is_evt_root(obj) && (name == "SetMeta" || name == "SetParsed") {
            if args.len() != 2 {
                return Err(err(format!("{name} expects 2 arguments, got {}", args.len()), span));
            }
            let key = self.expr(&args[0])?.0;
            let value = self.expr(&args[1])?.0;
            return Ok((Box::new(SetField { meta: name == "SetMeta", key, value, span }), Ty::Bool));
        }
        let (o, ty) = self.expr(obj)?;
        if ty.has_method(name) == Some(false) {
            return Err(err(format!("type {} has no method {name}", ty.name()), span));
        }
        let mut a = Vec::with_capacity(args.len());
        for x in args {
            a.push(self.expr(x)?.0);
        }
        let rty = match name {
            "GetMeta" | "GetScope" | "GetValue" | "GetScenario" | "GetType" => Ty::Str,
            "GetEventsCount" => Ty::Int,
            _ => Ty::Any,
        };
        Ok((Box::new(MethodCall { obj: o, name: name.to_string(), args: a, optional, span }), rty))
    }

    fn closure_body(&mut self, e: &Expr) -> Result<(N, usize), ExprError> {
        let body = match &e.kind {
            Kind::Closure(b) => b.as_ref(),
            _ => e,
        };
        let base = self.next_slot;
        self.next_slot += 3;
        self.closures.push(base);
        let r = self.expr(body);
        self.closures.pop();
        self.next_slot -= 3;
        Ok((r?.0, base))
    }

    /// `File('name')` with a constant name whose file is loaded.
    fn const_file(&self, e: &Expr) -> Option<Arc<StringList>> {
        let Kind::Call { name, args, .. } = &e.kind else { return None };
        if name != "File" || args.len() != 1 {
            return None;
        }
        self.env.services.data.strings(const_str(&args[0])?)
    }

    fn call(&mut self, name: &str, name_span: Span, args: &[Expr], span: Span) -> Result<(N, Ty), ExprError> {
        if let Some(kind) = PredKind::of(name) {
            return self.pred_call(kind, name, args, span);
        }
        match name {
            "File" if args.len() == 1 => {
                if let Some(list) = self
                    .const_file(&Expr::new(Kind::Call { name: name.to_string(), name_span, args: args.to_vec() }, span))
                {
                    return Ok((Box::new(FileConst(list, span)), Ty::Any));
                }
            }
            "RegexpInFile" if args.len() == 2 => {
                if let Some(list) = const_str(&args[1]).and_then(|n| self.env.services.data.regexps(n)) {
                    let subject = self.expr(&args[0])?.0;
                    return Ok((Box::new(RegexpInFileConst { subject, list, span }), Ty::Bool));
                }
            }
            "LookupFile" if args.len() == 2 => {
                if let Some(map) = const_str(&args[1]).and_then(|n| self.env.services.data.map(n)) {
                    let subject = self.expr(&args[0])?.0;
                    return Ok((Box::new(LookupFileConst { subject, map, span }), Ty::Str));
                }
            }
            "UnmarshalJSON" | "ParseKV" | "ParseKVLax" => {
                if args.len() != 3 {
                    return Err(err(format!("{name} expects 3 arguments, got {}", args.len()), span));
                }
                let target_ok = matches!(&args[1].kind, Kind::Member { obj, key, optional: false }
                    if self.is_evt_root(obj) && const_str(key) == Some("Unmarshaled"));
                if !target_ok {
                    return Err(err(format!("{name}: the target must be evt.Unmarshaled"), args[1].span));
                }
                let kind = helpers::kv::Decoder::of(name).ok_or_else(|| err("unknown decoder", span))?;
                let input = self.expr(&args[0])?.0;
                let key = self.expr(&args[2])?.0;
                return Ok((Box::new(UnmarshalInto { kind, input, key, span }), Ty::Any));
            }
            _ => {}
        }
        let Some(b) = builtins::lookup(name).or_else(|| helpers::lookup(name)) else {
            return Err(err(format!("unknown function {name}"), name_span));
        };
        if args.len() < b.min || args.len() > b.max {
            let expected = if b.min == b.max {
                format!("{}", b.min)
            } else if b.max == usize::MAX {
                format!("at least {}", b.min)
            } else {
                format!("{} to {}", b.min, b.max)
            };
            return Err(err(format!("{name} expects {expected} arguments, got {}", args.len()), span));
        }
        let mut a = Vec::with_capacity(args.len());
        for x in args {
            a.push(self.expr(x)?.0);
        }
        let call: N = Box::new(Call { f: b.f, args: a, span });
        if self.env.memoize
            && matches!(b.ty, Ty::Str)
            && let Some(key) = self.memo_key(name, args)
        {
            let slot = self.env.services.memo.slot(&key);
            return Ok((Box::new(Memoized { slot, inner: call }), b.ty));
        }
        Ok((call, b.ty))
    }

    /// The canonical text of `name(args)` when it is a pure helper of `evt` fields and constants only (so its
    /// value depends on nothing but the event), else `None`.
    fn memo_key(&self, name: &str, args: &[Expr]) -> Option<String> {
        use std::fmt::Write;
        fn walk(c: &Compiler, e: &Expr, out: &mut String, evt: &mut bool) -> bool {
            match &e.kind {
                Kind::Str(s) => write!(out, "{s:?}").is_ok(),
                Kind::Int(i) => write!(out, "{i}").is_ok(),
                Kind::Bool(b) => write!(out, "{b}").is_ok(),
                Kind::Ident(_) if c.is_evt_root(e) => {
                    *evt = true;
                    out.push_str("evt");
                    true
                }
                Kind::Member { obj, key, optional: false } if matches!(key.kind, Kind::Str(_)) => {
                    walk(c, obj, out, evt) && {
                        out.push('[');
                        walk(c, key, out, evt) && {
                            out.push(']');
                            true
                        }
                    }
                }
                Kind::Call { name, args, .. } if super::guard::PURE.contains(&name.as_str()) => {
                    call(c, name, args, out, evt)
                }
                _ => false,
            }
        }
        fn call(c: &Compiler, name: &str, args: &[Expr], out: &mut String, evt: &mut bool) -> bool {
            out.push_str(name);
            out.push('(');
            for a in args {
                if !walk(c, a, out, evt) {
                    return false;
                }
                out.push(',');
            }
            out.push(')');
            true
        }
        if !super::guard::PURE.contains(&name) {
            return None;
        }
        let (mut out, mut evt) = (String::new(), false);
        (call(self, name, args, &mut out, &mut evt) && evt).then_some(out)
    }

    fn pred_call(&mut self, kind: PredKind, name: &str, args: &[Expr], span: Span) -> Result<(N, Ty), ExprError> {
        let (min, max) = match kind {
            PredKind::Count | PredKind::Sum => (1, 2),
            PredKind::SortBy | PredKind::Reduce => (2, 3),
            _ => (2, 2),
        };
        if args.len() < min || args.len() > max {
            return Err(err(format!("{name} expects {min} to {max} arguments, got {}", args.len()), span));
        }
        // any(File('x'), {EXPR contains #}) / {EXPR == #} / {# == EXPR}
        if kind == PredKind::Any
            && let Some(list) = self.const_file(&args[0])
            && let Kind::Closure(body) = &args[1].kind
            && let Kind::Binary { op, lhs, rhs } = &body.kind
        {
            let is_hash = |e: &Expr| matches!(&e.kind, Kind::Pointer(p) if p.is_empty());
            match op {
                // {x contains #}, {x matches Upper(#)}, {x endsWith Lower(#)}: x evaluated once, the lines
                // transformed (and compiled) once. A pattern that does not compile would be an error only when the
                // loop reaches it, so then the loop is kept as is.
                BinOp::Contains | BinOp::Matches | BinOp::StartsWith | BinOp::EndsWith
                    if is_invariant(lhs)
                        && let Some(tr) = hash_transform(rhs) =>
                {
                    let lines = list.lines.iter().map(|l| tr(l));
                    let matcher = match op {
                        BinOp::Contains => {
                            let needles: Vec<String> = lines.collect();
                            Some(LineMatcher::Contains(if needles.is_empty() {
                                None
                            } else {
                                Some(AhoCorasick::new(&needles).map_err(|e| err(e.to_string(), span))?)
                            }))
                        }
                        BinOp::Matches => lines
                            .map(|l| goregex::compile(&l).ok())
                            .collect::<Option<Vec<Regex>>>()
                            .map(LineMatcher::Matches),
                        BinOp::StartsWith => Some(LineMatcher::StartsWith(
                            LineMatcher::anchored_automaton(lines.map(String::into_bytes).collect())
                                .map_err(|e| err(e, span))?,
                        )),
                        _ => Some(LineMatcher::EndsWith(
                            LineMatcher::anchored_automaton(
                                lines.map(|l| l.bytes().rev().collect::<Vec<u8>>()).collect(),
                            )
                            .map_err(|e| err(e, span))?,
                        )),
                    };
                    if let Some(matcher) = matcher {
                        let subject = self.expr(lhs)?.0;
                        return Ok((Box::new(AnyFileLine { subject, matcher, span }), Ty::Bool));
                    }
                }
                BinOp::Eq if (is_hash(rhs) && is_invariant(lhs)) || (is_hash(lhs) && is_invariant(rhs)) => {
                    let other = if is_hash(rhs) { lhs } else { rhs };
                    let subject = self.expr(other)?.0;
                    return Ok((Box::new(InFile { subject, list, span }), Ty::Bool));
                }
                _ => {}
            }
        }
        let arr = self.expr(&args[0])?.0;
        let (body, slot) = match args.get(1) {
            Some(b) => {
                let (n, s) = self.closure_body(b)?;
                (Some(n), s)
            }
            None => (None, self.next_slot),
        };
        let extra = args.get(2).map(|e| self.expr(e).map(|x| x.0)).transpose()?;
        let ty = match kind {
            PredKind::All | PredKind::Any | PredKind::None | PredKind::One => Ty::Bool,
            PredKind::Count | PredKind::FindIndex | PredKind::FindLastIndex => Ty::Int,
            _ => Ty::Any,
        };
        Ok((Box::new(Pred { kind, arr, body, extra, slot, span }), ty))
    }

    fn binary(&mut self, op: BinOp, lhs: &Expr, rhs: &Expr, span: Span) -> Result<(N, Ty), ExprError> {
        match op {
            BinOp::And | BinOp::Or => {
                let l = self.expr(lhs)?.0;
                let r = self.expr(rhs)?.0;
                return Ok((Box::new(AndOr { and: op == BinOp::And, l, r, span }), Ty::Bool));
            }
            BinOp::Coalesce => {
                let (l, tl) = self.expr(lhs)?;
                let r = self.expr(rhs)?.0;
                return Ok((Box::new(Coalesce(l, r, span)), tl));
            }
            BinOp::Eq | BinOp::Ne => {
                let fast = match (self.evt_map_key(lhs), const_str(rhs), self.evt_map_key(rhs), const_str(lhs)) {
                    (Some((sel, key)), Some(v), _, _) | (_, _, Some((sel, key)), Some(v)) => Some((sel, key, v)),
                    _ => None,
                };
                if let Some((sel, key, v)) = fast {
                    return Ok((
                        Box::new(EvtMapEq {
                            sel,
                            key: field_key(&key),
                            value: v.to_string(),
                            negate: op == BinOp::Ne,
                            span,
                        }),
                        Ty::Bool,
                    ));
                }
            }
            BinOp::In => {
                if let Kind::Array(items) = &rhs.kind
                    && let Some(consts) = items.iter().map(ConstV::of).collect::<Option<Vec<_>>>()
                {
                    let l = self.expr(lhs)?.0;
                    let all_str = consts.iter().all(|c| matches!(c, ConstV::Str(_)));
                    if all_str && consts.len() >= 8 {
                        let set = consts
                            .into_iter()
                            .filter_map(|c| match c {
                                ConstV::Str(s) => Some(s),
                                _ => None,
                            })
                            .collect();
                        return Ok((Box::new(InStrSet { l, set, span }), Ty::Bool));
                    }
                    return Ok((Box::new(InConstList { l, items: consts, span }), Ty::Bool));
                }
                if let Some(list) = self.const_file(rhs) {
                    let subject = self.expr(lhs)?.0;
                    return Ok((Box::new(InFile { subject, list, span }), Ty::Bool));
                }
            }
            BinOp::Matches => {
                let l = self.expr(lhs)?.0;
                if let Some(p) = const_str(rhs) {
                    let re = goregex::compile(p).map_err(|e| err(e, rhs.span))?;
                    return Ok((Box::new(MatchConst { l, re, span }), Ty::Bool));
                }
                let r = self.expr(rhs)?.0;
                // `x matches Upper('/a/[^/]+')`: a pattern computed from constants only is computed and compiled
                // once here, not on every evaluation (compiling a regex costs far more than matching it).
                if is_closed(rhs) {
                    let mut scope = Scope::new(&self.env.services);
                    if let Ok(v) = r.eval(&mut scope)
                        && let Some(p) = v.as_str()
                    {
                        let re = goregex::compile(p).map_err(|e| err(e, rhs.span))?;
                        return Ok((Box::new(MatchConst { l, re, span }), Ty::Bool));
                    }
                }
                return Ok((Box::new(MatchDyn { l, r, span, cache: Default::default() }), Ty::Bool));
            }
            _ => {}
        }
        let (l, tl) = self.expr(lhs)?;
        let (r, tr) = self.expr(rhs)?;
        // Static type check where both sides are known scalars, as expr-lang's checker does for typed envs.
        let scalar = |t: Ty| matches!(t, Ty::Bool | Ty::Int | Ty::Float | Ty::Str);
        if scalar(tl) && scalar(tr) {
            let num = |t: Ty| matches!(t, Ty::Int | Ty::Float);
            let ok = match op {
                BinOp::Eq | BinOp::Ne => tl == tr || (num(tl) && num(tr)),
                BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => {
                    (tl == Ty::Str && tr == Ty::Str) || (num(tl) && num(tr))
                }
                BinOp::Contains | BinOp::StartsWith | BinOp::EndsWith => tl == Ty::Str && tr == Ty::Str,
                BinOp::Add => (tl == Ty::Str && tr == Ty::Str) || (num(tl) && num(tr)),
                BinOp::Sub | BinOp::Mul | BinOp::Div | BinOp::Pow => num(tl) && num(tr),
                BinOp::Mod => tl == Ty::Int && tr == Ty::Int,
                _ => true,
            };
            if !ok {
                return Err(err(
                    format!("invalid operation: {} {} {} (mismatched types)", tl.name(), op.symbol(), tr.name()),
                    span,
                ));
            }
        }
        let ty = match op {
            BinOp::Eq
            | BinOp::Ne
            | BinOp::Lt
            | BinOp::Le
            | BinOp::Gt
            | BinOp::Ge
            | BinOp::In
            | BinOp::Contains
            | BinOp::StartsWith
            | BinOp::EndsWith => Ty::Bool,
            BinOp::Div | BinOp::Pow => Ty::Float,
            BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Mod if tl == tr && scalar(tl) => tl,
            _ => Ty::Any,
        };
        Ok((Box::new(Bin { op, l, r, span }), ty))
    }
}
