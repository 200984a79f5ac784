//! Recursive-descent / precedence-climbing parser for expr-lang v1.17 syntax, producing [`ast::Expr`] with spans.
//!
//! Precedence follows expr-lang (low to high): ternary `?:` and `|` pipes, `or ||`, `and &&`, comparisons and
//! `in matches contains startsWith endsWith` (with their `not` forms), `..`, `+ -`, `* / %`, unary `not !`,
//! unary `- +`, `** ^` (right-associative), `??`, then postfix member/index/slice/call. Nesting is bounded by
//! [`MAX_DEPTH`] so hostile input gives an error instead of overflowing the stack.

use super::ast::{BinOp, Expr, Kind, UnOp};
use super::error::{ExprError, Span};
use super::lexer::{Tok, Token, tokenize};

/// Deepest nesting of sub-expressions accepted (parentheses, closures, literals, unary chains).
pub const MAX_DEPTH: usize = 96;

/// Tallest syntax tree accepted (long operator or member chains nest without parentheses).
pub const MAX_TREE_DEPTH: u32 = 256;

/// Builtins whose second argument is a predicate (closure).
const PREDICATE_BUILTINS: &[&str] = &[
    "all",
    "any",
    "none",
    "one",
    "filter",
    "map",
    "count",
    "sum",
    "find",
    "findIndex",
    "findLast",
    "findLastIndex",
    "groupBy",
    "sortBy",
    "reduce",
];

pub fn parse(src: &str) -> Result<Expr, ExprError> {
    let tokens = tokenize(src)?;
    let mut p = Parser { tokens, pos: 0, depth: 0 };
    let e = p.expr(0)?;
    match &p.peek().tok {
        Tok::Eof => Ok(e),
        other => Err(ExprError::new(format!("unexpected token {}", describe(other)), p.peek().span)),
    }
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    depth: usize,
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Int(i) => format!("number {i}"),
        Tok::Float(f) => format!("number {f}"),
        Tok::Str(s) => format!("string {s:?}"),
        Tok::Ident(s) => format!("{s:?}"),
        Tok::Pointer(s) => format!("#{s}"),
        Tok::Op(o) => format!("{o:?}"),
        Tok::Eof => "end of expression".to_string(),
    }
}

fn binary_op(tok: &Tok) -> Option<(BinOp, u16, bool)> {
    // (operator, precedence, right-associative)
    Some(match tok {
        Tok::Op("||") => (BinOp::Or, 10, false),
        Tok::Op("&&") => (BinOp::And, 15, false),
        Tok::Op("==") => (BinOp::Eq, 20, false),
        Tok::Op("!=") => (BinOp::Ne, 20, false),
        Tok::Op("<") => (BinOp::Lt, 20, false),
        Tok::Op("<=") => (BinOp::Le, 20, false),
        Tok::Op(">") => (BinOp::Gt, 20, false),
        Tok::Op(">=") => (BinOp::Ge, 20, false),
        Tok::Op("..") => (BinOp::Range, 25, false),
        Tok::Op("+") => (BinOp::Add, 30, false),
        Tok::Op("-") => (BinOp::Sub, 30, false),
        Tok::Op("*") => (BinOp::Mul, 60, false),
        Tok::Op("/") => (BinOp::Div, 60, false),
        Tok::Op("%") => (BinOp::Mod, 60, false),
        Tok::Op("**") | Tok::Op("^") => (BinOp::Pow, 100, true),
        Tok::Op("??") => (BinOp::Coalesce, 500, false),
        Tok::Ident(w) => match w.as_str() {
            "or" => (BinOp::Or, 10, false),
            "and" => (BinOp::And, 15, false),
            _ => return word_op(w).map(|op| (op, 20, false)),
        },
        _ => return None,
    })
}

fn word_op(w: &str) -> Option<BinOp> {
    Some(match w {
        "in" => BinOp::In,
        "matches" => BinOp::Matches,
        "contains" => BinOp::Contains,
        "startsWith" => BinOp::StartsWith,
        "endsWith" => BinOp::EndsWith,
        _ => return None,
    })
}

impl Parser {
    fn peek(&self) -> &Token {
        &self.tokens[self.pos.min(self.tokens.len() - 1)]
    }

    fn peek_at(&self, n: usize) -> &Tok {
        &self.tokens[(self.pos + n).min(self.tokens.len() - 1)].tok
    }

    fn next(&mut self) -> Token {
        let t = self.peek().clone();
        if self.pos < self.tokens.len() - 1 {
            self.pos += 1;
        }
        t
    }

    fn is_op(&self, op: &str) -> bool {
        matches!(&self.peek().tok, Tok::Op(o) if *o == op)
    }

