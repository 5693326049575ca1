//! The parser of Go's text/template: a token stream into trees of nodes, one tree per
//! template (the file itself and each `define`/`block` in it), with Go's checks
//! (undefined variables and functions, `break` outside `range`, empty pipelines) and
//! its messages.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use crate::lex::{lex, Kind, Token};

/// A parse failure as Go reports it: `template: NAME:LINE: MESSAGE`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("template: {name}:{line}: {message}")]
pub struct ParseError {
    /// The name the text was parsed under (for Helm, the template's file path).
    pub name: String,
    pub line: usize,
    pub message: String,
}

/// A number literal with the forms Go gives it: `IsInt` when it is an integer value
/// (`3`, `0x10`, `'a'`, `1e3`), `IsFloat` when it parses as a float.
#[derive(Debug, Clone, PartialEq)]
pub struct Number {
    pub text: String,
    pub int: Option<i64>,
    pub float: Option<f64>,
    /// A rune literal (`'a'`): always an int, whatever float it also is.
    pub is_char: bool,
    /// Too big for int64 but fits uint64.
    pub is_uint: bool,
}

/// An operand.
#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    /// `.A.B` (just `.A` for one name).
    Field {
        pos: usize,
        idents: Vec<String>,
    },
    /// `$x.A.B`; `name` keeps its `$`.
    Variable {
        pos: usize,
        name: String,
        idents: Vec<String>,
    },
    Dot {
        pos: usize,
    },
    Nil {
        pos: usize,
    },
    Bool {
        pos: usize,
        value: bool,
    },
    Number {
        pos: usize,
        number: Number,
    },
    String {
        pos: usize,
        quoted: String,
        value: String,
    },
    /// A function name.
    Identifier {
        pos: usize,
        name: String,
    },
    /// A parenthesized pipeline.
    Pipe(Box<Pipe>),
    /// `(pipeline).A.B` or `func.A`: fields off something other than dot or a variable.
    Chain {
        pos: usize,
        node: Box<Arg>,
        fields: Vec<String>,
    },
}

impl Arg {
    pub fn pos(&self) -> usize {
        match self {
            Arg::Field { pos, .. }
            | Arg::Variable { pos, .. }
            | Arg::Dot { pos }
            | Arg::Nil { pos }
            | Arg::Bool { pos, .. }
            | Arg::Number { pos, .. }
            | Arg::String { pos, .. }
            | Arg::Identifier { pos, .. }
            | Arg::Chain { pos, .. } => *pos,
            Arg::Pipe(pipe) => pipe.pos,
        }
    }
}

/// One command of a pipeline: an operand and its arguments.
#[derive(Debug, Clone, PartialEq)]
pub struct Command {
    pub pos: usize,
    pub args: Vec<Arg>,
}

/// A pipeline, with its variable declarations (`$x :=`) or assignment (`$x =`).
#[derive(Debug, Clone, PartialEq)]
pub struct Pipe {
    pub pos: usize,
    pub line: usize,
    pub is_assign: bool,
    pub decl: Vec<String>,
    pub cmds: Vec<Command>,
}

/// A node of a template's list.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    /// Text between actions: a span of the tree's `text` (no copy of its own).
    Text {
        start: usize,
        end: usize,
    },
    Action {
        pos: usize,
        pipe: Pipe,
    },
    If(Box<Branch>),
    Range(Box<Branch>),
    With(Box<Branch>),
    Template {
        pos: usize,
        name: String,
        pipe: Option<Pipe>,
    },
    Break {
        pos: usize,
    },
    Continue {
        pos: usize,
    },
}

/// The parts of `if`, `range` and `with`.
#[derive(Debug, Clone, PartialEq)]
pub struct Branch {
    pub pos: usize,
    pub pipe: Pipe,
    pub list: Vec<Node>,
    pub else_list: Option<Vec<Node>>,
}

/// One parsed template.
#[derive(Debug, Clone)]
pub struct Tree {
    pub name: String,
    /// The name of the text it was parsed from (positions refer to that text).
    pub parse_name: String,
    pub text: Arc<str>,
    pub root: Vec<Node>,
}

