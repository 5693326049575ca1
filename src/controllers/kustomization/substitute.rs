//! Flux's post-build variable substitution (`spec.postBuild`), as kustomize-controller
//! runs it through fluxcd/pkg `kustomize.SubstituteVariables` and `envsubst`.
//!
//! What Flux does, and so what this module reproduces:
//! - Variables come from `substituteFrom` (ConfigMaps and Secrets, in list order,
//!   later ones overriding earlier ones), then `substitute` overrides them all.
//!   Newlines are removed from every value.
//! - Every variable name must match `^[_[:alpha:]][_[:alpha:][:digit:]]*$`, else the
//!   build fails (even if the name is never used).
//! - Objects labelled or annotated `kustomize.toolkit.fluxcd.io/substitute: disabled`
//!   are left alone. With the default strategy `WithVariables`, nothing is
//!   substituted when there are no variables; `Always` substitutes anyway (defaults
//!   such as `${var:=x}` then apply).
//! - Only `${...}` expressions are expanded (`$var` is left as is); `$$` is an
//!   escaped `$`, so `$${var}` gives `${var}`. Unset variables become empty strings,
//!   or fail the build in strict mode (unless the expression has a default).
//!   Supported: `${var}`, `${var:=d}`, `${var:-d}`, `${var=d}` (all "default when
//!   empty"), `${#var}`, `${var^}`, `${var^^}`, `${var,}`, `${var,,}`,
//!   `${var:pos}`, `${var:pos:len}`, `${var#glob}`, `${var##glob}`, `${var%glob}`,
//!   `${var%%glob}`, `${var/a/b}`, `${var//a/b}`, `${var/#a/b}`, `${var/%a/b}`.
//!   `${var-d}` is a syntax error ("missing closing brace"), as in Flux.
//! - Flux substitutes over the YAML text of each object, then parses the result
//!   again. So `replicas: ${REPLICAS}` with `REPLICAS=3` becomes the number 3 and
//!   `enabled: ${ON}` with `ON=true` a boolean, even when the manifest quoted the
//!   expression (the quotes are lost when kustomize's output is turned back into
//!   YAML). `${quote}${id}${quote}` with `quote='"'` is how users keep a string.
//!   Here each string is rendered the way that YAML serialiser (go-yaml v2) renders
//!   it (plain, single-quoted, double-quoted or literal block), substituted, and
//!   read back with YAML 1.1 rules (`yes`/`on` are booleans, `010` is octal 8,
//!   `2024-01-02` becomes a timestamp string), without a YAML library.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use regex::Regex;
use serde_json::{Map, Number, Value};
use thiserror::Error;

/// Label or annotation that turns substitution off for one object (value `disabled`).
pub const SUBSTITUTE_KEY: &str = "kustomize.toolkit.fluxcd.io/substitute";
/// Flux's rule for variable names.
pub const VAR_NAME_PATTERN: &str = "^[_[:alpha:]][_[:alpha:][:digit:]]*$";

// ---------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------

/// An `${...}` expression that cannot be parsed or evaluated; the texts are envsubst's.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EnvsubstError {
    #[error("bad substitution")]
    BadSubstitution,
    #[error("missing closing brace")]
    MissingClosingBrace,
    #[error("unable to parse variable name")]
    ParseVariableName,
    #[error("unable to parse substitution within function")]
    ParseFuncSubstitution,
    #[error("unable to parse default function")]
    ParseDefaultFunction,
    #[error("variable not set (strict mode): {}", go_quote(.0))]
    VariableNotSet(String),
    /// `${var:pos:len}` with a negative length (Go panics on it).
    #[error("slice bounds out of range in substring expression")]
    SubstringOutOfRange,
}

/// Why substitution failed; displayed as Flux words it inside its build error.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SubstituteError {
    #[error("envsubst error: '{0}' var name is invalid, must match '{VAR_NAME_PATTERN}'")]
    InvalidVariableName(String),
    #[error("envsubst error: variable substitution failed: {0}")]
    Envsubst(#[from] EnvsubstError),
    /// The substituted text is not valid YAML, or not representable as JSON.
    #[error("envsubst error: YAMLToJSON: {0}")]
    Yaml(String),
    /// A required `substituteFrom` object does not exist.
    #[error("substitute from '{kind}/{name}' error: {resource} \"{name}\" not found")]
    SourceNotFound {
        kind: &'static str,
        resource: &'static str,
        name: String,
    },
}

/// Flux's build error for an object whose substitution failed:
/// `post build failed for 'apps_v1_Deployment/web': envsubst error: ...`.
pub fn post_build_error_message(object: &Value, error: &SubstituteError) -> String {
    let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or_default().to_owned();
    let api_version = text(object.get("apiVersion"));
    let (group, version) = match api_version.split_once('/') {
        Some((g, v)) => (g.to_owned(), v.to_owned()),
        None => (String::new(), api_version),
    };
    let or = |value: String, placeholder: &str| {
        if value.is_empty() {
            placeholder.to_owned()
        } else {
            value
        }
    };
    let gvk = format!(
        "{}_{}_{}",
        or(group, "~G"),
        or(version, "~V"),
        or(text(object.get("kind")), "~K")
    );
    let name = text(object.get("metadata").and_then(|m| m.get("name")));
    format!("post build failed for '{gvk}/{name}': {error}")
}

/// `strconv.Quote` for the plain names that appear in messages.
fn go_quote(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

// ---------------------------------------------------------------------------------
// Variables
// ---------------------------------------------------------------------------------

pub type Variables = BTreeMap<String, String>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    ConfigMap,
    Secret,
}

impl SourceKind {
    fn kind(self) -> &'static str {
        match self {
            SourceKind::ConfigMap => "ConfigMap",
            SourceKind::Secret => "Secret",
        }
    }

    fn resource(self) -> &'static str {
        match self {
            SourceKind::ConfigMap => "configmaps",
            SourceKind::Secret => "secrets",
        }
    }
}

/// One `substituteFrom` entry with what was read from the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubstituteSource {
    pub kind: SourceKind,
    pub name: String,
    pub optional: bool,
    /// The ConfigMap's `data` or the Secret's decoded `data`; `None` when the object
    /// does not exist.
    pub data: Option<BTreeMap<String, String>>,
}

/// The variables of a Kustomization: `substituteFrom` in order (later wins), then
/// the inline `substitute` map over them. A missing source fails unless optional.
pub fn resolve_variables(
    sources: &[SubstituteSource],
    inline: Option<&BTreeMap<String, String>>,
) -> Result<Variables, SubstituteError> {
    let mut variables = Variables::new();
    for source in sources {
        match &source.data {
            Some(data) => {
                for (name, value) in data {
                    variables.insert(name.clone(), value.replace('\n', ""));
                }
            }
            None if source.optional => {}
            None => {
                return Err(SubstituteError::SourceNotFound {
                    kind: source.kind.kind(),
                    resource: source.kind.resource(),
                    name: source.name.clone(),
                })
            }
        }
    }
    for (name, value) in inline.into_iter().flatten() {
        variables.insert(name.clone(), value.replace('\n', ""));
    }
    Ok(variables)
}

fn var_name_regex() -> &'static Regex {
    static PATTERN: OnceLock<Regex> = OnceLock::new();
    PATTERN.get_or_init(|| Regex::new(VAR_NAME_PATTERN).expect("VAR_NAME_PATTERN is a valid regex"))
}

/// Checks every variable name against Flux's pattern.
pub fn validate_variable_names(variables: &Variables) -> Result<(), SubstituteError> {
    match variables
        .keys()
        .find(|name| !var_name_regex().is_match(name))
    {
        Some(name) => Err(SubstituteError::InvalidVariableName(name.clone())),
        None => Ok(()),
    }
}

/// `spec.postBuild.substituteStrategy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SubstituteStrategy {
    /// Substitute only when at least one variable is defined (the default).
    #[default]
    WithVariables,
    /// Substitute even with no variables, so defaults apply.
    Always,
}

