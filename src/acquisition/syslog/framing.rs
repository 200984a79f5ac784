//! Splitting a syslog TCP stream into messages (RFC 6587), with both framings detected per frame:
//!
//! * octet counting: `MSG-LEN SP MSG`, where MSG-LEN is a decimal number without leading zero;
//! * non-transparent framing: the message runs to the next `\n` (a trailing `\r` is dropped).
//!
//! A frame that starts with a non-zero digit followed by digits and a space is octet-counted; anything else
//! (a syslog message starts with `<`) is newline-framed. Stray `\n`, `\r` and NUL bytes between frames are
//! skipped. A message longer than the cap keeps its first `max_len` bytes (flagged `truncated`) and the rest is
//! discarded as it arrives, so the buffer never holds much more than one capped message.
//!
//! What this module is not: sockets (see the parent module) or syslog parsing (`rebuild`).

/// One message out of the stream.
#[derive(Debug, PartialEq, Eq)]
pub struct Frame {
    pub data: Vec<u8>,
    pub truncated: bool,
}

/// Longest MSG-LEN accepted as an octet count (10 digits: anything larger is not a length).
const MAX_LEN_DIGITS: usize = 10;

#[derive(Debug)]
pub struct Framer {
    buf: Vec<u8>,
    max_len: usize,
    /// Bytes of an over-long octet-counted frame still to drop.
    skip: usize,
    /// Dropping the rest of an over-long newline-framed message, up to its `\n`.
    discard_to_lf: bool,
}

impl Framer {
    pub fn new(max_len: usize) -> Self {
        Framer { buf: Vec::new(), max_len: max_len.max(1), skip: 0, discard_to_lf: false }
    }

    /// Bytes buffered (for tests of the memory bound).
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Adds bytes read from the connection. Call [`Framer::next_frame`] until it returns `None` afterwards.
    pub fn push(&mut self, data: &[u8]) {
        let mut data = data;
        if self.skip > 0 {
            let n = self.skip.min(data.len());
            self.skip -= n;
            data = &data[n..];
        }
        if self.discard_to_lf {
            match memchr::memchr(b'\n', data) {
                Some(i) => {
                    self.discard_to_lf = false;
                    data = &data[i + 1..];
                }
                None => return,
            }
        }
        self.buf.extend_from_slice(data);
    }

    /// The next complete message, if one is buffered.
    pub fn next_frame(&mut self) -> Option<Frame> {
        if self.skip > 0 || self.discard_to_lf {
            // Dropping continues as bytes arrive (`push` handles it); nothing is buffered meanwhile.
            return None;
        }
        let lead = self.buf.iter().take_while(|b| matches!(b, b'\n' | b'\r' | 0)).count();
        if lead > 0 {
            self.buf.drain(..lead);
        }
        if self.buf.is_empty() {
            return None;
        }
        match self.octet_header() {
            Header::Incomplete => None,
            Header::Count { header_len, len } => self.octet_frame(header_len, len),
            Header::NotCounted => self.lf_frame(),
        }
    }

    /// At end of stream: whatever is buffered as a last newline-less message.
    pub fn finish(&mut self) -> Option<Frame> {
        if let Some(f) = self.next_frame() {
            return Some(f);
        }
        if self.skip > 0 || self.discard_to_lf || self.buf.is_empty() {
            return None;
        }
        let mut data = std::mem::take(&mut self.buf);
        if data.last() == Some(&b'\r') {
            data.pop();
        }
        let truncated = data.len() > self.max_len;
        data.truncate(self.max_len);
        (!data.is_empty()).then_some(Frame { data, truncated })
    }

    fn octet_header(&self) -> Header {
        let b = &self.buf;
        if !(b'1'..=b'9').contains(&b[0]) {
            return Header::NotCounted;
        }
        let digits = b.iter().take(MAX_LEN_DIGITS + 1).take_while(|c| c.is_ascii_digit()).count();
        if digits > MAX_LEN_DIGITS {
            return Header::NotCounted;
        }
        match b.get(digits) {
            None => Header::Incomplete,
            Some(b' ') => {
                let len = std::str::from_utf8(&b[..digits]).ok().and_then(|s| s.parse::<usize>().ok());
                match len {
                    Some(len) => Header::Count { header_len: digits + 1, len },
                    None => Header::NotCounted,
                }
            }
            Some(_) => Header::NotCounted,
        }
    }

