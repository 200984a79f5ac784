//! The event that flows through the pipeline, and the alert a scenario builds from events.
//!
//! Field names follow CrowdSec's Go structs (`pipeline.Event`, `pipeline.Line`, `pipeline.RuntimeAlert`,
//! `models.Alert`, `models.Source`, `models.Event`) because user-written filters reference them
//! (`evt.Meta.source_ip`, `evt.Line.Labels.type`, `evt.Overflow.Alert.Source.Value`). The serde names are the Go
//! names too, so an event written as JSON/YAML (`correlator eval --event`, dumps, saved bucket state) reads the way
//! a CrowdSec user expects.
//!
//! What this module is not: it holds data only. Field access from expressions lives in `expr`, parsing in
//! `parser`, alert construction in `scenario`.

use std::collections::BTreeMap;
use std::ptr::NonNull;
use std::sync::Arc;

use chrono::{DateTime, FixedOffset, TimeZone, Utc};
use compact_str::CompactString;
use serde::{Deserialize, Serialize};

mod packed;
use packed::PackedFields;

/// A point in time with the UTC offset it was written with (Go's `time.Time` keeps the offset too, and
/// `MarshaledTime` prints it: `2026-02-12T14:10:21+02:00`).
pub type Timestamp = DateTime<FixedOffset>;

/// Go's zero time, `0001-01-01T00:00:00Z`, which an unset `time.Time` reads as.
pub fn zero_time() -> Timestamp {
    Utc.with_ymd_and_hms(1, 1, 1, 0, 0, 0).single().expect("valid constant date").fixed_offset()
}

/// RFC 3339 the way Go's `time.Time.MarshalText` writes it: nanoseconds only when non-zero (trailing zeros
/// trimmed), `Z` for a zero offset, `+hh:mm` otherwise.
pub fn format_rfc3339(t: &Timestamp) -> String {
    use chrono::SecondsFormat;
    let nanos = t.timestamp_subsec_nanos();
    let s = if nanos == 0 {
        t.to_rfc3339_opts(SecondsFormat::Secs, true)
    } else {
        t.to_rfc3339_opts(SecondsFormat::Nanos, true)
    };
    if nanos == 0 {
        return s;
    }
    // chrono prints 9 digits; Go trims trailing zeros of the fraction.
    let (body, zone) = match s.rfind(['Z', '+', '-']) {
        Some(i) if i > 19 => s.split_at(i),
        _ => return s,
    };
    let trimmed = body.trim_end_matches('0');
    format!("{trimmed}{zone}")
}

/// A field name as maps store it: a `&'static str` for every name known when the configuration is compiled
/// ([`field_key`]) and for the enrichers' names, an owned copy for a name computed at run time. Cloning a static
/// one copies two words (no allocation, no shared counter), and reading its text is the same load for both kinds.
///
/// Two words, not an enum of `&'static str` and `Box<str>` (three: the tag takes a word of its own): a pointer, a
/// 32-bit length and the ownership flag. That makes a map entry (key and value) 40 bytes instead of 48; an sshd
/// event holds about 20 of them, and a bucket keeps events for their sources' whole lifetimes. The length is a
/// plain field (not a bit-packed one) because map lookups compare key lengths entry by entry.
pub struct FieldKey {
    ptr: NonNull<u8>,
    len: u32,
    /// The interned name's number ([`field_key`]), 0 for any other key: a packed map stores it (one to three
    /// bytes) instead of the name or its address. In the two words' spare bytes.
    id: u16,
    /// `ptr` is a `Box<str>` this key owns (else static text).
    owned: bool,
}

// SAFETY: a key is either a shared reference to immutable static text or the sole owner of a boxed copy, both of
// which are Send and Sync; nothing mutates the text.
unsafe impl Send for FieldKey {}
unsafe impl Sync for FieldKey {}

impl FieldKey {
    /// Field names are short; a longer one is cut at a character boundary below 4 GiB (no line is that long).
    fn capped(name: &str) -> &str {
        let mut end = name.len().min(u32::MAX as usize);
        while !name.is_char_boundary(end) {
            end -= 1;
        }
        &name[..end]
    }

    pub const fn from_static(name: &'static str) -> FieldKey {
        assert!(name.len() <= u32::MAX as usize, "a static field name is short");
        // SAFETY: a reference is never null.
        let ptr = unsafe { NonNull::new_unchecked(name.as_ptr() as *mut u8) };
        FieldKey { ptr, len: name.len() as u32, id: 0, owned: false }
    }

    /// A key for a name met at run time (a copy is kept).
    pub fn new(name: &str) -> FieldKey {
        let boxed: Box<str> = FieldKey::capped(name).into();
        let len = boxed.len() as u32;
        // SAFETY: `Box::into_raw` never returns null; `Drop` turns the pointer back into the box.
        let ptr = unsafe { NonNull::new_unchecked(Box::into_raw(boxed) as *mut u8) };
        FieldKey { ptr, len, id: 0, owned: true }
    }

    #[inline]
    pub fn as_str(&self) -> &str {
        // SAFETY: `ptr` and `len` describe the UTF-8 text of a `&'static str` or of the box this key owns, alive as
        // long as the key.
        unsafe { std::str::from_utf8_unchecked(std::slice::from_raw_parts(self.ptr.as_ptr(), self.len as usize)) }
    }

    /// Whether cloning this key copies it without allocating.
    pub fn is_static(&self) -> bool {
        !self.owned
    }

    const fn numbered(mut self, id: u16) -> FieldKey {
        self.id = id;
        self
    }

    /// The number of an interned name ([`field_key`]); 0 for a key made any other way.
    pub fn id(&self) -> u16 {
        self.id
    }

    /// The key of the interned name numbered `id` (as [`field_key`] returned it).
    pub fn interned(id: u16) -> Option<FieldKey> {
        interned_name(id).map(|name| FieldKey::from_static(name).numbered(id))
    }
}

impl Clone for FieldKey {
    #[inline]
    fn clone(&self) -> Self {
        if self.owned {
            FieldKey::new(self.as_str())
        } else {
            FieldKey { ptr: self.ptr, len: self.len, id: self.id, owned: false }
        }
    }
}

impl Drop for FieldKey {
    fn drop(&mut self) {
        if self.owned {
            let text = std::ptr::slice_from_raw_parts_mut(self.ptr.as_ptr(), self.len as usize) as *mut str;
            // SAFETY: an owned key's pointer came from `Box::into_raw` of a `Box<str>` of this length, and is
            // freed only here.
            drop(unsafe { Box::from_raw(text) });
        }
    }
}

impl std::ops::Deref for FieldKey {
    type Target = str;
    #[inline]
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq for FieldKey {
    #[inline]
    fn eq(&self, other: &Self) -> bool {
        // Interned names are compared by address first.
        (self.ptr == other.ptr && self.len == other.len) || self.as_str() == other.as_str()
    }
}

impl Default for FieldKey {
    /// The empty name.
    fn default() -> Self {
        FieldKey::from_static("")
    }
}

impl Serialize for FieldKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for FieldKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = std::borrow::Cow::<'de, str>::deserialize(d)?;
        Ok(FieldKey::new(&name))
    }
}

impl Eq for FieldKey {}

impl PartialEq<str> for FieldKey {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for FieldKey {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl std::fmt::Debug for FieldKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_str(), f)
    }
}