impl SubstituteStrategy {
    pub fn from_spec(value: Option<&str>) -> Self {
        match value {
            Some("Always") => Self::Always,
            _ => Self::WithVariables,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SubstituteOptions {
    /// `--feature-gates=StrictPostBuildSubstitutions=true`: unset variables without a
    /// default fail the build instead of becoming empty.
    pub strict: bool,
    pub strategy: SubstituteStrategy,
}

/// Whether the object opted out (label or annotation, exact value `disabled`).
pub fn is_substitution_disabled(object: &Value) -> bool {
    ["labels", "annotations"].iter().any(|field| {
        object
            .get("metadata")
            .and_then(|m| m.get(field))
            .and_then(|map| map.get(SUBSTITUTE_KEY))
            .and_then(Value::as_str)
            == Some("disabled")
    })
}

/// Substitutes one built object. `Ok(None)` means the object is used as built
/// (opted out, or no variables with the `WithVariables` strategy).
pub fn substitute_object(
    object: &Value,
    variables: &Variables,
    options: &SubstituteOptions,
) -> Result<Option<Value>, SubstituteError> {
    if is_substitution_disabled(object) {
        return Ok(None);
    }
    if variables.is_empty() && options.strategy == SubstituteStrategy::WithVariables {
        return Ok(None);
    }
    validate_variable_names(variables)?;
    let expand = |text: &str| envsubst(text, variables, options.strict);
    substitute_node(object, Context::MapValue, &expand).map(Some)
}

// ---------------------------------------------------------------------------------
// envsubst
// ---------------------------------------------------------------------------------

/// Expands `${...}` expressions in a text, as fluxcd/pkg `envsubst.Eval` does with
/// Flux's variable lookup (`flux envsubst` on a whole file is this).
pub fn envsubst(text: &str, variables: &Variables, strict: bool) -> Result<String, EnvsubstError> {
    if !text.contains('$') {
        return Ok(text.to_owned());
    }
    let nodes = Parser::new(text).parse()?;
    let mut out = String::with_capacity(text.len());
    for node in &nodes {
        out.push_str(&evaluate(node, variables, strict)?);
    }
    Ok(out)
}

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Text(String),
    Func {
        param: String,
        op: String,
        args: Vec<Node>,
    },
}

/// Which tokens a scan may produce (envsubst's scanner mode bits).
#[derive(Clone, Copy, Default)]
struct Mode {
    ident: bool,
    lbrack: bool,
    rbrack: bool,
    escape: bool,
}

const IDENT: Mode = Mode {
    ident: true,
    lbrack: false,
    rbrack: false,
    escape: false,
};
const RBRACK: Mode = Mode {
    ident: false,
    lbrack: false,
    rbrack: true,
    escape: false,
};

enum Token {
    Eof,
    Lbrack,
    Rbrack,
    Ident(String),
    Illegal,
}

/// A character predicate; the index is the token's byte length including `c`.
type Accept = fn(char, usize) -> bool;

fn accept_any(_: char, _: usize) -> bool {
    true
}
fn accept_ident(c: char, _: usize) -> bool {
    c.is_alphabetic() || c.is_numeric() || c == '_'
}
fn accept_not_closing(c: char, _: usize) -> bool {
    c != '}'
}
fn accept_not_slash(c: char, _: usize) -> bool {
    c != '/'
}
fn accept_slash(c: char, _: usize) -> bool {
    c == '/'
}
fn accept_colon(c: char, _: usize) -> bool {
    c == ':'
}
fn reject_colon_close(c: char, _: usize) -> bool {
    c != ':' && c != '}'
}
fn accept_one_hash(c: char, i: usize) -> bool {
    c == '#' && i == 1
}
fn accept_one_colon(c: char, i: usize) -> bool {
    c == ':' && i == 1
}
fn accept_one_equal(c: char, i: usize) -> bool {
    c == '=' && i == 1
}
fn accept_hash_op(c: char, i: usize) -> bool {
    c == '#' && i < 3
}
fn accept_percent_op(c: char, i: usize) -> bool {
    c == '%' && i < 3
}
fn accept_casing_op(c: char, i: usize) -> bool {
    (c == ',' || c == '^') && i < 3
}
fn accept_default_op(c: char, i: usize) -> bool {
    (i == 1 && c == ':') || (i == 2 && matches!(c, '=' | '-' | '?' | '+'))
}
fn accept_replace_op(c: char, i: usize) -> bool {
    (i == 1 && c == '/') || (i == 2 && matches!(c, '/' | '#' | '%'))
}

/// A recursive-descent reading of envsubst's grammar. The scanner rules (what ends
/// a token, where `$$` and `\/` escapes apply) decide what odd inputs mean, so
/// they follow envsubst closely.
struct Parser {
    chars: Vec<char>,
    pos: usize,
    /// Inside `${...}` backslash escapes (`\/`, `\\`) also apply; `$$` always does.
    escape_backslash: bool,
}

impl Parser {
    fn new(text: &str) -> Self {
        Self {
            chars: text.chars().collect(),
            pos: 0,
            escape_backslash: false,
        }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn at(&self, index: usize) -> Option<char> {
        self.chars.get(index).copied()
    }

    fn starts_function(&self, index: usize) -> bool {
        self.at(index) == Some('$') && self.at(index + 1) == Some('{')
    }

    fn is_escape(&self, mode: Mode, index: usize) -> bool {
        if !mode.escape {
            return false;
        }
        match (self.at(index), self.at(index + 1)) {
            (Some('$'), Some('$')) => true,
            (Some('\\'), Some('/' | '\\')) => self.escape_backslash,
            _ => false,
        }
    }

    fn scan(&mut self, mode: Mode, accept: Accept) -> Token {
        let Some(first) = self.peek() else {
            return Token::Eof;
        };
        if mode.lbrack && self.starts_function(self.pos) {
            self.pos += 2;
            return Token::Lbrack;
        }
        if mode.rbrack && first == '}' {
            self.pos += 1;
            return Token::Rbrack;
        }
        if !mode.ident {
            return Token::Illegal;
        }
        let mut text = String::new();
        let mut width = 0;
        if self.is_escape(mode, self.pos) {
            let escaped = self.chars[self.pos + 1];
            text.push(escaped);
            width += escaped.len_utf8();
            self.pos += 2;
        } else {
            width += first.len_utf8();
            if !accept(first, width) {
                return Token::Illegal;
            }
            text.push(first);
            self.pos += 1;
        }
        while let Some(c) = self.peek() {
            if mode.lbrack && self.starts_function(self.pos) {
                break;
            }
            if self.is_escape(mode, self.pos) {
                let escaped = self.chars[self.pos + 1];
                text.push(escaped);
                width += escaped.len_utf8();
                self.pos += 2;
                continue;
            }
            if !accept(c, width + c.len_utf8()) {
                break;
            }
            width += c.len_utf8();
            text.push(c);
            self.pos += 1;
        }
        Token::Ident(text)
    }

    fn parse(&mut self) -> Result<Vec<Node>, EnvsubstError> {
        let mut nodes = Vec::new();
        loop {
            self.escape_backslash = false;
            let mode = Mode {
                ident: true,
                lbrack: true,
                rbrack: false,
                escape: true,
            };
            match self.scan(mode, accept_any) {
                Token::Ident(text) => nodes.push(Node::Text(text)),
                Token::Lbrack => nodes.push(self.parse_function()?),
                Token::Eof => return Ok(nodes),
                Token::Rbrack | Token::Illegal => return Err(EnvsubstError::BadSubstitution),
            }
        }
    }

    /// After `${`.
    fn parse_function(&mut self) -> Result<Node, EnvsubstError> {
        self.escape_backslash = true;
        if self.peek() == Some('#') {
            return self.parse_length();
        }
        let Token::Ident(param) = self.scan(IDENT, accept_ident) else {
            return Err(EnvsubstError::ParseVariableName);
        };
        match self.peek() {
            Some(':') => {
                if matches!(self.at(self.pos + 1), Some('=' | '-' | '?' | '+')) {
                    self.parse_default(param)
                } else {
                    self.parse_substring(param)
                }
            }
            Some('=') => self.parse_default(param),
            Some(',' | '^') => {
                let op = self.operator(accept_casing_op, EnvsubstError::BadSubstitution)?;
                self.close()?;
                Ok(Node::Func {
                    param,
                    op,
                    args: Vec::new(),
                })
            }
            Some('/') => self.parse_replace(param),
            Some('#') => self.parse_remove(param, accept_hash_op),
            Some('%') => self.parse_remove(param, accept_percent_op),
            _ => match self.scan(RBRACK, accept_ident) {
                Token::Rbrack => Ok(Node::Func {
                    param,
                    op: String::new(),
                    args: Vec::new(),
                }),
                _ => Err(EnvsubstError::MissingClosingBrace),
            },
        }
    }

    fn operator(&mut self, accept: Accept, error: EnvsubstError) -> Result<String, EnvsubstError> {
        match self.scan(IDENT, accept) {
            Token::Ident(op) => Ok(op),
            _ => Err(error),
        }
    }

    fn close(&mut self) -> Result<(), EnvsubstError> {
        match self.scan(RBRACK, accept_none) {
            Token::Rbrack => Ok(()),
            _ => Err(EnvsubstError::BadSubstitution),
        }
    }

    /// One argument: a run of accepted text, or a nested `${...}`.
    fn parse_argument(&mut self, accept: Accept, escape: bool) -> Result<Node, EnvsubstError> {
        let mode = Mode {
            ident: true,
            lbrack: true,
            rbrack: false,
            escape,
        };
        match self.scan(mode, accept) {
            Token::Lbrack => self.parse_function(),
            Token::Ident(text) => Ok(Node::Text(text)),
            _ => Err(EnvsubstError::ParseFuncSubstitution),
        }
    }

    fn parse_length(&mut self) -> Result<Node, EnvsubstError> {
        let op = self.operator(accept_one_hash, EnvsubstError::BadSubstitution)?;
        let Token::Ident(param) = self.scan(IDENT, accept_ident) else {
            return Err(EnvsubstError::BadSubstitution);
        };
        self.close()?;
        Ok(Node::Func {
            param,
            op,
            args: Vec::new(),
        })
    }

    fn parse_default(&mut self, param: String) -> Result<Node, EnvsubstError> {
        let accept = if self.peek() == Some('=') {
            accept_one_equal
        } else {
            accept_default_op
        };
        let op = self.operator(accept, EnvsubstError::ParseDefaultFunction)?;
        let mut args = Vec::new();
        loop {
            if self.peek() == Some('}') {
                self.pos += 1;
                return Ok(Node::Func { param, op, args });
            }
            args.push(self.parse_argument(accept_not_closing, false)?);
        }
    }

    fn parse_substring(&mut self, param: String) -> Result<Node, EnvsubstError> {
        let op = self.operator(accept_one_colon, EnvsubstError::BadSubstitution)?;
        let mut args = vec![self.parse_argument(reject_colon_close, false)?];
        let separator = Mode {
            ident: true,
            lbrack: false,
            rbrack: true,
            escape: false,
        };
        match self.scan(separator, accept_colon) {
            Token::Rbrack => return Ok(Node::Func { param, op, args }),
            Token::Ident(_) => {}
            _ => return Err(EnvsubstError::BadSubstitution),
        }
        args.push(self.parse_argument(accept_not_closing, false)?);
        self.close()?;
        Ok(Node::Func { param, op, args })
    }

    fn parse_remove(&mut self, param: String, accept: Accept) -> Result<Node, EnvsubstError> {
        let op = self.operator(accept, EnvsubstError::BadSubstitution)?;
        let args = vec![self.parse_argument(accept_not_closing, false)?];
        self.close()?;
        Ok(Node::Func { param, op, args })
    }

    fn parse_replace(&mut self, param: String) -> Result<Node, EnvsubstError> {
        let op = self.operator(accept_replace_op, EnvsubstError::BadSubstitution)?;
        let mut args = vec![self.parse_argument(accept_not_slash, true)?];
        if !matches!(self.scan(IDENT, accept_slash), Token::Ident(_)) {
            return Err(EnvsubstError::BadSubstitution);
        }
        if self.peek() == Some('}') {
            self.close()?;
            return Ok(Node::Func { param, op, args });
        }
        args.push(self.parse_argument(accept_not_closing, true)?);
        self.close()?;
        Ok(Node::Func { param, op, args })
    }
}

fn accept_none(_: char, _: usize) -> bool {
    false
}

fn evaluate(node: &Node, variables: &Variables, strict: bool) -> Result<String, EnvsubstError> {
    let (param, op, args) = match node {
        Node::Text(text) => return Ok(text.clone()),
        Node::Func { param, op, args } => (param, op.as_str(), args),
    };
    // Arguments first: an error inside a default surfaces before the lookup's.
    let args = args
        .iter()
        .map(|a| evaluate(a, variables, strict))
        .collect::<Result<Vec<_>, _>>()?;
    let value = match variables.get(param) {
        Some(value) => value.as_str(),
        // Defaults handle the unset case themselves, even in strict mode.
        None if strict && !matches!(op, "-" | "+" | "=" | "?" | ":-" | ":+" | ":=" | ":?") => {
            return Err(EnvsubstError::VariableNotSet(param.clone()));
        }
        None => "",
    };
    Ok(match op {
        "," => map_first_char(value, lower_char),
        ",," => value.chars().map(lower_char).collect(),
        "^" => map_first_char(value, upper_char),
        "^^" => value.chars().map(upper_char).collect(),
        // Go's len: bytes, not characters.
        "#" if args.is_empty() => value.len().to_string(),
        "#" | "##" | "%" | "%%" => {
            let pattern = args.first().map(String::as_str).unwrap_or_default();
            match op {
                "#" => trim_prefix(value, pattern, false),
                "##" => trim_prefix(value, pattern, true),
                "%" => trim_suffix(value, pattern, false),
                _ => trim_suffix(value, pattern, true),
            }
        }
        ":" => substring(value, &args)?,
        "/#" => match args.as_slice() {
            [from, to] if value.starts_with(from.as_str()) => value.replacen(from.as_str(), to, 1),
            _ => value.to_owned(),
        },
        "/%" => match args.as_slice() {
            [from, to] => match value.strip_suffix(from.as_str()) {
                Some(rest) => format!("{rest}{to}"),
                None => value.to_owned(),
            },
            _ => value.to_owned(),
        },
        "/" => replace(value, &args, Some(1)),
        "//" => replace(value, &args, None),
        // `${var}`, every default form and unknown casing mixes: the value, or the
        // concatenated default when the value is empty (not only when unset).
        _ if value.is_empty() && !args.is_empty() => args.concat(),
        _ => value.to_owned(),
    })
}

/// Go's `unicode.ToLower`: one character to one character.
fn lower_char(c: char) -> char {
    let mut lower = c.to_lowercase();
    match (lower.next(), lower.next()) {
        (Some(l), None) => l,
        _ => c,
    }
}

fn upper_char(c: char) -> char {
    let mut upper = c.to_uppercase();
    match (upper.next(), upper.next()) {
        (Some(u), None) => u,
        _ => c,
    }
}

fn map_first_char(value: &str, map: fn(char) -> char) -> String {
    let mut chars = value.chars();
    match chars.next() {
        Some(first) => std::iter::once(map(first)).chain(chars).collect(),
        None => String::new(),
    }
}

fn replace(value: &str, args: &[String], count: Option<usize>) -> String {
    let (from, to) = match args {
        [] => return value.to_owned(),
        [from] => (from.as_str(), ""),
        [from, to, ..] => (from.as_str(), to.as_str()),
    };
    match count {
        Some(n) => value.replacen(from, to, n),
        None => value.replace(from, to),
    }
}

/// Go's `strconv.Atoi`: optional sign, decimal digits, nothing else.
fn go_atoi(text: &str) -> Option<i64> {
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// `${var:pos}` and `${var:pos:len}` on bytes, as envsubst does; unparsable numbers
/// give the value back unchanged.
fn substring(value: &str, args: &[String]) -> Result<String, EnvsubstError> {
    let bytes = value.as_bytes();
    let len = bytes.len() as i64;
    let slice = |from: i64, to: i64| {
        String::from_utf8_lossy(&bytes[from as usize..to as usize]).into_owned()
    };
    let Some(mut pos) = args.first().and_then(|a| go_atoi(a)) else {
        return Ok(value.to_owned());
    };
    if pos < 0 {
        pos = (len + pos).max(0);
    }
    let Some(length_arg) = args.get(1) else {
        return Ok(if pos < len {
            slice(pos, len)
        } else {
            String::new()
        });
    };
    let Some(length) = go_atoi(length_arg) else {
        return Ok(value.to_owned());
    };
    let end = pos.saturating_add(length);
    if end >= len {
        return Ok(if pos < len {
            slice(pos, len)
        } else {
            String::new()
        });
    }
    if end < pos || pos > len {
        return Err(EnvsubstError::SubstringOutOfRange);
    }
    Ok(slice(pos, end))
}

/// `#`/`##`: remove the shortest/longest prefix matching a glob.
fn trim_prefix(value: &str, pattern: &str, longest: bool) -> String {
    let chars: Vec<char> = value.chars().collect();
    let pattern: Vec<char> = pattern.chars().collect();
    trim_matching_prefix(&chars, &pattern, longest)
        .into_iter()
        .collect()
}

/// `%`/`%%`: the same from the end (value and pattern reversed, as envsubst does).
fn trim_suffix(value: &str, pattern: &str, longest: bool) -> String {
    let chars: Vec<char> = value.chars().rev().collect();
    let pattern: Vec<char> = pattern.chars().rev().collect();
    trim_matching_prefix(&chars, &pattern, longest)
        .into_iter()
        .rev()
        .collect()
}

fn trim_matching_prefix(value: &[char], pattern: &[char], longest: bool) -> Vec<char> {
    if !glob_is_valid(pattern) {
        return value.to_vec();
    }
    // Candidate prefixes from longest to shortest; the empty prefix never counts.
    let mut matched = None;
    for end in (1..=value.len()).rev() {
        if glob_matches(pattern, &value[..end]) {
            matched = Some(end);
            if longest {
                break;
            }
        }
    }
    match matched {
        Some(end) => value[end..].to_vec(),
        None => value.to_vec(),
    }
}

/// Checks a glob as Go's `path.Match` would reject it: unterminated or empty
/// character classes, dangling escapes, ranges missing an end.
fn glob_is_valid(pattern: &[char]) -> bool {
    let mut i = 0;
    while i < pattern.len() {
        match pattern[i] {
            '\\' => {
                if i + 1 >= pattern.len() {
                    return false;
                }
                i += 2;
            }
            '[' => match parse_class(pattern, i) {
                Some((_, next)) => i = next,
                None => return false,
            },
            _ => i += 1,
        }
    }
    true
}

/// A character class starting at `pattern[start] == '['`: its ranges, whether it
/// is negated, and the index after it. `None` when malformed.
#[allow(clippy::type_complexity)]
fn parse_class(pattern: &[char], start: usize) -> Option<((bool, Vec<(char, char)>), usize)> {
    let mut i = start + 1;
    let negated = pattern.get(i) == Some(&'^');
    if negated {
        i += 1;
    }
    let mut ranges = Vec::new();
    loop {
        if pattern.get(i) == Some(&']') && !ranges.is_empty() {
            return Some(((negated, ranges), i + 1));
        }
        let (low, next) = class_char(pattern, i)?;
        i = next;
        let mut high = low;
        if pattern.get(i) == Some(&'-') {
            let (h, next) = class_char(pattern, i + 1)?;
            high = h;
            i = next;
        }
        ranges.push((low, high));
    }
}

fn class_char(pattern: &[char], i: usize) -> Option<(char, usize)> {
    let mut i = i;
    match pattern.get(i)? {
        '-' | ']' => return None,
        '\\' => i += 1,
        _ => {}
    }
    let c = *pattern.get(i)?;
    // Something must follow: at least the closing bracket.
    pattern.get(i + 1)?;
    Some((c, i + 1))
}

fn glob_matches(pattern: &[char], name: &[char]) -> bool {
    let Some((&first, rest)) = pattern.split_first() else {
        return name.is_empty();
    };
    match first {
        '*' => (0..=name.len()).any(|skip| glob_matches(rest, &name[skip..])),
        '?' => !name.is_empty() && glob_matches(rest, &name[1..]),
        '[' => {
            let Some(((negated, ranges), next)) = parse_class(pattern, 0) else {
                return false;
            };
            let Some((&c, name_rest)) = name.split_first() else {
                return false;
            };
            let inside = ranges.iter().any(|(low, high)| *low <= c && c <= *high);
            inside != negated && glob_matches(&pattern[next..], name_rest)
        }
        '\\' => match rest.split_first() {
            Some((&literal, after)) => {
                name.first() == Some(&literal) && glob_matches(after, &name[1..])
            }
            None => false,
        },
        literal => name.first() == Some(&literal) && glob_matches(rest, &name[1..]),
    }
}

// ---------------------------------------------------------------------------------
// Substituting an object through its YAML form
// ---------------------------------------------------------------------------------

/// Where a scalar sits in the YAML text, which decides how substituted text parses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Context {
    /// `key: <scalar>`
    MapValue,
    /// `- <scalar>`
    SeqItem,
    /// `<scalar>: value`
    Key,
}

/// How go-yaml v2 writes a string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ScalarStyle {
    Plain,
    SingleQuoted,
    DoubleQuoted,
    Literal,
}

fn substitute_node(
    value: &Value,
    context: Context,
    expand: &dyn Fn(&str) -> Result<String, EnvsubstError>,
) -> Result<Value, SubstituteError> {
    match value {
        Value::String(text) => substitute_scalar(text, context, expand),
        Value::Array(items) => items
            .iter()
            .map(|item| substitute_node(item, Context::SeqItem, expand))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        Value::Object(map) => {
            let mut out = Map::with_capacity(map.len());
            for (key, item) in map {
                let key = match substitute_scalar(key, Context::Key, expand)? {
                    Value::String(key) => key,
                    other => map_key_text(&other)?,
                };
                out.insert(key, substitute_node(item, Context::MapValue, expand)?);
            }
            Ok(Value::Object(out))
        }
        other => Ok(other.clone()),
    }
}

fn substitute_scalar(
    text: &str,
    context: Context,
    expand: &dyn Fn(&str) -> Result<String, EnvsubstError>,
) -> Result<Value, SubstituteError> {
    // Text without `$` is not changed by envsubst, and re-reading what go-yaml
    // wrote gives the same string back.
    if !text.contains('$') {
        return Ok(Value::String(text.to_owned()));
    }
    let style = emitted_style(text, context == Context::Key);
    let rendered = render_scalar(text, style);
    let expanded = expand(&rendered)?;
    if expanded == rendered {
        return Ok(Value::String(text.to_owned()));
    }
    let parsed = match style {
        ScalarStyle::Literal => Ok(Value::String(expanded)),
        ScalarStyle::SingleQuoted => single_quoted_content(&expanded).map(Value::String),
        ScalarStyle::DoubleQuoted => double_quoted_content(&expanded).map(Value::String),
        ScalarStyle::Plain => parse_plain(&expanded, context),
    };
    parsed.map_err(SubstituteError::Yaml)
}

fn is_printable(c: char) -> bool {
    matches!(c, '\n' | '\u{20}'..='\u{7e}' | '\u{85}' | '\u{a0}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}'
        | '\u{10000}'..='\u{10ffff}')
        && c != '\u{feff}'
}

fn is_break(c: char) -> bool {
    matches!(c, '\r' | '\n' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

fn is_blank(c: Option<char>) -> bool {
    matches!(c, Some(' ' | '\t'))
}

/// go-yaml v2's choice of style for a string (encoder `stringv` plus the emitter's
/// scalar analysis), in block context.
fn emitted_style(text: &str, is_key: bool) -> ScalarStyle {
    let chars: Vec<char> = text.chars().collect();
    let mut block_indicators = text.starts_with("---") || text.starts_with("...");
    let mut special = false;
    let (mut leading_space, mut leading_break, mut trailing_space, mut trailing_break) =
        (false, false, false, false);
    let (mut break_space, mut space_break, mut line_breaks) = (false, false, false);
    let (mut previous_space, mut previous_break) = (false, false);
    let mut preceded_by_whitespace = true;
    for (i, &c) in chars.iter().enumerate() {
        let next = chars.get(i + 1).copied();
        let followed_by_whitespace = next.is_none() || is_blank(next);
        if i == 0 {
            match c {
                '#' | ',' | '[' | ']' | '{' | '}' | '&' | '*' | '!' | '|' | '>' | '\'' | '"'
                | '%' | '@' | '`' => block_indicators = true,
                '?' | ':' if followed_by_whitespace => block_indicators = true,
                '-' if followed_by_whitespace => block_indicators = true,
                _ => {}
            }
        } else {
            match c {
                ':' if followed_by_whitespace => block_indicators = true,
                '#' if preceded_by_whitespace => block_indicators = true,
                _ => {}
            }
        }
        if !is_printable(c) {
            special = true;
        }
        if c == ' ' {
            leading_space |= i == 0;
            trailing_space |= i + 1 == chars.len();
            break_space |= previous_break;
            previous_space = true;
            previous_break = false;
        } else if is_break(c) {
            line_breaks = true;
            leading_break |= i == 0;
            trailing_break |= i + 1 == chars.len();
            space_break |= previous_space;
            previous_space = false;
            previous_break = true;
        } else {
            previous_space = false;
            previous_break = false;
        }
        preceded_by_whitespace = c == ' ' || c == '\t' || is_break(c);
    }
    let mut plain_allowed = !(leading_space || leading_break || trailing_space || trailing_break);
    let mut single_allowed = true;
    let mut block_allowed = !trailing_space;
    if break_space {
        plain_allowed = false;
        single_allowed = false;
    }
    if space_break || special {
        plain_allowed = false;
        single_allowed = false;
        block_allowed = false;
    }
    if line_breaks || block_indicators {
        plain_allowed = false;
    }
    if text.contains('\n') {
        return if block_allowed && !is_key {
            ScalarStyle::Literal
        } else {
            ScalarStyle::DoubleQuoted
        };
    }
    if resolves_to_non_string(text) {
        return ScalarStyle::DoubleQuoted;
    }
    if plain_allowed && !text.is_empty() {
        ScalarStyle::Plain
    } else if single_allowed {
        ScalarStyle::SingleQuoted
    } else {
        ScalarStyle::DoubleQuoted
    }
}

fn resolves_to_non_string(text: &str) -> bool {
    static BASE60: OnceLock<Regex> = OnceLock::new();
    let base60 = BASE60.get_or_init(|| {
        Regex::new(r"^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$").expect("valid regex")
    });
    base60.is_match(text) || !matches!(resolve_plain(text), Ok(Value::String(ref s)) if s == text)
}

fn render_scalar(text: &str, style: ScalarStyle) -> String {
    match style {
        ScalarStyle::Plain | ScalarStyle::Literal => text.to_owned(),
        ScalarStyle::SingleQuoted => text.replace('\'', "''"),
        ScalarStyle::DoubleQuoted => {
            let mut out = String::with_capacity(text.len());
            for c in text.chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    '\0' => out.push_str("\\0"),
                    '\u{7}' => out.push_str("\\a"),
                    '\u{8}' => out.push_str("\\b"),
                    '\t' => out.push_str("\\t"),
                    '\n' => out.push_str("\\n"),
                    '\u{b}' => out.push_str("\\v"),
                    '\u{c}' => out.push_str("\\f"),
                    '\r' => out.push_str("\\r"),
                    '\u{1b}' => out.push_str("\\e"),
                    '\u{85}' => out.push_str("\\N"),
                    '\u{2028}' => out.push_str("\\L"),
                    '\u{2029}' => out.push_str("\\P"),
                    c if !is_printable(c) || c == '\u{feff}' => {
                        let code = c as u32;
                        if code <= 0xff {
                            out.push_str(&format!("\\x{code:02X}"));
                        } else if code <= 0xffff {
                            out.push_str(&format!("\\u{code:04X}"));
                        } else {
                            out.push_str(&format!("\\U{code:08X}"));
                        }
                    }
                    c => out.push(c),
                }
            }
            out
        }
    }
}

/// The content of a single-quoted scalar (between the quotes): `''` is a quote; a
/// lone quote would have ended the scalar early, leaving invalid YAML.
fn single_quoted_content(text: &str) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\'' {
            if chars.peek() == Some(&'\'') {
                chars.next();
            } else {
                return Err(
                    "yaml: did not find expected key (a substituted value ended a quoted string)"
                        .into(),
                );
            }
        }
        out.push(c);
    }
    Ok(out)
}

