//! Tokenizer for expr-lang source: numbers, strings with Go escapes, identifiers, operators, `#` closure
//! pointers, comments. Produces tokens with byte spans; it never fails silently (bad input is an [`ExprError`]).

use super::error::{ExprError, Span};

#[derive(Clone, Debug, PartialEq)]
pub enum Tok {
    Int(i64),
    Float(f64),
    Str(String),
    Ident(String),
    /// `#`, `#index`, `#acc` or another `#name`: the closure pointer (name empty for plain `#`).
    Pointer(String),
    /// Operators and punctuation: `+ - * / % ** ^ == != < <= > >= ! && || ?? ? ?. . .. , : ; ( ) [ ] { } | =`.
    Op(&'static str),
    Eof,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Token {
    pub tok: Tok,
    pub span: Span,
}

const OPS: &[&str] = &[
    "**", "==", "!=", "<=", ">=", "&&", "||", "??", "?.", "..", "+", "-", "*", "/", "%", "^", "<", ">", "!", "?", ".",
    ",", ":", ";", "(", ")", "[", "]", "{", "}", "|", "=",
];

pub fn tokenize(src: &str) -> Result<Vec<Token>, ExprError> {
    let bytes = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        if c == b'/' && bytes.get(i + 1) == Some(&b'/') {
            while i < bytes.len() && bytes[i] != b'\n' {
                i += 1;
            }
            continue;
        }
        if c == b'/' && bytes.get(i + 1) == Some(&b'*') {
            match src[i + 2..].find("*/") {
                Some(j) => i = i + 2 + j + 2,
                None => return Err(ExprError::new("unterminated comment", Span::new(i, src.len()))),
            }
            continue;
        }
        if c.is_ascii_digit() || (c == b'.' && bytes.get(i + 1).is_some_and(u8::is_ascii_digit) && !prev_is_value(&out))
        {
            let (tok, end) = number(src, i)?;
            out.push(Token { tok, span: Span::new(start, end) });
            i = end;
            continue;
        }
        if c == b'\'' || c == b'"' {
            let (s, end) = string(src, i)?;
            out.push(Token { tok: Tok::Str(s), span: Span::new(start, end) });
            i = end;
            continue;
        }
        if c == b'`' {
            match src[i + 1..].find('`') {
                Some(j) => {
                    out.push(Token { tok: Tok::Str(src[i + 1..i + 1 + j].to_string()), span: Span::new(i, i + j + 2) });
                    i += j + 2;
                }
                None => return Err(ExprError::new("unterminated raw string", Span::new(i, src.len()))),
            }
            continue;
        }
        if c == b'#' {
            i += 1;
            while i < bytes.len() && is_ident_byte(bytes[i]) {
                i += 1;
            }
            out.push(Token { tok: Tok::Pointer(src[start + 1..i].to_string()), span: Span::new(start, i) });
            continue;
        }
        if is_ident_start(c) {
            while i < bytes.len() && is_ident_byte(bytes[i]) {
                i += 1;
            }
            out.push(Token { tok: Tok::Ident(src[start..i].to_string()), span: Span::new(start, i) });
            continue;
        }
        if c >= 0x80 {
            // Non-ASCII letters are valid in Go identifiers.
            let ch = src[i..].chars().next().unwrap_or('\u{fffd}');
            if ch.is_alphabetic() {
                while i < bytes.len() {
                    let ch = src[i..].chars().next().unwrap_or(' ');
                    if ch.is_alphanumeric() || ch == '_' {
                        i += ch.len_utf8();
                    } else {
                        break;
                    }
                }
                out.push(Token { tok: Tok::Ident(src[start..i].to_string()), span: Span::new(start, i) });
                continue;
            }
            return Err(ExprError::new(format!("unexpected character {ch:?}"), Span::new(i, i + ch.len_utf8())));
        }
        match OPS.iter().find(|op| src[i..].starts_with(**op)) {
            Some(op) => {
                // `?.` followed by a digit is a ternary with a float (`a?.5:1`), as in expr-lang.
                if *op == "?." && bytes.get(i + 2).is_some_and(u8::is_ascii_digit) {
                    out.push(Token { tok: Tok::Op("?"), span: Span::new(i, i + 1) });
                    i += 1;
                } else {
                    out.push(Token { tok: Tok::Op(op), span: Span::new(i, i + op.len()) });
                    i += op.len();
                }
            }
            None => {
                return Err(ExprError::new(format!("unexpected character {:?}", c as char), Span::new(i, i + 1)));
            }
        }
    }
    out.push(Token { tok: Tok::Eof, span: Span::new(src.len(), src.len()) });
    Ok(out)
}

fn prev_is_value(out: &[Token]) -> bool {
    matches!(out.last().map(|t| &t.tok), Some(Tok::Ident(_) | Tok::Op(")" | "]" | "}") | Tok::Pointer(_)))
}

fn is_ident_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_' || c == b'$'
}

fn is_ident_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'$'
}