impl std::fmt::Display for FieldKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The key for a field name known when the configuration is compiled: interned and kept for the life of the process
/// (one copy per distinct name, so reloading a configuration does not grow memory), and numbered (`FieldKey::id`)
/// while numbers last. Never call it with names read from logs: they would be kept forever.
pub fn field_key(name: &str) -> FieldKey {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    static NAMES: OnceLock<Mutex<HashMap<&'static str, u16>>> = OnceLock::new();
    let mut names = NAMES.get_or_init(Default::default).lock().unwrap_or_else(|p| p.into_inner());
    let (interned, id) = match names.get_key_value(name) {
        Some((n, id)) => (*n, *id),
        None => {
            let leaked: &'static str = Box::leak(name.into());
            // Numbered in the order first met, from 1; past the last number a name is only interned.
            let id = u16::try_from(names.len() + 1).unwrap_or(0);
            if id != 0 {
                let chunk = NAMES_BY_ID[usize::from(id) / ID_CHUNK]
                    .get_or_init(|| Box::new([const { OnceLock::new() }; ID_CHUNK]));
                let _ = chunk[usize::from(id) % ID_CHUNK].set(leaked);
            }
            names.insert(leaked, id);
            (leaked, id)
        }
    };
    FieldKey::from_static(interned).numbered(id)
}

/// Interned names by number, in chunks made as numbers are handed out: read without a lock (packed maps read
/// their keys' names from here), written under `field_key`'s lock.
const ID_CHUNK: usize = 256;
static NAMES_BY_ID: [std::sync::OnceLock<Box<[std::sync::OnceLock<&'static str>; ID_CHUNK]>>;
    (u16::MAX as usize + 1) / ID_CHUNK] = [const { std::sync::OnceLock::new() }; (u16::MAX as usize + 1) / ID_CHUNK];

/// The interned name numbered `id`; `None` for 0 and for a number not handed out.
pub fn interned_name(id: u16) -> Option<&'static str> {
    let chunk = NAMES_BY_ID[usize::from(id) / ID_CHUNK].get()?;
    chunk[usize::from(id) % ID_CHUNK].get().copied()
}

/// A small string→string map with sorted keys: `Parsed`, `Meta`, `Enriched`, `Line.Labels`.
///
/// Events hold 5–30 entries per map, so a sorted vector beats a hash map on lookups and clones, and it iterates
/// in key order, which alerts need (`models.Event.Meta` is key-sorted) and which makes every dump deterministic.
/// Keys are [`FieldKey`]s, so compiled parsers insert their field names without allocating and without touching a
/// reference count (an `Arc` count shared by every event is a cache line that parsing threads fight over); values
/// are `CompactString`, which keeps up to 24 bytes inline: most captured values (IPs, ports, users, timestamps) then
/// cost no allocation at all. A missing key reads as `""`, Go's zero value for `map[string]string`, through
/// [`FieldMap::get_or_empty`]. A map whose event a bucket keeps is packed into one buffer ([`FieldMap::pack`]).
#[derive(Clone, Default)]
pub struct FieldMap {
    entries: Entries,
    /// Bumped on every change: lets a reader cache something derived from the map and tell cheaply whether it
    /// is still valid (the grok prefilter does).
    generation: u32,
}

/// The two forms of a map's entries. 24 bytes, as the vector alone (the packed form's pointer takes the
/// vector's spare capacity values as its tag), so packing costs no room in the event.
#[derive(Clone)]
enum Entries {
    /// While the event is parsed: indexed, written in place.
    Open(Vec<(FieldKey, CompactString)>),
    /// Read-only, about half the memory (see the `packed` module); a write reopens it.
    Packed(PackedFields),
}

impl Default for Entries {
    fn default() -> Self {
        Entries::Open(Vec::new())
    }
}

impl PartialEq for FieldMap {
    fn eq(&self, other: &Self) -> bool {
        match (&self.entries, &other.entries) {
            (Entries::Open(a), Entries::Open(b)) => a == b,
            _ => self.len() == other.len() && self.iter().eq(other.iter()),
        }
    }
}

impl Eq for FieldMap {}

impl FieldMap {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with_capacity(n: usize) -> Self {
        FieldMap { entries: Entries::Open(Vec::with_capacity(n)), generation: 0 }
    }

    /// Packs the entries into one buffer, for an event that is done being parsed and about to be kept (see
    /// [`Event::compact`]). Not a change: the content and the generation stay. An empty map just gives back its
    /// reserved room.
    pub fn pack(&mut self) {
        if let Entries::Open(v) = &mut self.entries {
            match PackedFields::new(v.iter().map(|(k, v)| (k, v.as_str()))) {
                Some(p) => self.entries = Entries::Packed(p),
                None => *v = Vec::new(),
            }
        }
    }

    /// Whether the map is in its packed form.
    pub fn is_packed(&self) -> bool {
        matches!(self.entries, Entries::Packed(_))
    }

    /// The entries in the form writes need, unpacking them first if they are packed. Buckets never write to
    /// an event they keep; a packed map is written when a scenario filter writes (`evt.SetMeta`) to an event
    /// buckets already took, and then to its own copy.
    #[inline]
    fn open(&mut self) -> &mut Vec<(FieldKey, CompactString)> {
        if let Entries::Packed(p) = &self.entries {
            self.entries = Entries::Open(p.unpack());
        }
        match &mut self.entries {
            Entries::Open(v) => v,
            Entries::Packed(_) => unreachable!("unpacked just above"),
        }
    }

    /// Changes whenever the map changes (wrapping).
    pub fn generation(&self) -> u32 {
        self.generation
    }

    /// Sets each key of `pairs` to its value, as one [`FieldMap::insert_key`] per pair in that order would (of
    /// several pairs of one key, the last wins). `pairs` must come in [`key_order`]; they are merged with the
    /// entries in one pass, instead of a search and a shift of the entries after it per pair (grok captures:
    /// 15 fields into an access-log event's `Parsed`).
    pub fn merge_sorted(&mut self, pairs: impl Iterator<Item = (FieldKey, CompactString)>) {
        self.generation = self.generation.wrapping_add(1);
        let entries = self.open();
        let mut pairs = pairs.peekable();
        if entries.is_empty() {
            // The first grok of an event (the syslog head): nothing to merge with, and the map's own buffer
            // (reserved when the event was made) takes the values, growing at most once. A loop of its own rather
            // than the merge below with an empty `old`: that costs 4 M more instructions on the 20k sshd lines
            // of docs/performance.md (tried in the re-read of the eighth round).
            entries.reserve(pairs.size_hint().0);
            while let Some((key, value)) = pairs.next() {
                if pairs.peek().is_none_or(|(next, _)| next.as_bytes() != key.as_bytes()) {
                    entries.push((key, value));
                }
            }
            return;
        }
        let old = std::mem::take(entries);
        let mut merged = Vec::with_capacity(old.len() + pairs.size_hint().0);
        let mut old = old.into_iter().peekable();
        while let Some((key, value)) = pairs.next() {
            if pairs.peek().is_some_and(|(next, _)| next.as_bytes() == key.as_bytes()) {
                continue;
            }
            while let Some((k, _)) = old.peek() {
                match key_order(k, &key) {
                    std::cmp::Ordering::Less => merged.extend(old.next()),
                    std::cmp::Ordering::Equal => {
                        old.next();
                        break;
                    }
                    std::cmp::Ordering::Greater => break,
                }
            }
            merged.push((key, value));
        }
        merged.extend(old);
        *entries = merged;
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        match &self.entries {
            Entries::Open(v) => find(v, key).map(|i| v[i].1.as_str()),
            Entries::Packed(p) => p.get(key),
        }
    }

