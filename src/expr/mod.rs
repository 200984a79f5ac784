//! The expression language of CrowdSec YAML (expr-lang v1.17 syntax plus CrowdSec's helpers): every `filter`,
//! `groupby`, `distinct`, static `expression`, whitelist expression, `condition` and hubtest assert.
//!
//! Pipeline: [`lexer`] → [`parser`] (AST with byte spans) → [`compile`] (resolves names and field paths once,
//! picks specialised nodes: `evt.Meta.x == 'c'` is one map lookup, `x in File('f')` a hash set,
//! `any(File('f'), {s contains #})` one Aho-Corasick automaton, constant regexps compiled once) → a tree of
//! trait-object nodes evaluated against a [`Scope`].
//!
//! ```ignore
//! let services = Arc::new(Services::new());
//! let env = CompileEnv::for_event(services.clone());
//! let prog = compile("evt.Meta.log_type == 'ssh_failed-auth'", &env)?;
//! let mut scope = Scope::new(&services).with_evt(&evt);
//! let hit = prog.eval_bool(&mut scope)?;
//! for m in scope.take_mutations() { m.apply(&mut evt) }   // evt.SetMeta(..), UnmarshalJSON(..), ParseKV(..)
//! ```
//!
//! Other roots (`queue`, `leaky`, `signal`, `results`, `Alert`) are declared with [`CompileEnv::with_root`] and
//! bound with [`Scope::bind`] to a [`Value`]: `Value::Host(&obj)` for any [`HostObject`], `Value::array(..)` /
//! `Value::map(..)` for lists and maps of such values (e.g. `Value::array(queue.iter().map(|e| Value::host(e)))`).
//!
//! Mutations: helpers that write to the event record a [`Mutation`] in the scope instead (the event is borrowed
//! immutably while evaluating). The caller applies them afterwards, so a write becomes visible to later
//! expressions, not to the rest of the expression that made it.

pub mod ast;
pub mod builtins;
pub mod compile;
pub mod data;
pub mod error;
pub mod guard;
pub mod helpers;
pub mod host;
pub mod lexer;
pub mod literals;
pub mod memo;
pub mod ops;
pub mod parser;
pub mod services;
pub mod stash;
pub mod value;

use std::sync::Arc;

pub use compile::compile;
pub use data::{DataKind, DataStore};
pub use error::{ExprError, Span};
pub use host::{HostKind, HostObject, Ty};
pub use memo::{Memo, MemoTable};
pub use services::{DecisionCounter, NetworkPolicy, Services};
pub use stash::Stash;
pub use value::{Value, ValueMap};

use crate::event::Event;

/// The static type of a root variable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RootType {
    /// `pipeline.Event` (`evt`): field names are checked at compile time and the hot paths are specialised.
    Event,
    /// `pipeline.RuntimeAlert` (`signal`).
    RuntimeAlert,
    /// `models.Alert` (profiles' `Alert`).
    Alert,
    /// Anything, resolved at run time (`queue`, `leaky`, `results`).
    Any,
}

impl RootType {
    pub(crate) fn ty(self) -> Ty {
        match self {
            RootType::Event => Ty::Event,
            RootType::RuntimeAlert => Ty::RuntimeAlert,
            RootType::Alert => Ty::Alert,
            RootType::Any => Ty::Any,
        }
    }
}

/// What an expression may refer to: its root variables and the services (data files, stash, clock).
#[derive(Clone)]
pub struct CompileEnv {
    pub(crate) roots: Vec<(String, RootType)>,
    pub(crate) services: Arc<Services>,
    /// Memoise pure string sub-expressions of `evt` in the services' [`MemoTable`] (scenario filters).
    pub(crate) memoize: bool,
}

impl CompileEnv {
    /// No root variables.
    pub fn new(services: Arc<Services>) -> Self {
        CompileEnv { roots: Vec::new(), services, memoize: false }
    }

