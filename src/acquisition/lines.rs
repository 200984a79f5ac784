//! Splitting a byte stream into log lines: the one place that decides what a "line" is for every stream source
//! (files, stdin, command and journalctl output).
//!
//! Rules (CrowdSec's, plus a memory bound): lines end at `\n`; one trailing `\r` is stripped; empty lines are
//! skipped; a line without its `\n` yet is held until the rest arrives (or until [`LineSplitter::flush`], when the
//! stream is known to be finished); a line longer than the cap keeps its first `max_len` bytes (cut on a UTF-8
//! character boundary) and the rest up to the `\n` is discarded and counted, so memory never grows with the input;
//! invalid UTF-8 is replaced by U+FFFD.
//!
//! What this module is not: it knows nothing of offsets in files or of records; callers get, for each line, the
//! position in the fed chunk just after its `\n`, and turn that into whatever they track.

/// Default cap on one line, in bytes (64 KiB, the size of Go's default `bufio.Scanner` buffer that CrowdSec's cat
/// mode uses).
pub const DEFAULT_MAX_LINE: usize = 64 * 1024;

/// One complete line out of the splitter.
#[derive(Debug, PartialEq, Eq)]
pub struct SplitLine {
    /// The text, without `\n` / `\r\n`, lossily decoded.
    pub text: String,
    /// Position in the chunk passed to [`LineSplitter::feed`] just after this line's `\n` (for a line emitted by
    /// [`LineSplitter::flush`]: 0).
    pub end_in_chunk: usize,
    /// The line was longer than the cap and lost its tail.
    pub truncated: bool,
}

/// Incremental line splitter; holds at most `max_len` bytes of an unfinished line.
#[derive(Debug)]
pub struct LineSplitter {
    partial: Vec<u8>,
    max_len: usize,
    /// The held line already exceeded the cap: bytes up to the next `\n` are dropped.
    discarding: bool,
    /// Empty lines seen (after `\r` stripping): skipped, as CrowdSec does.
    pub empty_lines: u64,
}

impl LineSplitter {
    pub fn new(max_len: usize) -> Self {
        LineSplitter { partial: Vec::new(), max_len: max_len.max(1), discarding: false, empty_lines: 0 }
    }

    /// Bytes of an unfinished line currently held (including dropped overflow bytes, which are not held).
    pub fn held(&self) -> usize {
        self.partial.len()
    }

    /// True when an unfinished line is pending.
    pub fn has_partial(&self) -> bool {
        !self.partial.is_empty() || self.discarding
    }

    /// Feeds `chunk`; `emit` is called for each complete, non-empty line in order.
    pub fn feed(&mut self, chunk: &[u8], mut emit: impl FnMut(SplitLine)) {
        let mut start = 0;
        while start < chunk.len() {
            match memchr::memchr(b'\n', &chunk[start..]) {
                Some(rel) => {
                    let nl = start + rel;
                    let piece = &chunk[start..nl];
                    let end_in_chunk = nl + 1;
                    if self.partial.is_empty() && !self.discarding {
                        // Fast path: the whole line is inside this chunk, no copy into `partial`.
                        let truncated = piece.len() > self.max_len;
                        self.emit_bytes(piece, truncated, end_in_chunk, &mut emit);
                    } else {
                        self.append_capped(piece);
                        let truncated = self.discarding;
                        let bytes = std::mem::take(&mut self.partial);
                        self.discarding = false;
                        self.emit_bytes(&bytes, truncated, end_in_chunk, &mut emit);
                        // Keep the allocation for the next partial line.
                        self.partial = bytes;
                        self.partial.clear();
                    }
                    start = end_in_chunk;
                }
                None => {
                    self.append_capped(&chunk[start..]);
                    break;
                }
            }
        }
    }

    /// Emits the held unfinished line, if any, as if its `\n` had arrived: used when the stream is finished
    /// (end of a rotated file, end of a cat-mode file, EOF of stdin).
    pub fn flush(&mut self, mut emit: impl FnMut(SplitLine)) {
        if !self.has_partial() {
            return;
        }
        let truncated = self.discarding;
        let bytes = std::mem::take(&mut self.partial);
        self.discarding = false;
        self.emit_bytes(&bytes, truncated, 0, &mut emit);
    }

    /// Drops any held unfinished line (the stream it belonged to is gone, e.g. a truncated file).
    pub fn reset(&mut self) {
        self.partial.clear();
        self.discarding = false;
    }

    fn append_capped(&mut self, bytes: &[u8]) {
        if self.discarding {
            return;
        }
        let room = self.max_len - self.partial.len();
        if bytes.len() <= room {
            self.partial.extend_from_slice(bytes);
        } else {
            self.partial.extend_from_slice(&bytes[..room]);
            self.discarding = true;
        }
    }

    fn emit_bytes(&mut self, bytes: &[u8], truncated: bool, end_in_chunk: usize, emit: &mut impl FnMut(SplitLine)) {
        let mut bytes = if bytes.len() > self.max_len { &bytes[..self.max_len] } else { bytes };
        if truncated {
            bytes = &bytes[..utf8_boundary(bytes)];
        }
        if let [rest @ .., b'\r'] = bytes {
            bytes = rest;
        }
        if bytes.is_empty() {
            self.empty_lines += 1;
            return;
        }
        emit(SplitLine { text: decode_lossy(bytes), end_in_chunk, truncated });
    }
}