impl Tree {
    /// `NAME:LINE:COL` of a byte position, as Go's ErrorContext gives it (the column
    /// counts bytes from 0).
    pub fn location(&self, pos: usize) -> String {
        let before = &self.text[..pos.min(self.text.len())];
        let line = 1 + before.matches('\n').count();
        let col = match before.rfind('\n') {
            Some(newline) => pos - newline - 1,
            None => pos,
        };
        format!("{}:{line}:{col}", self.parse_name)
    }
}

/// Whether a template's body has nothing but whitespace text (Go keeps an earlier
/// definition over such a one).
pub fn is_empty_tree(nodes: &[Node], text: &str) -> bool {
    nodes.iter().all(|n| match n {
        Node::Text { start, end } => text[*start..*end].trim().is_empty(),
        _ => false,
    })
}

/// Parses `text` as template `name`: the trees it defines, the file's own first.
/// `is_function` says whether a name is a function (Go refuses unknown ones here).
pub fn parse(
    name: &str,
    text: &str,
    left: &str,
    right: &str,
    is_function: &dyn Fn(&str) -> bool,
) -> Result<Vec<Tree>, ParseError> {
    let tokens = lex(text, left, right).map_err(|e| ParseError {
        name: name.to_owned(),
        line: e.line,
        message: e.message,
    })?;
    let shared: Arc<str> = Arc::from(text);
    let mut parser = Parser {
        input: text,
        tokens,
        at: 0,
        name: name.to_owned(),
        vars: vec!["$".to_owned()],
        range_depth: 0,
        is_function,
        defined: HashMap::new(),
        order: Vec::new(),
    };
    let root = parser.parse_top()?;
    let mut trees = vec![Tree {
        name: name.to_owned(),
        parse_name: name.to_owned(),
        text: shared.clone(),
        root,
    }];
    for defined in std::mem::take(&mut parser.order) {
        if let Some(root) = parser.defined.remove(&defined) {
            trees.push(Tree {
                name: defined,
                parse_name: name.to_owned(),
                text: shared.clone(),
                root,
            });
        }
    }
    Ok(trees)
}

struct Parser<'a> {
    /// The text the tokens are slices of.
    input: &'a str,
    tokens: Vec<Token<'a>>,
    at: usize,
    name: String,
    vars: Vec<String>,
    range_depth: usize,
    is_function: &'a dyn Fn(&str) -> bool,
    defined: HashMap<String, Vec<Node>>,
    order: Vec<String>,
}

/// How an action ended a list.
enum Stop {
    End,
    Else,
}

/// What one list item turned out to be.
enum Item {
    Node(Node),
    Stop(Stop),
}

