//! SpamAssassin's small expression language, shared by `meta` rules (rule names, numbers,
//! `&& || !`, arithmetic and comparisons) and `if (...)` conditions (`version`, `plugin(X)`,
//! `can(X)`, `has(X)`). Parsed once into a tree; evaluated per message.

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Number(f64),
    /// A rule name (meta) or a bare word of a condition.
    Name(String),
    /// A rule name resolved to the rule's index once rules are compiled (no lookup by name
    /// per message).
    Rule(usize),
    /// `plugin(X)`, `can(X)`, `has(X)`: a call with one argument, as written.
    Call(String, String),
    Not(Box<Expr>),
    Neg(Box<Expr>),
    Binary(Box<Expr>, Op, Box<Expr>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Or,
    And,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Add,
    Sub,
    Mul,
    Div,
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Number(f64),
    Name(String),
    Call(String, String),
    Op(&'static str),
    Open,
    Close,
}

fn tokens(text: &str) -> Result<Vec<Token>, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c.is_ascii_whitespace() {
            i += 1;
        } else if c == b'(' {
            out.push(Token::Open);
            i += 1;
        } else if c == b')' {
            out.push(Token::Close);
            i += 1;
        } else if c.is_ascii_digit()
            || (c == b'.' && bytes.get(i + 1).is_some_and(u8::is_ascii_digit))
        {
            let start = i;
            while i < bytes.len() && (bytes[i].is_ascii_digit() || bytes[i] == b'.') {
                i += 1;
            }
            let n = text[start..i]
                .parse::<f64>()
                .map_err(|_| format!("bad number {:?}", &text[start..i]))?;
            out.push(Token::Number(n));
        } else if c.is_ascii_alphabetic() || c == b'_' {
            let start = i;
            while i < bytes.len()
                && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_' || bytes[i] == b':')
            {
                i += 1;
            }
            let word = &text[start..i];
            // A call: `plugin(Mail::SpamAssassin::Plugin::X)`.
            let mut j = i;
            while j < bytes.len() && bytes[j] == b' ' {
                j += 1;
            }
            if matches!(word, "plugin" | "can" | "has") && bytes.get(j) == Some(&b'(') {
                let close = text[j..]
                    .find(')')
                    .ok_or_else(|| format!("unclosed {word}("))?;
                out.push(Token::Call(
                    word.to_string(),
                    text[j + 1..j + close].trim().to_string(),
                ));
                i = j + close + 1;
            } else {
                out.push(Token::Name(word.to_string()));
            }
        } else {
            let two = text.get(i..i + 2).unwrap_or("");
            let op = match two {
                "&&" | "||" | "==" | "!=" | "<=" | ">=" => {
                    i += 2;
                    match two {
                        "&&" => "&&",
                        "||" => "||",
                        "==" => "==",
                        "!=" => "!=",
                        "<=" => "<=",
                        _ => ">=",
                    }
                }
                _ => {
                    i += 1;
                    match c {
                        b'!' => "!",
                        b'<' => "<",
                        b'>' => ">",
                        b'+' => "+",
                        b'-' => "-",
                        b'*' => "*",
                        b'/' => "/",
                        _ => {
                            return Err(format!(
                                "unexpected {:?}",
                                text[i - 1..].chars().next().unwrap_or(' ')
                            ))
                        }
                    }
                }
            };
            out.push(Token::Op(op));
        }
    }
    Ok(out)
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
    depth: usize,
}

/// Nesting beyond this is refused (the parser and evaluator recurse once per level).
const MAX_DEPTH: usize = 128;

impl Parser {
    fn peek_op(&self) -> Option<&'static str> {
        match self.tokens.get(self.at) {
            Some(Token::Op(op)) => Some(op),
            _ => None,
        }
    }

    fn binary(&mut self, level: usize) -> Result<Expr, String> {
        // Perl's precedence, loosest first.
        const LEVELS: [&[(&str, Op)]; 5] = [
            &[("||", Op::Or)],
            &[("&&", Op::And)],
            &[("==", Op::Eq), ("!=", Op::Ne)],
            &[(">=", Op::Ge), ("<=", Op::Le), (">", Op::Gt), ("<", Op::Lt)],
            &[("+", Op::Add), ("-", Op::Sub)],
        ];
        if level == LEVELS.len() {
            return self.product();
        }
        let mut left = self.binary(level + 1)?;
        while let Some(op) = self
            .peek_op()
            .and_then(|t| LEVELS[level].iter().find(|(s, _)| *s == t))
            .map(|(_, op)| *op)
        {
            self.at += 1;
            let right = self.binary(level + 1)?;
            left = Expr::Binary(Box::new(left), op, Box::new(right));
        }
        Ok(left)
    }

    fn product(&mut self) -> Result<Expr, String> {
        let mut left = self.unary()?;
        while let Some(op) = match self.peek_op() {
            Some("*") => Some(Op::Mul),
            Some("/") => Some(Op::Div),
            _ => None,
        } {
            self.at += 1;
            let right = self.unary()?;
            left = Expr::Binary(Box::new(left), op, Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(format!("nested more than {MAX_DEPTH} levels"));
        }
        let parsed = self.unary_inner();
        self.depth -= 1;
        parsed
    }

    fn unary_inner(&mut self) -> Result<Expr, String> {
        match self.peek_op() {
            Some("!") => {
                self.at += 1;
                Ok(Expr::Not(Box::new(self.unary()?)))
            }
            Some("-") => {
                self.at += 1;
                Ok(Expr::Neg(Box::new(self.unary()?)))
            }
            Some("+") => {
                self.at += 1;
                self.unary()
            }
            _ => self.primary(),
        }
    }

    fn primary(&mut self) -> Result<Expr, String> {
        let token = self
            .tokens
            .get(self.at)
            .cloned()
            .ok_or("the expression ends too early")?;
        self.at += 1;
        match token {
            Token::Number(n) => Ok(Expr::Number(n)),
            Token::Name(n) => Ok(Expr::Name(n)),
            Token::Call(f, a) => Ok(Expr::Call(f, a)),
            Token::Open => {
                let inner = self.binary(0)?;
                match self.tokens.get(self.at) {
                    Some(Token::Close) => {
                        self.at += 1;
                        Ok(inner)
                    }
                    _ => Err("a '(' is not closed".into()),
                }
            }
            Token::Close => Err("unexpected ')'".into()),
            Token::Op(op) => Err(format!("unexpected '{op}'")),
        }
    }
}