/// The content of a double-quoted scalar (between the quotes), unescaped.
fn double_quoted_content(text: &str) -> Result<String, String> {
    let closed = format!("{text}\"");
    let (content, rest) = read_double_quoted(&closed)?;
    if !rest.is_empty() {
        return Err(
            "yaml: did not find expected key (a substituted value ended a quoted string)".into(),
        );
    }
    Ok(content)
}

/// Reads a double-quoted scalar whose opening quote was already consumed; returns
/// the content and what follows the closing quote.
fn read_double_quoted(text: &str) -> Result<(String, &str), String> {
    let mut out = String::new();
    let mut iter = text.char_indices();
    while let Some((i, c)) = iter.next() {
        match c {
            '"' => return Ok((out, &text[i + 1..])),
            '\\' => {
                let Some((_, escaped)) = iter.next() else {
                    break;
                };
                let simple = match escaped {
                    '0' => Some('\0'),
                    'a' => Some('\u{7}'),
                    'b' => Some('\u{8}'),
                    't' | '\t' => Some('\t'),
                    'n' => Some('\n'),
                    'v' => Some('\u{b}'),
                    'f' => Some('\u{c}'),
                    'r' => Some('\r'),
                    'e' => Some('\u{1b}'),
                    ' ' => Some(' '),
                    '"' => Some('"'),
                    '/' => Some('/'),
                    '\\' => Some('\\'),
                    'N' => Some('\u{85}'),
                    '_' => Some('\u{a0}'),
                    'L' => Some('\u{2028}'),
                    'P' => Some('\u{2029}'),
                    _ => None,
                };
                if let Some(c) = simple {
                    out.push(c);
                    continue;
                }
                let digits =
                    match escaped {
                        'x' => 2,
                        'u' => 4,
                        'U' => 8,
                        _ => return Err(
                            "yaml: found unknown escape character while parsing a quoted scalar"
                                .into(),
                        ),
                    };
                let hex: String = iter.by_ref().take(digits).map(|(_, c)| c).collect();
                let code = (hex.len() == digits)
                    .then(|| u32::from_str_radix(&hex, 16).ok())
                    .flatten()
                    .and_then(char::from_u32)
                    .ok_or("yaml: did not find expected hexdecimal number while parsing a quoted scalar")?;
                out.push(code);
            }
            c => out.push(c),
        }
    }
    Err("yaml: found unexpected end of stream while parsing a quoted scalar".into())
}

