//! The lexer of Go's text/template: text, `{{`/`}}` with the `{{- `/` -}}` trim
//! markers, comments, and the tokens inside actions. Positions are byte offsets into
//! the template text, which is how Go reports them (`NAME:LINE:COL`).

/// What a token is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    Text,
    LeftDelim,
    RightDelim,
    Space,
    Identifier,
    Keyword,
    Bool,
    Nil,
    Dot,
    /// `.Name` (the text keeps the dot).
    Field,
    /// `$name` or `$`.
    Variable,
    Number,
    /// A double-quoted string (the text keeps the quotes).
    String,
    /// A back-quoted string.
    RawString,
    /// A rune literal such as `'a'`.
    Char,
    Pipe,
    LeftParen,
    RightParen,
    /// `:=`
    Declare,
    /// `=`
    Assign,
    Comma,
    Eof,
}

/// One token, borrowing its text from the template.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Token<'a> {
    pub kind: Kind,
    pub text: &'a str,
    pub pos: usize,
    pub line: usize,
}

/// A lexing failure: the message Go gives and the line it was on.
#[derive(Debug, Clone, PartialEq)]
pub struct LexError {
    pub message: String,
    pub line: usize,
}

const KEYWORDS: &[&str] = &[
    "block", "break", "continue", "define", "else", "end", "if", "range", "template", "with",
];

/// Splits `input` into tokens, ending with [`Kind::Eof`].
pub fn lex<'a>(input: &'a str, left: &str, right: &str) -> Result<Vec<Token<'a>>, LexError> {
    let mut lexer = Lexer {
        input,
        left,
        right,
        pos: 0,
        line: 1,
        tokens: Vec::new(),
        paren_depth: 0,
    };
    lexer.run()?;
    Ok(lexer.tokens)
}

struct Lexer<'a, 'd> {
    input: &'a str,
    left: &'d str,
    right: &'d str,
    pos: usize,
    line: usize,
    tokens: Vec<Token<'a>>,
    paren_depth: usize,
}

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