    /// Go semantics: a missing key of a `map[string]string` reads as the empty string.
    pub fn get_or_empty(&self, key: &str) -> &str {
        self.get(key).unwrap_or("")
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// Sets `key` to `value`, with a key made by [`field_key`] (copied, never allocated).
    pub fn insert_key(&mut self, key: &FieldKey, value: impl Into<CompactString>) {
        self.set(key, || key.clone(), value.into())
    }

    pub fn insert(&mut self, key: &str, value: impl Into<CompactString>) {
        self.set(key, || FieldKey::new(key), value.into())
    }

    /// Sets `key` to `value`; `new_key` makes the key of a new entry.
    #[inline]
    fn set(&mut self, key: &str, new_key: impl FnOnce() -> FieldKey, value: CompactString) {
        self.generation = self.generation.wrapping_add(1);
        let entries = self.open();
        match position(entries, key) {
            Ok(i) => entries[i].1 = value,
            Err(i) => entries.insert(i, (new_key(), value)),
        }
    }

    /// Sets `key` to `value`, with a name written in the source (no allocation for the key).
    pub fn insert_static(&mut self, key: &'static str, value: impl Into<CompactString>) {
        self.insert_key(&FieldKey::from_static(key), value)
    }

    /// Mutable access to the value of `key`, created empty when missing.
    pub fn entry_mut(&mut self, key: &str) -> &mut CompactString {
        self.generation = self.generation.wrapping_add(1);
        let entries = self.open();
        let i = match position(entries, key) {
            Ok(i) => i,
            Err(i) => {
                entries.insert(i, (FieldKey::new(key), CompactString::default()));
                i
            }
        };
        &mut entries[i].1
    }

    pub fn remove(&mut self, key: &str) -> Option<String> {
        self.generation = self.generation.wrapping_add(1);
        let entries = self.open();
        position(entries, key).ok().map(|i| entries.remove(i).1.into_string())
    }

    pub fn len(&self) -> usize {
        match &self.entries {
            Entries::Open(v) => v.len(),
            Entries::Packed(p) => p.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn clear(&mut self) {
        self.generation = self.generation.wrapping_add(1);
        match &mut self.entries {
            Entries::Open(v) => v.clear(),
            Entries::Packed(_) => self.entries = Entries::default(),
        }
    }

    /// Entries in key order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &str)> + '_ {
        match &self.entries {
            Entries::Open(v) => Iter::Open(v.iter()),
            Entries::Packed(p) => Iter::Packed(p.iter()),
        }
    }

    pub fn keys(&self) -> impl Iterator<Item = &str> + '_ {
        self.iter().map(|(k, _)| k)
    }
}

/// Where `key` is or would go among `entries`. A binary search whose comparisons look at the first 8 bytes as
/// one big-endian number first: most pairs of keys differ there, so few comparisons call memcmp. The linear pass
/// it replaces (which had to find the insertion point with an ordering comparison per entry) cost about 200
/// instructions per insert on an access-log event (about 30 keys in `Parsed`); it was no faster on the smaller
/// maps of sshd events.
fn position(entries: &[(FieldKey, CompactString)], key: &str) -> Result<usize, usize> {
    let kb = key.as_bytes();
    let kh = head(kb);
    entries.binary_search_by(|(k, _)| {
        let b = k.as_bytes();
        head(b).cmp(&kh).then_with(|| b.cmp(kb))
    })
}

/// The index of `key`, for reads: comparing lengths first rejects almost every entry without touching its
/// bytes, and a read needs no insertion point (which costs an ordering comparison per entry).
fn find(entries: &[(FieldKey, CompactString)], key: &str) -> Option<usize> {
    if entries.len() > 24 {
        return position(entries, key).ok();
    }
    let kb = key.as_bytes();
    entries.iter().position(|(k, _)| same_key(k.as_bytes(), kb))
}

/// Whether an entry's key `k` is the key `kb` a reader looks for, both forms of a map matching the same way:
/// lengths first, which rejects almost every entry without touching its bytes; then the address, since a compiled
/// reader's key and the entry's are usually the same interned name ([`field_key`]), which spares the memcmp; then
/// the last byte, since keys of one length often share a prefix (`http_path`, `http_verb`) and one byte compared
/// inline is far cheaper than a call to memcmp; then the text.
#[inline]
fn same_key(k: &[u8], kb: &[u8]) -> bool {
    k.len() == kb.len() && (std::ptr::eq(k.as_ptr(), kb.as_ptr()) || (k.last() == kb.last() && k == kb))
}

/// A [`FieldMap`]'s entries in key order, in either form.
enum Iter<'a> {
    Open(std::slice::Iter<'a, (FieldKey, CompactString)>),
    Packed(packed::Iter<'a>),
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a str, &'a str);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Iter::Open(it) => it.next().map(|(k, v)| (k.as_str(), v.as_str())),
            Iter::Packed(it) => it.next(),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match self {
            Iter::Open(it) => it.size_hint(),
            Iter::Packed(it) => it.size_hint(),
        }
    }
}

impl ExactSizeIterator for Iter<'_> {}

/// The first 8 bytes of `b` as a big-endian number, zero-padded: ordered like `b` itself (a shorter key that is a
/// prefix of a longer one gets a smaller or equal head), equal heads needing the full comparison.
#[inline]
/// The order of a [`FieldMap`]'s keys (byte order, with the first 8 bytes compared as one number first).
pub fn key_order(a: &str, b: &str) -> std::cmp::Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    head(a).cmp(&head(b)).then_with(|| a.cmp(b))
}

fn head(b: &[u8]) -> u64 {
    match b.first_chunk::<8>() {
        Some(first) => u64::from_be_bytes(*first),
        None => b.iter().enumerate().fold(0, |h, (i, &c)| h | u64::from(c) << (56 - 8 * i)),
    }
}

impl std::fmt::Debug for FieldMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<K: AsRef<str>, V: Into<CompactString>> FromIterator<(K, V)> for FieldMap {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut m = FieldMap::new();
        for (k, v) in iter {
            m.insert(k.as_ref(), v);
        }
        m
    }
}

impl Serialize for FieldMap {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(self.len()))?;
        for (k, v) in self.iter() {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

impl<'de> Deserialize<'de> for FieldMap {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Values may be written as numbers or booleans in hand-written event files; keep their text.
        let raw: BTreeMap<String, serde_json::Value> = Deserialize::deserialize(d)?;
        Ok(raw
            .into_iter()
            .map(|(k, v)| {
                let v = match v {
                    serde_json::Value::String(s) => s,
                    serde_json::Value::Null => String::new(),
                    other => other.to_string(),
                };
                (k, v)
            })
            .collect())
    }
}

/// The nested JSON-like tree of `evt.Unmarshaled` (`UnmarshalJSON`, `ParseKV` write here).
pub type JsonMap = serde_json::Map<String, serde_json::Value>;

/// `evt.Type`: a log line, or an overflow (alert) event built by a scenario.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventType {
    #[default]
    #[serde(rename = "log", alias = "LOG")]
    Log,
    #[serde(rename = "overflow", alias = "OVFLW")]
    Overflow,
}

impl EventType {
    /// Go's integer value (`types.LOG = 0`, `types.OVFLW = 1`), what `evt.Type` reads as in expressions.
    pub fn as_int(self) -> i64 {
        match self {
            EventType::Log => 0,
            EventType::Overflow => 1,
        }
    }

    /// What `evt.GetType()` returns.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Log => "log",
            EventType::Overflow => "overflow",
        }
    }
}

/// `evt.ExpectMode`: live events use the wall clock in buckets, time-machine events (replay) their own timestamp.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExpectMode {
    #[default]
    #[serde(rename = "live", alias = "LIVE")]
    Live,
    #[serde(rename = "timemachine", alias = "TIMEMACHINE")]
    TimeMachine,
}

impl ExpectMode {
    pub fn as_int(self) -> i64 {
        match self {
            ExpectMode::Live => 0,
            ExpectMode::TimeMachine => 1,
        }
    }
}

/// `evt.Line`: the raw record as acquisition read it.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(from = "LineFields")]
pub struct Line {
    pub raw: String,
    /// `Src`, `Module`, `Labels` and `Process`: one value per source, shared by its lines (one pointer in every
    /// event instead of five words; see [`Event`]'s size).
    pub origin: Arc<LineOrigin>,
    /// When acquisition read the line (not used by the pipeline logic).
    pub time: Timestamp,
}