/// The longest prefix of `bytes` that does not end inside a UTF-8 multi-byte sequence (a cut made by the cap).
fn utf8_boundary(bytes: &[u8]) -> usize {
    let len = bytes.len();
    // Look back at most 3 bytes for the start of the last character.
    for back in 1..=3.min(len) {
        let b = bytes[len - back];
        if b & 0b1100_0000 == 0b1000_0000 {
            continue; // continuation byte
        }
        let need = if b & 0b1000_0000 == 0 {
            1
        } else if b & 0b1110_0000 == 0b1100_0000 {
            2
        } else if b & 0b1111_0000 == 0b1110_0000 {
            3
        } else if b & 0b1111_1000 == 0b1111_0000 {
            4
        } else {
            return len; // not UTF-8 anyway: lossy decoding handles it
        };
        return if back < need { len - back } else { len };
    }
    len
}

/// UTF-8 text of `bytes`, with invalid sequences replaced (one allocation, the line itself).
pub fn decode_lossy(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_owned(),
        Err(_) => String::from_utf8_lossy(bytes).into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split_all(max: usize, chunks: &[&[u8]], flush: bool) -> (Vec<(String, bool)>, LineSplitter) {
        let mut s = LineSplitter::new(max);
        let mut out = Vec::new();
        for c in chunks {
            s.feed(c, |l| out.push((l.text, l.truncated)));
        }
        if flush {
            s.flush(|l| out.push((l.text, l.truncated)));
        }
        (out, s)
    }

    fn texts(v: &[(String, bool)]) -> Vec<&str> {
        v.iter().map(|(t, _)| t.as_str()).collect()
    }

    #[test]
    fn crlf_and_lf_and_empty_lines() {
        let (out, s) = split_all(100, &[b"a\r\nb\n\n\r\nc\r\n"], false);
        assert_eq!(texts(&out), ["a", "b", "c"]);
        assert_eq!(s.empty_lines, 2);
    }

    #[test]
    fn only_one_trailing_cr_is_stripped() {
        let (out, _) = split_all(100, &[b"a\r\r\nb\rc\n"], false);
        assert_eq!(texts(&out), ["a\r", "b\rc"]);
    }

    #[test]
    fn partial_lines_are_held_across_chunks() {
        let (out, s) = split_all(100, &[b"hel", b"lo wo", b"rld\nsec", b"ond"], false);
        assert_eq!(texts(&out), ["hello world"]);
        assert_eq!(s.held(), 6);
        let (out, _) = split_all(100, &[b"hel", b"lo\nsec", b"ond"], true);
        assert_eq!(texts(&out), ["hello", "second"]);
    }

    #[test]
    fn cr_split_from_its_lf_is_still_stripped() {
        let (out, _) = split_all(100, &[b"abc\r", b"\n"], false);
        assert_eq!(texts(&out), ["abc"]);
    }

    #[test]
    fn end_positions_point_after_the_newline() {
        let mut s = LineSplitter::new(100);
        let mut ends = Vec::new();
        s.feed(b"ab\n\ncd\nef", |l| ends.push(l.end_in_chunk));
        assert_eq!(ends, [3, 7]);
        s.feed(b"g\n", |l| ends.push(l.end_in_chunk));
        assert_eq!(ends, [3, 7, 2]);
    }

    #[test]
    fn long_lines_are_truncated_and_memory_is_bounded() {
        let long = vec![b'x'; 50];
        let (out, _) = split_all(10, &[&long, b"\nshort\n"], false);
        assert_eq!(out, [("x".repeat(10), true), ("short".to_string(), false)]);
        // The same within one chunk (fast path).
        let mut chunk = vec![b'y'; 30];
        chunk.extend_from_slice(b"\nok\n");
        let (out, _) = split_all(10, &[&chunk], false);
        assert_eq!(out, [("y".repeat(10), true), ("ok".to_string(), false)]);
        // Fed in many small pieces, the splitter never holds more than the cap.
        let mut s = LineSplitter::new(8);
        for _ in 0..1000 {
            s.feed(b"zzzz", |_| panic!("no newline yet"));
            assert!(s.held() <= 8);
        }
        let mut got = Vec::new();
        s.feed(b"\n", |l| got.push(l));
        assert_eq!(got.len(), 1);
        assert!(got[0].truncated);
        assert_eq!(got[0].text, "zzzzzzzz");
    }

    #[test]
    fn truncation_does_not_cut_a_character_in_half() {
        // "é" is 2 bytes; a cap of 5 on "aaaaé" would cut it after its first byte.
        let (out, _) = split_all(5, &["aaaaéb\n".as_bytes()], false);
        assert_eq!(out, [("aaaa".to_string(), true)]);
        let (out, _) = split_all(5, &["aaaa".as_bytes(), "éb\n".as_bytes()], false);
        assert_eq!(out, [("aaaa".to_string(), true)]);
    }

    #[test]
    fn invalid_utf8_is_replaced() {
        let (out, _) = split_all(100, &[b"a\xffb\n"], false);
        assert_eq!(texts(&out), ["a\u{fffd}b"]);
    }

    #[test]
    fn flush_of_an_overlong_partial_line_reports_truncation() {
        let (out, _) = split_all(4, &[b"abcdefgh"], true);
        assert_eq!(out, [("abcd".to_string(), true)]);
        let (out, _) = split_all(4, &[b"ab"], true);
        assert_eq!(out, [("ab".to_string(), false)]);
    }
}