impl<'a> Parser<'a> {
    fn peek(&self) -> &Token<'a> {
        &self.tokens[self.at.min(self.tokens.len() - 1)]
    }

    fn next(&mut self) -> Token<'a> {
        let token = *self.peek();
        if self.at < self.tokens.len() {
            self.at += 1;
        }
        token
    }

    fn peek_non_space(&mut self) -> Token<'a> {
        while self.peek().kind == Kind::Space {
            self.at += 1;
        }
        *self.peek()
    }

    fn next_non_space(&mut self) -> Token<'a> {
        self.peek_non_space();
        self.next()
    }

    fn backup(&mut self) {
        self.at -= 1;
    }

    fn error(&self, message: impl Into<String>) -> ParseError {
        let line = self.tokens[self.at.saturating_sub(1).min(self.tokens.len() - 1)].line;
        ParseError {
            name: self.name.clone(),
            line,
            message: message.into(),
        }
    }

    fn unexpected(&self, token: &Token, context: &str) -> ParseError {
        self.error(format!("unexpected {} in {context}", describe(token)))
    }

    fn expect(&mut self, kind: Kind, context: &str) -> Result<Token<'a>, ParseError> {
        let token = self.next_non_space();
        if token.kind != kind {
            return Err(self.unexpected(&token, context));
        }
        Ok(token)
    }

    fn parse_top(&mut self) -> Result<Vec<Node>, ParseError> {
        let mut root = Vec::new();
        while self.peek().kind != Kind::Eof {
            if self.peek().kind == Kind::LeftDelim {
                let delim = self.at;
                self.next();
                let word = self.next_non_space();
                if word.kind == Kind::Keyword && word.text == "define" {
                    self.parse_definition()?;
                    continue;
                }
                self.at = delim;
            }
            match self.text_or_action()? {
                Item::Node(node) => root.push(node),
                Item::Stop(Stop::End) => return Err(self.error("unexpected {{end}}")),
                Item::Stop(Stop::Else) => return Err(self.error("unexpected {{else}}")),
            }
        }
        Ok(root)
    }

    fn parse_definition(&mut self) -> Result<(), ParseError> {
        const CONTEXT: &str = "define clause";
        let token = self.next_non_space();
        let name = self.template_name(&token, CONTEXT)?;
        self.expect(Kind::RightDelim, CONTEXT)?;
        let saved = std::mem::replace(&mut self.vars, vec!["$".to_owned()]);
        let (list, stop) = self.item_list()?;
        self.vars = saved;
        if !matches!(stop, Stop::End) {
            return Err(self.error(format!("unexpected {{{{else}}}} in {CONTEXT}")));
        }
        self.add_definition(name, list)
    }

    /// Go's `add`: an empty definition never replaces another; two non-empty ones
    /// in one text are an error.
    fn add_definition(&mut self, name: String, list: Vec<Node>) -> Result<(), ParseError> {
        match self.defined.get(&name) {
            Some(existing) if !is_empty_tree(existing, self.input) => {
                if !is_empty_tree(&list, self.input) {
                    return Err(self.error(format!(
                        "template: multiple definition of template {name:?}"
                    )));
                }
            }
            _ => {
                if !self.defined.contains_key(&name) {
                    self.order.push(name.clone());
                }
                self.defined.insert(name, list);
            }
        }
        Ok(())
    }

    fn template_name(&self, token: &Token, context: &str) -> Result<String, ParseError> {
        match token.kind {
            Kind::String | Kind::RawString => unquote(token.text)
                .ok_or_else(|| self.error(format!("invalid syntax: {}", token.text))),
            _ => Err(self.unexpected(token, context)),
        }
    }

    fn item_list(&mut self) -> Result<(Vec<Node>, Stop), ParseError> {
        let mut list = Vec::new();
        while self.peek_non_space_in_text().kind != Kind::Eof {
            match self.text_or_action()? {
                Item::Node(node) => list.push(node),
                Item::Stop(stop) => return Ok((list, stop)),
            }
        }
        Err(self.error("unexpected EOF"))
    }

    /// The next token, not skipping anything: spaces only occur inside actions.
    fn peek_non_space_in_text(&self) -> &Token<'a> {
        self.peek()
    }

    fn text_or_action(&mut self) -> Result<Item, ParseError> {
        let token = self.next_non_space();
        match token.kind {
            Kind::Text => Ok(Item::Node(Node::Text {
                start: token.pos,
                end: token.pos + token.text.len(),
            })),
            Kind::LeftDelim => self.action(),
            _ => Err(self.unexpected(&token, "input")),
        }
    }

    fn action(&mut self) -> Result<Item, ParseError> {
        let token = self.next_non_space();
        if token.kind == Kind::Keyword {
            return match token.text {
                "block" => self.block_control().map(Item::Node),
                "break" | "continue" => {
                    let end = self.next_non_space();
                    let context = format!("{{{{{}}}}}", token.text);
                    if end.kind != Kind::RightDelim {
                        return Err(self.unexpected(&end, &context));
                    }
                    if self.range_depth == 0 {
                        return Err(self.error(format!("{context} outside {{{{range}}}}")));
                    }
                    Ok(Item::Node(if token.text == "break" {
                        Node::Break { pos: token.pos }
                    } else {
                        Node::Continue { pos: token.pos }
                    }))
                }
                "else" => {
                    let peek = self.peek_non_space();
                    if peek.kind == Kind::Keyword && (peek.text == "if" || peek.text == "with") {
                        return Ok(Item::Stop(Stop::Else));
                    }
                    self.expect(Kind::RightDelim, "else")?;
                    Ok(Item::Stop(Stop::Else))
                }
                "end" => {
                    self.expect(Kind::RightDelim, "end")?;
                    Ok(Item::Stop(Stop::End))
                }
                "if" => self
                    .control("if")
                    .map(|b| Item::Node(Node::If(Box::new(b)))),
                "range" => self
                    .control("range")
                    .map(|b| Item::Node(Node::Range(Box::new(b)))),
                "with" => self
                    .control("with")
                    .map(|b| Item::Node(Node::With(Box::new(b)))),
                "template" => self.template_control().map(Item::Node),
                _ => Err(self.unexpected(&token, "command")),
            };
        }
        self.backup();
        let pos = self.peek().pos;
        let pipe = self.pipeline("command", Kind::RightDelim)?;
        Ok(Item::Node(Node::Action { pos, pipe }))
    }

    fn control(&mut self, context: &str) -> Result<Branch, ParseError> {
        let vars = self.vars.len();
        let result = self.control_inner(context);
        self.vars.truncate(vars);
        result
    }

    fn control_inner(&mut self, context: &str) -> Result<Branch, ParseError> {
        let pipe = self.pipeline(context, Kind::RightDelim)?;
        if context == "range" {
            self.range_depth += 1;
        }
        let listed = self.item_list();
        if context == "range" {
            self.range_depth -= 1;
        }
        let (list, stop) = listed?;
        let else_list = match stop {
            Stop::End => None,
            Stop::Else => {
                let peek = self.peek_non_space();
                let chained = peek.kind == Kind::Keyword
                    && ((context == "if" && peek.text == "if")
                        || (context == "with" && peek.text == "with"));
                if chained {
                    // `{{else if ...}}` is `{{else}}{{if ...}}...{{end}}{{end}}` sharing
                    // one `{{end}}`.
                    self.next();
                    let inner = self.control(context)?;
                    Some(vec![if context == "if" {
                        Node::If(Box::new(inner))
                    } else {
                        Node::With(Box::new(inner))
                    }])
                } else {
                    let (list, stop) = self.item_list()?;
                    if !matches!(stop, Stop::End) {
                        return Err(self.error("expected end; found {{else}}"));
                    }
                    Some(list)
                }
            }
        };
        Ok(Branch {
            pos: pipe.pos,
            pipe,
            list,
            else_list,
        })
    }

    fn template_control(&mut self) -> Result<Node, ParseError> {
        const CONTEXT: &str = "template clause";
        let token = self.next_non_space();
        let name = self.template_name(&token, CONTEXT)?;
        let pipe = if self.next_non_space().kind != Kind::RightDelim {
            self.backup();
            Some(self.pipeline(CONTEXT, Kind::RightDelim)?)
        } else {
            None
        };
        Ok(Node::Template {
            pos: token.pos,
            name,
            pipe,
        })
    }

    fn block_control(&mut self) -> Result<Node, ParseError> {
        const CONTEXT: &str = "block clause";
        let token = self.next_non_space();
        let name = self.template_name(&token, CONTEXT)?;
        let pipe = self.pipeline(CONTEXT, Kind::RightDelim)?;
        let saved_vars = std::mem::replace(&mut self.vars, vec!["$".to_owned()]);
        let saved_depth = std::mem::replace(&mut self.range_depth, 0);
        let listed = self.item_list();
        self.vars = saved_vars;
        self.range_depth = saved_depth;
        let (list, stop) = listed?;
        if !matches!(stop, Stop::End) {
            return Err(self.error(format!("unexpected {{{{else}}}} in {CONTEXT}")));
        }
        self.add_definition(name.clone(), list)?;
        Ok(Node::Template {
            pos: token.pos,
            name,
            pipe: Some(pipe),
        })
    }

    fn pipeline(&mut self, context: &str, end: Kind) -> Result<Pipe, ParseError> {
        let first = self.peek_non_space();
        let mut pipe = Pipe {
            pos: first.pos,
            line: first.line,
            is_assign: false,
            decl: Vec::new(),
            cmds: Vec::new(),
        };
        // Declarations: `$x :=`, `$x =`, `$i, $v :=` (range only).
        loop {
            let v = self.peek_non_space();
            if v.kind != Kind::Variable {
                break;
            }
            let var_at = self.at;
            self.next();
            let next = self.peek_non_space();
            match next.kind {
                Kind::Assign | Kind::Declare => {
                    pipe.is_assign = next.kind == Kind::Assign;
                    self.next_non_space();
                    pipe.decl.push(v.text.to_owned());
                    self.vars.push(v.text.to_owned());
                    break;
                }
                Kind::Comma => {
                    self.next_non_space();
                    pipe.decl.push(v.text.to_owned());
                    self.vars.push(v.text.to_owned());
                    if context == "range" && pipe.decl.len() < 2 {
                        let peek = self.peek_non_space();
                        if matches!(
                            peek.kind,
                            Kind::Variable | Kind::RightDelim | Kind::RightParen
                        ) {
                            continue;
                        }
                        return Err(self.error("range can only initialize variables"));
                    }
                    return Err(self.error(format!("too many declarations in {context}")));
                }
                _ => {
                    self.at = var_at;
                    break;
                }
            }
        }
        loop {
            let token = self.next_non_space();
            if token.kind == end {
                return self.check_pipeline(pipe, context);
            }
            match token.kind {
                Kind::Bool
                | Kind::Char
                | Kind::Dot
                | Kind::Field
                | Kind::Identifier
                | Kind::Number
                | Kind::Nil
                | Kind::RawString
                | Kind::String
                | Kind::Variable
                | Kind::LeftParen => {
                    self.backup();
                    let cmd = self.command()?;
                    pipe.cmds.push(cmd);
                }
                _ => return Err(self.unexpected(&token, context)),
            }
        }
    }

    fn check_pipeline(&self, pipe: Pipe, context: &str) -> Result<Pipe, ParseError> {
        if pipe.cmds.is_empty() {
            return Err(self.error(format!("missing value for {context}")));
        }
        for (i, cmd) in pipe.cmds.iter().enumerate().skip(1) {
            if matches!(
                cmd.args.first(),
                Some(
                    Arg::Bool { .. }
                        | Arg::Dot { .. }
                        | Arg::Nil { .. }
                        | Arg::Number { .. }
                        | Arg::String { .. }
                )
            ) {
                return Err(self.error(format!(
                    "non executable command in pipeline stage {}",
                    i + 1
                )));
            }
        }
        Ok(pipe)
    }

    fn command(&mut self) -> Result<Command, ParseError> {
        let pos = self.peek_non_space().pos;
        let mut cmd = Command {
            pos,
            args: Vec::new(),
        };
        loop {
            self.peek_non_space();
            if let Some(operand) = self.operand()? {
                cmd.args.push(operand);
            }
            let token = self.next();
            match token.kind {
                Kind::Space => continue,
                Kind::RightDelim | Kind::RightParen => self.backup(),
                Kind::Pipe => {}
                _ => return Err(self.unexpected(&token, "operand")),
            }
            break;
        }
        if cmd.args.is_empty() {
            return Err(self.error("empty command"));
        }
        Ok(cmd)
    }

    fn operand(&mut self) -> Result<Option<Arg>, ParseError> {
        let Some(node) = self.term()? else {
            return Ok(None);
        };
        if self.peek().kind != Kind::Field {
            return Ok(Some(node));
        }
        // Go places a chain (and a field or variable grown by one) at its first
        // added field.
        let pos = self.peek().pos;
        let mut fields = Vec::new();
        while self.peek().kind == Kind::Field {
            fields.push(self.next().text[1..].to_owned());
        }
        Ok(Some(match node {
            Arg::Field { mut idents, .. } => {
                idents.extend(fields);
                Arg::Field { pos, idents }
            }
            Arg::Variable {
                name, mut idents, ..
            } => {
                idents.extend(fields);
                Arg::Variable { pos, name, idents }
            }
            Arg::Bool { .. }
            | Arg::String { .. }
            | Arg::Number { .. }
            | Arg::Nil { .. }
            | Arg::Dot { .. } => {
                return Err(self.error(format!(
                    "unexpected . after term {}",
                    crate::gofmt::quote(&ArgDisplay(&node).to_string())
                )))
            }
            other => Arg::Chain {
                pos,
                node: Box::new(other),
                fields,
            },
        }))
    }

    fn term(&mut self) -> Result<Option<Arg>, ParseError> {
        let token = self.next_non_space();
        let pos = token.pos;
        Ok(Some(match token.kind {
            Kind::Identifier => {
                if !(self.is_function)(token.text) {
                    return Err(self.error(format!("function {:?} not defined", token.text)));
                }
                Arg::Identifier {
                    pos,
                    name: token.text.to_owned(),
                }
            }
            Kind::Dot => Arg::Dot { pos },
            Kind::Nil => Arg::Nil { pos },
            Kind::Variable => {
                if !self.vars.iter().any(|v| v == token.text) {
                    return Err(self.error(format!("undefined variable {:?}", token.text)));
                }
                Arg::Variable {
                    pos,
                    name: token.text.to_owned(),
                    idents: Vec::new(),
                }
            }
            Kind::Field => Arg::Field {
                pos,
                idents: vec![token.text[1..].to_owned()],
            },
            Kind::Bool => Arg::Bool {
                pos,
                value: token.text == "true",
            },
            Kind::Number | Kind::Char => {
                let number = parse_number(token.text, token.kind == Kind::Char)
                    .map_err(|m| self.error(m))?;
                Arg::Number { pos, number }
            }
            Kind::LeftParen => {
                let pipe = self.pipeline("parenthesized pipeline", Kind::RightParen)?;
                Arg::Pipe(Box::new(pipe))
            }
            Kind::String | Kind::RawString => {
                let value = unquote(token.text)
                    .ok_or_else(|| self.error(format!("invalid syntax: {}", token.text)))?;
                Arg::String {
                    pos,
                    quoted: token.text.to_owned(),
                    value,
                }
            }
            _ => {
                self.backup();
                return Ok(None);
            }
        }))
    }
}