/// Where lines come from, as [`Line`] shows it. A parser's statics may change it for one event
/// (`Arc::make_mut` copies it then).
#[derive(Clone, Debug, PartialEq)]
pub struct LineOrigin {
    /// Source id: file path, syslog peer address, `journalctl-…`.
    pub src: Arc<str>,
    /// Datasource kind: `file`, `syslog`, `journalctl`, `stdin`, `command`. Parsing refuses an empty module.
    pub module: Arc<str>,
    /// Labels from `acquis.yaml`; `type` selects the parsers.
    pub labels: Arc<FieldMap>,
    /// `Line.Process`, which acquisition sets for every line.
    pub process: bool,
}

impl LineOrigin {
    pub fn new(src: &str, module: &str, labels: Arc<FieldMap>) -> Arc<LineOrigin> {
        Arc::new(LineOrigin { src: Arc::from(src), module: Arc::from(module), labels, process: true })
    }
}

impl Default for LineOrigin {
    fn default() -> Self {
        LineOrigin { src: Arc::from(""), module: Arc::from(""), labels: Arc::new(FieldMap::new()), process: true }
    }
}

impl Line {
    pub fn new(raw: impl Into<String>, origin: &Arc<LineOrigin>, time: Timestamp) -> Line {
        Line { raw: raw.into(), origin: Arc::clone(origin), time }
    }

    /// `Line.Src`.
    #[inline]
    pub fn src(&self) -> &Arc<str> {
        &self.origin.src
    }

    /// `Line.Module`.
    #[inline]
    pub fn module(&self) -> &str {
        &self.origin.module
    }

    /// `Line.Labels`.
    #[inline]
    pub fn labels(&self) -> &FieldMap {
        &self.origin.labels
    }

    /// `Line.Process`.
    #[inline]
    pub fn process(&self) -> bool {
        self.origin.process
    }

    /// The origin of this line only, to change it.
    pub fn origin_mut(&mut self) -> &mut LineOrigin {
        Arc::make_mut(&mut self.origin)
    }
}

impl Default for Line {
    fn default() -> Self {
        Line { raw: String::new(), origin: Arc::new(LineOrigin::default()), time: zero_time() }
    }
}

/// A [`Line`] as it is read: the Go struct's fields (`Serialize for Line` writes the same).
#[derive(Deserialize)]
#[serde(default)]
struct LineFields {
    #[serde(rename = "Raw")]
    raw: String,
    #[serde(rename = "Src")]
    src: Arc<str>,
    #[serde(rename = "Time")]
    time: Timestamp,
    #[serde(rename = "Labels")]
    labels: Arc<FieldMap>,
    #[serde(rename = "Module")]
    module: Arc<str>,
    #[serde(rename = "Process")]
    process: bool,
}

impl Default for LineFields {
    fn default() -> Self {
        let o = LineOrigin::default();
        LineFields {
            raw: String::new(),
            src: o.src,
            time: zero_time(),
            labels: o.labels,
            module: o.module,
            process: o.process,
        }
    }
}

impl From<LineFields> for Line {
    fn from(f: LineFields) -> Self {
        let origin = LineOrigin { src: f.src, module: f.module, labels: f.labels, process: f.process };
        Line { raw: f.raw, origin: Arc::new(origin), time: f.time }
    }
}

impl Serialize for Line {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("Line", 6)?;
        st.serialize_field("Raw", &self.raw)?;
        st.serialize_field("Src", &*self.origin.src)?;
        st.serialize_field("Time", &self.time)?;
        st.serialize_field("Labels", &*self.origin.labels)?;
        st.serialize_field("Module", &*self.origin.module)?;
        st.serialize_field("Process", &self.origin.process)?;
        st.end()
    }
}

/// `evt`: one log line on its way through the parser stages, or one overflow on its way to the listeners.
///
/// 240 bytes, so that a kept event with its reference counts fills mimalloc's 256-byte size class: a bucket
/// instance keeps its event for its whole life, and a flood of distinct sources keeps one per source. The fields
/// most events never set are in [`EventExtra`], behind one pointer (item 49 of docs/performance.md).
#[derive(Clone, Debug, Deserialize)]
#[serde(from = "EventFields")]
pub struct Event {
    pub kind: EventType,
    pub expect_mode: ExpectMode,
    pub whitelisted: bool,
    /// Parser result: true when the event left the last stage.
    pub process: bool,
    /// Current parser stage (`s01-parse`); empty before parsing starts.
    pub stage: FieldKey,
    pub line: Line,
    /// Grok captures and `parsed:` statics.
    pub parsed: FieldMap,
    /// Enricher outputs and `enriched:` statics.
    pub enriched: FieldMap,
    /// Normalised fields; the part that reaches alerts.
    pub meta: FieldMap,
    /// `WhitelistReason`, `Unmarshaled`, `Overflow`, `StrTimeFormat`, read and written through the methods of the
    /// same names; `None` until one is set.
    pub extra: Option<Box<EventExtra>>,
    /// Event time: set from the log's own date in time-machine mode, else when the line was parsed.
    /// `None` is Go's zero time.
    pub time: Option<Timestamp>,
    /// Raw timestamp text extracted by a parser (`target: evt.StrTime`).
    pub str_time: CompactString,
    /// RFC 3339 time written by the date enricher; required to pour into time-machine buckets.
    pub marshaled_time: CompactString,
}

/// The fields of an [`Event`] that few events set: whitelisted ones, `UnmarshalJSON`/`ParseKV` output, overflows,
/// and parsers that name a date layout.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EventExtra {
    pub whitelist_reason: String,
    /// Nested values written by `UnmarshalJSON` / `ParseKV`.
    pub unmarshaled: JsonMap,
    /// Only for overflow events.
    pub overflow: Option<Box<RuntimeAlert>>,
    /// Optional Go layout for `StrTime`.
    pub str_time_format: String,
}

/// An [`Event`] as it is read (JSON/YAML: `correlator eval --event`, saved bucket state): the Go struct's field
/// names, in its order, as `Serialize for Event` writes them.
#[derive(Default, Deserialize)]
#[serde(default)]
struct EventFields {
    #[serde(rename = "Type")]
    kind: EventType,
    #[serde(rename = "ExpectMode")]
    expect_mode: ExpectMode,
    #[serde(rename = "Whitelisted")]
    whitelisted: bool,
    #[serde(rename = "WhitelistReason")]
    whitelist_reason: String,
    #[serde(rename = "Stage")]
    stage: FieldKey,
    #[serde(rename = "Line")]
    line: Line,
    #[serde(rename = "Parsed")]
    parsed: FieldMap,
    #[serde(rename = "Enriched")]
    enriched: FieldMap,
    #[serde(rename = "Meta")]
    meta: FieldMap,
    #[serde(rename = "Unmarshaled")]
    unmarshaled: JsonMap,
    #[serde(rename = "Overflow")]
    overflow: Option<Box<RuntimeAlert>>,
    #[serde(rename = "Time")]
    time: Option<Timestamp>,
    #[serde(rename = "StrTime")]
    str_time: CompactString,
    #[serde(rename = "StrTimeFormat")]
    str_time_format: String,
    #[serde(rename = "MarshaledTime")]
    marshaled_time: CompactString,
    #[serde(rename = "Process")]
    process: bool,
}