pub fn parse(text: &str) -> Result<Expr, String> {
    let mut parser = Parser {
        tokens: tokens(text)?,
        at: 0,
        depth: 0,
    };
    let expr = parser.binary(0)?;
    if parser.at != parser.tokens.len() {
        return Err("text after the end of the expression".into());
    }
    Ok(expr)
}

impl Expr {
    /// The value, with names and calls resolved by `lookup` (Perl's truth: non-zero).
    pub fn eval(&self, lookup: &mut dyn FnMut(&Expr) -> f64) -> f64 {
        let truth = |b: bool| if b { 1.0 } else { 0.0 };
        match self {
            Expr::Number(n) => *n,
            Expr::Name(_) | Expr::Rule(_) | Expr::Call(..) => lookup(self),
            Expr::Not(e) => truth(e.eval(lookup) == 0.0),
            Expr::Neg(e) => -e.eval(lookup),
            Expr::Binary(l, op, r) => {
                let a = l.eval(lookup);
                match op {
                    // Perl's || and && return the deciding operand.
                    Op::Or => {
                        if a != 0.0 {
                            a
                        } else {
                            r.eval(lookup)
                        }
                    }
                    Op::And => {
                        if a == 0.0 {
                            a
                        } else {
                            r.eval(lookup)
                        }
                    }
                    _ => {
                        let b = r.eval(lookup);
                        match op {
                            Op::Eq => truth(a == b),
                            Op::Ne => truth(a != b),
                            Op::Lt => truth(a < b),
                            Op::Le => truth(a <= b),
                            Op::Gt => truth(a > b),
                            Op::Ge => truth(a >= b),
                            Op::Add => a + b,
                            Op::Sub => a - b,
                            Op::Mul => a * b,
                            Op::Div if b == 0.0 => 0.0,
                            Op::Div => a / b,
                            Op::Or | Op::And => unreachable!("handled above"),
                        }
                    }
                }
            }
        }
    }

    /// Names replaced by `index(name)`'s rule, or by 0 (never hit) where it names none.
    pub fn resolve_names(&mut self, index: &dyn Fn(&str) -> Option<usize>) {
        match self {
            Expr::Name(n) => {
                *self = index(n).map_or(Expr::Number(0.0), Expr::Rule);
            }
            Expr::Not(e) | Expr::Neg(e) => e.resolve_names(index),
            Expr::Binary(l, _, r) => {
                l.resolve_names(index);
                r.resolve_names(index);
            }
            Expr::Number(_) | Expr::Rule(_) | Expr::Call(..) => {}
        }
    }

    /// Every rule name the expression reads.
    pub fn names(&self, out: &mut Vec<String>) {
        match self {
            Expr::Name(n) => out.push(n.clone()),
            Expr::Not(e) | Expr::Neg(e) => e.names(out),
            Expr::Binary(l, _, r) => {
                l.names(out);
                r.names(out);
            }
            Expr::Number(_) | Expr::Rule(_) | Expr::Call(..) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(text: &str, values: &[(&str, f64)]) -> f64 {
        parse(text).unwrap().eval(&mut |e| match e {
            Expr::Name(n) => values.iter().find(|(k, _)| k == n).map_or(0.0, |(_, v)| *v),
            _ => 0.0,
        })
    }

    #[test]
    fn meta_expressions_follow_perl_precedence() {
        let v = [("__A", 1.0), ("__B", 0.0), ("__C", 3.0)];
        assert_eq!(eval("__A && !__B", &v), 1.0);
        assert_eq!(eval("__A && __B || __C > 2", &v), 1.0);
        assert_eq!(eval("(__A + __B + __C) >= 4", &v), 1.0);
        assert_eq!(eval("__A + __B * 2 > 1", &v), 0.0);
        assert_eq!(eval("!(__A || __B)", &v), 0.0);
        assert_eq!(eval("__C / 0", &v), 0.0);
        assert_eq!(eval("__UNKNOWN == 0", &v), 1.0);
    }

    #[test]
    fn conditions_parse_calls_and_versions() {
        let e =
            parse("(version >= 3.004000 && !plugin(Mail::SpamAssassin::Plugin::DKIM))").unwrap();
        let value = e.eval(&mut |e| match e {
            Expr::Name(n) if n == "version" => 4.000001,
            Expr::Call(f, a) if f == "plugin" && a.ends_with("DKIM") => 1.0,
            _ => 0.0,
        });
        assert_eq!(value, 0.0);
        assert!(parse("a && (b").is_err());
        let deep = format!("{}a{}", "(".repeat(10_000), ")".repeat(10_000));
        assert!(parse(&deep).unwrap_err().contains("nested"));
        assert!(parse(&"!".repeat(10_000)).is_err());
        assert!(parse("a b").is_err());
    }
}