/// Reads a single-quoted scalar whose opening quote was already consumed.
fn read_single_quoted(text: &str) -> Result<(String, &str), String> {
    let mut out = String::new();
    let mut iter = text.char_indices().peekable();
    while let Some((i, c)) = iter.next() {
        if c == '\'' {
            if matches!(iter.peek(), Some((_, '\''))) {
                iter.next();
                out.push('\'');
                continue;
            }
            return Ok((out, &text[i + 1..]));
        }
        out.push(c);
    }
    Err("yaml: found unexpected end of stream while parsing a quoted scalar".into())
}

/// After a complete node only blanks and a comment may follow on the line.
fn expect_line_end(rest: &str) -> Result<(), String> {
    let trimmed = rest.trim_start_matches([' ', '\t']);
    if trimmed.is_empty() || (trimmed.starts_with('#') && trimmed.len() < rest.len()) {
        Ok(())
    } else {
        Err("yaml: did not find expected key".into())
    }
}

/// Cuts a comment (`#` after a blank) off a plain scalar's line.
fn strip_comment(text: &str) -> &str {
    let mut previous_blank = true;
    for (i, c) in text.char_indices() {
        if c == '#' && previous_blank {
            return &text[..i];
        }
        previous_blank = c == ' ' || c == '\t';
    }
    text
}