impl From<EventFields> for Event {
    fn from(f: EventFields) -> Self {
        let mut e = Event::with_line(f.line);
        e.kind = f.kind;
        e.expect_mode = f.expect_mode;
        e.whitelisted = f.whitelisted;
        e.stage = f.stage;
        e.parsed = f.parsed;
        e.enriched = f.enriched;
        e.meta = f.meta;
        e.time = f.time;
        e.str_time = f.str_time;
        e.marshaled_time = f.marshaled_time;
        e.process = f.process;
        let extra = EventExtra {
            whitelist_reason: f.whitelist_reason,
            unmarshaled: f.unmarshaled,
            overflow: f.overflow,
            str_time_format: f.str_time_format,
        };
        if extra != EventExtra::default() {
            e.extra = Some(Box::new(extra));
        }
        e
    }
}

impl Serialize for Event {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let fields = if self.overflow().is_some() { 16 } else { 15 };
        let mut st = s.serialize_struct("Event", fields)?;
        st.serialize_field("Type", &self.kind)?;
        st.serialize_field("ExpectMode", &self.expect_mode)?;
        st.serialize_field("Whitelisted", &self.whitelisted)?;
        st.serialize_field("WhitelistReason", self.whitelist_reason())?;
        st.serialize_field("Stage", &self.stage)?;
        st.serialize_field("Line", &self.line)?;
        st.serialize_field("Parsed", &self.parsed)?;
        st.serialize_field("Enriched", &self.enriched)?;
        st.serialize_field("Meta", &self.meta)?;
        st.serialize_field("Unmarshaled", self.unmarshaled())?;
        match self.overflow() {
            Some(o) => st.serialize_field("Overflow", o)?,
            None => st.skip_field("Overflow")?,
        }
        st.serialize_field("Time", &self.time)?;
        st.serialize_field("StrTime", &self.str_time)?;
        st.serialize_field("StrTimeFormat", self.str_time_format())?;
        st.serialize_field("MarshaledTime", &self.marshaled_time)?;
        st.serialize_field("Process", &self.process)?;
        st.end()
    }
}

impl Default for Event {
    fn default() -> Self {
        Event::with_line(Line::default())
    }
}

/// What an event without `extra` reads: every rare field empty.
static NO_EXTRA: std::sync::LazyLock<EventExtra> = std::sync::LazyLock::new(EventExtra::default);

impl PartialEq for Event {
    /// Field by field, `extra` by content: an event without the box and one with a box of empty fields (left by
    /// `set_overflow(None)`, say) are the same event.
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind
            && self.expect_mode == other.expect_mode
            && self.whitelisted == other.whitelisted
            && self.process == other.process
            && self.stage == other.stage
            && self.line == other.line
            && self.parsed == other.parsed
            && self.enriched == other.enriched
            && self.meta == other.meta
            && self.time == other.time
            && self.str_time == other.str_time
            && self.marshaled_time == other.marshaled_time
            && self.extra() == other.extra()
    }
}

impl Event {
    /// A default event holding `line`. Not `Event { line, ..Event::default() }`: that would build and drop a
    /// default `Line` for every log line.
    fn with_line(line: Line) -> Self {
        Event {
            kind: EventType::Log,
            expect_mode: ExpectMode::Live,
            whitelisted: false,
            process: false,
            stage: FieldKey::default(),
            line,
            parsed: FieldMap::new(),
            enriched: FieldMap::new(),
            meta: FieldMap::new(),
            extra: None,
            time: None,
            str_time: CompactString::default(),
            marshaled_time: CompactString::default(),
        }
    }

    /// An overflow event carrying `alert`.
    pub fn overflow_event(alert: RuntimeAlert) -> Self {
        let mut e = Event { kind: EventType::Overflow, ..Event::default() };
        e.set_overflow(Some(alert));
        e
    }

    /// The rarely set fields (all empty when there is no box). The readers of one field below look in the box
    /// themselves where they can: the empty default sits behind a lazy static (an atomic check per read), and the
    /// date enricher reads `StrTimeFormat` on every line.
    pub fn extra(&self) -> &EventExtra {
        self.extra.as_deref().unwrap_or(&NO_EXTRA)
    }

    /// The rarely set fields, made empty on first use.
    pub fn extra_mut(&mut self) -> &mut EventExtra {
        self.extra.get_or_insert_with(Default::default)
    }

    /// `WhitelistReason`: why a whitelist dropped the event.
    pub fn whitelist_reason(&self) -> &str {
        self.extra.as_ref().map_or("", |x| &x.whitelist_reason)
    }

    /// `StrTimeFormat`: the Go layout a parser gave for `StrTime`, empty for none.
    pub fn str_time_format(&self) -> &str {
        self.extra.as_ref().map_or("", |x| &x.str_time_format)
    }

    /// `Unmarshaled`: what `UnmarshalJSON` / `ParseKV` wrote.
    pub fn unmarshaled(&self) -> &JsonMap {
        &self.extra().unmarshaled
    }

    pub fn unmarshaled_mut(&mut self) -> &mut JsonMap {
        &mut self.extra_mut().unmarshaled
    }

    /// `Overflow`: the alert of an overflow event.
    pub fn overflow(&self) -> Option<&RuntimeAlert> {
        self.extra.as_ref().and_then(|x| x.overflow.as_deref())
    }

    pub fn overflow_mut(&mut self) -> Option<&mut RuntimeAlert> {
        self.extra.as_mut().and_then(|x| x.overflow.as_deref_mut())
    }

    pub fn set_overflow(&mut self, alert: Option<RuntimeAlert>) {
        match alert {
            Some(a) => self.extra_mut().overflow = Some(Box::new(a)),
            None => {
                if let Some(x) = &mut self.extra {
                    x.overflow = None;
                }
            }
        }
    }

    /// A log event for one raw line from a source.
    pub fn from_line(line: Line, mode: ExpectMode) -> Self {
        // Sized for a typical parsed line, so the maps do not grow step by step on every event.
        let mut evt = Event::with_line(line);
        evt.expect_mode = mode;
        evt.parsed = FieldMap::with_capacity(16);
        evt.meta = FieldMap::with_capacity(12);
        evt.enriched = FieldMap::with_capacity(2);
        evt
    }

    /// Packs the maps (see [`FieldMap::pack`]) and gives back the room reserved while the event was being parsed
    /// (`from_line` reserves 30 map entries, about 1.2 KB; an sshd failure fills 21) and strings' spare capacity.
    /// For an event a bucket is about to keep: one live instance per attacking address holds it for the bucket's
    /// lifetime, so this is most of the memory a flood of distinct sources takes. The content is unchanged.
    pub fn compact(&mut self) {
        self.parsed.pack();
        self.meta.pack();
        self.enriched.pack();
        self.line.raw.shrink_to_fit();
        self.str_time.shrink_to_fit();
        self.marshaled_time.shrink_to_fit();
    }

    /// `evt.GetMeta(key)`: for an overflow, the first non-empty value among the alert's events (CrowdSec searches
    /// `Overflow.Alert.Events`); for a log event, `Meta[key]` or `""`.
    pub fn get_meta(&self, key: &str) -> &str {
        if self.kind == EventType::Overflow
            && let Some(ovf) = self.overflow()
        {
            for e in &ovf.alert.events {
                if let Some(v) = e.get_meta(key) {
                    return v;
                }
            }
            return "";
        }
        self.meta.get_or_empty(key)
    }

    /// The event time as Go reads it: the zero time when unset.
    pub fn time_or_zero(&self) -> Timestamp {
        self.time.unwrap_or_else(zero_time)
    }
}

/// `models.Source`: who did it. For `Ip` scope `value` is the IP; for `Range` the CIDR; for custom scopes whatever
/// the scenario's scope expression returned.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Source {
    #[serde(rename = "ip", alias = "IP")]
    pub ip: String,
    #[serde(rename = "range", alias = "Range")]
    pub range: String,
    #[serde(rename = "as_name", alias = "AsName")]
    pub as_name: String,
    #[serde(rename = "as_number", alias = "AsNumber")]
    pub as_number: String,
    #[serde(rename = "cn", alias = "Cn")]
    pub cn: String,
    #[serde(rename = "latitude", alias = "Latitude")]
    pub latitude: f64,
    #[serde(rename = "longitude", alias = "Longitude")]
    pub longitude: f64,
    #[serde(rename = "scope", alias = "Scope")]
    pub scope: String,
    #[serde(rename = "value", alias = "Value")]
    pub value: String,
}