/// How Go names a token in "unexpected X in Y".
fn describe(token: &Token) -> String {
    match token.kind {
        Kind::Eof => "EOF".to_owned(),
        Kind::Keyword => format!("<{}>", token.text),
        Kind::Space => "space".to_owned(),
        _ => {
            if token.text.chars().count() > 10 {
                let short: String = token.text.chars().take(10).collect();
                format!("{}...", crate::gofmt::quote(&short))
            } else {
                crate::gofmt::quote(token.text)
            }
        }
    }
}

/// Go's strconv.Unquote for "..." and `...` strings.
pub fn unquote(text: &str) -> Option<String> {
    if let Some(raw) = text.strip_prefix('`').and_then(|t| t.strip_suffix('`')) {
        return Some(raw.replace('\r', ""));
    }
    let body = text.strip_prefix('"')?.strip_suffix('"')?;
    let mut out = String::new();
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        out.push(unescape(&mut chars, '"')?);
    }
    Some(out)
}

/// One escape sequence after its backslash.
fn unescape(chars: &mut std::str::Chars<'_>, quote: char) -> Option<char> {
    let c = chars.next()?;
    let hex = |chars: &mut std::str::Chars<'_>, n: usize| -> Option<char> {
        let digits: String = chars.take(n).collect();
        if digits.len() != n {
            return None;
        }
        char::from_u32(u32::from_str_radix(&digits, 16).ok()?)
    };
    Some(match c {
        'a' => '\u{7}',
        'b' => '\u{8}',
        'f' => '\u{c}',
        'n' => '\n',
        'r' => '\r',
        't' => '\t',
        'v' => '\u{b}',
        '\\' => '\\',
        'x' => hex(chars, 2)?,
        'u' => hex(chars, 4)?,
        'U' => hex(chars, 8)?,
        '0'..='7' => {
            let rest: String = chars.take(2).collect();
            char::from_u32(u32::from_str_radix(&format!("{c}{rest}"), 8).ok()?)?
        }
        c if c == quote => c,
        _ => return None,
    })
}