/// Index of a `: ` (or a final `:`), which makes a plain scalar a mapping.
fn mapping_indicator(text: &str) -> Option<usize> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    chars
        .iter()
        .enumerate()
        .find(|(n, (_, c))| {
            *c == ':' && (chars.get(n + 1).is_none() || is_blank(chars.get(n + 1).map(|x| x.1)))
        })
        .map(|(_, (i, _))| *i)
}

/// Reads the text substituted into a plain scalar as go-yaml would read that line.
fn parse_plain(text: &str, context: Context) -> Result<Value, String> {
    let text = text.trim_matches([' ', '\t']);
    let mut chars = text.chars();
    let Some(first) = chars.next() else {
        return if context == Context::Key {
            Err(unsupported_key())
        } else {
            Ok(Value::Null)
        };
    };
    let second = chars.next();
    let indicator_with_blank = second.is_none() || is_blank(second);
    match first {
        '#' if context != Context::Key => return Ok(Value::Null),
        '"' => {
            let (content, rest) = read_double_quoted(&text[1..])?;
            expect_line_end(rest)?;
            return Ok(Value::String(content));
        }
        '\'' => {
            let (content, rest) = read_single_quoted(&text[1..])?;
            expect_line_end(rest)?;
            return Ok(Value::String(content));
        }
        '[' | '{' => {
            let mut flow = FlowParser::new(text);
            let value = flow.node()?;
            expect_line_end(flow.rest())?;
            return Ok(value);
        }
        '*' => return Err(format!("yaml: unknown anchor '{}' referenced", &text[1..])),
        '&' => {
            let rest = text
                .split_once([' ', '\t'])
                .map(|(_, rest)| rest)
                .unwrap_or_default();
            return parse_plain(rest, context);
        }
        '!' => return Err("yaml: tags are not supported in substituted values".into()),
        '|' | '>' if context != Context::Key => {
            // A block scalar header with no content lines below it: an empty string.
            let header = strip_comment(&text[1..]).trim_end_matches([' ', '\t']);
            if header.chars().all(|c| matches!(c, '+' | '-' | '1'..='9')) {
                return Ok(Value::String(String::new()));
            }
            return Err("yaml: did not find expected comment or line break".into());
        }
        '%' | '@' | '`' => return Err("yaml: found character that cannot start any token".into()),
        ',' | ']' | '}' => return Err("yaml: did not find expected node content".into()),
        '-' if indicator_with_blank => {
            if context == Context::SeqItem {
                // `- - x`: a nested sequence.
                return Ok(Value::Array(vec![parse_plain(
                    &text[1..],
                    Context::SeqItem,
                )?]));
            }
            return Err("yaml: block sequence entries are not allowed in this context".into());
        }
        '?' | ':' if indicator_with_blank => {
            return Err("yaml: mapping values are not allowed in this context".into());
        }
        _ => {}
    }
    let line = strip_comment(text).trim_end_matches([' ', '\t']);
    if let Some(colon) = mapping_indicator(line) {
        if context != Context::SeqItem {
            return Err("yaml: mapping values are not allowed in this context".into());
        }
        // `- key: value`: the item is a one-entry mapping.
        let key = key_text(&parse_plain(&line[..colon], Context::Key)?)?;
        let value = parse_plain(&line[colon + 1..], Context::MapValue)?;
        let mut map = Map::new();
        map.insert(key, value);
        return Ok(Value::Object(map));
    }
    if line.is_empty() {
        return if context == Context::Key {
            Err(unsupported_key())
        } else {
            Ok(Value::Null)
        };
    }
    resolve_plain(line)
}

fn unsupported_key() -> String {
    "yaml: unsupported map key after substitution".into()
}

/// A mapping key as JSON text, as sigs.k8s.io/yaml converts non-string keys.
fn map_key_text(key: &Value) -> Result<String, SubstituteError> {
    key_text(key).map_err(SubstituteError::Yaml)
}

fn key_text(key: &Value) -> Result<String, String> {
    match key {
        Value::String(text) => Ok(text.clone()),
        Value::Number(number) => Ok(number.to_string()),
        Value::Bool(flag) => Ok(flag.to_string()),
        _ => Err(unsupported_key()),
    }
}

/// A minimal reader for flow collections (`[a, b]`, `{k: v}`) substituted into a
/// plain scalar.
struct FlowParser<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> FlowParser<'a> {
    fn new(text: &'a str) -> Self {
        Self { text, pos: 0 }
    }

    fn rest(&self) -> &'a str {
        &self.text[self.pos..]
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn skip_blanks(&mut self) {
        let rest = self.rest();
        self.pos += rest.len() - rest.trim_start_matches([' ', '\t']).len();
    }

    fn node(&mut self) -> Result<Value, String> {
        self.skip_blanks();
        match self.peek() {
            Some('[') => self.sequence(),
            Some('{') => self.mapping(),
            Some('"') => {
                let (content, rest) = read_double_quoted(&self.rest()[1..])?;
                self.pos = self.text.len() - rest.len();
                Ok(Value::String(content))
            }
            Some('\'') => {
                let (content, rest) = read_single_quoted(&self.rest()[1..])?;
                self.pos = self.text.len() - rest.len();
                Ok(Value::String(content))
            }
            Some('#') | None => Err("yaml: did not find expected node content".into()),
            Some(_) => self.plain(),
        }
    }

    fn plain(&mut self) -> Result<Value, String> {
        let rest = self.rest();
        let chars: Vec<(usize, char)> = rest.char_indices().collect();
        let mut end = rest.len();
        for (n, &(i, c)) in chars.iter().enumerate() {
            let next = chars.get(n + 1).map(|x| x.1);
            let ends_here = matches!(c, ',' | '[' | ']' | '{' | '}')
                || (c == ':'
                    && (next.is_none()
                        || is_blank(next)
                        || matches!(next, Some(',' | '[' | ']' | '{' | '}'))))
                || (c == '#' && n > 0 && is_blank(Some(chars[n - 1].1)));
            if ends_here {
                end = i;
                break;
            }
        }
        let token = rest[..end].trim_end_matches([' ', '\t']);
        self.pos += end;
        if token.is_empty() {
            return Err("yaml: did not find expected node content".into());
        }
        resolve_plain(token)
    }

    fn expect(&mut self, wanted: char) -> Result<(), String> {
        self.skip_blanks();
        if self.peek() == Some(wanted) {
            self.pos += wanted.len_utf8();
            Ok(())
        } else {
            Err(format!("yaml: did not find expected ',' or '{wanted}'"))
        }
    }

    fn sequence(&mut self) -> Result<Value, String> {
        self.pos += 1;
        let mut items = Vec::new();
        loop {
            self.skip_blanks();
            if self.peek() == Some(']') {
                self.pos += 1;
                return Ok(Value::Array(items));
            }
            items.push(self.node()?);
            self.skip_blanks();
            match self.peek() {
                Some(',') => self.pos += 1,
                _ => {
                    self.expect(']')?;
                    return Ok(Value::Array(items));
                }
            }
        }
    }

    fn mapping(&mut self) -> Result<Value, String> {
        self.pos += 1;
        let mut map = Map::new();
        loop {
            self.skip_blanks();
            if self.peek() == Some('}') {
                self.pos += 1;
                return Ok(Value::Object(map));
            }
            let key = key_text(&self.node()?)?;
            self.skip_blanks();
            let value = if self.peek() == Some(':') {
                self.pos += 1;
                self.skip_blanks();
                if matches!(self.peek(), Some(',' | '}')) {
                    Value::Null
                } else {
                    self.node()?
                }
            } else {
                Value::Null
            };
            map.insert(key, value);
            self.skip_blanks();
            match self.peek() {
                Some(',') => self.pos += 1,
                _ => {
                    self.expect('}')?;
                    return Ok(Value::Object(map));
                }
            }
        }
    }
}

