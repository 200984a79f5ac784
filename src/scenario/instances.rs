//! The live instances of one scenario family, found by their groupby value.
//!
//! A hash table of boxed instances hashed on the key each instance already holds, rather than a map from a copy
//! of the key to the instance: a slot is one pointer (8 bytes) instead of key and pointer (32). A flood of
//! distinct sources creates one instance per source in every scenario it matches, and a table sized for a million
//! of them has two million slots; with a key copy in each, the slots alone took 66 MB per scenario, and twice that
//! while the table grew. All tables hash with one process-wide seed ([`key_hash`]), so a queued timer can find its
//! instance by hash and id without a copy of the key (item 49 of docs/performance.md).

use compact_str::CompactString;
use foldhash::fast::RandomState;
use hashbrown::HashTable;
use hashbrown::hash_table::Entry;
use std::hash::BuildHasher;
use std::sync::LazyLock;

use super::instance::Instance;

/// The hasher of every instance table, seeded at random once per process (groupby values come from logs: a fixed
/// seed would let an attacker pick colliding keys).
static HASHER: LazyLock<RandomState> = LazyLock::new(RandomState::default);

/// The hash an instance table files the instance of `key` under.
#[inline]
pub fn key_hash(key: &str) -> u64 {
    HASHER.hash_one(key)
}

#[derive(Default)]
pub struct InstanceMap {
    table: HashTable<Box<Instance>>,
}

impl InstanceMap {
    fn hash(&self, key: &str) -> u64 {
        key_hash(key)
    }

    /// The instance numbered `id` filed under `hash` (its key's [`key_hash`]), as a queued timer finds it.
    pub fn get_mut_by_id(&mut self, hash: u64, id: u64) -> Option<&mut Instance> {
        self.table.find_mut(hash, |i| i.id == id).map(|b| &mut **b)
    }

    pub fn remove_by_id(&mut self, hash: u64, id: u64) -> Option<Box<Instance>> {
        self.table.find_entry(hash, |i| i.id == id).ok().map(|e| e.remove().0)
    }

    pub fn len(&self) -> usize {
        self.table.len()
    }

    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    pub fn get(&self, key: &str) -> Option<&Instance> {
        self.table.find(self.hash(key), |i| i.key == key).map(|b| &**b)
    }

    pub fn get_mut(&mut self, key: &str) -> Option<&mut Instance> {
        let h = self.hash(key);
        self.table.find_mut(h, |i| i.key == key).map(|b| &mut **b)
    }

    pub fn remove(&mut self, key: &str) -> Option<Box<Instance>> {
        let h = self.hash(key);
        self.table.find_entry(h, |i| i.key == key).ok().map(|e| e.remove().0)
    }

    /// The instance for `key`, made by `make` from the key when there is none (the key moves into it).
    pub fn get_or_insert_with(
        &mut self,
        key: CompactString,
        make: impl FnOnce(CompactString) -> Instance,
    ) -> &mut Instance {
        let h = self.hash(&key);
        match self.table.entry(h, |i| i.key == key, |i| key_hash(&i.key)) {
            Entry::Occupied(o) => o.into_mut(),
            Entry::Vacant(v) => {
                let inst = Box::new(make(key));
                v.insert(inst).into_mut()
            }
        }
    }

    /// Adds `inst`, replacing an instance with the same key.
    pub fn insert(&mut self, inst: Box<Instance>) {
        let h = self.hash(&inst.key);
        match self.table.entry(h, |i| i.key == inst.key, |i| key_hash(&i.key)) {
            Entry::Occupied(mut o) => *o.get_mut() = inst,
            Entry::Vacant(v) => {
                v.insert(inst);
            }
        }
    }

    pub fn values(&self) -> impl Iterator<Item = &Instance> {
        self.table.iter().map(|b| &**b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::ExpectMode;
    use crate::scenario::compile::Scenario;
    use crate::scenario::tests::scenarios;

    fn inst(sc: &Scenario, key: &str, id: u64) -> Instance {
        Instance::new(sc, 0, CompactString::from(key), ExpectMode::Live, id)
    }

    #[test]
    fn finds_inserts_replaces_and_removes_by_key() {
        let (scs, _) = scenarios(
            "type: leaky\nname: t/bf\ndescription: d\nfilter: 'true'\ngroupby: evt.Meta.source_ip\ncapacity: 5\nleakspeed: 10s\n",
        );
        let sc = &scs[0];
        let mut m = InstanceMap::default();
        assert!(m.get("1.2.3.4").is_none());
        m.get_or_insert_with("1.2.3.4".into(), |k| inst(sc, &k, 1));
        // Present: `make` is not called.
        let got = m.get_or_insert_with("1.2.3.4".into(), |_| unreachable!("present"));
        assert_eq!(got.id, 1);
        // Many keys, so the table grows and rehashes on the instances' own keys.
        for i in 0..1000u64 {
            let k = format!("10.0.{}.{}", i / 256, i % 256);
            m.get_or_insert_with(k.as_str().into(), |k| inst(sc, &k, 100 + i));
        }
        assert_eq!(m.len(), 1001);
        assert_eq!(m.get("10.0.3.231").map(|i| i.id), Some(100 + 999));
        m.get_mut("10.0.0.7").unwrap().total_count = 5;
        assert_eq!(m.get("10.0.0.7").unwrap().total_count, 5);
        m.insert(Box::new(inst(sc, "10.0.0.7", 7)));
        assert_eq!(m.len(), 1001);
        assert_eq!(m.get("10.0.0.7").map(|i| (i.id, i.total_count)), Some((7, 0)));
        assert_eq!(m.remove("1.2.3.4").map(|i| i.id), Some(1));
        assert!(m.remove("1.2.3.4").is_none());
        assert_eq!(m.values().count(), 1000);
        // A key longer than the 24 bytes kept inline.
        let long = "a-user-name-longer-than-twenty-four-bytes/10.0.0.1";
        m.get_or_insert_with(long.into(), |k| inst(sc, &k, 2));
        assert_eq!(m.get(long).map(|i| i.id), Some(2));
        // By hash and id, as timers find them; a stale id finds nothing.
        let h = key_hash("10.0.0.8");
        assert_eq!(m.get_mut_by_id(h, 100 + 8).map(|i| i.key.to_string()), Some("10.0.0.8".into()));
        assert!(m.get_mut_by_id(h, 7).is_none());
        assert_eq!(m.remove_by_id(h, 100 + 8).map(|i| i.id), Some(108));
        assert!(m.get("10.0.0.8").is_none() && m.remove_by_id(h, 108).is_none());
    }
}