    fn is_word(&self, w: &str) -> bool {
        matches!(&self.peek().tok, Tok::Ident(i) if i == w)
    }

    fn expect_op(&mut self, op: &str) -> Result<Span, ExprError> {
        if self.is_op(op) {
            Ok(self.next().span)
        } else {
            let t = self.peek();
            Err(ExprError::new(format!("expected {op:?}, found {}", describe(&t.tok)), t.span))
        }
    }

    /// Rejects trees taller than [`MAX_TREE_DEPTH`].
    fn bounded(&self, e: Expr) -> Result<Expr, ExprError> {
        if e.depth > MAX_TREE_DEPTH {
            return Err(ExprError::new(
                format!("expression nested too deeply (tree deeper than {MAX_TREE_DEPTH} levels)"),
                e.span,
            ));
        }
        Ok(e)
    }

    fn enter(&mut self) -> Result<(), ExprError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(ExprError::new(
                format!("expression nested too deeply (more than {MAX_DEPTH} levels)"),
                self.peek().span,
            ));
        }
        Ok(())
    }

    fn expr(&mut self, min_prec: u16) -> Result<Expr, ExprError> {
        self.enter()?;
        let r = stacker::maybe_grow(64 * 1024, 1024 * 1024, || self.expr_inner(min_prec));
        self.depth -= 1;
        r
    }

    fn expr_inner(&mut self, min_prec: u16) -> Result<Expr, ExprError> {
        if min_prec == 0 && self.is_word("let") {
            return self.let_expr();
        }
        let mut lhs = if self.is_word("if") { self.if_expr()? } else { self.unary()? };
        loop {
            let tok = self.peek().tok.clone();
            if min_prec == 0 && tok == Tok::Op("|") {
                lhs = self.pipe(lhs)?;
                continue;
            }
            // `not in`, `not matches`, `not contains`, `not startsWith`, `not endsWith`.
            if matches!(&tok, Tok::Ident(w) if w == "not") {
                let Tok::Ident(w) = self.peek_at(1).clone() else { break };
                let Some(op) = word_op(&w) else { break };
                if 20 < min_prec {
                    break;
                }
                let not_span = self.next().span;
                self.next();
                let rhs = self.expr(21)?;
                let span = lhs.span.to(rhs.span);
                let bin = Expr::new(Kind::Binary { op, lhs: Box::new(lhs), rhs: Box::new(rhs) }, span);
                lhs = self.bounded(Expr::new(Kind::Unary { op: UnOp::Not, expr: Box::new(bin) }, span.to(not_span)))?;
                continue;
            }
            let Some((op, prec, right)) = binary_op(&tok) else { break };
            if prec < min_prec {
                break;
            }
            self.next();
            let rhs = self.expr(if right { prec } else { prec + 1 })?;
            let span = lhs.span.to(rhs.span);
            lhs = self.bounded(Expr::new(Kind::Binary { op, lhs: Box::new(lhs), rhs: Box::new(rhs) }, span))?;
        }
        if min_prec == 0 && self.is_op("?") {
            self.next();
            let then = self.expr(0)?;
            self.expect_op(":")?;
            let other = self.expr(0)?;
            let span = lhs.span.to(other.span);
            lhs = Expr::new(Kind::Ternary { cond: Box::new(lhs), then: Box::new(then), other: Box::new(other) }, span);
        }
        Ok(lhs)
    }

    fn let_expr(&mut self) -> Result<Expr, ExprError> {
        let start = self.next().span;
        let name = match self.next() {
            Token { tok: Tok::Ident(n), .. } => n,
            t => return Err(ExprError::new(format!("expected a variable name, found {}", describe(&t.tok)), t.span)),
        };
        self.expect_op("=")?;
        let value = self.expr(0)?;
        self.expect_op(";")?;
        let body = self.expr(0)?;
        let span = start.to(body.span);
        Ok(Expr::new(Kind::Let { name, value: Box::new(value), body: Box::new(body) }, span))
    }

    fn if_expr(&mut self) -> Result<Expr, ExprError> {
        let start = self.next().span;
        let cond = self.expr(0)?;
        self.expect_op("{")?;
        let then = self.expr(0)?;
        self.expect_op("}")?;
        if !self.is_word("else") {
            let t = self.peek();
            return Err(ExprError::new(format!("expected \"else\", found {}", describe(&t.tok)), t.span));
        }
        self.next();
        let other = if self.is_word("if") {
            self.enter()?;
            let r = self.if_expr();
            self.depth -= 1;
            r?
        } else {
            self.expect_op("{")?;
            let e = self.expr(0)?;
            self.expect_op("}")?;
            e
        };
        let span = start.to(other.span);
        Ok(Expr::new(Kind::Ternary { cond: Box::new(cond), then: Box::new(then), other: Box::new(other) }, span))
    }

    fn pipe(&mut self, lhs: Expr) -> Result<Expr, ExprError> {
        self.next();
        let t = self.next();
        let Tok::Ident(name) = t.tok else {
            return Err(ExprError::new("a pipe must be followed by a function call", t.span));
        };
        if !self.is_op("(") {
            return Err(ExprError::new("a pipe must be followed by a function call", t.span));
        }
        let mut args = vec![lhs];
        let end = self.call_args(&name, &mut args)?;
        let span = args[0].span.to(end);
        self.bounded(Expr::new(Kind::Call { name, name_span: t.span, args }, span))
    }

    fn unary(&mut self) -> Result<Expr, ExprError> {
        let t = self.peek().clone();
        let op = match &t.tok {
            Tok::Ident(w) if w == "not" => Some((UnOp::Not, 50)),
            Tok::Op("!") => Some((UnOp::Not, 50)),
            Tok::Op("-") => Some((UnOp::Neg, 90)),
            Tok::Op("+") => Some((UnOp::Plus, 90)),
            _ => None,
        };
        if let Some((op, prec)) = op {
            self.next();
            let e = self.expr(prec)?;
            let span = t.span.to(e.span);
            // Fold negative literals so `-1` is a constant (and `-9223372036854775808` fits).
            if op == UnOp::Neg {
                match e.kind {
                    Kind::Int(i) => return Ok(Expr::new(Kind::Int(i.wrapping_neg()), span)),
                    Kind::Float(f) => return Ok(Expr::new(Kind::Float(-f), span)),
                    _ => {}
                }
            }
            return Ok(Expr::new(Kind::Unary { op, expr: Box::new(e) }, span));
        }
        let prim = self.primary()?;
        self.postfix(prim)
    }

    fn postfix(&mut self, mut e: Expr) -> Result<Expr, ExprError> {
        let mut optional_seen = false;
        loop {
            if self.is_op(".") || self.is_op("?.") {
                let optional = self.next().tok == Tok::Op("?.");
                optional_seen |= optional;
                if optional && self.is_op("[") {
                    e = self.index(e, true)?;
                    continue;
                }
                let t = self.next();
                let Tok::Ident(name) = t.tok else {
                    return Err(ExprError::new(format!("expected a field name, found {}", describe(&t.tok)), t.span));
                };
                if self.is_op("(") {
                    let mut args = Vec::new();
                    let end = self.call_args("", &mut args)?;
                    let span = e.span.to(end);
                    e = Expr::new(Kind::Method { obj: Box::new(e), name, args, optional }, span);
                } else {
                    let span = e.span.to(t.span);
                    let key = Expr::new(Kind::Str(name), t.span);
                    e = Expr::new(Kind::Member { obj: Box::new(e), key: Box::new(key), optional }, span);
                }
            } else if self.is_op("[") {
                e = self.index(e, false)?;
            } else {
                break;
            }
            e = self.bounded(e)?;
        }
        if optional_seen {
            let span = e.span;
            e = Expr::new(Kind::Chain(Box::new(e)), span);
        }
        Ok(e)
    }

    fn index(&mut self, obj: Expr, optional: bool) -> Result<Expr, ExprError> {
        self.expect_op("[")?;
        if self.is_op(":") {
            self.next();
            let to = if self.is_op("]") { None } else { Some(Box::new(self.expr(0)?)) };
            let end = self.expect_op("]")?;
            let span = obj.span.to(end);
            return Ok(Expr::new(Kind::Slice { obj: Box::new(obj), from: None, to }, span));
        }
        let key = self.expr(0)?;
        if self.is_op(":") {
            self.next();
            let to = if self.is_op("]") { None } else { Some(Box::new(self.expr(0)?)) };
            let end = self.expect_op("]")?;
            let span = obj.span.to(end);
            return Ok(Expr::new(Kind::Slice { obj: Box::new(obj), from: Some(Box::new(key)), to }, span));
        }
        let end = self.expect_op("]")?;
        let span = obj.span.to(end);
        Ok(Expr::new(Kind::Member { obj: Box::new(obj), key: Box::new(key), optional }, span))
    }

    /// Parses `( args )` into `args` (appending); returns the span of `)`. The argument at overall position 1 of a
    /// predicate builtin is parsed as a closure.
    fn call_args(&mut self, name: &str, args: &mut Vec<Expr>) -> Result<Span, ExprError> {
        self.expect_op("(")?;
        let predicate = PREDICATE_BUILTINS.contains(&name);
        loop {
            if self.is_op(")") {
                break;
            }
            let arg = if predicate && args.len() == 1 { self.predicate()? } else { self.expr(0)? };
            args.push(arg);
            if self.is_op(",") {
                self.next();
            } else {
                break;
            }
        }
        self.expect_op(")")
    }

    fn predicate(&mut self) -> Result<Expr, ExprError> {
        self.enter()?;
        let r = (|| {
            if self.is_op("{") {
                let start = self.next().span;
                let body = self.expr(0)?;
                let end = self.expect_op("}")?;
                Ok(Expr::new(Kind::Closure(Box::new(body)), start.to(end)))
            } else {
                let body = self.expr(0)?;
                let span = body.span;
                Ok(Expr::new(Kind::Closure(Box::new(body)), span))
            }
        })();
        self.depth -= 1;
        r
    }

    fn primary(&mut self) -> Result<Expr, ExprError> {
        let t = self.next();
        let span = t.span;
        Ok(match t.tok {
            Tok::Int(i) => Expr::new(Kind::Int(i), span),
            Tok::Float(f) => Expr::new(Kind::Float(f), span),
            Tok::Str(s) => Expr::new(Kind::Str(s), span),
            Tok::Pointer(p) => Expr::new(Kind::Pointer(p), span),
            Tok::Ident(name) => match name.as_str() {
                "true" => Expr::new(Kind::Bool(true), span),
                "false" => Expr::new(Kind::Bool(false), span),
                "nil" => Expr::new(Kind::Nil, span),
                _ if self.is_op("(") => {
                    let mut args = Vec::new();
                    let end = self.call_args(&name, &mut args)?;
                    Expr::new(Kind::Call { name, name_span: span, args }, span.to(end))
                }
                _ => Expr::new(Kind::Ident(name), span),
            },
            Tok::Op("(") => {
                let e = self.expr(0)?;
                self.expect_op(")")?;
                e
            }
            Tok::Op("[") => {
                let mut items = Vec::new();
                while !self.is_op("]") {
                    items.push(self.expr(0)?);
                    if self.is_op(",") {
                        self.next();
                    } else {
                        break;
                    }
                }
                let end = self.expect_op("]")?;
                Expr::new(Kind::Array(items), span.to(end))
            }
            Tok::Op("{") => {
                let mut entries = Vec::new();
                while !self.is_op("}") {
                    let kt = self.peek().clone();
                    let key = match kt.tok {
                        Tok::Ident(k) => {
                            self.next();
                            Expr::new(Kind::Str(k), kt.span)
                        }
                        Tok::Str(_) | Tok::Int(_) | Tok::Float(_) | Tok::Op("(") => self.unary()?,
                        other => {
                            return Err(ExprError::new(
                                format!("expected a map key, found {}", describe(&other)),
                                kt.span,
                            ));
                        }
                    };
                    self.expect_op(":")?;
                    let value = self.expr(0)?;
                    entries.push((key, value));
                    if self.is_op(",") {
                        self.next();
                    } else {
                        break;
                    }
                }
                let end = self.expect_op("}")?;
                Expr::new(Kind::Map(entries), span.to(end))
            }
            // `.field` shorthand inside a closure: a member of the closure element.
            Tok::Op(".") => {
                let pointer = Expr::new(Kind::Pointer(String::new()), span);
                self.pos -= 1;
                return Ok(pointer);
            }
            other => return Err(ExprError::new(format!("unexpected token {}", describe(&other)), span)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn show(e: &Expr) -> String {
        match &e.kind {
            Kind::Nil => "nil".into(),
            Kind::Bool(b) => b.to_string(),
            Kind::Int(i) => i.to_string(),
            Kind::Float(f) => format!("{f:?}"),
            Kind::Str(s) => format!("{s:?}"),
            Kind::Array(a) => format!("[{}]", a.iter().map(show).collect::<Vec<_>>().join(", ")),
            Kind::Map(m) => {
                format!(
                    "{{{}}}",
                    m.iter().map(|(k, v)| format!("{}: {}", show(k), show(v))).collect::<Vec<_>>().join(", ")
                )
            }
            Kind::Ident(n) => n.clone(),
            Kind::Pointer(p) => format!("#{p}"),
            Kind::Member { obj, key, optional } => {
                format!("{}{}[{}]", show(obj), if *optional { "?" } else { "" }, show(key))
            }
            Kind::Slice { obj, from, to } => format!(
                "{}[{}:{}]",
                show(obj),
                from.as_ref().map(|f| show(f)).unwrap_or_default(),
                to.as_ref().map(|f| show(f)).unwrap_or_default()
            ),
            Kind::Call { name, args, .. } => {
                format!("{name}({})", args.iter().map(show).collect::<Vec<_>>().join(", "))
            }
            Kind::Method { obj, name, args, .. } => {
                format!("{}.{name}({})", show(obj), args.iter().map(show).collect::<Vec<_>>().join(", "))
            }
            Kind::Chain(e) => format!("chain({})", show(e)),
            Kind::Closure(e) => format!("{{{}}}", show(e)),
            Kind::Unary { op, expr } => format!("({op:?} {})", show(expr)),
            Kind::Binary { op, lhs, rhs } => format!("({} {} {})", show(lhs), op.symbol(), show(rhs)),
            Kind::Ternary { cond, then, other } => format!("({} ? {} : {})", show(cond), show(then), show(other)),
            Kind::Let { name, value, body } => format!("(let {name} = {}; {})", show(value), show(body)),
        }
    }

    fn p(s: &str) -> String {
        show(&parse(s).unwrap_or_else(|e| panic!("{s}: {}", e.render(s))))
    }

    #[test]
    fn precedence() {
        assert_eq!(p("1 + 2 * 3"), "(1 + (2 * 3))");
        assert_eq!(p("a or b and c"), "(a or (b and c))");
        assert_eq!(p("a || b && c == d"), "(a or (b and (c == d)))");
        assert_eq!(p("2 ** 3 ** 2"), "(2 ** (3 ** 2))");
        assert_eq!(p("-2 ** 2"), "(Neg (2 ** 2))");
        assert_eq!(p("not a == b"), "((Not a) == b)");
        assert_eq!(p("a ?? b == c"), "((a ?? b) == c)");
        assert_eq!(p("a and b ? 1 : 2"), "((a and b) ? 1 : 2)");
        assert_eq!(p("a ? b : c ? d : e"), "(a ? b : (c ? d : e))");
        assert_eq!(p("1..3"), "(1 .. 3)");
        assert_eq!(p("x not in [1, 2]"), "(Not (x in [1, 2]))");
        assert_eq!(p("x not startsWith 'a' and y"), "((Not (x startsWith \"a\")) and y)");
    }

    #[test]
    fn members_calls_closures() {
        assert_eq!(p("evt.Meta.x"), "evt[\"Meta\"][\"x\"]");
        assert_eq!(p("evt.Meta['x y']"), "evt[\"Meta\"][\"x y\"]");
        assert_eq!(p("a?.b.c"), "chain(a?[\"b\"][\"c\"])");
        assert_eq!(p("a[1:]"), "a[1:]");
        assert_eq!(p("a[:-2]"), "a[:-2]");
        assert_eq!(p("evt.GetMeta('x')"), "evt.GetMeta(\"x\")");
        assert_eq!(p("any(xs, {# > 1})"), "any(xs, {(# > 1)})");
        assert_eq!(p("any(xs, # > 1)"), "any(xs, {(# > 1)})");
        assert_eq!(p("filter(q, {.GetMeta('a') == 1})"), "filter(q, {(#.GetMeta(\"a\") == 1)})");
        assert_eq!(p("xs | map(#.a) | len()"), "len(map(xs, {#[\"a\"]}))");
        assert_eq!(p("{a: 1, 'b': [2]}"), "{\"a\": 1, \"b\": [2]}");
        assert_eq!(p("let x = 1; x + 1"), "(let x = 1; (x + 1))");
        assert_eq!(p("if a { 1 } else if b { 2 } else { 3 }"), "(a ? 1 : (b ? 2 : 3))");
    }

    #[test]
    fn errors() {
        for bad in ["1 +", "(1", "a.", "[1, 2", "let = 1; 2", "if a { 1 }", "a b", "{a 1}", "x | 1", ")"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        let deep = format!("{}1{}", "(".repeat(500), ")".repeat(500));
        assert!(parse(&deep).unwrap_err().message.contains("nested too deeply"));
        let deep = format!("{}1", "-".repeat(10_000));
        assert!(parse(&deep).unwrap_err().message.contains("nested too deeply"));
        let long = vec!["1"; 100_000].join(" + ");
        assert!(parse(&long).unwrap_err().message.contains("nested too deeply"));
        let chain = format!("a{}", ".b".repeat(100_000));
        assert!(parse(&chain).unwrap_err().message.contains("nested too deeply"));
        let pipes = format!("x{}", " | f()".repeat(10_000));
        assert!(parse(&pipes).unwrap_err().message.contains("nested too deeply"));
    }
}