    fn octet_frame(&mut self, header_len: usize, len: usize) -> Option<Frame> {
        if len > self.max_len {
            // Keep the first max_len bytes once they are here, drop the rest as it comes.
            if self.buf.len() < header_len + self.max_len {
                return None;
            }
            let data = self.buf[header_len..header_len + self.max_len].to_vec();
            let available = self.buf.len() - header_len;
            let consumed = available.min(len);
            self.buf.drain(..header_len + consumed);
            self.skip = len - consumed;
            return Some(Frame { data, truncated: true });
        }
        if self.buf.len() < header_len + len {
            return None;
        }
        let data = self.buf[header_len..header_len + len].to_vec();
        self.buf.drain(..header_len + len);
        Some(Frame { data, truncated: false })
    }

    fn lf_frame(&mut self) -> Option<Frame> {
        match memchr::memchr(b'\n', &self.buf) {
            Some(i) => {
                let mut data: Vec<u8> = self.buf.drain(..=i).collect();
                data.pop(); // '\n'
                if data.last() == Some(&b'\r') {
                    data.pop();
                }
                let truncated = data.len() > self.max_len;
                data.truncate(self.max_len);
                Some(Frame { data, truncated })
            }
            None if self.buf.len() > self.max_len => {
                let data = self.buf[..self.max_len].to_vec();
                self.buf.clear();
                self.discard_to_lf = true;
                Some(Frame { data, truncated: true })
            }
            None => None,
        }
    }
}

enum Header {
    Incomplete,
    Count { header_len: usize, len: usize },
    NotCounted,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(max: usize, chunks: &[&[u8]]) -> Vec<(String, bool)> {
        let mut f = Framer::new(max);
        let mut out = Vec::new();
        for c in chunks {
            f.push(c);
            while let Some(fr) = f.next_frame() {
                out.push((String::from_utf8_lossy(&fr.data).into_owned(), fr.truncated));
            }
        }
        if let Some(fr) = f.finish() {
            out.push((String::from_utf8_lossy(&fr.data).into_owned(), fr.truncated));
        }
        out
    }

    fn texts(v: Vec<(String, bool)>) -> Vec<String> {
        v.into_iter().map(|(t, _)| t).collect()
    }

    #[test]
    fn octet_counting() {
        let got = texts(frames(100, &[b"5 hello11 <13>a\nb c d"]));
        assert_eq!(got, ["hello", "<13>a\nb c d"]);
    }

    #[test]
    fn newline_framing_with_crlf_and_stray_separators() {
        let got = texts(frames(100, &[b"<13>one\r\n\n\n<14>two\n\0<15>three"]));
        assert_eq!(got, ["<13>one", "<14>two", "<15>three"]);
    }

    #[test]
    fn mixed_framing_detected_per_frame() {
        let got = texts(frames(100, &[b"<13>lf one\n9 <14>count<15>lf two\n3 abc"]));
        assert_eq!(got, ["<13>lf one", "<14>count", "<15>lf two", "abc"]);
    }

    #[test]
    fn split_reads_at_every_position() {
        let stream: &[u8] = b"12 <13>hello yo<14>lf framed\n7 <15>abc";
        let expected = ["<13>hello yo", "<14>lf framed", "<15>abc"];
        for cut in 0..=stream.len() {
            let got = texts(frames(100, &[&stream[..cut], &stream[cut..]]));
            assert_eq!(got, expected, "cut at {cut}");
        }
        // One byte at a time.
        let bytes: Vec<&[u8]> = stream.chunks(1).collect();
        assert_eq!(texts(frames(100, &bytes)), expected);
    }

    #[test]
    fn digits_not_followed_by_space_are_newline_framed() {
        let got = texts(frames(100, &[b"2024-01-01 plain line\n0 zero\n"]));
        assert_eq!(got, ["2024-01-01 plain line", "0 zero"]);
    }

    #[test]
    fn overlong_messages_are_truncated_and_the_rest_dropped() {
        let got = frames(4, &[b"10 abcdefghij3 xyz"]);
        assert_eq!(got, [("abcd".to_string(), true), ("xyz".to_string(), false)]);
        // The same, split so the dropped tail arrives later.
        let got = frames(4, &[b"10 abcde", b"fghij3 xyz"]);
        assert_eq!(got, [("abcd".to_string(), true), ("xyz".to_string(), false)]);
        let got = frames(4, &[b"<13>long line", b" still going\n<1>ok\n"]);
        assert_eq!(got, [("<13>".to_string(), true), ("<1>o".to_string(), true)]);
        let got = frames(8, &[b"<13>long line", b" still going\n<1>ok\n"]);
        assert_eq!(got, [("<13>long".to_string(), true), ("<1>ok".to_string(), false)]);
    }

    #[test]
    fn buffer_stays_bounded_under_a_flood_without_newlines() {
        let mut f = Framer::new(64);
        let chunk = [b'a'; 1000];
        for _ in 0..100 {
            f.push(&chunk);
            while f.next_frame().is_some() {}
            assert!(f.buffered() <= 64 + chunk.len());
        }
    }
}
