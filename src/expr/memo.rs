//! Per-event memo of pure string sub-expressions shared by the scenario filters.
//!
//! The http scenarios each recompute `Upper(evt.Meta.http_path)` or `Upper(PathUnescape(evt.Meta.http_path))`,
//! some several times in one filter: 35 filters, one event, the same uppercase copy made a dozen times. Filters
//! compiled with [`CompileEnv::with_memo`](super::CompileEnv::with_memo) give every such call (a pure helper of
//! `evt` fields and constants, see `compile::memo_key`) a slot in the pipeline's [`MemoTable`], by its canonical
//! text; the pour loop hands each event a fresh [`Memo`], so the first filter that needs the value computes it and
//! the others read it.
//!
//! Correctness rests on two rules: a slot is only read for the event the memo was made for (an expression that
//! wrote to the event reads a copy, which misses), and the pour loop starts a new memo after applying a filter's
//! writes to the event. Only string results are kept; anything else is recomputed.

use std::cell::OnceCell;
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::event::Event;

/// Slot numbers by canonical sub-expression text, for one pipeline's compiled filters. Slots are allocated while
/// compiling; the pour loop reads only the length, once per event, hence an atomic beside the locked map.
#[derive(Debug, Default)]
pub struct MemoTable {
    slots: Mutex<HashMap<String, usize>>,
    len: AtomicUsize,
}

impl MemoTable {
    /// The slot of `key`, allocated on first use.
    pub(crate) fn slot(&self, key: &str) -> usize {
        let mut map = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        let next = map.len();
        let slot = *map.entry(key.to_string()).or_insert(next);
        self.len.store(map.len(), Ordering::Release);
        slot
    }

    pub fn len(&self) -> usize {
        self.len.load(Ordering::Acquire)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The memoised values of one event.
pub struct Memo {
    evt: *const Event,
    slots: Box<[OnceCell<String>]>,
}

impl Memo {
    /// An empty memo for `evt` with `slots` slots (the table's length when the event is poured).
    pub fn new(evt: &Event, slots: usize) -> Self {
        Memo { evt: evt as *const Event, slots: (0..slots).map(|_| OnceCell::new()).collect() }
    }

    /// The cell of `slot` when `evt` is the event this memo is for.
    pub(crate) fn cell(&self, evt: Option<&Event>, slot: usize) -> Option<&OnceCell<String>> {
        let evt = evt?;
        if !std::ptr::eq(evt, self.evt) {
            return None;
        }
        self.slots.get(slot)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::Memo;
    use crate::event::Event;
    use crate::expr::{CompileEnv, EvalArena, Scope, Services, compile};

    fn event(path: &str) -> Event {
        let mut e = Event::default();
        e.meta.insert("http_path", path);
        e
    }

    #[test]
    fn shared_sub_expressions_get_one_slot_and_the_same_answers() {
        let services = Arc::new(Services::new());
        let env = CompileEnv::for_event(Arc::clone(&services)).with_memo();
        let a = compile("Upper(evt.Meta.http_path) contains '/ADMIN'", &env).unwrap();
        let b = compile(
            "Upper( evt.Meta['http_path'] ) startsWith '/X' or Upper(evt.Meta.http_path) endsWith '.PHP'",
            &env,
        )
        .unwrap();
        let c = compile("Upper(PathUnescape(evt.Meta.http_path)) contains '/ADMIN'", &env).unwrap();
        // Upper(evt.Meta.http_path), PathUnescape(evt.Meta.http_path) and Upper of the latter.
        assert_eq!(services.memo.len(), 3);
        for (path, want) in
            [("/admin/x.php", [true, true, true]), ("/%61dmin", [false, false, true]), ("/x", [false, true, false])]
        {
            let evt = event(path);
            let memo = Memo::new(&evt, services.memo.len());
            let got: Vec<bool> = [&a, &b, &c]
                .iter()
                .map(|p| p.eval_bool(&mut Scope::new(&services).with_evt(&evt).with_memo(&memo)).unwrap())
                .collect();
            let plain: Vec<bool> =
                [&a, &b, &c].iter().map(|p| p.eval_bool(&mut Scope::new(&services).with_evt(&evt)).unwrap()).collect();
            assert_eq!(got, want, "{path}");
            assert_eq!(plain, want, "{path}");
        }
    }

    #[test]
    fn a_memo_is_only_read_for_its_own_event() {
        let services = Arc::new(Services::new());
        let env = CompileEnv::for_event(Arc::clone(&services)).with_memo();
        let p = compile("Upper(evt.Meta.http_path)", &env).unwrap();
        let (first, second) = (event("/a"), event("/b"));
        let memo = Memo::new(&first, services.memo.len());
        let read =
            |evt: &Event| p.eval(&mut Scope::new(&services).with_evt(evt).with_memo(&memo)).unwrap().to_go_string();
        assert_eq!(read(&first), "/A");
        assert_eq!(read(&second), "/B");
        // A write earlier in the same expression makes `evt` a copy: the memo is not consulted for it.
        let w = compile("evt.SetMeta('http_path', '/c') && Upper(evt.Meta.http_path) == '/C'", &env).unwrap();
        let arena = EvalArena::new();
        assert!(w.eval_bool(&mut Scope::new(&services).with_evt(&first).with_arena(&arena).with_memo(&memo)).unwrap());
    }

    #[test]
    fn only_pure_helpers_of_event_fields_are_memoised() {
        let services = Arc::new(Services::new());
        let env = CompileEnv::for_event(Arc::clone(&services)).with_memo();
        for src in [
            "any(['a'], { Upper(#) == 'A' })",
            "let evt2 = evt; Upper(evt2.Meta.x) == ''",
            "Upper('const') == 'CONST'",
            "Upper(evt.GetMeta('x')) == ''",
            "Upper(evt.Meta.x + 'a') == 'A'",
        ] {
            compile(src, &env).unwrap_or_else(|e| panic!("{src}: {e}"));
        }
        assert_eq!(services.memo.len(), 0);
        // Without `with_memo`, nothing is memoised either.
        compile("Upper(evt.Meta.x) == ''", &CompileEnv::for_event(Arc::clone(&services))).unwrap();
        assert_eq!(services.memo.len(), 0);
    }
}