/// Resolves a plain scalar with go-yaml v2's YAML 1.1 rules, then converts the
/// result as sigs.k8s.io/yaml's `YAMLToJSON` does (timestamps become RFC 3339
/// strings, integral floats print as integers, infinities are errors).
fn resolve_plain(text: &str) -> Result<Value, String> {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Ok(Value::Null),
        "y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" | "true" | "True" | "TRUE" => {
            return Ok(Value::Bool(true))
        }
        "n" | "N" | "no" | "No" | "NO" | "off" | "Off" | "OFF" | "false" | "False" | "FALSE" => {
            return Ok(Value::Bool(false))
        }
        ".nan" | ".NaN" | ".NAN" => return Err("json: unsupported value: NaN".into()),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Err("json: unsupported value: +Inf".into())
        }
        "-.inf" | "-.Inf" | "-.INF" => return Err("json: unsupported value: -Inf".into()),
        _ => {}
    }
    let string = || Ok(Value::String(text.to_owned()));
    let Some(first) = text.bytes().next() else {
        return string();
    };
    if first == b'.' {
        return match text.parse::<f64>() {
            Ok(f) if f.is_finite() && go_float_syntax(text) => Ok(float_value(f)),
            _ => string(),
        };
    }
    if !(first.is_ascii_digit() || first == b'+' || first == b'-') {
        return string();
    }
    if let Some(timestamp) = parse_timestamp(text) {
        return Ok(Value::String(timestamp));
    }
    let plain = text.replace('_', "");
    if let Some(n) = go_parse_int(&plain) {
        if let Ok(i) = i64::try_from(n) {
            return Ok(Value::Number(i.into()));
        }
        if let Ok(u) = u64::try_from(n) {
            return Ok(Value::Number(u.into()));
        }
    }
    if yaml_float_regex().is_match(&plain) {
        if let Ok(f) = plain.parse::<f64>() {
            if f.is_finite() {
                return Ok(float_value(f));
            }
        }
    }
    string()
}

/// Go's `ParseFloat` takes decimal forms only here (a leading `.` was seen).
fn go_float_syntax(text: &str) -> bool {
    text.bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'))
}

fn yaml_float_regex() -> &'static Regex {
    static PATTERN: OnceLock<Regex> = OnceLock::new();
    PATTERN.get_or_init(|| {
        Regex::new(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$").expect("valid regex")
    })
}

/// Go's JSON encoder prints an integral float64 without a fraction (`3`, not
/// `3.0`), which an integer field then accepts; keep that.
fn float_value(f: f64) -> Value {
    const EXACT_INTEGER_LIMIT: f64 = 9_007_199_254_740_992.0; // 2^53
    if f.fract() == 0.0 && f.abs() < EXACT_INTEGER_LIMIT {
        return Value::Number((f as i64).into());
    }
    Number::from_f64(f)
        .map(Value::Number)
        .unwrap_or(Value::Null)
}

/// Go's `strconv.ParseInt(s, 0, 64)` syntax (sign, `0x`/`0o`/`0b` prefixes, a
/// leading `0` for octal), returning the value unbounded so callers can range-check.
fn go_parse_int(text: &str) -> Option<i128> {
    let (negative, digits) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let (radix, body) = if let Some(rest) = digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        (16, rest)
    } else if let Some(rest) = digits
        .strip_prefix("0o")
        .or_else(|| digits.strip_prefix("0O"))
    {
        (8, rest)
    } else if let Some(rest) = digits
        .strip_prefix("0b")
        .or_else(|| digits.strip_prefix("0B"))
    {
        (2, rest)
    } else if digits.len() > 1 && digits.starts_with('0') {
        (8, &digits[1..])
    } else {
        (10, digits)
    };
    if body.is_empty() || !body.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let magnitude = i128::from_str_radix(body, radix).ok()?;
    let value = if negative { -magnitude } else { magnitude };
    (value >= i128::from(i64::MIN) && value <= i128::from(u64::MAX)).then_some(value)
}