/// A Go number literal (or rune literal) as text/template reads it.
pub fn parse_number(text: &str, is_char: bool) -> Result<Number, String> {
    let bad = || format!("bad number syntax: {text:?}");
    if is_char {
        let body = text
            .strip_prefix('\'')
            .and_then(|t| t.strip_suffix('\''))
            .ok_or_else(|| format!("malformed character constant: {text}"))?;
        let mut chars = body.chars();
        let c = match chars.next() {
            Some('\\') => unescape(&mut chars, '\'')
                .ok_or_else(|| format!("malformed character constant: {text}"))?,
            Some(c) => c,
            None => return Err(format!("malformed character constant: {text}")),
        };
        if chars.next().is_some() {
            return Err(format!("malformed character constant: {text}"));
        }
        return Ok(Number {
            text: text.to_owned(),
            int: Some(c as i64),
            float: Some(c as u32 as f64),
            is_char: true,
            is_uint: false,
        });
    }
    if text.ends_with('i') {
        return Err(format!("complex numbers are not supported: {text}"));
    }
    let clean = text.replace('_', "");
    let (negative, unsigned) = match clean.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, clean.strip_prefix('+').unwrap_or(&clean)),
    };
    let lower = unsigned.to_ascii_lowercase();
    let (radix, digits) = if let Some(d) = lower.strip_prefix("0x") {
        (16, d)
    } else if let Some(d) = lower.strip_prefix("0o") {
        (8, d)
    } else if let Some(d) = lower.strip_prefix("0b") {
        (2, d)
    } else if lower.len() > 1 && lower.starts_with('0') && lower.chars().all(|c| c.is_ascii_digit())
    {
        (8, &lower[1..])
    } else {
        (10, lower.as_str())
    };
    let magnitude = u64::from_str_radix(digits, radix).ok();
    let mut number = Number {
        text: text.to_owned(),
        int: None,
        float: None,
        is_char: false,
        is_uint: false,
    };
    if let Some(m) = magnitude {
        if negative {
            if m <= i64::MAX as u64 + 1 {
                number.int = Some((m as i128).wrapping_neg() as i64);
            }
        } else if m <= i64::MAX as u64 {
            number.int = Some(m as i64);
        } else {
            number.is_uint = true;
        }
        number.float = Some(if negative { -(m as f64) } else { m as f64 });
        return Ok(number);
    }
    let float = if radix == 16 {
        parse_hex_float(digits).ok_or_else(bad)?
    } else if radix == 10 {
        digits.parse::<f64>().map_err(|_| bad())?
    } else {
        return Err(bad());
    };
    let float = if negative { -float } else { float };
    number.float = Some(float);
    if float.fract() == 0.0 && float.abs() < 9.2e18 {
        number.int = Some(float as i64);
    }
    Ok(number)
}

