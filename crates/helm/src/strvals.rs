//! Helm's `--set` family and values-option merging, as `helm template`/`install` read
//! them: Helm 4's `pkg/strvals` (the `--set`, `--set-string`, `--set-json`,
//! `--set-file` and `--set-literal` parsers) and `pkg/cli/values` (`-f` files merged in
//! order, then each kind of `--set` applied in Helm's fixed order).
//!
//! The parsers are ported for behaviour, quirks included, because users' command
//! lines are written against Helm: `a.b=1,c[2]=x` grows lists with nils, `\,` escapes,
//! `{a,b}` is a list, `a=` is an empty string (null for `--set-json`), a key that
//! collides with a value of another type fails with Go's panic text, an expression cut
//! short at a bracket or a dot is silently accepted, and every error message is the
//! one Helm prints. Go's maps are shared references and its slices share backing
//! arrays, which decides what a half-applied assignment leaves behind; the tree the
//! parsers work on (`Node`) is owned, and the code notes where it mirrors that.
//!
//! Nothing here does IO: `--set-file` and `-f` take the file reader as a parameter.

use std::collections::BTreeMap;

use ferroflux_gotemplate::Value;

use crate::yaml;

/// The largest list index an expression may set (Helm's `strvals.MaxIndex`), so that
/// `a[999999999]=x` cannot allocate without bound.
pub const MAX_INDEX: i64 = 65536;

/// The deepest `a.b.c…` nesting a key may have (Helm's `strvals.MaxNestedNameLevel`).
pub const MAX_NESTED_NAME_LEVEL: usize = 30;

/// Encoding/json's nesting limit, which `--set-json` values inherit.
const MAX_JSON_DEPTH: usize = 10000;

const GO_LIST: &str = "[]interface {}";
const GO_MAP: &str = "map[string]interface {}";

/// Why a values option could not be applied. Each message is Helm's, word for word,
/// since users and tests match on them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StrvalsError {
    /// A key with nothing after it: `a`, `a.b`.
    #[error("key {} has no value", go_quote(.0))]
    NoValue(String),
    /// A key ended by a comma: `a,b=1`.
    #[error("key {} has no value (cannot end with ,)", go_quote(.0))]
    NoValueBeforeComma(String),
    /// A dotted key that set nothing: `a.=1`.
    #[error("key map {} has no value", go_quote(.0))]
    EmptyKeyMap(String),
    #[error(
        "value name nested level is greater than maximum supported nested level of {}",
        MAX_NESTED_NAME_LEVEL
    )]
    TooDeeplyNested,
    #[error("negative {0} index not allowed")]
    NegativeIndex(i64),
    #[error("index of {} is greater than maximum supported index of {}", .0, MAX_INDEX)]
    IndexTooLarge(i64),
    /// What is between `[` and `]` is not a Go `int` (strconv.Atoi's complaint).
    #[error(
        "error parsing index: strconv.Atoi: parsing {}: {}",
        go_quote(.text),
        if *.out_of_range { "value out of range" } else { "invalid syntax" }
    )]
    BadIndex { text: String, out_of_range: bool },
    /// Text between `]` and the next `[`, `.` or `=`; Go prints it as a rune slice.
    #[error("unexpected data at end of array index: {}", quote_rune_slice(.0))]
    DataAfterIndex(String),
    #[error("list must terminate with '}}'")]
    UnterminatedList,
    /// A key path that runs into a value of another kind (`a=1,a.b=2`): Go's type
    /// assertion panics, and the parser recovers with this text.
    #[error("unable to parse key: interface conversion: interface {{}} is {found}, not {wanted}")]
    TypeConflict { found: String, wanted: &'static str },
    /// A `--set-json` value that encoding/json refuses, in its words.
    #[error("{0}")]
    Json(String),
    /// The file reader's error (`--set-file` values, `-f` files), as it worded it.
    #[error("{0}")]
    Read(String),
    #[error("error reading yaml document: invalid Yaml document separator: {0}")]
    DocumentSeparator(String),
    /// A values document that is not YAML (the message of [`yaml::YamlError`]).
    #[error("cannot unmarshal yaml document: {0}")]
    YamlDocument(String),
    /// A values document whose top is not a mapping; the JSON kind it is instead.
    #[error("cannot unmarshal yaml document: error unmarshaling JSON: while decoding JSON: json: cannot unmarshal {0} into Go value of type map[string]interface {{}}")]
    NotAMapping(&'static str),
    /// An `-f` file that does not load.
    #[error("failed to parse {path}: {error}")]
    ValuesFile {
        path: String,
        error: Box<StrvalsError>,
    },
    /// A `--set-json` JSON object that does not decode (Helm drops the reason).
    #[error("failed parsing --set-json data JSON: {0}")]
    SetJsonObject(String),
    /// A `--set-json` `key=json` list that does not parse (Helm drops the reason).
    #[error("failed parsing --set-json data {0}")]
    SetJson(String),
    /// A `--set`, `--set-string`, `--set-file` or `--set-literal` that does not parse.
    #[error("failed parsing {flag} data: {error}")]
    Flag {
        flag: &'static str,
        error: Box<StrvalsError>,
    },
}

// ---------------------------------------------------------------------------------
// Public entry points

/// `--set`: `name1=value1,name2.sub=value2,list[0]=x,arr={a,b}`, merged into `into`.
/// Values are typed as Helm types them: `true`/`false` (any case) are booleans,
/// `null` is nil, decimal integers not starting with `0` are int64, the rest strings.
///
/// On error `into` holds what was applied before it, as Go's map would.
pub fn parse_set(expr: &str, into: &mut BTreeMap<String, Value>) -> Result<(), StrvalsError> {
    run(expr, into, Flavor::Typed)
}

/// `--set-string`: as [`parse_set`], but every value stays a string.
pub fn parse_set_string(
    expr: &str,
    into: &mut BTreeMap<String, Value>,
) -> Result<(), StrvalsError> {
    run(expr, into, Flavor::Strings)
}

/// `--set-json` in its `key=json,key2=json` form: each value is one JSON document
/// (an empty one is null), decoded as encoding/json decodes into `interface{}`.
pub fn parse_set_json(expr: &str, into: &mut BTreeMap<String, Value>) -> Result<(), StrvalsError> {
    run(expr, into, Flavor::Json)
}

/// `--set-literal`: one `key=value`, where the value is everything after the first
/// `=`, commas and backslashes included, always a string.
pub fn parse_set_literal(
    expr: &str,
    into: &mut BTreeMap<String, Value>,
) -> Result<(), StrvalsError> {
    run(expr, into, Flavor::Literal)
}

/// `--set-file`: `key=path,…`; each value is the contents of the file `read` returns
/// for the path, as a string. The reader's error message is passed on unchanged.
pub fn parse_set_file(
    expr: &str,
    into: &mut BTreeMap<String, Value>,
    read: impl Fn(&str) -> Result<Vec<u8>, String>,
) -> Result<(), StrvalsError> {
    run(expr, into, Flavor::File(&read))
}

/// Helm's `loader.LoadValues`: every YAML document of a values file, each read as
/// sigs.k8s.io/yaml reads it, merged in order with [`merge_maps`].
pub fn load_values(data: &[u8]) -> Result<BTreeMap<String, Value>, StrvalsError> {
    let text = String::from_utf8_lossy(data);
    let mut values = BTreeMap::new();
    for document in yaml_documents(&text)? {
        match yaml::unmarshal(&document) {
            Err(e) => return Err(StrvalsError::YamlDocument(e.to_string())),
            Ok(Value::Map(map)) => values = merge_maps(&values, &map.snapshot()),
            Ok(Value::Nil | Value::NoValue) => {}
            Ok(other) => return Err(StrvalsError::NotAMapping(json_kind(&other))),
        }
    }
    Ok(values)
}

/// Helm's `loader.MergeMaps`: `b` over `a`, recursing where both hold a map; anything
/// else in `b`, nil included, replaces what `a` has.
pub fn merge_maps(
    a: &BTreeMap<String, Value>,
    b: &BTreeMap<String, Value>,
) -> BTreeMap<String, Value> {
    let mut out = a.clone();
    for (key, value) in b {
        if let (Value::Map(theirs), Some(Value::Map(ours))) = (value, out.get(key)) {
            if theirs.is_plain() && ours.is_plain() {
                let merged = merge_maps(&ours.snapshot(), &theirs.snapshot());
                out.insert(key.clone(), Value::map(merged));
                continue;
            }
        }
        out.insert(key.clone(), value.clone());
    }
    out
}

/// The values options of `helm install`/`template` (Helm's `values.Options`), each
/// list in command-line order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ValueOptions {
    /// `-f`/`--values` files (paths, or whatever the reader understands).
    pub value_files: Vec<String>,
    /// `--set`.
    pub values: Vec<String>,
    /// `--set-string`.
    pub string_values: Vec<String>,
    /// `--set-file`.
    pub file_values: Vec<String>,
    /// `--set-json`.
    pub json_values: Vec<String>,
    /// `--set-literal`.
    pub literal_values: Vec<String>,
}

impl ValueOptions {
    /// Helm's `MergeValues`: the `-f` files merged in order, then `--set-json`,
    /// `--set`, `--set-string`, `--set-file` and `--set-literal`, each applied over
    /// what came before (so a later kind wins over an earlier one whatever the
    /// command-line order). `read_file` reads `-f` files and `--set-file` paths; Helm's
    /// own reader takes `-` for standard input and fetches URLs.
    pub fn merge_values(
        &self,
        read_file: impl Fn(&str) -> Result<Vec<u8>, String>,
    ) -> Result<BTreeMap<String, Value>, StrvalsError> {
        let mut base = BTreeMap::new();
        for path in &self.value_files {
            let raw = read_file(path).map_err(StrvalsError::Read)?;
            let current = load_values(&raw).map_err(|e| StrvalsError::ValuesFile {
                path: path.clone(),
                error: Box::new(e),
            })?;
            base = merge_maps(&base, &current);
        }
        for value in &self.json_values {
            if value.trim().starts_with('{') {
                // A whole JSON object, merged like a values file.
                match decode_json_document(value.trim()) {
                    Ok(Value::Map(map)) => base = merge_maps(&base, &map.snapshot()),
                    _ => return Err(StrvalsError::SetJsonObject(value.clone())),
                }
            } else {
                parse_set_json(value, &mut base)
                    .map_err(|_| StrvalsError::SetJson(value.clone()))?;
            }
        }
        let flag = |flag: &'static str| {
            move |e: StrvalsError| StrvalsError::Flag {
                flag,
                error: Box::new(e),
            }
        };
        for value in &self.values {
            parse_set(value, &mut base).map_err(flag("--set"))?;
        }
        for value in &self.string_values {
            parse_set_string(value, &mut base).map_err(flag("--set-string"))?;
        }
        for value in &self.file_values {
            parse_set_file(value, &mut base, &read_file).map_err(flag("--set-file"))?;
        }
        for value in &self.literal_values {
            parse_set_literal(value, &mut base).map_err(flag("--set-literal"))?;
        }
        // Go decodes every file and flag into maps of its own; ours may share a map
        // between two places (a YAML alias), which a template's `set` must not see.
        Ok(base
            .into_iter()
            .map(|(k, v)| (k, Node::from_value(v).into_value()))
            .collect())
    }
}