    /// Pure string sub-expressions of `evt` (`Upper(evt.Meta.http_path)`) read and fill the per-event [`Memo`]
    /// that the evaluation's scope carries ([`Scope::with_memo`]); without one they are computed as usual.
    pub fn with_memo(mut self) -> Self {
        self.memoize = true;
        self
    }

    /// `evt` typed as the event: parser nodes, scenario filters, groupby, whitelists.
    pub fn for_event(services: Arc<Services>) -> Self {
        Self::new(services).with_root("evt", RootType::Event)
    }

    pub fn with_root(mut self, name: &str, ty: RootType) -> Self {
        self.roots.retain(|(n, _)| n != name);
        self.roots.push((name.to_string(), ty));
        self
    }

    pub fn services(&self) -> &Arc<Services> {
        &self.services
    }

    pub(crate) fn root(&self, name: &str) -> Option<RootType> {
        self.roots.iter().find(|(n, _)| n == name).map(|(_, t)| *t)
    }
}

/// A compiled expression. Cheap to clone, `Send + Sync`: compile once at load, evaluate on every event.
#[derive(Clone)]
pub struct Program {
    pub(crate) inner: Arc<compile::ProgramInner>,
}

impl std::fmt::Debug for Program {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Program").field("source", &self.source()).finish()
    }
}

impl Program {
    pub fn source(&self) -> &str {
        &self.inner.source
    }

    /// When the whole expression is a read of an event map with a constant key (`evt.Parsed.remote_addr`): which
    /// map and key. Evaluating it gives that field's value, `""` when missing.
    pub fn field_read(&self) -> Option<(compile::FieldRead, &str)> {
        self.inner.root.field_read()
    }

    /// When the whole expression reads one of the event's own text fields (`evt.StrTime`, `evt.Line.Raw`): which.
    pub fn text_read(&self) -> Option<compile::EvtText> {
        self.inner.root.text_read()
    }

    /// Evaluates the expression. Runtime errors (nil member access, type mismatch, failing helper) are `Err`.
    pub fn eval<'a>(&'a self, scope: &mut Scope<'a>) -> Result<Value<'a>, ExprError> {
        scope.locals.clear();
        self.inner.root.eval(scope).map_err(|e| e.locate(&self.inner.source))
    }

    /// Evaluates an expression that must yield a bool (filters, conditions, asserts); any other result is an error.
    pub fn eval_bool<'a>(&'a self, scope: &mut Scope<'a>) -> Result<bool, ExprError> {
        scope.locals.clear();
        self.inner.root.eval_bool(scope).map_err(|e| e.locate(&self.inner.source))
    }
}

/// Storage for the event copies an evaluation makes when an expression writes to the event, so the rest of the
/// same expression reads what was written (the hub idiom `UnmarshalJSON(s, evt.Unmarshaled, 'k') in ['', nil] &&
/// evt.Unmarshaled.k.x == …`). Free to create: nothing is allocated until the first write.
#[derive(Default)]
pub struct EvalArena(std::cell::OnceCell<typed_arena::Arena<Event>>);

impl EvalArena {
    pub fn new() -> Self {
        EvalArena(std::cell::OnceCell::new())
    }

    fn alloc(&self, evt: Event) -> &Event {
        self.0.get_or_init(|| typed_arena::Arena::with_capacity(1)).alloc(evt)
    }
}

/// The variables of one evaluation, plus the mutations it recorded.
pub struct Scope<'a> {
    pub(crate) services: &'a Services,
    pub(crate) evt: Option<&'a Event>,
    pub(crate) roots: Vec<(String, Value<'a>)>,
    pub(crate) locals: Vec<Value<'a>>,
    pub(crate) mutations: Vec<Mutation>,
    arena: Option<&'a EvalArena>,
    pub(crate) memo: Option<&'a Memo>,
}