/// `1p20`, `1.8p1` (after `0x`): a hex mantissa times a power of two.
fn parse_hex_float(digits: &str) -> Option<f64> {
    let (mantissa, exponent) = digits.split_once('p')?;
    let exponent: i32 = exponent.parse().ok()?;
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let mut value = 0f64;
    for c in int_part.chars() {
        value = value * 16.0 + c.to_digit(16)? as f64;
    }
    let mut scale = 1.0 / 16.0;
    for c in frac_part.chars() {
        value += c.to_digit(16)? as f64 * scale;
        scale /= 16.0;
    }
    Some(value * 2f64.powi(exponent))
}

/// Go's String() of nodes, used in "executing ... at <...>".
pub struct ArgDisplay<'a>(pub &'a Arg);

impl fmt::Display for ArgDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Arg::Field { idents, .. } => {
                for ident in idents {
                    write!(f, ".{ident}")?;
                }
                Ok(())
            }
            Arg::Variable { name, idents, .. } => {
                write!(f, "{name}")?;
                for ident in idents {
                    write!(f, ".{ident}")?;
                }
                Ok(())
            }
            Arg::Dot { .. } => write!(f, "."),
            Arg::Nil { .. } => write!(f, "nil"),
            Arg::Bool { value, .. } => write!(f, "{value}"),
            Arg::Number { number, .. } => write!(f, "{}", number.text),
            Arg::String { quoted, .. } => write!(f, "{quoted}"),
            Arg::Identifier { name, .. } => write!(f, "{name}"),
            Arg::Pipe(pipe) => write!(f, "({})", PipeDisplay(pipe)),
            Arg::Chain { node, fields, .. } => {
                write!(f, "{}", ArgDisplay(node))?;
                for field in fields {
                    write!(f, ".{field}")?;
                }
                Ok(())
            }
        }
    }
}