// ---------------------------------------------------------------------------------
// The tree the parsers edit

/// A value as the parser sees it: Go's `map[string]interface{}` and `[]interface{}`,
/// which it walks into and changes in place, and everything else.
#[derive(Debug, Clone)]
enum Node {
    Map(BTreeMap<String, Node>),
    List(Vec<Node>),
    Leaf(Value),
}

impl Node {
    fn nil() -> Node {
        Node::Leaf(Value::Nil)
    }

    fn string(s: impl Into<String>) -> Node {
        Node::Leaf(Value::string(s.into()))
    }

    fn from_value(value: Value) -> Node {
        match value {
            // A named map type (`chartutil.Values`) is not a `map[string]interface{}`
            // to a Go type assertion, so it stays opaque.
            Value::Map(map) if map.is_plain() => Node::Map(
                map.entries()
                    .into_iter()
                    .map(|(k, v)| (k, Node::from_value(v)))
                    .collect(),
            ),
            Value::List(items) => Node::List(items.iter().cloned().map(Node::from_value).collect()),
            other => Node::Leaf(other),
        }
    }

    fn into_value(self) -> Value {
        match self {
            Node::Map(map) => {
                Value::map(map.into_iter().map(|(k, v)| (k, v.into_value())).collect())
            }
            Node::List(items) => Value::list(items.into_iter().map(Node::into_value).collect()),
            Node::Leaf(value) => value,
        }
    }

    /// The dynamic Go type, as a failed type assertion names it.
    fn go_type(&self) -> String {
        match self {
            Node::Map(_) => GO_MAP.to_owned(),
            Node::List(_) => GO_LIST.to_owned(),
            Node::Leaf(Value::Nil | Value::NoValue) => "nil".to_owned(),
            Node::Leaf(value) => value.type_name(),
        }
    }

    fn is_nil(&self) -> bool {
        matches!(self, Node::Leaf(Value::Nil | Value::NoValue))
    }
}

fn type_conflict(found: &Node, wanted: &'static str) -> Halt {
    Halt::Fail(StrvalsError::TypeConflict {
        found: found.go_type(),
        wanted,
    })
}

/// Go's `set`: an empty key is dropped.
fn set(data: &mut BTreeMap<String, Node>, key: String, value: Node) {
    if !key.is_empty() {
        data.insert(key, value);
    }
}

/// Go's `setIndex`: the list grows with nils to reach `index`.
fn set_index(list: &mut Vec<Node>, index: i64, value: Node) -> Result<(), StrvalsError> {
    if index < 0 {
        return Err(StrvalsError::NegativeIndex(index));
    }
    if index > MAX_INDEX {
        return Err(StrvalsError::IndexTooLarge(index));
    }
    let at = usize::try_from(index).map_err(|_| StrvalsError::IndexTooLarge(index))?;
    if list.len() <= at {
        list.resize_with(at + 1, Node::nil);
    }
    list[at] = value;
    Ok(())
}

// ---------------------------------------------------------------------------------
// The parser

/// Which of Helm's parsers: they share the key grammar and differ in values.
#[derive(Clone, Copy)]
enum Flavor<'r> {
    Typed,
    Strings,
    Json,
    File(&'r dyn Fn(&str) -> Result<Vec<u8>, String>),
    /// The literal parser: no escapes, no `,` between assignments, no `{}` lists.
    Literal,
}

/// Why the parser stopped: Go's `io.EOF` (even wrapped, as in `error parsing index:
/// EOF`), which ends the expression successfully, or a real error.
enum Halt {
    End,
    Fail(StrvalsError),
}

impl From<StrvalsError> for Halt {
    fn from(e: StrvalsError) -> Self {
        Halt::Fail(e)
    }
}

type Step = Result<(), Halt>;

/// What follows `=` as far as the list syntax is concerned.
enum ValList {
    List(Vec<Node>),
    /// Nothing at all after `=`.
    Eof,
    NotList,
}

fn run(expr: &str, into: &mut BTreeMap<String, Value>, flavor: Flavor) -> Result<(), StrvalsError> {
    let mut tree: BTreeMap<String, Node> = std::mem::take(into)
        .into_iter()
        .map(|(k, v)| (k, Node::from_value(v)))
        .collect();
    let mut parser = Parser {
        src: expr,
        pos: 0,
        flavor,
    };
    let result = parser.parse(&mut tree);
    *into = tree.into_iter().map(|(k, v)| (k, v.into_value())).collect();
    result
}

struct Parser<'s, 'r> {
    src: &'s str,
    /// Byte offset of the next unread character.
    pos: usize,
    flavor: Flavor<'r>,
}

impl Parser<'_, '_> {
    fn parse(&mut self, data: &mut BTreeMap<String, Node>) -> Result<(), StrvalsError> {
        loop {
            match self.key(data, 0) {
                Ok(()) => {}
                Err(Halt::End) => return Ok(()),
                Err(Halt::Fail(e)) => return Err(e),
            }
        }
    }

    fn literal(&self) -> bool {
        matches!(self.flavor, Flavor::Literal)
    }