impl<'a> Scope<'a> {
    pub fn new(services: &'a Services) -> Self {
        Scope {
            services,
            evt: None,
            roots: Vec::new(),
            locals: Vec::new(),
            mutations: Vec::new(),
            arena: None,
            memo: None,
        }
    }

    /// Binds `evt`.
    pub fn with_evt(mut self, evt: &'a Event) -> Self {
        self.evt = Some(evt);
        self
    }

    /// Makes writes visible to the rest of the expression that makes them: after `evt.SetMeta`, `UnmarshalJSON`
    /// and the like, `evt` reads a copy with the write applied (the caller still applies
    /// [`Scope::take_mutations`] to the real event). Without an arena, writes are only visible to later
    /// expressions.
    pub fn with_arena(mut self, arena: &'a EvalArena) -> Self {
        self.arena = Some(arena);
        self
    }

    /// Shares the values of memoised sub-expressions with the other evaluations on the same event (see
    /// [`memo`]).
    pub fn with_memo(mut self, memo: &'a Memo) -> Self {
        self.memo = Some(memo);
        self
    }

    /// Records a write to the event; see [`Scope::with_arena`].
    pub(crate) fn record(&mut self, m: Mutation) {
        if let (Some(arena), Some(evt)) = (self.arena, self.evt) {
            let mut copy = evt.clone();
            m.clone().apply(&mut copy);
            self.evt = Some(arena.alloc(copy));
        }
        self.mutations.push(m);
    }

    /// Binds a root variable (`queue`, `leaky`, `signal`, `Alert`, `results`, ...). Binding `evt` to a host event
    /// is the same as [`Scope::with_evt`].
    pub fn bind(&mut self, root: &str, value: Value<'a>) {
        if root == "evt"
            && let Value::Host(h) = &value
            && let Some(e) = h.as_event()
        {
            self.evt = Some(e);
        }
        match self.roots.iter_mut().find(|(n, _)| n == root) {
            Some(slot) => slot.1 = value,
            None => self.roots.push((root.to_string(), value)),
        }
    }

    pub fn services(&self) -> &'a Services {
        self.services
    }

    pub(crate) fn root(&self, name: &str) -> Option<&Value<'a>> {
        self.roots.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    /// The writes recorded by this scope's evaluations, in order; apply them with [`Mutation::apply`].
    pub fn take_mutations(&mut self) -> Vec<Mutation> {
        std::mem::take(&mut self.mutations)
    }
}

/// A write to the event requested by an expression.
#[derive(Clone, Debug, PartialEq)]
pub enum Mutation {
    /// `evt.SetMeta(key, value)`.
    SetMeta(String, String),
    /// `evt.SetParsed(key, value)`.
    SetParsed(String, String),
    /// `UnmarshalJSON(s, evt.Unmarshaled, key)`: `evt.Unmarshaled[key] = value`.
    SetUnmarshaled(String, serde_json::Value),
    /// `ParseKV(s, evt.Unmarshaled, key)`, `ParseKVLax(..)`: the pairs are added to the map `evt.Unmarshaled[key]`,
    /// which is created when missing (and replaced if it is not a map by the time the mutation is applied).
    MergeUnmarshaled(String, serde_json::Map<String, serde_json::Value>),
}

impl Mutation {
    pub fn apply(self, evt: &mut Event) {
        match self {
            Mutation::SetMeta(k, v) => evt.meta.insert(&k, v),
            Mutation::SetParsed(k, v) => evt.parsed.insert(&k, v),
            Mutation::SetUnmarshaled(k, v) => {
                evt.unmarshaled_mut().insert(k, v);
            }
            Mutation::MergeUnmarshaled(k, pairs) => {
                let slot =
                    evt.unmarshaled_mut().entry(k).or_insert_with(|| serde_json::Value::Object(Default::default()));
                match slot {
                    serde_json::Value::Object(m) => m.extend(pairs),
                    other => *other = serde_json::Value::Object(pairs),
                }
            }
        }
    }
}