fn is_alphanumeric(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

impl<'a> Lexer<'a, '_> {
    fn rest(&self) -> &'a str {
        &self.input[self.pos..]
    }

    fn peek(&self) -> Option<char> {
        match self.input.as_bytes().get(self.pos) {
            Some(&b) if b < 0x80 => Some(b as char),
            _ => self.rest().chars().next(),
        }
    }

    fn emit(&mut self, kind: Kind, start: usize, start_line: usize) {
        self.tokens.push(Token {
            kind,
            text: &self.input[start..self.pos],
            pos: start,
            line: start_line,
        });
    }

    fn advance(&mut self, bytes: usize) {
        let taken = &self.input[self.pos..self.pos + bytes];
        self.line += taken.bytes().filter(|b| *b == b'\n').count();
        self.pos += bytes;
    }

    fn error(&self, message: impl Into<String>) -> LexError {
        LexError {
            message: message.into(),
            line: self.line,
        }
    }

    fn run(&mut self) -> Result<(), LexError> {
        loop {
            // Text up to the next left delimiter.
            let start = self.pos;
            let start_line = self.line;
            match memchr::memmem::find(self.rest().as_bytes(), self.left.as_bytes()) {
                Some(offset) => {
                    let delim_at = self.pos + offset;
                    let after = &self.input[delim_at + self.left.len()..];
                    let trim = trim_marker_after(after);
                    let mut text_end = delim_at;
                    if trim {
                        text_end =
                            start + self.input[start..delim_at].trim_end_matches(is_space).len();
                    }
                    self.advance(text_end - start);
                    if self.pos > start {
                        self.emit(Kind::Text, start, start_line);
                    }
                    self.advance(delim_at - self.pos);
                    self.lex_action(trim)?;
                }
                None => {
                    self.advance(self.input.len() - self.pos);
                    if self.pos > start {
                        self.emit(Kind::Text, start, start_line);
                    }
                    self.tokens.push(Token {
                        kind: Kind::Eof,
                        text: "",
                        pos: self.pos,
                        line: self.line,
                    });
                    return Ok(());
                }
            }
        }
    }

    /// From a left delimiter through its right delimiter.
    fn lex_action(&mut self, trim_left: bool) -> Result<(), LexError> {
        let start = self.pos;
        let start_line = self.line;
        self.advance(self.left.len());
        if trim_left {
            self.advance(2);
        }
        // A comment fills the whole action.
        if self.rest().starts_with("/*") {
            let Some(end) = self.rest().find("*/") else {
                return Err(self.error("unclosed comment"));
            };
            self.advance(end + 2);
            let (trim_right, len) = self.right_delim_here();
            if len == 0 {
                return Err(self.error("comment ends before closing delimiter"));
            }
            self.advance(len);
            if trim_right {
                self.skip_space();
            }
            return Ok(());
        }
        self.emit(Kind::LeftDelim, start, start_line);
        self.paren_depth = 0;
        loop {
            let (trim_right, len) = self.right_delim_here();
            if len > 0 {
                if self.paren_depth > 0 {
                    return Err(self.error("unclosed left paren"));
                }
                let start = self.pos;
                let line = self.line;
                self.advance(len);
                self.emit(Kind::RightDelim, start, line);
                if trim_right {
                    self.skip_space();
                }
                return Ok(());
            }
            self.lex_inside()?;
        }
    }

    /// Whether a right delimiter (with or without ` -`) starts here: (trim, length).
    fn right_delim_here(&self) -> (bool, usize) {
        let rest = self.rest();
        let trimmed = rest.trim_start_matches(is_space);
        let spaces = rest.len() - trimmed.len();
        if spaces > 0 {
            if let Some(after) = trimmed.strip_prefix('-') {
                if after.starts_with(self.right) {
                    return (true, spaces + 1 + self.right.len());
                }
            }
        }
        if rest.starts_with(self.right) {
            return (false, self.right.len());
        }
        (false, 0)
    }

    fn skip_space(&mut self) {
        let rest = self.rest();
        let trimmed = rest.trim_start_matches(is_space);
        self.advance(rest.len() - trimmed.len());
    }

    fn lex_inside(&mut self) -> Result<(), LexError> {
        let start = self.pos;
        let line = self.line;
        let Some(c) = self.peek() else {
            return Err(self.error("unclosed action"));
        };
        match c {
            c if is_space(c) => {
                let rest = self.rest();
                // Stop before ` -}}` so the trim marker is seen.
                let mut len = 0;
                for (i, ch) in rest.char_indices() {
                    if !is_space(ch) {
                        break;
                    }
                    len = i + ch.len_utf8();
                }
                self.advance(len);
                self.emit(Kind::Space, start, line);
            }
            '=' => {
                self.advance(1);
                self.emit(Kind::Assign, start, line);
            }
            ':' => {
                if !self.rest().starts_with(":=") {
                    return Err(self.error("expected :="));
                }
                self.advance(2);
                self.emit(Kind::Declare, start, line);
            }
            '|' => {
                self.advance(1);
                self.emit(Kind::Pipe, start, line);
            }
            ',' => {
                self.advance(1);
                self.emit(Kind::Comma, start, line);
            }
            '"' => {
                self.lex_quoted('"', "unterminated quoted string")?;
                self.emit(Kind::String, start, line);
            }
            '`' => {
                let Some(end) = self.rest()[1..].find('`') else {
                    return Err(self.error("unterminated raw quoted string"));
                };
                self.advance(end + 2);
                self.emit(Kind::RawString, start, line);
            }
            '\'' => {
                self.lex_quoted('\'', "unterminated character constant")?;
                self.emit(Kind::Char, start, line);
            }
            '$' => {
                self.advance(1);
                self.take_alphanumeric();
                self.emit(Kind::Variable, start, line);
            }
            '.' => {
                let next = self.rest()[1..].chars().next();
                if next.is_some_and(|n| n.is_ascii_digit()) {
                    self.lex_number()?;
                    self.emit(Kind::Number, start, line);
                } else {
                    self.advance(1);
                    if next.is_some_and(is_alphanumeric) {
                        self.take_alphanumeric();
                        self.emit(Kind::Field, start, line);
                    } else {
                        self.emit(Kind::Dot, start, line);
                    }
                }
            }
            '+' | '-' | '0'..='9' => {
                self.lex_number()?;
                self.emit(Kind::Number, start, line);
            }
            '(' => {
                self.advance(1);
                self.paren_depth += 1;
                self.emit(Kind::LeftParen, start, line);
            }
            ')' => {
                if self.paren_depth == 0 {
                    return Err(self.error("unexpected right paren"));
                }
                self.advance(1);
                self.paren_depth -= 1;
                self.emit(Kind::RightParen, start, line);
            }
            c if is_alphanumeric(c) => {
                self.take_alphanumeric();
                let word = &self.input[start..self.pos];
                let kind = if KEYWORDS.contains(&word) {
                    Kind::Keyword
                } else if word == "true" || word == "false" {
                    Kind::Bool
                } else if word == "nil" {
                    Kind::Nil
                } else {
                    Kind::Identifier
                };
                self.emit(kind, start, line);
            }
            other => return Err(self.error(format!("unrecognized character in action: {other:?}"))),
        }
        Ok(())
    }

    /// A string or rune literal from its opening quote through its closing one;
    /// escapes are checked when it is unquoted.
    fn lex_quoted(&mut self, quote: char, unterminated: &str) -> Result<(), LexError> {
        self.advance(1);
        loop {
            match self.peek() {
                Some('\\') => {
                    self.advance(1);
                    match self.peek() {
                        Some(ch) if ch != '\n' => self.advance(ch.len_utf8()),
                        _ => return Err(self.error(unterminated)),
                    }
                }
                Some('\n') | None => return Err(self.error(unterminated)),
                Some(ch) if ch == quote => {
                    self.advance(1);
                    return Ok(());
                }
                Some(ch) => self.advance(ch.len_utf8()),
            }
        }
    }

    fn take_alphanumeric(&mut self) {
        let rest = self.rest();
        // ASCII words (nearly all of them) without decoding; a word never holds a
        // line break, so the line stays.
        let ascii = rest
            .bytes()
            .position(|b| !(b.is_ascii_alphanumeric() || b == b'_'))
            .unwrap_or(rest.len());
        let len = if rest.as_bytes().get(ascii).is_some_and(|b| *b >= 0x80) {
            rest.char_indices()
                .find(|(_, c)| !is_alphanumeric(*c))
                .map(|(i, _)| i)
                .unwrap_or(rest.len())
        } else {
            ascii
        };
        self.pos += len;
    }

    /// A Go number literal; its value is checked by the parser.
    fn lex_number(&mut self) -> Result<(), LexError> {
        let start = self.pos;
        if matches!(self.peek(), Some('+' | '-')) {
            self.advance(1);
        }
        let rest = self.rest();
        let (digits, hex): (&str, bool) = if rest.starts_with("0x") || rest.starts_with("0X") {
            self.advance(2);
            ("0123456789abcdefABCDEF_", true)
        } else if rest.starts_with("0o") || rest.starts_with("0O") {
            self.advance(2);
            ("01234567_", false)
        } else if rest.starts_with("0b") || rest.starts_with("0B") {
            self.advance(2);
            ("01_", false)
        } else {
            ("0123456789_", false)
        };
        self.take_run(digits);
        if self.peek() == Some('.') {
            self.advance(1);
            self.take_run(digits);
        }
        let exponent = if hex { "pP" } else { "eE" };
        if self.peek().is_some_and(|c| exponent.contains(c)) {
            self.advance(1);
            if matches!(self.peek(), Some('+' | '-')) {
                self.advance(1);
            }
            self.take_run("0123456789_");
        }
        if self.peek() == Some('i') {
            self.advance(1);
        }
        if self.peek().is_some_and(is_alphanumeric) {
            self.take_alphanumeric();
            return Err(self.error(format!(
                "bad number syntax: {:?}",
                &self.input[start..self.pos]
            )));
        }
        Ok(())
    }

    fn take_run(&mut self, valid: &str) {
        let len = self
            .rest()
            .char_indices()
            .find(|(_, c)| !valid.contains(*c))
            .map(|(i, _)| i)
            .unwrap_or(self.rest().len());
        self.advance(len);
    }
}