    fn next_char(&mut self) -> Option<char> {
        let c = self.src[self.pos..].chars().next()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn unread(&mut self, c: char) {
        self.pos -= c.len_utf8();
    }

    fn take_rest(&mut self) -> String {
        let rest = self.src[self.pos..].to_owned();
        self.pos = self.src.len();
        rest
    }

    /// Characters up to one of `stop` (consumed, and returned; `None` at the end).
    /// Outside the literal parser a backslash takes the next character as it is.
    fn runes_until(&mut self, stop: &[char]) -> (String, Option<char>) {
        let escapes = !self.literal();
        let mut text = String::new();
        loop {
            match self.next_char() {
                None => return (text, None),
                Some(c) if stop.contains(&c) => return (text, Some(c)),
                Some('\\') if escapes => match self.next_char() {
                    None => return (text, None),
                    Some(next) => text.push(next),
                },
                Some(c) => text.push(c),
            }
        }
    }

    /// One assignment (or the rest of one, below a dot) into `data`.
    fn key(&mut self, data: &mut BTreeMap<String, Node>, level: usize) -> Step {
        let stop: &[char] = if self.literal() {
            &['=', '[', '.']
        } else {
            &['=', '[', ',', '.']
        };
        let (key, last) = self.runes_until(stop);
        match last {
            None if key.is_empty() => Err(Halt::End),
            None => Err(StrvalsError::NoValue(key).into()),
            Some('[') => {
                let index = self.key_index()?;
                match data.get_mut(&key) {
                    Some(Node::List(list)) => {
                        let before = list.len();
                        let result = self.list_item(list, index, level);
                        if key.is_empty() {
                            // Go changes the existing slice in place but drops a grown
                            // copy: `set` ignores an empty key.
                            list.truncate(before);
                        }
                        result
                    }
                    Some(other) => Err(type_conflict(other, GO_LIST)),
                    None => {
                        let mut list = Vec::new();
                        let result = self.list_item(&mut list, index, level);
                        // Stored even when the rest failed, as Helm does.
                        set(data, key, Node::List(list));
                        result
                    }
                }
            }
            Some('=') => self.assign(data, key),
            Some(',') => {
                set(data, key.clone(), Node::string(""));
                Err(StrvalsError::NoValueBeforeComma(key).into())
            }
            Some(_) => {
                // '.': descend into a map.
                let level = level + 1;
                if level > MAX_NESTED_NAME_LEVEL {
                    return Err(StrvalsError::TooDeeplyNested.into());
                }
                match data.get_mut(&key) {
                    Some(Node::Map(inner)) => {
                        let result = self.key(inner, level);
                        if result.is_ok() && inner.is_empty() {
                            return Err(StrvalsError::EmptyKeyMap(key).into());
                        }
                        result
                    }
                    Some(other) => Err(type_conflict(other, GO_MAP)),
                    None => {
                        let mut inner = BTreeMap::new();
                        let result = self.key(&mut inner, level);
                        if result.is_ok() && inner.is_empty() {
                            return Err(StrvalsError::EmptyKeyMap(key).into());
                        }
                        if !inner.is_empty() {
                            set(data, key, Node::Map(inner));
                        }
                        result
                    }
                }
            }
        }
    }

    /// `key=…` with the `=` read.
    fn assign(&mut self, data: &mut BTreeMap<String, Node>, key: String) -> Step {
        match self.flavor {
            Flavor::Json => {
                if self.empty_value() {
                    set(data, key, Node::nil());
                    return Ok(());
                }
                let value = self.json_value()?;
                set(data, key, value);
                self.empty_value();
                Ok(())
            }
            Flavor::Literal => {
                let value = self.take_rest();
                set(data, key, Node::string(value));
                Ok(())
            }
            _ => match self.value_list()? {
                ValList::List(items) => {
                    set(data, key, Node::List(items));
                    Ok(())
                }
                ValList::Eof => {
                    set(data, key, Node::string(""));
                    Err(Halt::End)
                }
                ValList::NotList => {
                    let text = self.value();
                    match self.read(&text) {
                        Ok(value) => {
                            set(data, key, value);
                            Ok(())
                        }
                        Err(e) => {
                            set(data, key, Node::nil());
                            Err(e.into())
                        }
                    }
                }
            },
        }
    }

    /// The index between `[` and `]`, as strconv.Atoi reads it.
    fn key_index(&mut self) -> Result<i64, Halt> {
        let (text, last) = self.runes_until(&[']']);
        if last.is_none() {
            return Err(Halt::End);
        }
        go_atoi(&text)
            .map_err(|out_of_range| Halt::Fail(StrvalsError::BadIndex { text, out_of_range }))
    }

    /// What follows `[index]`: `=value`, `.key…` or another `[index]`, applied to
    /// `list` in place (Go's slice shares its backing array with the caller's).
    fn list_item(&mut self, list: &mut Vec<Node>, index: i64, level: usize) -> Step {
        if index < 0 {
            return Err(StrvalsError::NegativeIndex(index).into());
        }
        let (extra, last) = self.runes_until(&['[', '.', '=']);
        if !extra.is_empty() {
            return Err(StrvalsError::DataAfterIndex(extra).into());
        }
        // Indexes above MAX_INDEX fail in `set_index`, after the rest is parsed.
        let slot = usize::try_from(index).ok().filter(|&i| i < list.len());
        match last {
            None => Err(Halt::End),
            Some('=') => {
                let value = match self.flavor {
                    Flavor::Json => {
                        if self.empty_value() {
                            Node::nil()
                        } else {
                            let value = self.json_value()?;
                            set_index(list, index, value)?;
                            self.empty_value();
                            return Ok(());
                        }
                    }
                    Flavor::Literal => Node::string(self.take_rest()),
                    _ => match self.value_list()? {
                        ValList::List(items) => Node::List(items),
                        ValList::Eof => Node::string(""),
                        ValList::NotList => {
                            let text = self.value();
                            self.read(&text)?
                        }
                    },
                };
                Ok(set_index(list, index, value)?)
            }
            Some('[') => {
                let next = self.key_index()?;
                match slot.map(|i| &mut list[i]) {
                    // An existing inner list is changed where it is.
                    Some(Node::List(inner)) => self.list_item(inner, next, level),
                    Some(other) if !other.is_nil() => Err(type_conflict(other, GO_LIST)),
                    _ => {
                        let mut inner = Vec::new();
                        self.list_item(&mut inner, next, level)?;
                        Ok(set_index(list, index, Node::List(inner))?)
                    }
                }
            }
            Some(_) => match slot.map(|i| &mut list[i]) {
                // '.': an element that is not a map is replaced by an empty one first,
                // and stays so even if the rest fails.
                Some(element) => {
                    if !matches!(element, Node::Map(_)) {
                        *element = Node::Map(BTreeMap::new());
                    }
                    match element {
                        Node::Map(inner) => self.key(inner, level),
                        _ => Ok(()),
                    }
                }
                None => {
                    let mut inner = BTreeMap::new();
                    self.key(&mut inner, level)?;
                    Ok(set_index(list, index, Node::Map(inner))?)
                }
            },
        }
    }

    /// After `--set-json`'s `=`: skips white space and a comma, and says whether the
    /// value was empty (the end or a comma came first).
    fn empty_value(&mut self) -> bool {
        loop {
            match self.next_char() {
                None | Some(',') => return true,
                Some(c) if c.is_whitespace() => {}
                Some(c) => {
                    self.unread(c);
                    return false;
                }
            }
        }
    }

    /// One JSON document from here on, as json.Decoder reads it: it may be followed
    /// by anything, which the next assignment then has to make sense of.
    fn json_value(&mut self) -> Result<Node, Halt> {
        match decode_json_prefix(&self.src[self.pos..]) {
            Ok((value, used)) => {
                self.pos += used;
                Ok(Node::from_value(value))
            }
            Err(JsonError::Eof) => Err(Halt::End),
            Err(JsonError::UnexpectedEof) => {
                Err(StrvalsError::Json("unexpected EOF".into()).into())
            }
            Err(JsonError::Syntax(message) | JsonError::Type(message)) => {
                Err(StrvalsError::Json(message).into())
            }
        }
    }

    /// A plain value: up to the next comma.
    fn value(&mut self) -> String {
        self.runes_until(&[',']).0
    }

    /// `{a,b,c}` after `=`, if that is what comes.
    fn value_list(&mut self) -> Result<ValList, StrvalsError> {
        match self.next_char() {
            None => return Ok(ValList::Eof),
            Some('{') => {}
            Some(c) => {
                self.unread(c);
                return Ok(ValList::NotList);
            }
        }
        let mut items = Vec::new();
        loop {
            let (text, last) = self.runes_until(&[',', '}']);
            match last {
                None => return Err(StrvalsError::UnterminatedList),
                Some('}') => {
                    // A comma right after the list belongs to it.
                    if let Some(c) = self.next_char() {
                        if c != ',' {
                            self.unread(c);
                        }
                    }
                    items.push(self.read(&text)?);
                    return Ok(ValList::List(items));
                }
                Some(_) => items.push(self.read(&text)?),
            }
        }
    }

    /// A value's text as this parser's kind of value.
    fn read(&self, text: &str) -> Result<Node, StrvalsError> {
        match self.flavor {
            Flavor::Typed => Ok(Node::Leaf(typed_value(text))),
            Flavor::File(read) => read(text)
                .map(|bytes| Node::string(String::from_utf8_lossy(&bytes)))
                .map_err(StrvalsError::Read),
            Flavor::Strings | Flavor::Json | Flavor::Literal => Ok(Node::string(text)),
        }
    }
}

/// Helm's `typedVal` for `--set`.
fn typed_value(text: &str) -> Value {
    if go_equal_fold(text, "true") {
        return Value::Bool(true);
    }
    if go_equal_fold(text, "false") {
        return Value::Bool(false);
    }
    if go_equal_fold(text, "null") {
        return Value::Nil;
    }
    if text == "0" {
        return Value::Int64(0);
    }
    // A leading zero keeps the text a string (`0123`, `0x1F`), so do signs, spaces,
    // exponents and numbers too big for int64.
    if !text.is_empty() && !text.starts_with('0') {
        if let Some(n) = go_parse_int(text) {
            return Value::Int64(n);
        }
    }
    Value::string(text)
}

/// strings.EqualFold against an ASCII lowercase word: Unicode simple folding, under
/// which `ſ` (U+017F) is an `s` and the Kelvin sign (U+212A) a `k`.
fn go_equal_fold(text: &str, word: &str) -> bool {
    text.chars().count() == word.len()
        && text.chars().zip(word.chars()).all(|(c, w)| {
            c.to_ascii_lowercase() == w
                || (w == 's' && c == '\u{17f}')
                || (w == 'k' && c == '\u{212a}')
        })
}

/// strconv.ParseInt(text, 10, 64): an optional sign and decimal digits only.
fn go_parse_int(text: &str) -> Option<i64> {
    parse_decimal(text).ok()
}

/// strconv.Atoi; the error says whether the text was out of range (rather than not
/// a number at all).
fn go_atoi(text: &str) -> Result<i64, bool> {
    parse_decimal(text)
}

/// A signed decimal int64 as strconv parses it: the first offending character
/// decides, so an overflow is reported before a later bad character.
fn parse_decimal(text: &str) -> Result<i64, bool> {
    let (negative, digits) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if digits.is_empty() {
        return Err(false);
    }
    let limit: u64 = if negative { 1 << 63 } else { (1 << 63) - 1 };
    let mut n: u64 = 0;
    for b in digits.bytes() {
        if !b.is_ascii_digit() {
            return Err(false);
        }
        n = n
            .checked_mul(10)
            .and_then(|n| n.checked_add(u64::from(b - b'0')))
            .ok_or(true)?;
    }
    if n > limit {
        return Err(true);
    }
    if negative {
        // `n` is at most 2^63 here, whose negation is i64::MIN.
        Ok(0i64.wrapping_sub_unsigned(n))
    } else {
        i64::try_from(n).map_err(|_| true)
    }
}

// ---------------------------------------------------------------------------------
// Values files

/// k8s.io/apimachinery's YAMLReader: documents split at lines starting `---`, which
/// may only be followed by a comment. A separator opening the file stays in the
/// first document; lines come out `\n`-terminated, `\r\n` shortened to `\n`.
fn yaml_documents(text: &str) -> Result<Vec<String>, StrvalsError> {
    let mut documents = Vec::new();
    let mut buffer = String::new();
    for raw in text.split_inclusive('\n') {
        let line = match raw.strip_suffix('\n') {
            Some(line) => line.strip_suffix('\r').unwrap_or(line),
            None => raw,
        };
        if let Some(rest) = line.strip_prefix("---") {
            let rest = rest.trim();
            if !rest.is_empty() && !rest.starts_with('#') {
                return Err(StrvalsError::DocumentSeparator(rest.to_owned()));
            }
            if !buffer.is_empty() {
                documents.push(std::mem::take(&mut buffer));
                continue;
            }
        }
        buffer.push_str(line);
        buffer.push('\n');
    }
    if !buffer.is_empty() {
        documents.push(buffer);
    }
    Ok(documents)
}

/// The JSON kind encoding/json names when a value cannot go into a map.
fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::List(_) => "array",
        Value::String(_) => "string",
        Value::Bool(_) => "bool",
        Value::Int(_) | Value::Int64(_) | Value::Float(_) => "number",
        _ => "object",
    }
}

// ---------------------------------------------------------------------------------
// JSON, as encoding/json reads it

/// Why encoding/json did not produce a value.
#[derive(Debug, Clone, PartialEq)]
enum JsonError {
    /// Nothing but white space (io.EOF).
    Eof,
    /// The input ended inside the value (io.ErrUnexpectedEOF).
    UnexpectedEof,
    /// A *json.SyntaxError's message.
    Syntax(String),
    /// A number that does not fit a float64 (*json.UnmarshalTypeError's message).
    Type(String),
}

/// One JSON value at the start of `text`, as json.Decoder.Decode reads it into an
/// `interface{}`, and how many bytes it took. Like the decoder this stops where the
/// value ends, whatever follows.
fn decode_json_prefix(text: &str) -> Result<(Value, usize), JsonError> {
    let bytes = text.as_bytes();
    let mut scan = Scanner::new();
    let mut end = None;
    for (i, &c) in bytes.iter().enumerate() {
        match scan.step(c) {
            // The value ended before this byte (a number, a literal or a string).
            Op::End => {
                end = Some(i);
                break;
            }
            // A closing bracket may end the value; the decoder does not wait for
            // the next byte to know.
            Op::EndComposite => {
                if scan.end_value(b' ') == Op::End {
                    end = Some(i + 1);
                    break;
                }
            }
            Op::Error => return Err(JsonError::Syntax(scan.error.clone())),
            Op::Continue => {}
        }
    }
    let end = match end {
        Some(end) => end,
        None if scan.step(b' ') == Op::End => bytes.len(),
        None if bytes.iter().any(|&b| !is_json_space(b)) => return Err(JsonError::UnexpectedEof),
        None => return Err(JsonError::Eof),
    };
    Ok((build_json(&text[..end])?, end))
}

/// A whole JSON document, as json.Unmarshal reads it: nothing but white space may
/// follow the value.
fn decode_json_document(text: &str) -> Result<Value, JsonError> {
    let mut scan = Scanner::new();
    for &c in text.as_bytes() {
        if scan.step(c) == Op::Error {
            return Err(JsonError::Syntax(scan.error.clone()));
        }
    }
    // A stray byte right after the value is only noted, on its step.
    if scan.state == State::Error {
        return Err(JsonError::Syntax(scan.error.clone()));
    }
    if !scan.end_top {
        scan.step(b' ');
        if !scan.end_top {
            return Err(JsonError::Syntax("unexpected end of JSON input".into()));
        }
    }
    build_json(text)
}

fn is_json_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