fn number(src: &str, start: usize) -> Result<(Tok, usize), ExprError> {
    let b = src.as_bytes();
    let mut i = start;
    let err = |end: usize, msg: &str| ExprError::new(format!("{msg}: {}", &src[start..end]), Span::new(start, end));
    if b[i] == b'0' && matches!(b.get(i + 1), Some(b'x' | b'X' | b'o' | b'O' | b'b' | b'B')) {
        let radix = match b[i + 1] {
            b'x' | b'X' => 16,
            b'o' | b'O' => 8,
            _ => 2,
        };
        i += 2;
        while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
            i += 1;
        }
        let digits: String = src[start + 2..i].chars().filter(|c| *c != '_').collect();
        return i64::from_str_radix(&digits, radix).map(|v| (Tok::Int(v), i)).map_err(|_| err(i, "invalid number"));
    }
    let mut is_float = false;
    while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_') {
        i += 1;
    }
    // A `.` starts a fraction unless it is the `..` range operator or a member access (`1.foo` is invalid anyway).
    if i < b.len() && b[i] == b'.' && b.get(i + 1) != Some(&b'.') {
        is_float = true;
        i += 1;
        while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_') {
            i += 1;
        }
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        let mut j = i + 1;
        if j < b.len() && (b[j] == b'+' || b[j] == b'-') {
            j += 1;
        }
        if j < b.len() && b[j].is_ascii_digit() {
            is_float = true;
            i = j;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
        }
    }
    if i < b.len() && is_ident_start(b[i]) {
        while i < b.len() && is_ident_byte(b[i]) {
            i += 1;
        }
        return Err(err(i, "invalid number"));
    }
    let text: String = src[start..i].chars().filter(|c| *c != '_').collect();
    if is_float {
        text.parse::<f64>().map(|v| (Tok::Float(v), i)).map_err(|_| err(i, "invalid float"))
    } else {
        match text.parse::<i64>() {
            Ok(v) => Ok((Tok::Int(v), i)),
            // Go's parser falls back to a float for integers that overflow int.
            Err(_) => text.parse::<f64>().map(|v| (Tok::Float(v), i)).map_err(|_| err(i, "invalid number")),
        }
    }
}

/// A quoted string with Go escapes (`\n \t \\ \' \" \xHH \uHHHH \UHHHHHHHH \NNN` octal, `\a \b \f \r \v`).
fn string(src: &str, start: usize) -> Result<(String, usize), ExprError> {
    let quote = src.as_bytes()[start] as char;
    let mut out = String::new();
    let mut chars = src[start + 1..].char_indices();
    let abs = |i: usize| start + 1 + i;
    while let Some((i, c)) = chars.next() {
        if c == quote {
            return Ok((out, abs(i) + 1));
        }
        if c == '\n' && quote == '\'' {
            // expr-lang accepts newlines inside strings; keep them.
        }
        if c != '\\' {
            out.push(c);
            continue;
        }
        let bad = |j: usize| ExprError::new("invalid escape sequence in string", Span::new(abs(i), abs(j) + 1));
        let Some((j, e)) = chars.next() else {
            break;
        };
        match e {
            'n' => out.push('\n'),
            't' => out.push('\t'),
            'r' => out.push('\r'),
            'a' => out.push('\x07'),
            'b' => out.push('\x08'),
            'f' => out.push('\x0c'),
            'v' => out.push('\x0b'),
            '\\' => out.push('\\'),
            '\'' => out.push('\''),
            '"' => out.push('"'),
            'x' | 'u' | 'U' => {
                let n = match e {
                    'x' => 2,
                    'u' => 4,
                    _ => 8,
                };
                let mut v: u32 = 0;
                let mut last = j;
                for _ in 0..n {
                    let (k, h) = chars.next().ok_or_else(|| bad(last))?;
                    last = k;
                    v = v * 16 + h.to_digit(16).ok_or_else(|| bad(k))?;
                }
                if e == 'x' {
                    // A `\xHH` byte: Go strings are bytes; keep valid text by mapping to the code point.
                    out.push(char::from_u32(v).ok_or_else(|| bad(last))?);
                } else {
                    out.push(char::from_u32(v).ok_or_else(|| bad(last))?);
                }
            }
            '0'..='7' => {
                let mut v = e.to_digit(8).unwrap_or(0);
                let mut last = j;
                for _ in 0..2 {
                    let (k, d) = chars.next().ok_or_else(|| bad(last))?;
                    last = k;
                    v = v * 8 + d.to_digit(8).ok_or_else(|| bad(k))?;
                }
                out.push(char::from_u32(v).ok_or_else(|| bad(last))?);
            }
            _ => return Err(bad(j)),
        }
    }
    Err(ExprError::new("unterminated string literal", Span::new(start, src.len())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok> {
        tokenize(s).unwrap().into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn numbers_strings_and_ops() {
        assert_eq!(
            toks("1 2.5 1e3 0x1F 1_000 'a\\n' \"b\\\"\" `r\\n`"),
            vec![
                Tok::Int(1),
                Tok::Float(2.5),
                Tok::Float(1000.0),
                Tok::Int(31),
                Tok::Int(1000),
                Tok::Str("a\n".into()),
                Tok::Str("b\"".into()),
                Tok::Str("r\\n".into()),
                Tok::Eof
            ]
        );
        assert_eq!(toks("1..3"), vec![Tok::Int(1), Tok::Op(".."), Tok::Int(3), Tok::Eof]);
        assert_eq!(
            toks("a?.b ?? c"),
            vec![
                Tok::Ident("a".into()),
                Tok::Op("?."),
                Tok::Ident("b".into()),
                Tok::Op("??"),
                Tok::Ident("c".into()),
                Tok::Eof
            ]
        );
        assert_eq!(toks("# #index"), vec![Tok::Pointer("".into()), Tok::Pointer("index".into()), Tok::Eof]);
        assert_eq!(toks("'\\u00e9\\x41\\101'"), vec![Tok::Str("éAA".into()), Tok::Eof]);
        assert_eq!(toks("a // c\n/* d */ b"), vec![Tok::Ident("a".into()), Tok::Ident("b".into()), Tok::Eof]);
    }

    #[test]
    fn errors_have_spans() {
        let e = tokenize("a + 'abc").unwrap_err();
        assert_eq!((e.start, e.message.as_str()), (4, "unterminated string literal"));
        let e = tokenize("'\\q'").unwrap_err();
        assert!(e.message.contains("escape"));
        assert!(tokenize("a @ b").is_err());
        assert!(tokenize("12abc").is_err());
    }
}