/// `models.Event`: one event kept in an alert, reduced to what the API carries: its time and its Meta.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AlertEvent {
    /// `MarshaledTime` of the event (or its `Time`).
    pub timestamp: String,
    /// The event's Meta as a key-sorted list, as the CrowdSec API shapes it.
    pub meta: Vec<MetaItem>,
    /// Correlator: the raw log line of the event (`Line.Raw`), the original record listeners show.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub raw: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetaItem {
    pub key: String,
    pub value: String,
}

impl AlertEvent {
    pub fn get_meta(&self, key: &str) -> Option<&str> {
        self.meta.iter().find(|m| m.key == key).map(|m| m.value.as_str())
    }
}

/// Severity of a Correlator event: how loudly listeners should report it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    #[default]
    Notice,
    Warning,
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Notice => "notice",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }

    pub fn parse(s: &str) -> Option<Severity> {
        match s.to_ascii_lowercase().as_str() {
            "notice" | "info" => Some(Severity::Notice),
            "warning" | "warn" => Some(Severity::Warning),
            "error" | "critical" | "crit" => Some(Severity::Error),
            _ => None,
        }
    }
}

/// `models.Alert`: what a scenario overflow reports, in the shape of CrowdSec's API (`POST /v1/alerts`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Alert {
    pub scenario: String,
    pub scenario_hash: String,
    pub scenario_version: String,
    pub capacity: i64,
    /// Go duration string (`10s`, `1m0s`).
    pub leakspeed: String,
    /// Events poured into the bucket over its life (after `distinct`).
    pub events_count: i64,
    /// RFC 3339: first pour.
    pub start_at: String,
    /// RFC 3339: overflow.
    pub stop_at: String,
    pub simulated: bool,
    pub remediation: bool,
    pub message: String,
    pub kind: String,
    /// The primary source. In a runtime alert it mirrors `RuntimeAlert.sources[key]` (CrowdSec shares the
    /// scope/value storage between the two; see [`RuntimeAlert::set_source_value`]).
    pub source: Option<Source>,
    /// The kept events, in pour order.
    pub events: Vec<AlertEvent>,
    /// Alert context (`context.yaml`): key → JSON-encoded list of values.
    pub meta: Vec<MetaItem>,
    /// The scenario's `labels`, as written.
    pub labels: BTreeMap<String, serde_json::Value>,
    /// Correlator: how serious the alert is (`labels.severity`, default warning for alerts).
    pub severity: Severity,
    /// Correlator: a one-line summary (the scenario's `summary`, or the message).
    pub summary: String,
    /// Correlator: the audit row of a scenario that declares an `audit:` schema.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audit: Option<AuditRecord>,
}

/// One audit event: a row of a declared schema, columns in the schema's order.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Schema name (the CSV file / table it belongs to).
    pub schema: String,
    /// `(column, value)` in the schema's order; a field whose expression failed is empty.
    pub columns: Vec<(String, String)>,
}

impl Alert {
    pub fn scope(&self) -> &str {
        self.source.as_ref().map(|s| s.scope.as_str()).unwrap_or("")
    }

    pub fn value(&self) -> &str {
        self.source.as_ref().map(|s| s.value.as_str()).unwrap_or("")
    }
}

/// `pipeline.RuntimeAlert` (`evt.Overflow`): the overflow as the pipeline carries it, before it is split into one
/// API alert per source.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RuntimeAlert {
    /// The bucket instance key (scenario + groupby value).
    #[serde(rename = "Mapkey")]
    pub mapkey: String,
    #[serde(rename = "BucketId")]
    pub bucket_id: String,
    /// Set by postoverflow whitelists: the alert is not sent.
    #[serde(rename = "Whitelisted")]
    pub whitelisted: bool,
    /// The scenario has `reprocess: true`: the overflow goes back into the scenarios.
    #[serde(rename = "Reprocess")]
    pub reprocess: bool,
    /// Source key (IP, range or custom value) → source.
    #[serde(rename = "Sources")]
    pub sources: BTreeMap<String, Source>,
    /// The first API alert (`APIAlerts[0]`).
    #[serde(rename = "Alert")]
    pub alert: Alert,
    /// The key in `sources` that `alert.source` mirrors.
    #[serde(rename = "SourceKey")]
    pub source_key: String,
}

impl RuntimeAlert {
    /// `GetSources()`: the source keys, sorted (Go map order is random; sorted is the deterministic choice).
    pub fn source_keys(&self) -> Vec<&str> {
        self.sources.keys().map(String::as_str).collect()
    }

    /// Writes `Alert.Source.Value`, keeping `Sources[key]` in step (CrowdSec aliases the two).
    pub fn set_source_value(&mut self, value: String) {
        if let Some(s) = self.sources.get_mut(&self.source_key) {
            s.value = value.clone();
        }
        if let Some(s) = self.alert.source.as_mut() {
            s.value = value;
        }
    }

    /// Writes `Alert.Source.Scope`, keeping `Sources[key]` in step.
    pub fn set_source_scope(&mut self, scope: String) {
        if let Some(s) = self.sources.get_mut(&self.source_key) {
            s.scope = scope.clone();
        }
        if let Some(s) = self.alert.source.as_mut() {
            s.scope = scope;
        }
    }