/// What a scanner step reports, as far as the decoder cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Continue,
    /// `}` or `]` closed an object or array.
    EndComposite,
    /// The top-level value ended before this byte.
    End,
    Error,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    BeginValue,
    BeginValueOrEmpty,
    BeginStringOrEmpty,
    BeginString,
    EndValue,
    EndTop,
    InString,
    InStringEsc,
    /// Inside `\u`, with this many hex digits read.
    InStringEscU(u8),
    Neg,
    One,
    Zero,
    Dot,
    Dot0,
    E,
    ESign,
    E0,
    /// Inside `true`, `false` or `null`, with this many letters read.
    Literal(&'static str, usize),
    Error,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Container {
    ObjectKey,
    ObjectValue,
    Array,
}

/// encoding/json's scanner state machine, byte by byte, for its error messages and
/// for where the decoder decides a value ends.
struct Scanner {
    state: State,
    stack: Vec<Container>,
    end_top: bool,
    error: String,
}

impl Scanner {
    fn new() -> Self {
        Scanner {
            state: State::BeginValue,
            stack: Vec::new(),
            end_top: false,
            error: String::new(),
        }
    }

    fn fail(&mut self, c: u8, context: &str) -> Op {
        self.state = State::Error;
        self.error = format!("invalid character {} {context}", quote_json_byte(c));
        Op::Error
    }

    fn push(&mut self, c: u8, container: Container) -> Op {
        self.stack.push(container);
        if self.stack.len() <= MAX_JSON_DEPTH {
            Op::Continue
        } else {
            self.fail(c, "exceeded max depth")
        }
    }

    fn pop(&mut self) {
        self.stack.pop();
        if self.stack.is_empty() {
            self.state = State::EndTop;
            self.end_top = true;
        } else {
            self.state = State::EndValue;
        }
    }

    fn step(&mut self, c: u8) -> Op {
        match self.state {
            State::BeginValue => self.begin_value(c),
            State::BeginValueOrEmpty => {
                if is_json_space(c) {
                    Op::Continue
                } else if c == b']' {
                    self.end_value(c)
                } else {
                    self.begin_value(c)
                }
            }
            State::BeginStringOrEmpty => {
                if is_json_space(c) {
                    Op::Continue
                } else if c == b'}' {
                    if let Some(top) = self.stack.last_mut() {
                        *top = Container::ObjectValue;
                    }
                    self.end_value(c)
                } else {
                    self.begin_string(c)
                }
            }
            State::BeginString => self.begin_string(c),
            State::EndValue => self.end_value(c),
            State::EndTop => self.end_top_step(c),
            State::InString => {
                match c {
                    b'"' => self.state = State::EndValue,
                    b'\\' => self.state = State::InStringEsc,
                    c if c < 0x20 => return self.fail(c, "in string literal"),
                    _ => {}
                }
                Op::Continue
            }
            State::InStringEsc => match c {
                b'b' | b'f' | b'n' | b'r' | b't' | b'\\' | b'/' | b'"' => {
                    self.state = State::InString;
                    Op::Continue
                }
                b'u' => {
                    self.state = State::InStringEscU(0);
                    Op::Continue
                }
                _ => self.fail(c, "in string escape code"),
            },
            State::InStringEscU(n) => {
                if c.is_ascii_hexdigit() {
                    self.state = if n == 3 {
                        State::InString
                    } else {
                        State::InStringEscU(n + 1)
                    };
                    Op::Continue
                } else {
                    self.fail(c, "in \\u hexadecimal character escape")
                }
            }
            State::Neg => match c {
                b'0' => {
                    self.state = State::Zero;
                    Op::Continue
                }
                b'1'..=b'9' => {
                    self.state = State::One;
                    Op::Continue
                }
                _ => self.fail(c, "in numeric literal"),
            },
            State::One => {
                if c.is_ascii_digit() {
                    Op::Continue
                } else {
                    self.zero(c)
                }
            }
            State::Zero => self.zero(c),
            State::Dot => {
                if c.is_ascii_digit() {
                    self.state = State::Dot0;
                    Op::Continue
                } else {
                    self.fail(c, "after decimal point in numeric literal")
                }
            }
            State::Dot0 => match c {
                b'0'..=b'9' => Op::Continue,
                b'e' | b'E' => {
                    self.state = State::E;
                    Op::Continue
                }
                _ => self.end_value(c),
            },
            State::E => {
                if c == b'+' || c == b'-' {
                    self.state = State::ESign;
                    Op::Continue
                } else {
                    self.e_sign(c)
                }
            }
            State::ESign => self.e_sign(c),
            State::E0 => {
                if c.is_ascii_digit() {
                    Op::Continue
                } else {
                    self.end_value(c)
                }
            }
            State::Literal(word, read) => {
                let expected = word.as_bytes()[read];
                if c != expected {
                    let context =
                        format!("in literal {word} (expecting '{}')", char::from(expected));
                    return self.fail(c, &context);
                }
                self.state = if read + 1 == word.len() {
                    State::EndValue
                } else {
                    State::Literal(word, read + 1)
                };
                Op::Continue
            }
            State::Error => Op::Error,
        }
    }

    fn begin_value(&mut self, c: u8) -> Op {
        if is_json_space(c) {
            return Op::Continue;
        }
        match c {
            b'{' => {
                self.state = State::BeginStringOrEmpty;
                self.push(c, Container::ObjectKey)
            }
            b'[' => {
                self.state = State::BeginValueOrEmpty;
                self.push(c, Container::Array)
            }
            b'"' => {
                self.state = State::InString;
                Op::Continue
            }
            b'-' => {
                self.state = State::Neg;
                Op::Continue
            }
            b'0' => {
                self.state = State::Zero;
                Op::Continue
            }
            b'1'..=b'9' => {
                self.state = State::One;
                Op::Continue
            }
            b't' => {
                self.state = State::Literal("true", 1);
                Op::Continue
            }
            b'f' => {
                self.state = State::Literal("false", 1);
                Op::Continue
            }
            b'n' => {
                self.state = State::Literal("null", 1);
                Op::Continue
            }
            _ => self.fail(c, "looking for beginning of value"),
        }
    }

    fn begin_string(&mut self, c: u8) -> Op {
        if is_json_space(c) {
            Op::Continue
        } else if c == b'"' {
            self.state = State::InString;
            Op::Continue
        } else {
            self.fail(c, "looking for beginning of object key string")
        }
    }

    fn zero(&mut self, c: u8) -> Op {
        match c {
            b'.' => {
                self.state = State::Dot;
                Op::Continue
            }
            b'e' | b'E' => {
                self.state = State::E;
                Op::Continue
            }
            _ => self.end_value(c),
        }
    }

    fn e_sign(&mut self, c: u8) -> Op {
        if c.is_ascii_digit() {
            self.state = State::E0;
            Op::Continue
        } else {
            self.fail(c, "in exponent of numeric literal")
        }
    }

    fn end_value(&mut self, c: u8) -> Op {
        let Some(&top) = self.stack.last() else {
            self.state = State::EndTop;
            self.end_top = true;
            return self.end_top_step(c);
        };
        if is_json_space(c) {
            self.state = State::EndValue;
            return Op::Continue;
        }
        match (top, c) {
            (Container::ObjectKey, b':') => {
                if let Some(top) = self.stack.last_mut() {
                    *top = Container::ObjectValue;
                }
                self.state = State::BeginValue;
                Op::Continue
            }
            (Container::ObjectKey, _) => self.fail(c, "after object key"),
            (Container::ObjectValue, b',') => {
                if let Some(top) = self.stack.last_mut() {
                    *top = Container::ObjectKey;
                }
                self.state = State::BeginString;
                Op::Continue
            }
            (Container::ObjectValue, b'}') | (Container::Array, b']') => {
                self.pop();
                Op::EndComposite
            }
            (Container::ObjectValue, _) => self.fail(c, "after object key:value pair"),
            (Container::Array, b',') => {
                self.state = State::BeginValue;
                Op::Continue
            }
            (Container::Array, _) => self.fail(c, "after array element"),
        }
    }

    fn end_top_step(&mut self, c: u8) -> Op {
        if !is_json_space(c) {
            // Reported on the next step, as Go does; the value itself has ended.
            self.fail(c, "after top-level value");
            self.state = State::Error;
        }
        Op::End
    }
}

/// Go's quoteChar for a byte in a JSON syntax error: the byte read as a Latin-1
/// character (so the first byte of `é` shows as `Ã`).
fn quote_json_byte(c: u8) -> String {
    match c {
        b'\'' => "'\\''".to_owned(),
        b'"' => "'\"'".to_owned(),
        _ => {
            let quoted = go_quote(&char::from(c).to_string());
            format!("'{}'", &quoted[1..quoted.len() - 1])
        }
    }
}

/// A scanned (valid) JSON text as an `interface{}`: float64 numbers, nil for null,
/// the last of repeated keys. Iterative, since the nesting may be 10000 deep. The
/// first number too large for a float64 is the error, as Go reports it.
fn build_json(text: &str) -> Result<Value, JsonError> {
    enum Frame {
        List(Vec<Value>),
        Map(BTreeMap<String, Value>, Option<String>),
    }
    let bytes = text.as_bytes();
    let mut stack: Vec<Frame> = Vec::new();
    let mut first_error: Option<String> = None;
    let mut i = 0;
    loop {
        while i < bytes.len() && matches!(bytes[i], b' ' | b'\t' | b'\r' | b'\n' | b',' | b':') {
            i += 1;
        }
        let Some(&c) = bytes.get(i) else {
            // Only reached for text the scanner did not accept.
            return Err(JsonError::UnexpectedEof);
        };
        let value = match c {
            b'{' => {
                stack.push(Frame::Map(BTreeMap::new(), None));
                i += 1;
                continue;
            }
            b'[' => {
                stack.push(Frame::List(Vec::new()));
                i += 1;
                continue;
            }
            b'}' | b']' => {
                i += 1;
                match stack.pop() {
                    Some(Frame::List(items)) => Value::list(items),
                    Some(Frame::Map(entries, _)) => Value::map(entries),
                    None => return Err(JsonError::UnexpectedEof),
                }
            }
            b'"' => {
                let (s, used) = unquote_json(&text[i..]);
                i += used;
                if let Some(Frame::Map(_, key @ None)) = stack.last_mut() {
                    *key = Some(s);
                    continue;
                }
                Value::string(s)
            }
            b't' => {
                i += 4;
                Value::Bool(true)
            }
            b'f' => {
                i += 5;
                Value::Bool(false)
            }
            b'n' => {
                i += 4;
                Value::Nil
            }
            _ => {
                let start = i;
                while i < bytes.len()
                    && matches!(bytes[i], b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E')
                {
                    i += 1;
                }
                let number = &text[start..i];
                if number.is_empty() {
                    return Err(JsonError::UnexpectedEof);
                }
                match number.parse::<f64>() {
                    Ok(f) if f.is_finite() => Value::Float(f),
                    _ => {
                        first_error.get_or_insert_with(|| {
                            format!("json: cannot unmarshal number {number} into Go value of type float64")
                        });
                        Value::Nil
                    }
                }
            }
        };
        match stack.last_mut() {
            None => {
                return match first_error {
                    Some(message) => Err(JsonError::Type(message)),
                    None => Ok(value),
                }
            }
            Some(Frame::List(items)) => items.push(value),
            Some(Frame::Map(entries, key)) => {
                entries.insert(key.take().unwrap_or_default(), value);
            }
        }
    }
}

/// A scanned JSON string at the start of `text` (from its opening quote), unquoted
/// as Go does: an unpaired surrogate escape becomes U+FFFD. Returns the bytes used.
fn unquote_json(text: &str) -> (String, usize) {
    let bytes = text.as_bytes();
    let mut out = String::new();
    let mut i = 1;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => return (out, i + 1),
            b'\\' => {
                let escape = bytes.get(i + 1).copied().unwrap_or(b'\\');
                i += 2;
                let simple = match escape {
                    b'b' => Some('\u{8}'),
                    b'f' => Some('\u{c}'),
                    b'n' => Some('\n'),
                    b'r' => Some('\r'),
                    b't' => Some('\t'),
                    b'u' => None,
                    other => Some(char::from(other)),
                };
                if let Some(c) = simple {
                    out.push(c);
                    continue;
                }
                let first = hex4(bytes, i);
                i += 4;
                let c = match first {
                    Some(high @ 0xd800..=0xdbff) => {
                        let low = if bytes.get(i) == Some(&b'\\') && bytes.get(i + 1) == Some(&b'u')
                        {
                            hex4(bytes, i + 2)
                        } else {
                            None
                        };
                        match low {
                            Some(low @ 0xdc00..=0xdfff) => {
                                i += 6;
                                char::from_u32(0x10000 + ((high - 0xd800) << 10) + (low - 0xdc00))
                                    .unwrap_or('\u{fffd}')
                            }
                            _ => '\u{fffd}',
                        }
                    }
                    Some(code) => char::from_u32(code).unwrap_or('\u{fffd}'),
                    None => '\u{fffd}',
                };
                out.push(c);
            }
            _ => {
                let Some(c) = text[i..].chars().next() else {
                    break;
                };
                out.push(c);
                i += c.len_utf8();
            }
        }
    }
    (out, bytes.len())
}

