//! The read-only form a [`FieldMap`](super::FieldMap) takes once a bucket keeps its event: every entry in one
//! byte buffer, in the map's key order, after a count of the entries. A key is kept as its number when it has one
//! (an interned name, [`field_key`]: every name compiled parsers and enrichers write) or as a 0, its length and
//! its text (a name met at run time); a value as its length and its text. Numbers and lengths are LEB128.
//!
//! Why: a flood of distinct sources leaves one live bucket instance per source, each holding the event it was
//! poured, for the bucket's whole life. In the parsing form an entry takes 40 bytes (a 16-byte key, a 24-byte
//! inline value) whatever its length; an sshd failure's `Parsed` (12 fields) and `Meta` (8) take 800 bytes that
//! way and about 260 packed, most of it the values' text. A key's number takes one to three bytes where its
//! address took eight (item 49 of docs/performance.md), and reads as the interned name, whose address is the one a
//! compiled reader's key has, so a read matches it as the parsing form does. A read walks the entries, which is
//! slower than the parsing form's search on a long map, so only events that are done being parsed are packed; a
//! write turns the map back into the parsing form (`FieldMap::open`).

use super::{FieldKey, field_key, interned_name, same_key};

/// Tag of an entry whose key is written out (a name met at run time, or interned past the last number).
const TEXT: usize = 0;

/// The entries of a packed map. Never empty: an empty map stays in the parsing form, which allocates nothing.
#[derive(Clone, PartialEq, Eq)]
pub struct PackedFields(Box<[u8]>);

/// Writes `n` at `at` in `buf`; the index after it.
#[inline]
fn put_len_at(buf: &mut [u8], mut at: usize, mut n: usize) -> usize {
    while n >= 0x80 {
        buf[at] = (n as u8 & 0x7f) | 0x80;
        n >>= 7;
        at += 1;
    }
    buf[at] = n as u8;
    at + 1
}

/// Writes `field`'s length and bytes at `at` in `buf`; the index after them.
#[inline]
fn put_field_at(buf: &mut [u8], at: usize, field: &[u8]) -> usize {
    let at = put_len_at(buf, at, field.len());
    buf[at..at + field.len()].copy_from_slice(field);
    at + field.len()
}

/// Bytes a field takes: its length, then its text.
#[inline]
fn field_size(s: &str) -> usize {
    len_size(s.len()) + s.len()
}

#[inline]
fn len_size(mut n: usize) -> usize {
    let mut size = 1;
    while n >= 0x80 {
        n >>= 7;
        size += 1;
    }
    size
}

/// A length at the head of `b` and the bytes after it. `b` was written by [`put_len_at`], so it holds a whole
/// length (the fallbacks to 0 keep a corrupt buffer from reading out of bounds; none is ever built).
#[inline]
fn take_len(b: &[u8]) -> (usize, &[u8]) {
    match b.split_first() {
        Some((&first, rest)) if first < 0x80 => (first as usize, rest),
        _ => {
            let mut n = 0usize;
            for (i, &byte) in b.iter().enumerate().take(10) {
                n |= ((byte & 0x7f) as usize) << (7 * i);
                if byte < 0x80 {
                    return (n, &b[i + 1..]);
                }
            }
            (0, &[])
        }
    }
}

/// A length-prefixed field at the head of `b`, and the bytes after it.
#[inline]
fn take_field(b: &[u8]) -> (&[u8], &[u8]) {
    let (n, rest) = take_len(b);
    rest.split_at(n.min(rest.len()))
}

/// Text of a field. Every field was copied from a `&str` and is cut at the lengths written with it.
#[inline]
fn text(b: &[u8]) -> &str {
    // SAFETY: `PackedFields::new` copies whole `&str`s, each after its own length, and readers split the buffer
    // at exactly those lengths (nothing else can build or change the buffer), so every field is valid UTF-8.
    unsafe { std::str::from_utf8_unchecked(b) }
}

/// The key of an entry as stored.
#[derive(Clone, Copy)]
enum Key<'a> {
    /// The number of an interned name.
    Id(u16),
    Text(&'a [u8]),
}

impl<'a> Key<'a> {
    /// The key's bytes: an interned name lives for the whole process, so it outlives any map.
    #[inline]
    fn bytes(self) -> &'a [u8] {
        match self {
            // Every number stored was handed out before (`key_id`); the fallback keeps a read total.
            Key::Id(id) => interned_name(id).unwrap_or("").as_bytes(),
            Key::Text(k) => k,
        }
    }

    /// The key as a map of the parsing form holds it: an interned name is referenced again, not copied.
    fn to_field_key(self) -> FieldKey {
        match self {
            Key::Id(id) => FieldKey::interned(id).unwrap_or_default(),
            Key::Text(k) => FieldKey::new(text(k)),
        }
    }
}