    /// One API alert per source, as CrowdSec sends them (`APIAlerts`).
    pub fn api_alerts(&self) -> Vec<Alert> {
        if self.sources.len() <= 1 {
            return vec![self.alert.clone()];
        }
        self.sources
            .values()
            .map(|src| {
                let mut a = self.alert.clone();
                a.source = Some(src.clone());
                a
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merging_sorted_pairs_is_inserting_them_one_by_one() {
        let keys = ["http_path", "http_args", "http", "", "zz", "source_ip", "a\u{0}", "a", "http_args_len", "h"];
        // Maps holding every other key, then batches of every subset of a window, each pair present once or
        // twice (the later value must win), merged in key order.
        for start in 0..keys.len() {
            let mut base = FieldMap::new();
            for k in keys.iter().skip(start % 2).step_by(2) {
                base.insert(k, format!("old {k}"));
            }
            for mask in 0u32..64 {
                let window: Vec<&str> =
                    (0..6).filter(|i| mask & (1 << i) != 0).map(|i| keys[(start + i) % keys.len()]).collect();
                let mut batch: Vec<(FieldKey, CompactString)> = Vec::new();
                for (n, k) in window.iter().enumerate() {
                    batch.push((FieldKey::new(k), format!("new {k} {n}").into()));
                    if n % 2 == 0 {
                        batch.push((FieldKey::new(k), format!("newer {k} {n}").into()));
                    }
                }
                batch.sort_by(|a, b| key_order(&a.0, &b.0));
                // Into the base map and into an empty one (the first grok of an event).
                for base in [&base, &FieldMap::new()] {
                    let mut want = base.clone();
                    for (k, v) in &batch {
                        want.insert_key(k, v.clone());
                    }
                    let mut got = base.clone();
                    got.merge_sorted(batch.iter().cloned());
                    assert_eq!(got, want, "start {start}, mask {mask}, base of {}", base.len());
                }
            }
        }
    }

    #[test]
    fn reads_find_interned_and_copied_names_alike() {
        let mut m = FieldMap::new();
        m.insert_key(&field_key("source_ip"), "1.2.3.4");
        m.insert_key(&FieldKey::new("source_iq"), "x");
        let interned = field_key("source_ip");
        assert_eq!(m.get(&interned), Some("1.2.3.4"));
        assert_eq!(m.get(&String::from("source_ip")), Some("1.2.3.4"));
        assert_eq!(m.get(&field_key("source_iq")), Some("x"));
        assert_eq!(m.get("source_i"), None);
    }

    #[test]
    fn inserts_keep_key_order_like_a_btree_map() {
        // Keys sharing 8-byte heads, prefixes of each other, shorter than 8 bytes, empty, and non-ASCII.
        let keys = [
            "http_path",
            "http_args_len",
            "http_args",
            "http_",
            "http",
            "h",
            "",
            "http_user_agent",
            "http_verb",
            "\u{e9}t\u{e9}",
            "zz",
            "source_ip",
            "source_ipv6",
            "http_path",
            "a\u{0}",
            "a",
            "http_args_len2",
        ];
        let mut m = FieldMap::new();
        let mut want = BTreeMap::new();
        // Several insertion orders: forward, backward, and interleaved.
        for (round, order) in [(0..keys.len()).collect::<Vec<_>>(), (0..keys.len()).rev().collect(), {
            let mut v: Vec<usize> = (0..keys.len()).step_by(2).collect();
            v.extend((1..keys.len()).step_by(2));
            v
        }]
        .into_iter()
        .enumerate()
        {
            m.clear();
            want.clear();
            for i in order {
                let v = format!("{round}-{i}");
                m.insert(keys[i], v.as_str());
                want.insert(keys[i].to_string(), v);
                assert!(m.keys().zip(m.keys().skip(1)).all(|(a, b)| a < b), "{:?}", m.keys().collect::<Vec<_>>());
            }
            let got: Vec<(String, String)> = m.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
            assert_eq!(got, want.clone().into_iter().collect::<Vec<_>>());
            for k in keys {
                assert_eq!(m.get(k), want.get(k).map(String::as_str));
            }
            assert_eq!(m.remove("http_args"), Some(want["http_args"].clone()));
            assert_eq!(m.get("http_args"), None);
            assert_eq!(m.get("http_args_len"), Some(want["http_args_len"].as_str()));
        }
    }

    #[test]
    fn a_packed_map_reads_compares_and_serialises_as_the_open_one() {
        let mut open = FieldMap::with_capacity(16);
        open.insert_key(&field_key("source_ip"), "10.0.0.1");
        open.insert_key(&field_key("log_type"), "ssh_failed-auth");
        open.insert("runtime name", "a value longer than the twenty-four bytes kept inline");
        open.insert_static("empty", "");
        let mut packed = open.clone();
        packed.pack();
        assert!(packed.is_packed() && !open.is_packed());
        assert_eq!(packed, open);
        assert_eq!(open, packed);
        assert_eq!(packed.len(), 4);
        assert_eq!(packed.iter().collect::<Vec<_>>(), open.iter().collect::<Vec<_>>());
        assert_eq!(packed.keys().collect::<Vec<_>>(), ["empty", "log_type", "runtime name", "source_ip"]);
        for (k, v) in open.iter() {
            assert_eq!(packed.get(k), Some(v));
        }
        assert_eq!(packed.get("source"), None);
        assert_eq!(packed.get_or_empty("nope"), "");
        assert!(packed.contains_key("empty"));
        assert_eq!(packed.generation(), open.generation());
        assert_eq!(serde_json::to_string(&packed).unwrap(), serde_json::to_string(&open).unwrap());
        assert_eq!(format!("{packed:?}"), format!("{open:?}"));
        // Packing twice changes nothing; an empty map stays open and allocates nothing.
        let again = {
            let mut p = packed.clone();
            p.pack();
            p
        };
        assert_eq!(again, packed);
        let mut empty = FieldMap::with_capacity(12);
        empty.pack();
        assert!(!empty.is_packed() && empty.is_empty());
    }

    #[test]
    fn writing_to_a_packed_map_reopens_it_with_its_keys_as_they_were() {
        let mut m = FieldMap::new();
        m.insert_key(&field_key("b"), "2");
        m.insert("d", "4");
        m.pack();
        let g = m.generation();
        m.insert_key(&field_key("a"), "1");
        assert!(!m.is_packed());
        assert!(m.generation() != g);
        assert_eq!(m.iter().collect::<Vec<_>>(), [("a", "1"), ("b", "2"), ("d", "4")]);
        // The static key is the interned name again (no copy); the run-time one an owned copy.
        let Entries::Open(v) = &m.entries else { unreachable!() };
        assert!(v[1].0.is_static() && !v[2].0.is_static());
        for write in [
            |m: &mut FieldMap| m.insert("c", "3"),
            |m: &mut FieldMap| m.entry_mut("c").push('3'),
            |m: &mut FieldMap| drop(m.remove("b")),
            |m: &mut FieldMap| m.merge_sorted([(field_key("c"), CompactString::from("3"))].into_iter()),
            |m: &mut FieldMap| m.clear(),
        ] {
            let mut p = m.clone();
            p.pack();
            let mut o = m.clone();
            write(&mut p);
            write(&mut o);
            assert!(!p.is_packed());
            assert_eq!(p.iter().collect::<Vec<_>>(), o.iter().collect::<Vec<_>>());
        }
    }

    #[test]
    fn an_event_and_an_instance_fill_their_allocator_size_classes() {
        // mimalloc classes: an event with its two `Arc` counts is a 256-byte block, an instance a 192-byte one
        // (docs/design.md, "Event layout"). A field added past these sizes costs a flood a class more per source.
        assert_eq!(std::mem::size_of::<Event>(), 240);
        assert_eq!(std::mem::size_of::<Line>(), 48);
        assert_eq!(std::mem::size_of::<crate::scenario::instance::Instance>(), 192);
    }

    #[test]
    fn events_are_written_with_the_go_fields_in_order_and_read_back() {
        let labels: FieldMap = [("type", "syslog")].into_iter().collect();
        let origin = LineOrigin::new("/var/log/auth.log", "file", Arc::new(labels));
        let mut e = Event::from_line(Line::new("a raw line", &origin, zero_time()), ExpectMode::TimeMachine);
        e.meta.insert_key(&field_key("source_ip"), "1.2.3.4");
        e.str_time = "Feb 12 14:10:21".into();
        let plain = serde_json::to_string(&e).unwrap();
        let back: Event = serde_json::from_str(&plain).unwrap();
        assert_eq!(back, e);
        assert!(back.extra.is_none(), "nothing rare set, nothing boxed");

        e.extra_mut().whitelist_reason = "private ip".into();
        e.extra_mut().str_time_format = "Jan _2 15:04:05".into();
        e.unmarshaled_mut().insert("k".into(), serde_json::json!({"a": 1}));
        let json = serde_json::to_string(&e).unwrap();
        let keys = [
            "Type",
            "ExpectMode",
            "Whitelisted",
            "WhitelistReason",
            "Stage",
            "Line",
            "Parsed",
            "Enriched",
            "Meta",
            "Unmarshaled",
            "StrTime",
            "StrTimeFormat",
            "MarshaledTime",
        ];
        let at: Vec<usize> = keys.iter().map(|k| json.find(&format!("\"{k}\":")).expect(k)).collect();
        assert!(at.windows(2).all(|w| w[0] < w[1]), "{json}");
        assert!(!json.contains("\"Overflow\""), "no overflow, no field: {json}");
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        let line = &v["Line"];
        assert_eq!(
            (&line["Src"], &line["Module"], &line["Process"]),
            (&"/var/log/auth.log".into(), &"file".into(), &true.into())
        );
        assert_eq!(line["Labels"]["type"], "syslog");
        assert_eq!((&v["WhitelistReason"], &v["StrTimeFormat"]), (&"private ip".into(), &"Jan _2 15:04:05".into()));
        assert_eq!(v["Unmarshaled"]["k"]["a"], 1);
        let back: Event = serde_json::from_str(&json).unwrap();
        assert_eq!(back, e);
        assert_eq!((back.whitelist_reason(), back.str_time_format()), ("private ip", "Jan _2 15:04:05"));
    }

    #[test]
    fn a_line_shares_its_origin_until_a_static_changes_it_for_one_event() {
        let origin = LineOrigin::new("/var/log/auth.log", "file", Arc::default());
        let a = Line::new("one", &origin, zero_time());
        let mut b = Line::new("two", &origin, zero_time());
        assert!(Arc::ptr_eq(&a.origin, &b.origin));
        b.origin_mut().module = Arc::from("syslog");
        assert_eq!((a.module(), b.module()), ("file", "syslog"));
        assert!(Arc::ptr_eq(a.src(), b.src()), "the unchanged parts are still shared");
    }

    #[test]
    fn overflow_and_unmarshaled_read_empty_until_set() {
        let mut e = Event::default();
        assert!(e.overflow().is_none() && e.unmarshaled().is_empty() && e.whitelist_reason().is_empty());
        e.set_overflow(None);
        assert!(e.extra.is_none(), "clearing what is not there allocates nothing");
        let mut cleared = Event::overflow_event(RuntimeAlert::default());
        cleared.kind = EventType::Log;
        cleared.set_overflow(None);
        assert!(cleared.extra.is_some() && cleared == e, "an empty box reads as no box");
        let o = Event::overflow_event(RuntimeAlert::default());
        assert_eq!(o.kind, EventType::Overflow);
        assert!(o.overflow().is_some());
    }

    #[test]
    fn compacting_an_event_keeps_its_content() {
        let mut e = Event::from_line(Line { raw: "a raw line".into(), ..Line::default() }, ExpectMode::TimeMachine);
        e.parsed.insert_key(&field_key("program"), "sshd");
        e.meta.insert_key(&field_key("source_ip"), "10.0.0.1");
        e.enriched.insert("MarshaledTime", "2026-01-01T00:00:00Z");
        e.stage = field_key("s02-enrich");
        e.marshaled_time = "2026-01-01T00:00:00Z".into();
        let before = serde_json::to_value(&e).unwrap();
        e.compact();
        assert!(e.parsed.is_packed() && e.meta.is_packed() && e.enriched.is_packed());
        assert_eq!(serde_json::to_value(&e).unwrap(), before);
        assert_eq!(e.get_meta("source_ip"), "10.0.0.1");
    }

    #[test]
    fn field_keys_are_copied_without_allocating() {
        let short = field_key("source_ip");
        assert!(short.is_static() && short == "source_ip");
        let name = "proxy_alternative_upstream_name";
        let long = field_key(name);
        assert_eq!(long, name);
        // Interned once: a second compile of the same name shares the text, and clones stay static.
        let again = field_key(&String::from(name));
        assert_eq!(long.as_ptr(), again.as_ptr());
        assert!(long.clone().is_static());
        assert!(!FieldKey::new(name).is_static());
        let mut m = FieldMap::new();
        m.insert_key(&long, "v");
        m.insert_key(&short, "1.2.3.4");
        m.insert(name, "w");
        assert_eq!(m.len(), 2);
        assert_eq!(m.get(name), Some("w"));
        assert_eq!(m.keys().collect::<Vec<_>>(), vec![name, "source_ip"]);
    }

    #[test]
    fn owned_field_keys_are_copied_on_clone_and_freed_on_drop() {
        // Two words, so a map entry with its inline value is 40 bytes.
        assert_eq!(std::mem::size_of::<FieldKey>(), 16);
        assert_eq!(std::mem::size_of::<(FieldKey, CompactString)>(), 40);
        let name = String::from("a_field_named_at_run_time");
        let owned = FieldKey::new(&name);
        drop(name);
        let copy = owned.clone();
        assert!(!copy.is_static());
        assert_ne!(copy.as_ptr(), owned.as_ptr());
        drop(owned);
        assert_eq!(copy, "a_field_named_at_run_time");
        let empty = FieldKey::new("");
        assert_eq!((empty.as_str(), empty.clone().as_str(), empty.is_static()), ("", "", false));
        assert_eq!(FieldKey::from_static("").as_str(), "");
        // Sent to and dropped on another thread.
        let keys = [FieldKey::new("x"), field_key("y")];
        let back = std::thread::spawn(move || keys.iter().map(|k| k.to_string()).collect::<Vec<_>>()).join();
        assert_eq!(back.unwrap(), ["x", "y"]);
    }

    #[test]
    fn field_map_is_sorted_and_reads_missing_as_empty() {
        let mut m = FieldMap::new();
        m.insert("source_ip", "1.2.3.4");
        m.insert("log_type", "ssh_failed-auth");
        m.insert("service", "ssh");
        m.insert("log_type", "ssh_invalid-user");
        assert_eq!(m.keys().collect::<Vec<_>>(), ["log_type", "service", "source_ip"]);
        assert_eq!(m.get("log_type"), Some("ssh_invalid-user"));
        assert_eq!(m.get_or_empty("nope"), "");
        assert_eq!(m.remove("service").as_deref(), Some("ssh"));
        assert_eq!(m.len(), 2);
        *m.entry_mut("new") += "x";
        assert_eq!(m.get("new"), Some("x"));
    }

    #[test]
    fn rfc3339_matches_go_marshal_text() {
        let t = DateTime::parse_from_rfc3339("2026-02-12T14:10:21Z").unwrap();
        assert_eq!(format_rfc3339(&t), "2026-02-12T14:10:21Z");
        let t = DateTime::parse_from_rfc3339("2026-02-12T14:10:21.120+02:00").unwrap();
        assert_eq!(format_rfc3339(&t), "2026-02-12T14:10:21.12+02:00");
        assert_eq!(format_rfc3339(&zero_time()), "0001-01-01T00:00:00Z");
    }

    #[test]
    fn event_json_uses_go_field_names() {
        let json =
            r#"{"Meta": {"source_ip": "1.2.3.4", "port": 22}, "Line": {"Raw": "x", "Labels": {"type": "syslog"}}}"#;
        let evt: Event = serde_json::from_str(json).unwrap();
        assert_eq!(evt.meta.get("port"), Some("22"));
        assert_eq!(evt.line.labels().get("type"), Some("syslog"));
        let out = serde_json::to_value(&evt).unwrap();
        assert_eq!(out["Meta"]["source_ip"], "1.2.3.4");
        assert_eq!(out["Type"], "log");
    }

    #[test]
    fn overflow_get_meta_searches_alert_events() {
        let mut ovf = RuntimeAlert::default();
        ovf.alert.events.push(AlertEvent {
            timestamp: String::new(),
            meta: vec![MetaItem { key: "service".into(), value: "ssh".into() }],
            ..AlertEvent::default()
        });
        let evt = Event::overflow_event(ovf);
        assert_eq!(evt.get_meta("service"), "ssh");
        assert_eq!(evt.get_meta("other"), "");
    }

    #[test]
    fn source_aliasing_keeps_both_views_in_step() {
        let mut ovf = RuntimeAlert::default();
        let src = Source { ip: "::1".into(), scope: "Ip".into(), value: "::1".into(), ..Source::default() };
        ovf.sources.insert("::1".into(), src.clone());
        ovf.source_key = "::1".into();
        ovf.alert.source = Some(src);
        ovf.set_source_value("::/64".into());
        ovf.set_source_scope("Range".into());
        assert_eq!(ovf.sources["::1"].value, "::/64");
        assert_eq!(ovf.alert.scope(), "Range");
    }
}
