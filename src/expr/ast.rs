//! The syntax tree the parser produces and the compiler consumes. Every node carries the byte span of its source
//! so compile and runtime errors can point at it.

use super::error::Span;

#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    pub kind: Kind,
    pub span: Span,
    /// Height of this subtree (a leaf is 1). The parser bounds it so compiling and evaluating, which recurse over
    /// the tree, cannot overflow the stack.
    pub depth: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnOp {
    Not,
    Neg,
    Plus,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    Or,
    And,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    In,
    Matches,
    Contains,
    StartsWith,
    EndsWith,
    Range,
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
    Coalesce,
}

impl BinOp {
    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Or => "or",
            BinOp::And => "and",
            BinOp::Eq => "==",
            BinOp::Ne => "!=",
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::Gt => ">",
            BinOp::Ge => ">=",
            BinOp::In => "in",
            BinOp::Matches => "matches",
            BinOp::Contains => "contains",
            BinOp::StartsWith => "startsWith",
            BinOp::EndsWith => "endsWith",
            BinOp::Range => "..",
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Mod => "%",
            BinOp::Pow => "**",
            BinOp::Coalesce => "??",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Kind {
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Array(Vec<Expr>),
    /// `{key: value}`; bare identifier keys are stored as string literals.
    Map(Vec<(Expr, Expr)>),
    Ident(String),
    /// `#` (empty name), `#index`, `#acc`.
    Pointer(String),
    /// `obj.name`, `obj?.name`, `obj[key]`, `obj?.[key]`.
    Member {
        obj: Box<Expr>,
        key: Box<Expr>,
        optional: bool,
    },
    /// `obj[from:to]`.
    Slice {
        obj: Box<Expr>,
        from: Option<Box<Expr>>,
        to: Option<Box<Expr>>,
    },
    /// `name(args)`: a builtin or helper.
    Call {
        name: String,
        name_span: Span,
        args: Vec<Expr>,
    },
    /// `obj.name(args)`: a method of a host value.
    Method {
        obj: Box<Expr>,
        name: String,
        args: Vec<Expr>,
        optional: bool,
    },
    /// A member chain that contains `?.`: a nil receiver there makes the whole chain nil.
    Chain(Box<Expr>),
    /// A predicate `{ … }` passed to a builtin.
    Closure(Box<Expr>),
    Unary {
        op: UnOp,
        expr: Box<Expr>,
    },
    Binary {
        op: BinOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
    /// `cond ? a : b` and `if cond { a } else { b }`.
    Ternary {
        cond: Box<Expr>,
        then: Box<Expr>,
        other: Box<Expr>,
    },
    Let {
        name: String,
        value: Box<Expr>,
        body: Box<Expr>,
    },
}

/// Calls `$f` on every direct sub-expression of a `Kind`, in source order. One body for the shared and the
/// mutable walk, so they cannot drift apart.
macro_rules! each_child {
    ($kind:expr, $f:ident, $($r:tt)*) => {
        match $kind {
            Kind::Nil | Kind::Bool(_) | Kind::Int(_) | Kind::Float(_) | Kind::Str(_) | Kind::Ident(_) | Kind::Pointer(_) => {}
            Kind::Array(items) | Kind::Call { args: items, .. } => items.$($r)*().for_each(|e| $f(e)),
            Kind::Map(items) => items.$($r)*().for_each(|(k, v)| {
                $f(k);
                $f(v)
            }),
            Kind::Member { obj, key, .. } => {
                $f(obj);
                $f(key)
            }
            Kind::Slice { obj, from, to } => {
                $f(obj);
                from.$($r)*().chain(to.$($r)*()).for_each(|e| $f(e))
            }
            Kind::Method { obj, args, .. } => {
                $f(obj);
                args.$($r)*().for_each(|e| $f(e))
            }
            Kind::Chain(e) | Kind::Closure(e) | Kind::Unary { expr: e, .. } => $f(e),
            Kind::Binary { lhs, rhs, .. } => {
                $f(lhs);
                $f(rhs)
            }
            Kind::Ternary { cond, then, other } => {
                $f(cond);
                $f(then);
                $f(other)
            }
            Kind::Let { value, body, .. } => {
                $f(value);
                $f(body)
            }
        }
    };
}

impl Kind {
    /// Calls `f` on every direct sub-expression, in source order.
    pub fn for_each_child<'e>(&'e self, mut f: impl FnMut(&'e Expr)) {
        each_child!(self, f, iter)
    }

    /// Calls `f` on every direct sub-expression, in source order, for rewriting them.
    pub fn for_each_child_mut(&mut self, mut f: impl FnMut(&mut Expr)) {
        each_child!(self, f, iter_mut)
    }
}

impl Expr {
    pub fn new(kind: Kind, span: Span) -> Self {
        let mut child = 0;
        kind.for_each_child(|e| child = child.max(e.depth));
        Expr { kind, span, depth: child + 1 }
    }
}