/// The number `k` is stored as, 0 for none. A name written in Correlator's source (`FieldKey::from_static`, as
/// enrichers name their fields) is interned to get one: there are few such names. A name made at run time is not
/// (it may come from a log line, and interned names are kept forever).
#[inline]
fn key_id(k: &FieldKey) -> u16 {
    match k.id() {
        0 if k.is_static() => source_name_id(k),
        id => id,
    }
}

/// The number of a name written in Correlator's source, remembered per thread by the text's address: `field_key`
/// takes a lock and hashes the name, twice per entry packed (sizing, then writing), and the date enricher's
/// `MarshaledTime` is in every sshd event (1.4 % of a flood's instructions went there).
#[cold]
fn source_name_id(k: &FieldKey) -> u16 {
    use std::cell::RefCell;
    thread_local! {
        static IDS: RefCell<Vec<(usize, usize, u16)>> = const { RefCell::new(Vec::new()) };
    }
    let at = (k.as_ptr().addr(), k.len());
    IDS.with_borrow_mut(|ids| match ids.iter().find(|(p, l, _)| (*p, *l) == at) {
        Some(&(_, _, id)) => id,
        None => {
            let id = field_key(k).id();
            // Bounded: these names are a handful of constants, but nothing here depends on that.
            if ids.len() < 64 {
                ids.push((at.0, at.1, id));
            }
            id
        }
    })
}

/// The key of the entry at the head of `b` and the bytes after it; `None` at the end of the buffer.
#[inline]
fn take_key(b: &[u8]) -> Option<(Key<'_>, &[u8])> {
    if b.is_empty() {
        return None;
    }
    let (tag, rest) = take_len(b);
    if tag == TEXT {
        let (k, rest) = take_field(rest);
        return Some((Key::Text(k), rest));
    }
    // Only numbers of `u16` were written.
    Some((Key::Id(tag as u16), rest))
}

impl PackedFields {
    /// Packs `entries` (in key order, keys distinct); `None` when there is none.
    pub fn new<'a>(entries: impl ExactSizeIterator<Item = (&'a FieldKey, &'a str)> + Clone) -> Option<PackedFields> {
        let count = entries.len();
        if count == 0 {
            return None;
        }
        let size = entries.clone().fold(len_size(count), |size, (k, v)| {
            let key = match key_id(k) {
                0 => 1 + field_size(k),
                id => len_size(id.into()),
            };
            size + key + field_size(v)
        });
        // Written in place through a cursor into a buffer of the exact size: pushing onto a vector checked its
        // room at every byte and cost about as much again as the copies.
        let mut buf = vec![0u8; size].into_boxed_slice();
        let mut at = put_len_at(&mut buf, 0, count);
        for (k, v) in entries {
            at = match key_id(k) {
                0 => {
                    buf[at] = TEXT as u8;
                    put_field_at(&mut buf, at + 1, k.as_bytes())
                }
                id => put_len_at(&mut buf, at, id.into()),
            };
            at = put_field_at(&mut buf, at, v.as_bytes());
        }
        debug_assert_eq!(at, size);
        Some(PackedFields(buf))
    }

    pub fn len(&self) -> usize {
        take_len(&self.0).0
    }

    /// The value of `key`, matched as the parsing form matches it (`same_key`: a numbered key reads as the
    /// interned name, whose address a compiled reader's key has). Not inlined into `FieldMap::get`, whose
    /// parsing-form search is on every line's hot path.
    #[inline(never)]
    pub fn get(&self, key: &str) -> Option<&str> {
        let kb = key.as_bytes();
        let mut rest = take_len(&self.0).1;
        while let Some((k, after)) = take_key(rest) {
            let (v, after) = take_field(after);
            if same_key(k.bytes(), kb) {
                return Some(text(v));
            }
            rest = after;
        }
        None
    }

    /// The entries in the parsing form. Off the hot path: see `FieldMap::open` for when a packed map is written.
    #[cold]
    #[inline(never)]
    pub fn unpack(&self) -> Vec<(FieldKey, compact_str::CompactString)> {
        let mut rest = take_len(&self.0).1;
        let mut out = Vec::with_capacity(self.len());
        while let Some((k, after)) = take_key(rest) {
            let (v, after) = take_field(after);
            out.push((k.to_field_key(), text(v).into()));
            rest = after;
        }
        out
    }

    pub fn iter(&self) -> Iter<'_> {
        let (left, rest) = take_len(&self.0);
        Iter { rest, left }
    }

    /// Bytes held on the heap.
    #[cfg(test)]
    fn heap_size(&self) -> usize {
        self.0.len()
    }
}