/// Whether a left delimiter is followed by the trim marker `- ` (a minus and a space).
fn trim_marker_after(after: &str) -> bool {
    let mut chars = after.chars();
    chars.next() == Some('-') && chars.next().is_some_and(is_space)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<(Kind, String)> {
        lex(text, "{{", "}}")
            .expect("lexes")
            .into_iter()
            .map(|t| (t.kind, t.text.to_owned()))
            .collect()
    }

    #[test]
    fn trim_markers_eat_the_whitespace_beside_them() {
        let tokens = kinds("a  \n{{- .X -}}\n  b");
        let texts: Vec<&str> = tokens
            .iter()
            .filter(|(k, _)| *k == Kind::Text)
            .map(|(_, t)| t.as_str())
            .collect();
        assert_eq!(texts, ["a", "b"]);
    }

    #[test]
    fn a_minus_without_space_is_a_number_not_a_trim() {
        let tokens = kinds("{{-3}}");
        assert!(tokens.contains(&(Kind::Number, "-3".to_owned())));
    }

    #[test]
    fn comments_vanish_and_must_touch_the_delimiters() {
        assert_eq!(kinds("a{{/* x\ny */}}b").len(), 3);
        assert_eq!(kinds("a{{- /* x */ -}} b")[1], (Kind::Text, "b".to_owned()));
        let error = lex("{{/* x */ .}}", "{{", "}}").expect_err("comment then more");
        assert_eq!(error.message, "comment ends before closing delimiter");
    }

    #[test]
    fn tokens_inside_an_action() {
        let tokens: Vec<Kind> = kinds(r#"{{ $x := .A.b | printf "%d" 0x1p20 'c' `r` (nil) }}"#)
            .into_iter()
            .map(|(k, _)| k)
            .filter(|k| *k != Kind::Space)
            .collect();
        use Kind::*;
        assert_eq!(
            tokens,
            [
                LeftDelim, Variable, Declare, Field, Field, Pipe, Identifier, String, Number, Char,
                RawString, LeftParen, Nil, RightParen, RightDelim, Eof
            ]
        );
    }

    #[test]
    fn unterminated_things_are_errors() {
        assert!(lex("{{ \"abc }}", "{{", "}}").is_err());
        assert!(lex("{{ .X ", "{{", "}}").is_err());
        assert!(lex("{{ 3x }}", "{{", "}}").is_err());
    }
}