fn hex4(bytes: &[u8], at: usize) -> Option<u32> {
    let digits = bytes.get(at..at + 4)?;
    let text = std::str::from_utf8(digits).ok()?;
    u32::from_str_radix(text, 16).ok()
}

// ---------------------------------------------------------------------------------
// Go's quoting, for the error messages

/// strconv.Quote (what `%q` prints for a string).
fn go_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c => push_go_escaped(&mut out, c),
        }
    }
    out.push('"');
    out
}

/// strconv.QuoteRune (what `%q` prints for a rune).
fn go_quote_rune(c: char) -> String {
    let mut out = String::from("'");
    match c {
        '\'' => out.push_str("\\'"),
        '\\' => out.push_str("\\\\"),
        c => push_go_escaped(&mut out, c),
    }
    out.push('\'');
    out
}

/// `%q` of a `[]rune`: each rune quoted, space-separated, in brackets.
fn quote_rune_slice(s: &str) -> String {
    let runes: Vec<String> = s.chars().map(go_quote_rune).collect();
    format!("[{}]", runes.join(" "))
}

fn push_go_escaped(out: &mut String, c: char) {
    if is_go_print(c) {
        out.push(c);
        return;
    }
    match c {
        '\u{7}' => out.push_str("\\a"),
        '\u{8}' => out.push_str("\\b"),
        '\u{c}' => out.push_str("\\f"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\u{b}' => out.push_str("\\v"),
        c if (c as u32) < 0x20 || c == '\u{7f}' => out.push_str(&format!("\\x{:02x}", c as u32)),
        c if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
        c => out.push_str(&format!("\\U{:08x}", c as u32)),
    }
}

/// unicode.IsPrint, without Unicode's tables: controls, spaces other than U+0020,
/// format characters, private use and noncharacters are not printable. (Unassigned
/// code points, which Go also escapes, are taken as printable.)
pub(crate) fn is_go_print(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    if c.is_control() || c.is_whitespace() {
        return false;
    }
    let u = c as u32;
    let private_or_nonchar = (0xe000..=0xf8ff).contains(&u)
        || u >= 0xf0000
        || (0xfdd0..=0xfdef).contains(&u)
        || u & 0xfffe == 0xfffe;
    let format = matches!(
        u,
        0xad | 0x600..=0x605
            | 0x61c
            | 0x6dd
            | 0x70f
            | 0x890..=0x891
            | 0x8e2
            | 0x180e
            | 0x200b..=0x200f
            | 0x202a..=0x202e
            | 0x2060..=0x2064
            | 0x2066..=0x206f
            | 0xfeff
            | 0xfff9..=0xfffb
            | 0x110bd
            | 0x110cd
            | 0x13430..=0x1343f
            | 0x1bca0..=0x1bca3
            | 0x1d173..=0x1d17a
            | 0xe0001
            | 0xe0020..=0xe007f
    );
    !private_or_nonchar && !format
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferroflux_gotemplate::gojson;

    type Parse = fn(&str, &mut BTreeMap<String, Value>) -> Result<(), StrvalsError>;

    fn to_json(map: &BTreeMap<String, Value>) -> String {
        gojson::marshal(&Value::map(map.clone()), false).expect("marshals")
    }

    fn from_json(text: &str) -> BTreeMap<String, Value> {
        match yaml::from_json(text).expect("test JSON") {
            Value::Map(map) => map.snapshot(),
            other => panic!("not an object: {other:?}"),
        }
    }

    /// The parse of `expr` into `start`, as JSON, or the error message.
    fn run_into(parse: Parse, start: &str, expr: &str) -> Result<String, String> {
        let mut map = from_json(start);
        parse(expr, &mut map)
            .map(|()| to_json(&map))
            .map_err(|e| e.to_string())
    }

    fn ok(parse: Parse, cases: &[(&str, &str)]) {
        for (expr, want) in cases {
            assert_eq!(
                run_into(parse, "{}", expr),
                Ok((*want).to_owned()),
                "{expr:?}"
            );
        }
    }

    fn fails(parse: Parse, cases: &[(&str, &str)]) {
        for (expr, want) in cases {
            assert_eq!(
                run_into(parse, "{}", expr),
                Err((*want).to_owned()),
                "{expr:?}"
            );
        }
    }

    fn fails_somehow(parse: Parse, exprs: &[&str]) {
        for expr in exprs {
            assert!(run_into(parse, "{}", expr).is_err(), "{expr:?} should fail");
        }
    }

    fn parsed(parse: Parse, expr: &str) -> BTreeMap<String, Value> {
        let mut map = BTreeMap::new();
        parse(expr, &mut map).expect("parses");
        map
    }

    fn nested(levels: usize) -> String {
        let names: Vec<String> = (1..=levels).map(|i| format!("name{i}")).collect();
        format!("{}=value", names.join("."))
    }

    // TestSetIndex
    #[test]
    fn set_index_grows_replaces_and_refuses() {
        let ints = |v: &[i64]| {
            v.iter()
                .map(|&n| Node::Leaf(Value::Int64(n)))
                .collect::<Vec<_>>()
        };
        let show = |l: &[Node]| {
            format!(
                "{:?}",
                l.iter()
                    .map(|n| n.clone().into_value().as_int())
                    .collect::<Vec<_>>()
            )
        };
        // The list, the index and value to set, the list after, and whether it fails.
        type Case = (&'static [i64], i64, i64, &'static [i64], bool);
        let cases: [Case; 5] = [
            (&[0, 1], 2, 2, &[0, 1, 2], false),
            (&[0, 1], 1, 2, &[0, 2], false),
            (&[0, 1, 2, 3, 4, 5], 3, 4, &[0, 1, 2, 4, 4, 5], false),
            (&[0, 1, 2, 3, 4, 5], -1, 4, &[0, 1, 2, 3, 4, 5], true),
            (
                &[0, 1, 2, 3, 4, 5],
                MAX_INDEX + 1,
                4,
                &[0, 1, 2, 3, 4, 5],
                true,
            ),
        ];
        for (initial, index, value, want, err) in cases {
            let mut list = ints(initial);
            let result = set_index(&mut list, index, Node::Leaf(Value::Int64(value)));
            assert_eq!(result.is_err(), err, "{index}");
            assert_eq!(show(&list), show(&ints(want)), "{index}");
        }
        let mut list = Vec::new();
        assert_eq!(
            set_index(&mut list, -1, Node::nil()).map_err(|e| e.to_string()),
            Err("negative -1 index not allowed".to_owned())
        );
        assert_eq!(
            set_index(&mut list, 65537, Node::nil()).map_err(|e| e.to_string()),
            Err("index of 65537 is greater than maximum supported index of 65536".to_owned())
        );
        assert!(set_index(&mut list, 65536, Node::nil()).is_ok());
        assert_eq!(list.len(), 65537);
    }

    // TestParseSet, the --set-string part
    #[test]
    fn set_string_keeps_strings() {
        ok(
            parse_set_string,
            &[
                (
                    "long_int_string=1234567890",
                    r#"{"long_int_string":"1234567890"}"#,
                ),
                ("boolean=true", r#"{"boolean":"true"}"#),
                ("is_null=null", r#"{"is_null":"null"}"#),
                ("zero=0", r#"{"zero":"0"}"#),
                ("a={1,true}", r#"{"a":["1","true"]}"#),
            ],
        );
    }

    // TestParseSet
    #[test]
    fn set_values_and_lists() {
        ok(
            parse_set,
            &[
                (
                    "name1=null,f=false,t=true",
                    r#"{"f":false,"name1":null,"t":true}"#,
                ),
                ("name1=value1", r#"{"name1":"value1"}"#),
                (
                    "name1=value1,name2=value2",
                    r#"{"name1":"value1","name2":"value2"}"#,
                ),
                (
                    "name1=value1,name2=value2,",
                    r#"{"name1":"value1","name2":"value2"}"#,
                ),
                ("name1=,name2=value2", r#"{"name1":"","name2":"value2"}"#),
                ("leading_zeros=00009", r#"{"leading_zeros":"00009"}"#),
                ("zero_int=0", r#"{"zero_int":0}"#),
                ("long_int=1234567890", r#"{"long_int":1234567890}"#),
                ("boolean=true", r#"{"boolean":true}"#),
                ("is_null=null", r#"{"is_null":null}"#),
                (
                    r"name1=one\,two,name2=three\,four",
                    r#"{"name1":"one,two","name2":"three,four"}"#,
                ),
                (
                    r"name1=one\=two,name2=three\=four",
                    r#"{"name1":"one=two","name2":"three=four"}"#,
                ),
                (
                    "name1=one two three,name2=three two one",
                    r#"{"name1":"one two three","name2":"three two one"}"#,
                ),
                ("outer.inner=value", r#"{"outer":{"inner":"value"}}"#),
                (
                    "outer.middle.inner=value",
                    r#"{"outer":{"middle":{"inner":"value"}}}"#,
                ),
                (
                    "outer.inner1=value,outer.inner2=value2",
                    r#"{"outer":{"inner1":"value","inner2":"value2"}}"#,
                ),
                (
                    "outer.inner1=value,outer.middle.inner=value",
                    r#"{"outer":{"inner1":"value","middle":{"inner":"value"}}}"#,
                ),
                ("name1.name2=", r#"{"name1":{"name2":""}}"#),
                ("name1={value1,value2}", r#"{"name1":["value1","value2"]}"#),
                (
                    "name1={value1,value2},name2={value1,value2}",
                    r#"{"name1":["value1","value2"],"name2":["value1","value2"]}"#,
                ),
                ("name1={1021,902}", r#"{"name1":[1021,902]}"#),
                (
                    "name1.name2={value1,value2}",
                    r#"{"name1":{"name2":["value1","value2"]}}"#,
                ),
                ("list[0]=foo", r#"{"list":["foo"]}"#),
                ("list[0].foo=bar", r#"{"list":[{"foo":"bar"}]}"#),
                (
                    "list[0].foo=bar,list[0].hello=world",
                    r#"{"list":[{"foo":"bar","hello":"world"}]}"#,
                ),
                ("list[0]=foo,list[1]=bar", r#"{"list":["foo","bar"]}"#),
                ("list[0]=foo,list[1]=bar,", r#"{"list":["foo","bar"]}"#),
                (
                    "list[0]=foo,list[3]=bar",
                    r#"{"list":["foo",null,null,"bar"]}"#,
                ),
                ("noval[0]", r#"{"noval":[]}"#),
                ("noval[0]=", r#"{"noval":[""]}"#),
                ("nested[0][0]=1", r#"{"nested":[[1]]}"#),
                ("nested[1][1]=1", r#"{"nested":[null,[null,1]]}"#),
                (
                    "name1.name2[0].foo=bar,name1.name2[1].foo=bar",
                    r#"{"name1":{"name2":[{"foo":"bar"},{"foo":"bar"}]}}"#,
                ),
                (
                    "name1.name2[1].foo=bar,name1.name2[0].foo=bar",
                    r#"{"name1":{"name2":[{"foo":"bar"},{"foo":"bar"}]}}"#,
                ),
                (
                    "name1.name2[1].foo=bar",
                    r#"{"name1":{"name2":[null,{"foo":"bar"}]}}"#,
                ),
            ],
        );
        fails_somehow(
            parse_set,
            &[
                "name1=value1,,,,name2=value2,",
                "name1,name2=",
                "name1,name2=value2",
                "name1,name2=value2\\",
                "name1,name2",
                "name1.name2",
                "name1.name2,name1.name3",
                "name1.=name2",
                "name1.,name2",
                "name1={1021,902",
                "list[0].foo=bar,list[-30].hello=world",
                "list[0]=foo,list[-20]=bar",
                "illegal[0]name.foo=bar",
                "]={}].",
            ],
        );
    }

    #[test]
    fn set_types_values_as_helm_does() {
        let map = parsed(
            parse_set,
            "a=1,b=-0123,c=+5,d=0,e=9223372036854775807,f=1.5,g=0x10,h=TRUE,i=Null,j=falſe",
        );
        assert!(matches!(map["a"], Value::Int64(1)));
        assert!(matches!(map["b"], Value::Int64(-123)));
        assert!(matches!(map["c"], Value::Int64(5)));
        assert!(matches!(map["d"], Value::Int64(0)));
        assert!(matches!(map["e"], Value::Int64(i64::MAX)));
        assert_eq!(map["f"].as_str(), Some("1.5"));
        assert_eq!(map["g"].as_str(), Some("0x10"));
        assert!(matches!(map["h"], Value::Bool(true)));
        assert!(matches!(map["i"], Value::Nil));
        assert!(matches!(map["j"], Value::Bool(false)));
        ok(
            parse_set,
            &[
                ("a=9223372036854775808", r#"{"a":"9223372036854775808"}"#),
                ("a=-9223372036854775808", r#"{"a":-9223372036854775808}"#),
                ("a=1e5", r#"{"a":"1e5"}"#),
                ("a= 5", r#"{"a":" 5"}"#),
            ],
        );
    }

    #[test]
    fn set_edge_cases_match_helm() {
        // Each expected value is what Helm 4's SDK returned.
        ok(
            parse_set,
            &[
                ("", "{}"),
                ("a[1", "{}"),
                ("a.", "{}"),
                ("=1", "{}"),
                ("=", "{}"),
                ("a[1]=x", r#"{"a":[null,"x"]}"#),
                ("a=,", r#"{"a":""}"#),
                ("a=\\", r#"{"a":""}"#),
                ("a=b\\", r#"{"a":"b"}"#),
                ("a={}", r#"{"a":[""]}"#),
                ("a={,}", r#"{"a":["",""]}"#),
                ("a={a,b},c=1", r#"{"a":["a","b"],"c":1}"#),
                ("a={1,2},a[3]=x", r#"{"a":[1,2,null,"x"]}"#),
                ("a[+1]=1", r#"{"a":[null,1]}"#),
                ("a[0]=1,a[0].", r#"{"a":[{}]}"#),
                ("a[0][0]=1,a[0][0].", r#"{"a":[[{}]]}"#),
                ("a[0]=1,a[0]=2,a[2]", r#"{"a":[2]}"#),
                ("a[0].b=1,a[0]=x", r#"{"a":["x"]}"#),
                ("a[1][2]", r#"{"a":[]}"#),
                ("a[0].b.", r#"{"a":[]}"#),
                ("a.b[0]", r#"{"a":{"b":[]}}"#),
                ("a.b[", "{}"),
                ("a=b=c", r#"{"a":"b=c"}"#),
                ("k=\"x\"=1", r#"{"k":"\"x\"=1"}"#),
                ("a\\,b=1", r#"{"a,b":1}"#),
                ("a\n=1", r#"{"a\n":1}"#),
                ("ü=ü", r#"{"ü":"ü"}"#),
            ],
        );
        fails(
            parse_set,
            &[
                ("a", r#"key "a" has no value"#),
                ("a\\", r#"key "a" has no value"#),
                ("a.b", r#"key "b" has no value"#),
                ("a,", r#"key "a" has no value (cannot end with ,)"#),
                (",", r#"key "" has no value (cannot end with ,)"#),
                ("a=1,,", r#"key "" has no value (cannot end with ,)"#),
                ("a..b=1", r#"key map "a" has no value"#),
                ("a.=1", r#"key map "a" has no value"#),
                ("a[x]=1", r#"error parsing index: strconv.Atoi: parsing "x": invalid syntax"#),
                ("a[ 1]=1", r#"error parsing index: strconv.Atoi: parsing " 1": invalid syntax"#),
                (
                    "a[99999999999999999999]=1",
                    r#"error parsing index: strconv.Atoi: parsing "99999999999999999999": value out of range"#,
                ),
                ("a[\u{1}]=1", r#"error parsing index: strconv.Atoi: parsing "\x01": invalid syntax"#),
                ("a[-1]=x", "negative -1 index not allowed"),
                ("a[65537]=x", "index of 65537 is greater than maximum supported index of 65536"),
                ("a[1]x=1", "unexpected data at end of array index: ['x']"),
                (
                    "a[0]b\"c'\\\\d=1",
                    r#"unexpected data at end of array index: ['b' '"' 'c' '\'' '\\' 'd']"#,
                ),
                ("a={a,b", "list must terminate with '}'"),
                ("a={a,b}c", r#"key "c" has no value"#),
                ("a={a,{b}}", r#"key "}" has no value"#),
                (
                    "a=b,a[0]=1",
                    "unable to parse key: interface conversion: interface {} is string, not []interface {}",
                ),
                (
                    "a.b=1,a[0]=2",
                    "unable to parse key: interface conversion: interface {} is map[string]interface {}, not []interface {}",
                ),
                (
                    "a=1,a[0]=2",
                    "unable to parse key: interface conversion: interface {} is int64, not []interface {}",
                ),
                (
                    "a[0]=1,a[0][0]=2",
                    "unable to parse key: interface conversion: interface {} is int64, not []interface {}",
                ),
                (
                    "a=null,a.b=1",
                    "unable to parse key: interface conversion: interface {} is nil, not map[string]interface {}",
                ),
                (
                    "a=x,a.b=1",
                    "unable to parse key: interface conversion: interface {} is string, not map[string]interface {}",
                ),
            ],
        );
    }

    // TestParseSetNestedLevels and TestParseLiteralNestedLevels
    #[test]
    fn nesting_is_limited() {
        let too_deep =
            "value name nested level is greater than maximum supported nested level of 30";
        for parse in [parse_set as Parse, parse_set_literal] {
            assert_eq!(
                run_into(parse, "{}", "outer.middle.inner=value"),
                Ok(r#"{"outer":{"middle":{"inner":"value"}}}"#.to_owned())
            );
            assert_eq!(run_into(parse, "{}", &nested(32)), Err(too_deep.to_owned()));
            assert!(run_into(parse, "{}", &nested(31)).is_ok());
        }
    }

    // TestParseInto and TestParseLiteralInto
    #[test]
    fn into_existing_values() {
        let start = r#"{"outer":{"inner1":"overwrite","inner2":"value2"}}"#;
        assert_eq!(
            run_into(
                parse_set,
                start,
                "outer.inner1=value1,outer.inner3=value3,outer.inner4=4"
            ),
            Ok(
                r#"{"outer":{"inner1":"value1","inner2":"value2","inner3":"value3","inner4":4}}"#
                    .to_owned()
            )
        );
        assert_eq!(
            run_into(parse_set_literal, start, "outer.inner1=value1,outer.inner3=value3,outer.inner4=4"),
            Ok(r#"{"outer":{"inner1":"value1,outer.inner3=value3,outer.inner4=4","inner2":"value2"}}"#.to_owned())
        );
        // TestParseIntoString
        assert_eq!(
            run_into(parse_set_string, start, "outer.inner1=1,outer.inner3=3"),
            Ok(r#"{"outer":{"inner1":"1","inner2":"value2","inner3":"3"}}"#.to_owned())
        );
        for parse in [parse_set as Parse, parse_set_literal] {
            let twice = |start: &str, first: &str, second: &str| {
                let mut map = from_json(start);
                parse(first, &mut map).expect("first");
                parse(second, &mut map).expect("second");
                to_json(&map)
            };
            assert_eq!(
                twice(
                    "{}",
                    "listOuter[0][0].type=listValue",
                    "listOuter[0][0].status=alive"
                ),
                r#"{"listOuter":[[{"status":"alive","type":"listValue"}]]}"#
            );
            assert_eq!(
                twice(
                    "{}",
                    "listOuter[0][0].type=listValue",
                    "listOuter[1][0].status=alive"
                ),
                r#"{"listOuter":[[{"type":"listValue"}],[{"status":"alive"}]]}"#
            );
            assert_eq!(
                twice(
                    r#"{"listOuter":[[[{"exited":"old"}]]]}"#,
                    "listOuter[0][1][0].type=listValue",
                    "listOuter[0][0][1].status=alive"
                ),
                r#"{"listOuter":[[[{"exited":"old"},{"status":"alive"}],[{"type":"listValue"}]]]}"#
            );
        }
        // A float64 from a values file is not a map to walk into.
        assert_eq!(
            run_into(parse_set, r#"{"a":1}"#, "a.b=2"),
            Err("unable to parse key: interface conversion: interface {} is float64, not map[string]interface {}".to_owned())
        );
    }

    // TestParseJSON
    #[test]
    fn json_values() {
        assert_eq!(
            run_into(
                parse_set_json,
                r#"{"outer":{"inner1":"overwrite","inner2":"value2"}}"#,
                r#"outer.inner1="1",outer.inner3=3,outer.inner4=true,outer.inner5="true""#
            ),
            Ok(r#"{"outer":{"inner1":"1","inner2":"value2","inner3":3,"inner4":true,"inner5":"true"}}"#.to_owned())
        );
        assert_eq!(
            run_into(
                parse_set_json,
                r#"{"outer":{"inner1":{"x":"overwrite"},"inner2":"value2","inner3":["overwrite"]}}"#,
                r#"outer.inner1={"a":"1","b":2,"c":[1,2,3]},outer.inner3=["new value 1","new value 2"],outer.inner4={"aa":"1","bb":2,"cc":[1,2,3]},outer.inner5=[{"A":"1","B":2,"C":[1,2,3]}]"#
            ),
            Ok(concat!(
                r#"{"outer":{"inner1":{"a":"1","b":2,"c":[1,2,3]},"inner2":"value2","#,
                r#""inner3":["new value 1","new value 2"],"inner4":{"aa":"1","bb":2,"cc":[1,2,3]},"#,
                r#""inner5":[{"A":"1","B":2,"C":[1,2,3]}]}}"#
            )
            .to_owned())
        );
        assert_eq!(
            run_into(
                parse_set_json,
                r#"{"outer":{"inner1":{"x":"overwrite"},"inner2":"value2"}}"#,
                r#"outer.inner1=,outer.inner3={"aa":"1","bb":2,"cc":[1,2,3]},outer.inner3.cc[1]=null"#
            ),
            Ok(r#"{"outer":{"inner1":null,"inner2":"value2","inner3":{"aa":"1","bb":2,"cc":[1,null,3]}}}"#.to_owned())
        );
        fails_somehow(
            parse_set_json,
            &[
                r#"outer.inner1={"a":"1","b":2,"c":[1,2,3]},outer.inner3=["new value 1","new value 2"],outer.inner4={"aa":"1","bb":2,"cc":[1,2,3]},outer.inner5={"A":"1","B":2,"C":[1,2,3]}]"#,
            ],
        );
        let map = parsed(parse_set_json, "a=1,b=1.5");
        assert!(matches!(map["a"], Value::Float(f) if f == 1.0));
        assert!(matches!(map["b"], Value::Float(f) if f == 1.5));
    }

    #[test]
    fn json_edge_cases_match_helm() {
        ok(
            parse_set_json,
            &[
                ("a=", r#"{"a":null}"#),
                ("a= ,b=2", r#"{"a":null,"b":2}"#),
                ("a=1 b=2", r#"{"a":1,"b":2}"#),
                ("a= 5", r#"{"a":5}"#),
                ("a=\t5", r#"{"a":5}"#),
                (r#"a="\ud800""#, "{\"a\":\"\u{fffd}\"}"),
                (r#"a="\ud800\u0041""#, "{\"a\":\"\u{fffd}A\"}"),
                (r#"a="\ud83d\ude00""#, "{\"a\":\"\u{1f600}\"}"),
                (r#"a="é\u00e9""#, r#"{"a":"éé"}"#),
                (r#"a={"a":1,"a":2}"#, r#"{"a":{"a":2}}"#),
                ("a=1.5e3", r#"{"a":1500}"#),
                ("a=-1e-400", r#"{"a":-0}"#),
                ("a=[]", r#"{"a":[]}"#),
                ("a[1]=", r#"{"a":[null,null]}"#),
                ("a[0]=1,a[0]=", r#"{"a":[null]}"#),
                ("a[0]=1 ,b=2", r#"{"a":[1],"b":2}"#),
                (r#"a[0]={"b":2},a[0].c=3"#, r#"{"a":[{"b":2,"c":3}]}"#),
                ("a=[1],a[2]=3", r#"{"a":[1,null,3]}"#),
                (r#"a={"b":[1]},a.b[3]=1"#, r#"{"a":{"b":[1,null,null,1]}}"#),
            ],
        );
        fails(
            parse_set_json,
            &[
                ("a=1 2", r#"key "2" has no value"#),
                (r#"a={"x":1}}"#, r#"key "}" has no value"#),
                ("a=truex", r#"key "x" has no value"#),
                ("a=01", r#"key "1" has no value"#),
                ("a=1x", r#"key "x" has no value"#),
                ("a=é", "invalid character 'Ã' looking for beginning of value"),
                ("a='x'", r"invalid character '\'' looking for beginning of value"),
                ("a=\\", r"invalid character '\\' looking for beginning of value"),
                ("a=x", "invalid character 'x' looking for beginning of value"),
                ("a=tru", "unexpected EOF"),
                (r#"a={"x":"#, "unexpected EOF"),
                ("a=-", "unexpected EOF"),
                ("a=1.", "unexpected EOF"),
                ("a=1e", "unexpected EOF"),
                ("a=1E+", "unexpected EOF"),
                (r#"a="x"#, "unexpected EOF"),
                ("a=1e400", "json: cannot unmarshal number 1e400 into Go value of type float64"),
                (r#"a={"x":1e400}"#, "json: cannot unmarshal number 1e400 into Go value of type float64"),
                ("a=[1,1e400,x]", "invalid character 'x' looking for beginning of value"),
                ("a=[1,]", "invalid character ']' looking for beginning of value"),
                (r#"a={"a":1,}"#, "invalid character '}' looking for beginning of object key string"),
                ("a={1:2}", "invalid character '1' looking for beginning of object key string"),
                ("a=\"\t\"", r"invalid character '\t' in string literal"),
                ("a=\"\u{1}\"", r"invalid character '\x01' in string literal"),
                ("a=[1 2]", "invalid character '2' after array element"),
                (r#"a={"a" 1}"#, "invalid character '1' after object key"),
                (r#"a={"a":1 "b":2}"#, "invalid character '\"' after object key:value pair"),
                ("a=nx", "invalid character 'x' in literal null (expecting 'u')"),
                ("a=fals", "unexpected EOF"),
                (r#"a="\x""#, "invalid character 'x' in string escape code"),
                (r#"a="\u12x4""#, r"invalid character 'x' in \u hexadecimal character escape"),
                ("a=1.x", "invalid character 'x' after decimal point in numeric literal"),
                ("a=1ex", "invalid character 'x' in exponent of numeric literal"),
                ("a=-x", "invalid character 'x' in numeric literal"),
                ("a=1,b", r#"key "b" has no value"#),
                (
                    "a=1,a.b=2",
                    "unable to parse key: interface conversion: interface {} is float64, not map[string]interface {}",
                ),
            ],
        );
        let deep = format!("a={}", "[".repeat(10001));
        assert_eq!(
            run_into(parse_set_json, "{}", &deep),
            Err("invalid character '[' exceeded max depth".to_owned())
        );
        // (The value trees are recursive, so a test thread's stack holds less depth
        // than encoding/json's limit.)
        let deep_ok = format!("a={}{}", "[".repeat(1000), "]".repeat(1000));
        assert!(run_into(parse_set_json, "{}", &deep_ok).is_ok());
    }

    // TestParseFile and TestParseIntoFile
    #[test]
    fn file_values_come_from_the_reader() {
        let read = |path: &str| match path {
            "path1" => Ok(b"value1".to_vec()),
            "bin" => Ok(vec![0x61, 0xff]),
            other => Err(format!("open {other}: no such file or directory")),
        };
        let run = |expr: &str| {
            let mut map = BTreeMap::new();
            parse_set_file(expr, &mut map, read)
                .map(|()| to_json(&map))
                .map_err(|e| e.to_string())
        };
        assert_eq!(run("name1=path1"), Ok(r#"{"name1":"value1"}"#.to_owned()));
        assert_eq!(
            run("a={path1,path1}"),
            Ok(r#"{"a":["value1","value1"]}"#.to_owned())
        );
        assert_eq!(run("a[1]=path1"), Ok(r#"{"a":[null,"value1"]}"#.to_owned()));
        assert_eq!(run("a="), Ok(r#"{"a":""}"#.to_owned()));
        assert_eq!(run("a=bin"), Ok("{\"a\":\"a\u{fffd}\"}".to_owned()));
        assert_eq!(
            run("a=nope"),
            Err("open nope: no such file or directory".to_owned())
        );
        assert_eq!(
            run("a={}"),
            Err("open : no such file or directory".to_owned())
        );
        assert_eq!(run("a=path1,b"), Err(r#"key "b" has no value"#.to_owned()));
    }

    // TestParseLiteral
    #[test]
    fn literal_values() {
        ok(
            parse_set_literal,
            &[
                ("name=", r#"{"name":""}"#),
                ("name=value", r#"{"name":"value"}"#),
                (
                    "long_int_string=1234567890",
                    r#"{"long_int_string":"1234567890"}"#,
                ),
                ("boolean=true", r#"{"boolean":"true"}"#),
                ("is_null=null", r#"{"is_null":"null"}"#),
                ("zero=0", r#"{"zero":"0"}"#),
                (
                    "name1=null,name2=value2",
                    r#"{"name1":"null,name2=value2"}"#,
                ),
                ("name1=value,,,tail", r#"{"name1":"value,,,tail"}"#),
                ("leading_zeros=00009", r#"{"leading_zeros":"00009"}"#),
                ("name=one two three", r#"{"name":"one two three"}"#),
                ("outer.inner=value", r#"{"outer":{"inner":"value"}}"#),
                (
                    "outer.middle.inner=value",
                    r#"{"outer":{"middle":{"inner":"value"}}}"#,
                ),
                ("name1.name2=", r#"{"name1":{"name2":""}}"#),
                ("name1={value1,value2}", r#"{"name1":"{value1,value2}"}"#),
                ("list[0]=foo", r#"{"list":["foo"]}"#),
                ("list[0].foo=bar", r#"{"list":[{"foo":"bar"}]}"#),
                ("list[3]=bar", r#"{"list":[null,null,null,"bar"]}"#),
                ("noval[0]", r#"{"noval":[]}"#),
                ("noval[0]=", r#"{"noval":[""]}"#),
                ("nested[0][0]=1", r#"{"nested":[["1"]]}"#),
                ("nested[1][1]=1", r#"{"nested":[null,[null,"1"]]}"#),
                (
                    "name1.name2[0].foo=bar",
                    r#"{"name1":{"name2":[{"foo":"bar"}]}}"#,
                ),
                (
                    "name1.name2[1].foo=bar",
                    r#"{"name1":{"name2":[null,{"foo":"bar"}]}}"#,
                ),
                ("]={}].", r#"{"]":"{}]."}"#),
                ("name=val,val", r#"{"name":"val,val"}"#),
                ("name=val.val", r#"{"name":"val.val"}"#),
                ("name=val=val", r#"{"name":"val=val"}"#),
                ("name=val$val", r#"{"name":"val$val"}"#),
                ("name=(value", r#"{"name":"(value"}"#),
                ("name=value)", r#"{"name":"value)"}"#),
                ("name=(value)", r#"{"name":"(value)"}"#),
                ("name={value", r#"{"name":"{value"}"#),
                ("name=value}", r#"{"name":"value}"}"#),
                ("name={value}", r#"{"name":"{value}"}"#),
                ("name={value1,value2}", r#"{"name":"{value1,value2}"}"#),
                (r"name=val\val", r#"{"name":"val\\val"}"#),
                (r"name=val\\val", r#"{"name":"val\\\\val"}"#),
                (r"name=val\\\val", r#"{"name":"val\\\\\\val"}"#),
                (
                    r"name={val,.?*v\0a!l)some",
                    r#"{"name":"{val,.?*v\\0a!l)some"}"#,
                ),
                (
                    r"name=em%GT)tqUDqz,i-\h+Mbqs-!:.m\\rE=mkbM#rR}@{-k@",
                    r#"{"name":"em%GT)tqUDqz,i-\\h+Mbqs-!:.m\\\\rE=mkbM#rR}@{-k@"}"#,
                ),
                // What Helm 4's SDK returned:
                ("", "{}"),
                (".", "{}"),
                ("a.", "{}"),
                ("a[1", "{}"),
                (r"a\.b=1", r#"{"a\\":{"b":"1"}}"#),
                ("a=1,a[0]=1", r#"{"a":"1,a[0]=1"}"#),
            ],
        );
        fails(
            parse_set_literal,
            &[
                ("name", r#"key "name" has no value"#),
                ("name1.name2", r#"key "name2" has no value"#),
                (",", r#"key "," has no value"#),
                ("a..b=1", r#"key map "a" has no value"#),
                (
                    "a[x]=1",
                    r#"error parsing index: strconv.Atoi: parsing "x": invalid syntax"#,
                ),
                ("a[0]b", "unexpected data at end of array index: ['b']"),
                ("a[-1]=1", "negative -1 index not allowed"),
            ],
        );
        fails_somehow(
            parse_set_literal,
            &[
                "name1.=name2",
                "name1.,name2",
                "list[-30].hello=world",
                "illegal[0]name.foo=bar",
            ],
        );
    }

    #[test]
    fn go_quoting() {
        assert_eq!(
            go_quote("a\"b\\c\n\u{7f}\u{a0}é\u{200b}\u{10ffff}"),
            r#""a\"b\\c\n\x7f\u00a0é\u200b\U0010ffff""#
        );
        assert_eq!(quote_rune_slice("'\"\\"), r#"['\'' '"' '\\']"#);
        assert_eq!(quote_json_byte(0xc3), "'Ã'");
        assert_eq!(quote_json_byte(0x85), r"'\u0085'");
        assert_eq!(quote_json_byte(b'\''), r"'\''");
    }

    #[test]
    fn json_documents_as_unmarshal_reads_them() {
        assert!(decode_json_document(r#" {"a":[1,{"b":null}]} "#).is_ok());
        for bad in [
            r#"{"a":1}x"#,
            r#"{"a":1} x"#,
            r#"{"a":"#,
            "{",
            r#"{"a":1e400}"#,
            r#"{"a":1}}"#,
        ] {
            assert!(decode_json_document(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn values_files_are_split_and_merged() {
        let load = |text: &str| {
            load_values(text.as_bytes())
                .map(|m| to_json(&m))
                .map_err(|e| e.to_string())
        };
        assert_eq!(load(""), Ok("{}".to_owned()));
        assert_eq!(load("null\n"), Ok("{}".to_owned()));
        assert_eq!(load("a: 1\n---\nb: 2\n"), Ok(r#"{"a":1,"b":2}"#.to_owned()));
        assert_eq!(
            load("---\n---\na: {b: 1, c: 1}\n--- # next\na: {c: 2}\r\n"),
            Ok(r#"{"a":{"b":1,"c":2}}"#.to_owned())
        );
        assert_eq!(
            load("a: 1\n--- x\nb: 2\n"),
            Err("error reading yaml document: invalid Yaml document separator: x".to_owned())
        );
        assert_eq!(
            load("a: 1\n----\n"),
            Err("error reading yaml document: invalid Yaml document separator: -".to_owned())
        );
        assert_eq!(
            load("- 1\n"),
            Err("cannot unmarshal yaml document: error unmarshaling JSON: while decoding JSON: json: cannot unmarshal array into Go value of type map[string]interface {}".to_owned())
        );
        assert_eq!(
            load("3\n"),
            Err("cannot unmarshal yaml document: error unmarshaling JSON: while decoding JSON: json: cannot unmarshal number into Go value of type map[string]interface {}".to_owned())
        );
        assert!(load("a: [\n").is_err_and(|e| e
            .starts_with("cannot unmarshal yaml document: error converting YAML to JSON: yaml: ")));
    }

    #[test]
    fn merge_maps_recurses_into_maps_only() {
        let a = from_json(r#"{"x":{"y":1,"z":[1]},"k":"v","m":{"n":1}}"#);
        let b = from_json(r#"{"x":{"z":[2],"w":null},"m":"flat","new":{"q":1}}"#);
        assert_eq!(
            to_json(&merge_maps(&a, &b)),
            r#"{"k":"v","m":"flat","new":{"q":1},"x":{"w":null,"y":1,"z":[2]}}"#
        );
    }

    #[test]
    fn merge_values_in_helm_order() {
        let files = |path: &str| match path {
            "one.yaml" => Ok(b"a: 1\nnested: {p: 1, q: 1}\nlist: [1, 2]\n".to_vec()),
            "two.yaml" => Ok(b"nested: {q: 2}\nb: two\n".to_vec()),
            "bad.yaml" => Ok(b"- 1\n".to_vec()),
            "body.txt" => Ok(b"file contents".to_vec()),
            other => Err(format!("open {other}: no such file or directory")),
        };
        let options = ValueOptions {
            value_files: vec!["one.yaml".into(), "two.yaml".into()],
            // Applied after --set-json whatever the command line said.
            values: vec!["a=set,n=5".into(), "list[2]=3".into()],
            string_values: vec!["n=6".into()],
            file_values: vec!["body=body.txt".into()],
            json_values: vec![
                r#"a={"from":"json"}"#.into(),
                r#" {"nested":{"z":3}} "#.into(),
            ],
            literal_values: vec!["lit=a,b=c".into()],
        };
        let merged = options.merge_values(files).expect("merges");
        assert_eq!(
            to_json(&merged),
            concat!(
                r#"{"a":"set","b":"two","body":"file contents","list":[1,2,3],"lit":"a,b=c","#,
                r#""n":"6","nested":{"p":1,"q":2,"z":3}}"#
            )
        );
        assert!(matches!(merged["list"], Value::List(ref l) if matches!(l[2], Value::Int64(3))));

        let error = |options: ValueOptions| {
            options
                .merge_values(files)
                .map(|_| ())
                .map_err(|e| e.to_string())
        };
        let with = |f: fn(&mut ValueOptions)| {
            let mut o = ValueOptions::default();
            f(&mut o);
            o
        };
        assert_eq!(
            error(with(|o| o.value_files = vec!["missing.yaml".into()])),
            Err("open missing.yaml: no such file or directory".to_owned())
        );
        assert_eq!(
            error(with(|o| o.value_files = vec!["bad.yaml".into()])),
            Err("failed to parse bad.yaml: cannot unmarshal yaml document: error unmarshaling JSON: while decoding JSON: json: cannot unmarshal array into Go value of type map[string]interface {}".to_owned())
        );
        assert_eq!(
            error(with(|o| o.json_values = vec![r#"{"a":}"#.into()])),
            Err(r#"failed parsing --set-json data JSON: {"a":}"#.to_owned())
        );
        assert_eq!(
            error(with(|o| o.json_values = vec!["a=x".into()])),
            Err("failed parsing --set-json data a=x".to_owned())
        );
        assert_eq!(
            error(with(|o| o.values = vec!["a".into()])),
            Err(r#"failed parsing --set data: key "a" has no value"#.to_owned())
        );
        assert_eq!(
            error(with(|o| o.string_values = vec!["a[x]=1".into()])),
            Err(r#"failed parsing --set-string data: error parsing index: strconv.Atoi: parsing "x": invalid syntax"#.to_owned())
        );
        assert_eq!(
            error(with(|o| o.file_values = vec!["a=missing".into()])),
            Err(
                "failed parsing --set-file data: open missing: no such file or directory"
                    .to_owned()
            )
        );
        assert_eq!(
            error(with(|o| o.literal_values = vec!["a".into()])),
            Err(r#"failed parsing --set-literal data: key "a" has no value"#.to_owned())
        );
    }

    #[test]
    fn decimal_parsing_is_strconvs() {
        assert_eq!(parse_decimal("-9223372036854775808"), Ok(i64::MIN));
        assert_eq!(parse_decimal("9223372036854775807"), Ok(i64::MAX));
        assert_eq!(parse_decimal("9223372036854775808"), Err(true));
        assert_eq!(parse_decimal("99999999999999999999x"), Err(true));
        assert_eq!(parse_decimal("9999999999999999999x"), Err(false));
        for bad in ["", "+", "-", "1_000", " 1", "1 ", "0x1"] {
            assert_eq!(parse_decimal(bad), Err(false), "{bad:?}");
        }
        assert_eq!(parse_decimal("+007"), Ok(7));
    }
}