pub struct CommandDisplay<'a>(pub &'a Command);

impl fmt::Display for CommandDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, arg) in self.0.args.iter().enumerate() {
            if i > 0 {
                write!(f, " ")?;
            }
            write!(f, "{}", ArgDisplay(arg))?;
        }
        Ok(())
    }
}

pub struct PipeDisplay<'a>(pub &'a Pipe);

impl fmt::Display for PipeDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pipe = self.0;
        if !pipe.decl.is_empty() {
            write!(f, "{}", pipe.decl.join(", "))?;
            write!(f, "{}", if pipe.is_assign { " = " } else { " := " })?;
        }
        for (i, cmd) in pipe.cmds.iter().enumerate() {
            if i > 0 {
                write!(f, " | ")?;
            }
            write!(f, "{}", CommandDisplay(cmd))?;
        }
        Ok(())
    }
}

/// Go's String() of a template node (`{{template "x" .}}`).
pub fn template_node_text(name: &str, pipe: Option<&Pipe>) -> String {
    match pipe {
        Some(pipe) => format!(
            "{{{{template {} {}}}}}",
            crate::gofmt::quote(name),
            PipeDisplay(pipe)
        ),
        None => format!("{{{{template {}}}}}", crate::gofmt::quote(name)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_one(text: &str) -> Result<Vec<Tree>, ParseError> {
        parse("t", text, "{{", "}}", &|name| {
            matches!(name, "printf" | "len" | "eq")
        })
    }

    #[test]
    fn go_parse_errors() {
        for (text, message) in [
            ("{{if}}", "missing value for if"),
            ("{{ $x }}", "undefined variable \"$x\""),
            ("{{ nope 1 }}", "function \"nope\" not defined"),
            ("{{ . | 3 }}", "non executable command in pipeline stage 2"),
            ("{{ break }}", "{{break}} outside {{range}}"),
            ("{{ if . }}x", "unexpected EOF"),
            ("{{ .A\"x\" }}", "unexpected \"\\\"x\\\"\" in operand"),
            ("{{ 3.X }}", "bad number syntax: \"3.X\""),
            ("{{ \"s\".X }}", "unexpected . after term \"\\\"s\\\"\""),
        ] {
            let error = parse_one(text).expect_err(text);
            assert_eq!(error.message, message, "{text}");
        }
    }

    #[test]
    fn fields_grown_by_a_chain_sit_at_their_second_part() {
        let trees = parse_one("{{ .Values.foo.bar }}").expect("parses");
        let Node::Action { pipe, .. } = &trees[0].root[0] else {
            panic!("an action")
        };
        assert_eq!(pipe.cmds[0].args[0].pos(), 10);
        assert_eq!(trees[0].location(10), "t:1:10");
    }

    #[test]
    fn define_and_block_make_trees_and_else_if_shares_one_end() {
        let trees = parse_one(
            "{{define \"a\"}}A{{end}}{{block \"b\" .}}B{{end}}{{if .}}1{{else if .}}2{{else}}3{{end}}",
        )
        .expect("parses");
        let names: Vec<&str> = trees.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["t", "a", "b"]);
    }

    #[test]
    fn number_literals() {
        let n = |t: &str| parse_number(t, false).expect(t);
        assert_eq!(n("0x1p20").float, Some(1_048_576.0));
        assert_eq!(n("1e3").int, Some(1000));
        assert_eq!(n("0x_1F").int, Some(31));
        assert_eq!(n("-7").int, Some(-7));
        assert_eq!(n("017").int, Some(15));
        assert_eq!(n("1.5").int, None);
        assert_eq!(parse_number("'a'", true).expect("rune").int, Some(97));
        assert_eq!(parse_number("'\\n'", true).expect("rune").int, Some(10));
    }
}