/// Entries of a [`PackedFields`] in key order.
#[derive(Clone)]
pub struct Iter<'a> {
    rest: &'a [u8],
    left: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a str, &'a str);

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let (k, after) = take_key(self.rest)?;
        let (v, after) = take_field(after);
        self.rest = after;
        Some((text(k.bytes()), text(v)))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl ExactSizeIterator for Iter<'_> {}

#[cfg(test)]
mod tests {
    use super::*;

    fn pack(entries: &[(FieldKey, &str)]) -> PackedFields {
        PackedFields::new(entries.iter().map(|(k, v)| (k, *v))).unwrap()
    }

    #[test]
    fn packs_and_reads_back_every_entry_in_order() {
        let long = "v".repeat(300); // a length that takes two bytes
        let entries = [
            (FieldKey::new(""), "empty key"),
            (field_key("a"), ""),
            (field_key("log_type"), "ssh_failed-auth"),
            (FieldKey::from_static("a_name_written_in_the_source"), "x"),
            (FieldKey::new("source_ip"), long.as_str()),
            (field_key("é"), "ünï"),
        ];
        let p = pack(&entries);
        assert_eq!(p.len(), 6);
        assert_eq!(p.iter().len(), 6);
        let want: Vec<(&str, &str)> = entries.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        assert_eq!(p.iter().collect::<Vec<_>>(), want);
        for (k, v) in &want {
            assert_eq!(p.get(k), Some(*v), "{k}");
            // Found by text too, not only by the interned name's address.
            let copy = String::from(*k);
            assert_eq!(p.get(&copy), Some(*v), "{k}");
        }
        assert_eq!(p.get("source"), None);
        assert_eq!(p.get("log_typ"), None);
        assert_eq!(p.get("log_typf"), None);
        assert_eq!(p.get("k"), None);
        // count; per entry the key's number, or a 0 then its length and text (a run-time name); then the value's
        // length (one byte or two) and text. A name written in the source was numbered when packed.
        let id = |name: &str| len_size(field_key(name).id().into());
        assert_ne!(field_key("a_name_written_in_the_source").id(), 0);
        let sizes = [
            1 + 1 + 1 + 9,
            id("a") + 1,
            id("log_type") + 1 + 15,
            id("a_name_written_in_the_source") + 1 + 1,
            1 + 1 + 9 + 2 + 300,
            id("é") + 1 + 5,
        ];
        assert_eq!(p.heap_size(), 1 + sizes.iter().sum::<usize>());
    }

    #[test]
    fn unpacked_keys_are_interned_or_owned() {
        let entries =
            [(field_key("a"), "1"), (FieldKey::from_static("b_in_the_source"), "2"), (FieldKey::new("c"), "3")];
        let p = pack(&entries);
        let mut rest = take_len(&p.0).1;
        let mut keys = Vec::new();
        while let Some((k, after)) = take_key(rest) {
            keys.push(k.to_field_key());
            rest = take_field(after).1;
        }
        assert_eq!(keys, entries.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>());
        // The interned name itself, as compiled readers hold it: matched by address.
        assert!(keys[0].is_static() && std::ptr::eq(keys[0].as_ptr(), field_key("a").as_ptr()));
        assert_eq!(keys[0].id(), field_key("a").id());
        assert!(keys[1].is_static() && keys[1].id() == field_key("b_in_the_source").id());
        assert!(!keys[2].is_static() && keys[2].id() == 0);
    }

    #[test]
    fn numbers_read_back_as_the_names_they_were_given_to() {
        let k = field_key("a_numbered_name");
        assert_ne!(k.id(), 0);
        assert_eq!(interned_name(k.id()), Some("a_numbered_name"));
        assert_eq!(FieldKey::interned(k.id()).map(|k| k.id()), Some(k.id()));
        assert_eq!(interned_name(0), None);
        assert_eq!(FieldKey::new("a_numbered_name").id(), 0);
    }

    #[test]
    fn nothing_to_pack_is_none() {
        assert!(PackedFields::new(std::iter::empty()).is_none());
    }

    #[test]
    fn lengths_round_trip_at_their_byte_boundaries() {
        for n in [0usize, 1, 127, 128, 16_383, 16_384, 2_097_151, 2_097_152, u32::MAX as usize] {
            let mut b = vec![0xAA; len_size(n) + 1];
            assert_eq!(put_len_at(&mut b, 0, n), len_size(n), "{n}");
            assert_eq!(take_len(&b), (n, &[0xAA][..]), "{n}");
        }
        // A truncated length reads as 0 with nothing after it, never out of bounds.
        assert_eq!(take_len(&[0x80, 0x80]), (0, &[][..]));
        assert_eq!(take_field(&[5, b'a']), (&b"a"[..], &[][..]));
    }
}