/// go-yaml's timestamps (`2006-1-2`, `2006-1-2T15:4:5.999999999Z07:00`, with `t`,
/// or a space and no zone), converted to the RFC 3339 text Go's JSON encoder prints.
fn parse_timestamp(text: &str) -> Option<String> {
    static PATTERN: OnceLock<Regex> = OnceLock::new();
    let pattern = PATTERN.get_or_init(|| {
        Regex::new(
            r"^([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})(?:([Tt ])([0-9]{1,2}):([0-9]{1,2}):([0-9]{1,2})(?:\.([0-9]{1,9}))?(Z|[+-][0-9]{2}:[0-9]{2})?)?$",
        )
        .expect("valid regex")
    });
    let caps = pattern.captures(text)?;
    let number = |i: usize| caps.get(i).and_then(|m| m.as_str().parse::<u32>().ok());
    let date = chrono::NaiveDate::from_ymd_opt(number(1)? as i32, number(2)?, number(3)?)?;
    let Some(separator) = caps.get(4).map(|m| m.as_str()) else {
        return Some(format!("{}T00:00:00Z", date.format("%Y-%m-%d")));
    };
    let zone = caps.get(9).map(|m| m.as_str());
    // With `T` the zone is required; with a space it must be absent.
    if (separator == " ") == zone.is_some() {
        return None;
    }
    let (hour, minute, second) = (number(5)?, number(6)?, number(7)?);
    chrono::NaiveTime::from_hms_opt(hour, minute, second)?;
    let fraction = caps
        .get(8)
        .map(|m| m.as_str().trim_end_matches('0'))
        .unwrap_or_default();
    let zone = match zone {
        None | Some("Z") | Some("+00:00") | Some("-00:00") => "Z",
        Some(offset) => offset,
    };
    let fraction = if fraction.is_empty() {
        String::new()
    } else {
        format!(".{fraction}")
    };
    Some(format!(
        "{}T{hour:02}:{minute:02}:{second:02}{fraction}{zone}",
        date.format("%Y-%m-%d")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vars(pairs: &[(&str, &str)]) -> Variables {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn sub(text: &str, pairs: &[(&str, &str)]) -> String {
        envsubst(text, &vars(pairs), false).unwrap()
    }

    fn sub_err(text: &str) -> EnvsubstError {
        envsubst(text, &Variables::new(), false).unwrap_err()
    }

    #[test]
    fn plain_variables_and_escapes() {
        assert_eq!(sub("${cluster_env}", &[("cluster_env", "prod")]), "prod");
        assert_eq!(sub("env-${A}-${B}", &[("A", "1"), ("B", "2")]), "env-1-2");
        assert_eq!(sub("${unset}", &[]), "");
        assert_eq!(
            sub("$var and $1 and $", &[("var", "x")]),
            "$var and $1 and $"
        );
        assert_eq!(sub("$${var}", &[("var", "x")]), "${var}");
        assert_eq!(sub("$$var", &[]), "$var");
        assert_eq!(sub("$$${var}", &[("var", "x")]), "$x");
        assert_eq!(sub("cost: $$5", &[]), "cost: $5");
        assert_eq!(sub("{${A}}", &[("A", "x")]), "{x}");
        assert_eq!(sub("${ÄB1}", &[("ÄB1", "unicode")]), "unicode");
    }

    #[test]
    fn defaults_apply_when_empty_or_unset() {
        assert_eq!(sub("${a:=dev}", &[]), "dev");
        assert_eq!(sub("${a:-dev}", &[]), "dev");
        assert_eq!(sub("${a=dev}", &[]), "dev");
        assert_eq!(sub("${a:=dev}", &[("a", "prod")]), "prod");
        // Unlike bash, `=` also replaces an empty value.
        assert_eq!(sub("${a=dev}", &[("a", "")]), "dev");
        assert_eq!(sub("${a:=${b}}", &[("b", "nested")]), "nested");
        assert_eq!(sub("${a:=x-${b:=y}-z}", &[]), "x-y-z");
        assert_eq!(sub("${a:=http://host:8080/p}", &[]), "http://host:8080/p");
        assert_eq!(sub("${a:=}", &[]), "");
        // `:+` and `:?` are not bash's: they behave as defaults too.
        assert_eq!(sub("${a:+alt}", &[("a", "set")]), "set");
        assert_eq!(sub("${a:?missing}", &[]), "missing");
    }

    #[test]
    fn string_functions() {
        let v = [
            ("name", "podinfo"),
            ("path", "a/b/c.tar.gz"),
            ("word", "hello"),
        ];
        assert_eq!(sub("${#name}", &v), "7");
        assert_eq!(sub("${word^}", &v), "Hello");
        assert_eq!(sub("${word^^}", &v), "HELLO");
        assert_eq!(sub("${UP,}", &[("UP", "HELLO")]), "hELLO");
        assert_eq!(sub("${UP,,}", &[("UP", "HELLO")]), "hello");
        assert_eq!(
            sub("${word,^}", &v),
            "hello",
            "mixed casing is the plain value"
        );
        assert_eq!(sub("${name:3}", &v), "info");
        assert_eq!(sub("${name:0:3}", &v), "pod");
        assert_eq!(sub("${name:3:100}", &v), "info");
        assert_eq!(sub("${name:20}", &v), "");
        assert_eq!(sub("${name:x}", &v), "podinfo", "unparsable offset");
        assert_eq!(
            sub("${name:${n}}", &[("name", "podinfo"), ("n", "-4")]),
            "info"
        );
        assert_eq!(sub("${path#*/}", &v), "b/c.tar.gz");
        assert_eq!(sub("${path##*/}", &v), "c.tar.gz");
        assert_eq!(sub("${path%.*}", &v), "a/b/c.tar");
        assert_eq!(sub("${path%%.*}", &v), "a/b/c");
        assert_eq!(sub("${path#[ab]}", &v), "/b/c.tar.gz");
        assert_eq!(
            sub("${path#[}", &v),
            "a/b/c.tar.gz",
            "bad glob leaves the value"
        );
        assert_eq!(sub("${word/l/L}", &v), "heLlo");
        assert_eq!(sub("${word//l/L}", &v), "heLLo");
        assert_eq!(sub("${word/#he/HE}", &v), "HEllo");
        assert_eq!(sub("${word/%lo/LO}", &v), "helLO");
        assert_eq!(sub("${word/#x/y}", &v), "hello");
        assert_eq!(sub("${word/l/}", &v), "helo");
        assert_eq!(
            sub("${path//\\//-}", &v),
            "a-b-c.tar.gz",
            "escaped slash in the pattern"
        );
    }

    #[test]
    fn syntax_errors_match_envsubst() {
        assert_eq!(
            sub_err("${var-default}"),
            EnvsubstError::MissingClosingBrace
        );
        assert_eq!(sub_err("${var"), EnvsubstError::MissingClosingBrace);
        assert_eq!(sub_err("${var.x}"), EnvsubstError::MissingClosingBrace);
        assert_eq!(sub_err("${}"), EnvsubstError::ParseVariableName);
        assert_eq!(sub_err("${ var}"), EnvsubstError::ParseVariableName);
        assert_eq!(sub_err("${-x}"), EnvsubstError::ParseVariableName);
        assert_eq!(
            sub_err("${a:=unterminated"),
            EnvsubstError::ParseFuncSubstitution
        );
        assert_eq!(sub_err("${#}"), EnvsubstError::BadSubstitution);
        assert_eq!(sub_err("${a/x}"), EnvsubstError::BadSubstitution);
        assert_eq!(sub_err("${a^x}"), EnvsubstError::BadSubstitution);
        assert_eq!(sub_err("${a:}"), EnvsubstError::ParseFuncSubstitution);
        assert_eq!(
            envsubst("${a:1:-2}", &vars(&[("a", "abc")]), false).unwrap_err(),
            EnvsubstError::SubstringOutOfRange
        );
    }

    #[test]
    fn strict_mode_refuses_unset_variables_without_defaults() {
        let strict = |text: &str| envsubst(text, &vars(&[("set", "x")]), true);
        assert_eq!(strict("${set}").unwrap(), "x");
        assert_eq!(strict("${unset:=d}").unwrap(), "d");
        assert_eq!(strict("${unset=d}").unwrap(), "d");
        assert_eq!(
            strict("${unset}").unwrap_err(),
            EnvsubstError::VariableNotSet("unset".into())
        );
        assert_eq!(
            strict("${#unset}").unwrap_err(),
            EnvsubstError::VariableNotSet("unset".into())
        );
        assert_eq!(
            strict("${unset^^}").unwrap_err(),
            EnvsubstError::VariableNotSet("unset".into())
        );
        assert_eq!(
            SubstituteError::from(strict("${unset}").unwrap_err()).to_string(),
            "envsubst error: variable substitution failed: variable not set (strict mode): \"unset\""
        );
    }

    #[test]
    fn variable_precedence_and_newlines() {
        let sources = [
            SubstituteSource {
                kind: SourceKind::ConfigMap,
                name: "cluster-vars".into(),
                optional: false,
                data: Some(
                    [
                        ("region".to_string(), "eu".to_string()),
                        ("env".into(), "dev".into()),
                    ]
                    .into(),
                ),
            },
            SubstituteSource {
                kind: SourceKind::ConfigMap,
                name: "absent".into(),
                optional: true,
                data: None,
            },
            SubstituteSource {
                kind: SourceKind::Secret,
                name: "secret-vars".into(),
                optional: false,
                data: Some(
                    [
                        ("region".to_string(), "us\n".to_string()),
                        ("token".into(), "a\nb".into()),
                    ]
                    .into(),
                ),
            },
        ];
        let inline: BTreeMap<String, String> = [("env".to_string(), "prod".to_string())].into();
        let resolved = resolve_variables(&sources, Some(&inline)).unwrap();
        assert_eq!(
            resolved,
            vars(&[("region", "us"), ("env", "prod"), ("token", "ab")])
        );

        let missing = [SubstituteSource {
            kind: SourceKind::Secret,
            name: "creds".into(),
            optional: false,
            data: None,
        }];
        assert_eq!(
            resolve_variables(&missing, None).unwrap_err().to_string(),
            "substitute from 'Secret/creds' error: secrets \"creds\" not found"
        );
    }

    #[test]
    fn invalid_variable_names_fail_the_build() {
        let object = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "b"}});
        let err = substitute_object(
            &object,
            &vars(&[("my-var", "x")]),
            &SubstituteOptions::default(),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "envsubst error: 'my-var' var name is invalid, must match '^[_[:alpha:]][_[:alpha:][:digit:]]*$'"
        );
        assert!(validate_variable_names(&vars(&[("_ok", ""), ("A1", "")])).is_ok());
        assert!(validate_variable_names(&vars(&[("1abc", "")])).is_err());
        assert!(
            validate_variable_names(&vars(&[("ÄB", "")])).is_err(),
            "POSIX classes are ASCII"
        );
        assert_eq!(
            post_build_error_message(&object, &err),
            "post build failed for '~G_v1_ConfigMap/c': envsubst error: 'my-var' var name is invalid, \
             must match '^[_[:alpha:]][_[:alpha:][:digit:]]*$'"
        );
    }

    fn deployment() -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "${ns:=apps}",
                "labels": {"env": "${cluster_env}", "region": "${cluster_region}"}},
            "spec": {
                "replicas": "${replicas}",
                "template": {"spec": {"containers": [{
                    "name": "app",
                    "image": "ghcr.io/org/app:${tag}",
                    "args": ["--port=${port}", "${port}"],
                    "env": [{"name": "PORT", "value": "${port}"}, {"name": "DEBUG", "value": "${debug}"},
                            {"name": "ID", "value": "${quote}${id}${quote}"}],
                    "command": ["sh", "-c", "echo $HOME $${NOT_A_VAR}"],
                }]}}
            }
        })
    }

    #[test]
    fn substitution_retypes_numbers_and_booleans_like_flux() {
        let variables = vars(&[
            ("cluster_env", "prod"),
            ("cluster_region", "eu-central-1"),
            ("replicas", "3"),
            ("tag", "1.2.3"),
            ("port", "8080"),
            ("debug", "true"),
            ("quote", "\""),
            ("id", "123"),
        ]);
        let out = substitute_object(&deployment(), &variables, &SubstituteOptions::default())
            .unwrap()
            .unwrap();
        assert_eq!(out["metadata"]["namespace"], "apps");
        assert_eq!(
            out["metadata"]["labels"],
            json!({"env": "prod", "region": "eu-central-1"})
        );
        assert_eq!(out["spec"]["replicas"], json!(3));
        let container = &out["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(container["image"], "ghcr.io/org/app:1.2.3");
        assert_eq!(container["args"], json!(["--port=8080", 8080]));
        assert_eq!(
            container["env"][0]["value"],
            json!(8080),
            "an env value becomes a number, as in Flux"
        );
        assert_eq!(container["env"][1]["value"], json!(true));
        assert_eq!(
            container["env"][2]["value"],
            json!("123"),
            "the quote-variable trick keeps a string"
        );
        assert_eq!(
            container["command"],
            json!(["sh", "-c", "echo $HOME ${NOT_A_VAR}"])
        );
    }

    #[test]
    fn opt_outs_and_strategies() {
        let mut object = deployment();
        object["metadata"]["annotations"] = json!({SUBSTITUTE_KEY: "disabled"});
        let variables = vars(&[("replicas", "3")]);
        assert_eq!(
            substitute_object(&object, &variables, &SubstituteOptions::default()).unwrap(),
            None
        );
        let mut labelled = deployment();
        labelled["metadata"]["labels"][SUBSTITUTE_KEY] = json!("disabled");
        assert!(is_substitution_disabled(&labelled));
        let mut other_case = deployment();
        other_case["metadata"]["annotations"] = json!({SUBSTITUTE_KEY: "Disabled"});
        assert!(
            !is_substitution_disabled(&other_case),
            "the value is compared exactly"
        );

        // No variables: nothing happens unless the strategy is Always.
        let empty = Variables::new();
        assert_eq!(
            substitute_object(&deployment(), &empty, &SubstituteOptions::default()).unwrap(),
            None
        );
        let always = SubstituteOptions {
            strategy: SubstituteStrategy::Always,
            strict: false,
        };
        let small =
            json!({"metadata": {"namespace": "${ns:=apps}"}, "spec": {"replicas": "${replicas}"}});
        let out = substitute_object(&small, &empty, &always).unwrap().unwrap();
        assert_eq!(out["metadata"]["namespace"], "apps");
        assert_eq!(
            out["spec"]["replicas"],
            Value::Null,
            "an empty plain scalar reads as null"
        );
        // `image: ghcr.io/org/app:${tag}` with no tag ends in a colon: invalid YAML in Flux too.
        let err = substitute_object(&deployment(), &empty, &always).unwrap_err();
        assert!(
            err.to_string().contains("mapping values are not allowed"),
            "{err}"
        );
        assert_eq!(
            SubstituteStrategy::from_spec(Some("Always")),
            SubstituteStrategy::Always
        );
        assert_eq!(
            SubstituteStrategy::from_spec(None),
            SubstituteStrategy::WithVariables
        );

        let strict = SubstituteOptions {
            strategy: SubstituteStrategy::Always,
            strict: true,
        };
        let err = substitute_object(&deployment(), &empty, &strict).unwrap_err();
        assert!(
            matches!(
                err,
                SubstituteError::Envsubst(EnvsubstError::VariableNotSet(_))
            ),
            "{err}"
        );
    }

    fn value_of(text: &str, value: &str) -> Value {
        let object = json!({"kind": "ConfigMap", "data": {"k": text}, "list": [text]});
        let out = substitute_object(
            &object,
            &vars(&[("v", value)]),
            &SubstituteOptions::default(),
        )
        .unwrap()
        .unwrap();
        out["data"]["k"].clone()
    }

    #[test]
    fn yaml_1_1_rules_decide_the_type() {
        assert_eq!(value_of("${v}", "42"), json!(42));
        assert_eq!(value_of("${v}", "-7"), json!(-7));
        assert_eq!(value_of("${v}", "1.5"), json!(1.5));
        assert_eq!(value_of("${v}", "1e3"), json!(1000));
        assert_eq!(value_of("${v}", "3.0"), json!(3));
        assert_eq!(value_of("${v}", "010"), json!(8), "leading zero is octal");
        assert_eq!(
            value_of("${v}", "08"),
            json!(8),
            "invalid octal falls back to float"
        );
        assert_eq!(value_of("${v}", "0x1F"), json!(31));
        assert_eq!(value_of("${v}", "1_000"), json!(1000));
        assert_eq!(
            value_of("${v}", "18446744073709551615"),
            json!(18_446_744_073_709_551_615u64)
        );
        assert_eq!(value_of("${v}", "yes"), json!(true));
        assert_eq!(value_of("${v}", "Off"), json!(false));
        assert_eq!(value_of("${v}", "~"), Value::Null);
        assert_eq!(
            value_of("${v}", "2024-01-15"),
            json!("2024-01-15T00:00:00Z")
        );
        assert_eq!(
            value_of("${v}", "2024-01-15T10:20:30.500+02:00"),
            json!("2024-01-15T10:20:30.5+02:00")
        );
        assert_eq!(
            value_of("${v}", "2024-13-01"),
            json!("2024-13-01"),
            "not a date: a string"
        );
        assert_eq!(value_of("${v}", "1.2.3"), json!("1.2.3"));
        assert_eq!(value_of("v${v}", "1"), json!("v1"));
        assert_eq!(
            value_of("${v}", "[a, 1, {b: true}]"),
            json!(["a", 1, {"b": true}])
        );
        assert_eq!(
            value_of("${v}", "{a: 1, b: [x]}"),
            json!({"a": 1, "b": ["x"]})
        );
        assert_eq!(value_of("${v}", "'quoted'"), json!("quoted"));
        assert_eq!(value_of("${v}", "value # comment"), json!("value"));
        assert_eq!(value_of("${v}", "#all comment"), Value::Null);
        assert_eq!(value_of("${v}", "  padded  "), json!("padded"));
        assert_eq!(value_of("${v}", "a:b"), json!("a:b"));
        assert_eq!(value_of("${v}", "|"), json!(""));
    }

    fn error_of(text: &str, value: &str) -> String {
        let object = json!({"data": {"k": text}});
        substitute_object(
            &object,
            &vars(&[("v", value)]),
            &SubstituteOptions::default(),
        )
        .unwrap_err()
        .to_string()
    }

    #[test]
    fn substituted_text_that_breaks_yaml_fails() {
        assert!(error_of("${v}", "a: b").contains("mapping values are not allowed"));
        assert!(error_of("${v}", "- a").contains("block sequence entries are not allowed"));
        assert!(error_of("${v}", "*ref").contains("unknown anchor"));
        assert!(error_of("${v}", "@x").contains("cannot start any token"));
        assert!(error_of("${v}", "\"open").contains("quoted scalar"));
        assert!(error_of("${v}", ".inf").contains("unsupported value: +Inf"));
        assert!(error_of("${v}", "[a, b").contains("did not find expected"));
        assert!(error_of("${v}", "\"a\" b").starts_with("envsubst error: YAMLToJSON: yaml:"));
    }

    #[test]
    fn list_items_may_become_mappings() {
        // `- ${v}` with `v: "a: 1"` is the item `a: 1`, a one-entry mapping; a string
        // starting with "- " is single-quoted by go-yaml and stays a string.
        let object = json!({"items": ["${v}", "- ${v}"]});
        let out = substitute_object(
            &object,
            &vars(&[("v", "a: 1")]),
            &SubstituteOptions::default(),
        )
        .unwrap()
        .unwrap();
        assert_eq!(out["items"], json!([{"a": 1}, "- a: 1"]));
        let out = substitute_object(
            &json!({"items": ["${v}"]}),
            &vars(&[("v", "- b")]),
            &SubstituteOptions::default(),
        )
        .unwrap()
        .unwrap();
        assert_eq!(out["items"], json!([["b"]]));
    }

    #[test]
    fn quoted_emissions_keep_strings() {
        // Strings go-yaml must quote stay strings whatever is substituted.
        assert_eq!(
            value_of(" ${v}", "3"),
            json!(" 3"),
            "leading space: single-quoted"
        );
        assert_eq!(
            value_of("${v}: x", "3"),
            json!("3: x"),
            "colon-space: single-quoted"
        );
        assert_eq!(value_of("- ${v}", "3"), json!("- 3"));
        assert_eq!(value_of("#${v}", "3"), json!("#3"));
        assert_eq!(value_of(" it's ${v}", "ok"), json!(" it's ok"));
        assert!(error_of(" ${v}", "it's").contains("did not find expected key"));
        assert_eq!(value_of("\t${v}", "3"), json!("\t3"), "tab: double-quoted");
        assert!(error_of("\t${v}", "a\"b").contains("did not find expected key"));
        assert_eq!(
            value_of("\t${v}", "a\\tb"),
            json!("\ta\tb"),
            "escapes in a double-quoted scalar apply"
        );
        // Multi-line strings are literal blocks: substituted text stays text.
        assert_eq!(
            value_of("#!/bin/sh\necho ${v}\n", "3"),
            json!("#!/bin/sh\necho 3\n")
        );
    }

    #[test]
    fn keys_are_substituted_too() {
        let object = json!({"data": {"${v}_KEY": "x", "${n}": "y", "plain": "${v}"}});
        let out = substitute_object(
            &object,
            &vars(&[("v", "APP"), ("n", "10")]),
            &SubstituteOptions::default(),
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            out["data"],
            json!({"APP_KEY": "x", "10": "y", "plain": "APP"})
        );
    }

    #[test]
    fn non_strings_and_unchanged_text_are_untouched() {
        let object =
            json!({"n": 1.5, "b": true, "z": null, "s": "$HOME", "quoted": "123", "t": "${v}"});
        let out = substitute_object(&object, &vars(&[("v", "x")]), &SubstituteOptions::default())
            .unwrap()
            .unwrap();
        assert_eq!(
            out,
            json!({"n": 1.5, "b": true, "z": null, "s": "$HOME", "quoted": "123", "t": "x"})
        );
    }

    #[test]
    fn emitted_styles_follow_go_yaml() {
        assert_eq!(emitted_style("${v}", false), ScalarStyle::Plain);
        assert_eq!(
            emitted_style("http://x:${port}/y", false),
            ScalarStyle::Plain
        );
        assert_eq!(emitted_style("a ${b} #c", false), ScalarStyle::SingleQuoted);
        assert_eq!(emitted_style("${a}:", false), ScalarStyle::SingleQuoted);
        assert_eq!(emitted_style("[${a}]", false), ScalarStyle::SingleQuoted);
        assert_eq!(emitted_style("a\u{1}b", false), ScalarStyle::DoubleQuoted);
        assert_eq!(
            emitted_style("a \nb", false),
            ScalarStyle::DoubleQuoted,
            "space before a break"
        );
        assert_eq!(emitted_style("a\nb", false), ScalarStyle::Literal);
        assert_eq!(emitted_style("a\nb", true), ScalarStyle::DoubleQuoted);
        assert_eq!(emitted_style("123", false), ScalarStyle::DoubleQuoted);
        assert_eq!(
            emitted_style("1:30", false),
            ScalarStyle::DoubleQuoted,
            "base 60"
        );
        assert_eq!(emitted_style("", false), ScalarStyle::DoubleQuoted);
    }
}
