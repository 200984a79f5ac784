//! The read-only form a [`FieldMap`](super::FieldMap) takes once a bucket keeps its event: every entry in one
//! byte buffer, in the map's key order, after a count of the entries. A key written in the configuration (a
//! `&'static str`, as compiled parsers and enrichers insert them) is kept as its length (one byte) and its address
//! (8 bytes on a 64-bit machine), any other key as [`OWNED`], its length and its text; a value as its length and
//! its text. Lengths are LEB128.
//!
//! Why: a flood of distinct sources leaves one live bucket instance per source, each holding the event it was
//! poured, for the bucket's whole life. In the parsing form an entry takes 40 bytes (a 16-byte key, a 24-byte
//! inline value) whatever its length; an sshd failure's `Meta` (6 fields) and `Parsed` (4) took 400 bytes that way
//! and take about 170 packed. Keeping the static keys' addresses rather than their text makes packing one copy
//! per entry (the value's), and lets a read match a compiled reader's key by its address, as the parsing form
//! does. A read walks the entries, which is slower than the parsing form's search on a long map, so only events
//! that are done being parsed are packed; a write turns the map back into the parsing form (`FieldMap::open`).

use super::{FieldKey, same_key};

/// Tag of an entry whose key is written out (a name met at run time, or a static one of 255 bytes or more).
const OWNED: u8 = 255;

/// Bytes of a static key's address.
const ADDR: usize = std::mem::size_of::<usize>();

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
    /// Length and address of a `&'static str`.
    Static(usize, usize),
    Owned(&'a [u8]),
}

impl<'a> Key<'a> {
    /// The key's bytes: a static key's text lives for the whole process, so it outlives any map.
    #[inline]
    fn bytes(self) -> &'a [u8] {
        match self {
            Key::Static(len, at) => static_bytes(len, at),
            Key::Owned(k) => k,
        }
    }

    /// The key as a map of the parsing form holds it: static text is referenced again, not copied.
    fn to_field_key(self) -> FieldKey {
        match self {
            Key::Static(len, at) => FieldKey::from_static(text(static_bytes(len, at))),
            Key::Owned(k) => FieldKey::new(text(k)),
        }
    }
}

/// The text of a static key whose entry this map wrote.
#[inline]
fn static_bytes(len: usize, at: usize) -> &'static [u8] {
    // SAFETY: `PackedFields::new` writes a `Key::Static` entry only for a key whose text is a `&'static str` (see
    // `static_key`), with that text's length and exposed address; such text is never freed or changed.
    unsafe { std::slice::from_raw_parts(std::ptr::with_exposed_provenance::<u8>(at), len) }
}

/// The static text of `k`, when it is static and short enough for a one-byte length below [`OWNED`].
#[inline]
fn static_key(k: &FieldKey) -> Option<&'static str> {
    k.static_str().filter(|t| t.len() < OWNED as usize)
}

/// The key of the entry at the head of `b` and the bytes after it; `None` at the end of the buffer.
#[inline]
fn take_key(b: &[u8]) -> Option<(Key<'_>, &[u8])> {
    let (&tag, rest) = b.split_first()?;
    if tag == OWNED {
        let (k, rest) = take_field(rest);
        return Some((Key::Owned(k), rest));
    }
    let (addr, rest) = rest.split_first_chunk::<ADDR>()?;
    Some((Key::Static(tag as usize, usize::from_ne_bytes(*addr)), rest))
}

impl PackedFields {
    /// Packs `entries` (in key order, keys distinct); `None` when there is none.
    pub fn new<'a>(entries: impl ExactSizeIterator<Item = (&'a FieldKey, &'a str)> + Clone) -> Option<PackedFields> {
        let count = entries.len();
        if count == 0 {
            return None;
        }
        let size = entries.clone().fold(len_size(count), |size, (k, v)| {
            let key = match static_key(k) {
                Some(_) => 1 + ADDR,
                None => 1 + field_size(k),
            };
            size + key + field_size(v)
        });
        // Written in place through a cursor into a buffer of the exact size: pushing onto a vector checked its
        // room at every byte and cost about as much again as the copies.
        let mut buf = vec![0u8; size].into_boxed_slice();
        let mut at = put_len_at(&mut buf, 0, count);
        for (k, v) in entries {
            match static_key(k) {
                Some(text) => {
                    buf[at] = text.len() as u8;
                    buf[at + 1..at + 1 + ADDR].copy_from_slice(&text.as_ptr().expose_provenance().to_ne_bytes());
                    at += 1 + ADDR;
                }
                None => {
                    buf[at] = OWNED;
                    at = put_field_at(&mut buf, at + 1, k.as_bytes());
                }
            }
            at = put_field_at(&mut buf, at, v.as_bytes());
        }
        debug_assert_eq!(at, size);
        Some(PackedFields(buf))
    }

    pub fn len(&self) -> usize {
        take_len(&self.0).0
    }

    /// The value of `key`, matched as the parsing form matches it (`same_key`: a static key's address is that of
    /// its text). Not inlined into `FieldMap::get`, whose parsing-form search is on every line's hot path.
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
        let key300: &'static str = Box::leak("k".repeat(300).into_boxed_str()); // static, but too long for a tag
        let entries = [
            (FieldKey::new(""), "empty key"),
            (FieldKey::from_static("a"), ""),
            (FieldKey::from_static("log_type"), "ssh_failed-auth"),
            (FieldKey::from_static(key300), "x"),
            (FieldKey::new("source_ip"), long.as_str()),
            (FieldKey::from_static("é"), "ünï"),
        ];
        let p = pack(&entries);
        assert_eq!(p.len(), 6);
        assert_eq!(p.iter().len(), 6);
        let want: Vec<(&str, &str)> = entries.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        assert_eq!(p.iter().collect::<Vec<_>>(), want);
        for (k, v) in &want {
            assert_eq!(p.get(k), Some(*v), "{k}");
            // Found by text too, not only by the address it was inserted with.
            let copy = String::from(*k);
            assert_eq!(p.get(&copy), Some(*v), "{k}");
        }
        assert_eq!(p.get("source"), None);
        assert_eq!(p.get("log_typ"), None);
        assert_eq!(p.get("log_typf"), None);
        assert_eq!(p.get("k"), None);
        // count; per entry a tag, then an address (static keys) or a length and the text; then the value's length
        // (one byte or two) and text
        let sizes = [
            1 + 1 + 1 + 9,
            1 + ADDR + 1,
            1 + ADDR + 1 + 15,
            1 + 2 + 300 + 1 + 1,
            1 + 1 + 9 + 2 + 300,
            1 + ADDR + 1 + 5,
        ];
        assert_eq!(p.heap_size(), 1 + sizes.iter().sum::<usize>());
    }

    #[test]
    fn unpacked_keys_stay_static_or_owned_as_they_were() {
        let entries = [(FieldKey::from_static("a"), "1"), (FieldKey::new("b"), "2")];
        let p = pack(&entries);
        let mut rest = take_len(&p.0).1;
        let mut keys = Vec::new();
        while let Some((k, after)) = take_key(rest) {
            keys.push(k.to_field_key());
            rest = take_field(after).1;
        }
        assert_eq!(keys, [FieldKey::from_static("a"), FieldKey::new("b")]);
        assert!(keys[0].is_static() && std::ptr::eq(keys[0].as_ptr(), "a".as_ptr()));
        assert!(!keys[1].is_static());
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
