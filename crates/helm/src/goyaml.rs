//! YAML as Helm's `toYaml` writes it: sigs.k8s.io/yaml's Marshal, which is Go's
//! encoding/json followed by go-yaml v2's emitter. So numbers are what JSON made of
//! them (a whole float64 becomes an int), keys are in go-yaml's "natural" order
//! (`item9` before `item10`), strings are quoted only where YAML 1.1 would read them
//! as something else (`"true"`, `"1"`, `"2024-01-01"`, `'- x'`), text with line breaks
//! is a literal block, and long lines fold at spaces past column 80.

use std::cmp::Ordering;

use ferroflux_gotemplate::{gojson, Value};

/// go-yaml's preferred line width.
const BEST_WIDTH: usize = 80;

/// A value after the JSON round trip: what go-yaml is handed.
enum Node {
    Null,
    Bool(bool),
    Int(String),
    Float(String),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(String, Node)>),
}

/// sigs.k8s.io/yaml's Marshal of a template value, ending in a newline.
pub fn marshal(value: &Value) -> Result<String, String> {
    let node = to_node(value)?;
    let mut emitter = Emitter::default();
    emitter.document(&node);
    Ok(emitter.out)
}

fn to_node(value: &Value) -> Result<Node, String> {
    Ok(match value {
        Value::NoValue | Value::Nil => Node::Null,
        Value::Bool(b) => Node::Bool(*b),
        Value::Int(n) | Value::Int64(n) => Node::Int(n.to_string()),
        Value::Float(f) => {
            // JSON writes it; go-yaml then reads an integer or a float from the text.
            let text = gojson::float(*f)?;
            if text.contains(['.', 'e', 'E']) {
                let parsed: f64 = text.parse().unwrap_or(*f);
                Node::Float(yaml_float(parsed))
            } else {
                match text.parse::<i64>() {
                    Ok(_) => Node::Int(text),
                    Err(_) => Node::Float(yaml_float(*f)),
                }
            }
        }
        Value::String(s) => Node::Str(s.to_string()),
        Value::List(items) => Node::Seq(items.iter().map(to_node).collect::<Result<_, _>>()?),
        Value::Map(map) => {
            let mut entries: Vec<(String, Node)> = map
                .entries()
                .iter()
                .map(|(k, v)| Ok((k.clone(), to_node(v)?)))
                .collect::<Result<_, String>>()?;
            entries.sort_by(|a, b| natural_order(&a.0, &b.0));
            Node::Map(entries)
        }
        Value::Object(object) => {
            return Err(format!("json: unsupported type: {}", object.type_name()))
        }
    })
}

/// go-yaml v2's float text: strconv 'g', shortest.
fn yaml_float(f: f64) -> String {
    if f.is_nan() {
        return ".nan".to_owned();
    }
    if f.is_infinite() {
        return if f > 0.0 { ".inf" } else { "-.inf" }.to_owned();
    }
    ferroflux_gotemplate::gofmt::format_float_shortest(f)
}

/// go-yaml v2's key order: letters by code point, runs of digits by their value,
/// other characters before letters.
fn natural_order(a: &str, b: &str) -> Ordering {
    let (ar, br): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    for i in 0..ar.len().min(br.len()) {
        if ar[i] == br[i] {
            continue;
        }
        let (al, bl) = (ar[i].is_alphabetic(), br[i].is_alphabetic());
        if al && bl {
            return ar[i].cmp(&br[i]);
        }
        if al || bl {
            return if bl {
                Ordering::Less
            } else {
                Ordering::Greater
            };
        }
        let (mut an, mut bn) = (0i64, 0i64);
        if ar[i] == '0' || br[i] == '0' {
            let mut j = i;
            while j > 0 && ar[j - 1].is_ascii_digit() {
                j -= 1;
                if ar[j] != '0' {
                    an = 1;
                    bn = 1;
                    break;
                }
            }
        }
        let mut ai = i;
        while ai < ar.len() && ar[ai].is_ascii_digit() {
            an = an
                .wrapping_mul(10)
                .wrapping_add(i64::from(ar[ai] as u8 - b'0'));
            ai += 1;
        }
        let mut bi = i;
        while bi < br.len() && br[bi].is_ascii_digit() {
            bn = bn
                .wrapping_mul(10)
                .wrapping_add(i64::from(br[bi] as u8 - b'0'));
            bi += 1;
        }
        if an != bn {
            return an.cmp(&bn);
        }
        if ai != bi {
            return ai.cmp(&bi);
        }
        return ar[i].cmp(&br[i]);
    }
    ar.len().cmp(&br.len())
}

/// How a string scalar is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Style {
    Plain,
    Single,
    Double,
    Literal,
}

/// What go-yaml's scalar analysis allows for a string.
struct Analysis {
    multiline: bool,
    block_plain_allowed: bool,
    single_quoted_allowed: bool,
    block_allowed: bool,
}

fn is_space(c: char) -> bool {
    c == ' '
}

fn is_break(c: char) -> bool {
    matches!(c, '\r' | '\n' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

/// go-yaml's is_printable.
fn is_printable(c: char) -> bool {
    let u = c as u32;
    u == 0x0A
        || (0x20..=0x7E).contains(&u)
        || u == 0x85
        || (0xA0..=0xD7FF).contains(&u)
        || ((0xE000..=0xFFFD).contains(&u) && u != 0xFEFF)
        || (0x10000..=0x10FFFF).contains(&u)
}

fn analyze(value: &str) -> Analysis {
    let chars: Vec<char> = value.chars().collect();
    if chars.is_empty() {
        return Analysis {
            multiline: false,
            block_plain_allowed: true,
            single_quoted_allowed: true,
            block_allowed: false,
        };
    }
    let mut block_indicators = false;
    let mut flow_indicators = false;
    let mut line_breaks = false;
    let mut special_characters = false;
    let (mut leading_space, mut leading_break, mut trailing_space, mut trailing_break) =
        (false, false, false, false);
    let (mut break_space, mut space_break) = (false, false);
    let (mut previous_space, mut previous_break) = (false, false);
    if value.starts_with("---") || value.starts_with("...") {
        block_indicators = true;
        flow_indicators = true;
    }
    let mut preceded_by_whitespace = true;
    for (i, &c) in chars.iter().enumerate() {
        let next = chars.get(i + 1).copied();
        let followed_by_whitespace = next.is_none_or(|n| is_space(n) || is_break(n) || n == '\t');
        if i == 0 {
            match c {
                '#' | ',' | '[' | ']' | '{' | '}' | '&' | '*' | '!' | '|' | '>' | '\'' | '"'
                | '%' | '@' | '`' => {
                    flow_indicators = true;
                    block_indicators = true;
                }
                '?' | ':' => {
                    flow_indicators = true;
                    if followed_by_whitespace {
                        block_indicators = true;
                    }
                }
                '-' if followed_by_whitespace => {
                    flow_indicators = true;
                    block_indicators = true;
                }
                _ => {}
            }
        } else {
            match c {
                ',' | '?' | '[' | ']' | '{' | '}' => flow_indicators = true,
                ':' => {
                    flow_indicators = true;
                    if followed_by_whitespace {
                        block_indicators = true;
                    }
                }
                '#' if preceded_by_whitespace => {
                    flow_indicators = true;
                    block_indicators = true;
                }
                _ => {}
            }
        }
        if !is_printable(c) || c == '\u{FEFF}' {
            special_characters = true;
        }
        if is_break(c) {
            line_breaks = true;
        }
        if is_space(c) {
            if i == 0 {
                leading_space = true;
            }
            if i == chars.len() - 1 {
                trailing_space = true;
            }
            if previous_break {
                break_space = true;
            }
            previous_space = true;
            previous_break = false;
        } else if is_break(c) {
            if i == 0 {
                leading_break = true;
            }
            if i == chars.len() - 1 {
                trailing_break = true;
            }
            if previous_space {
                space_break = true;
            }
            previous_space = false;
            previous_break = true;
        } else {
            previous_space = false;
            previous_break = false;
        }
        preceded_by_whitespace = is_space(c) || is_break(c) || c == '\t';
    }
    let mut analysis = Analysis {
        multiline: line_breaks,
        block_plain_allowed: true,
        single_quoted_allowed: true,
        block_allowed: true,
    };
    if leading_space || leading_break || trailing_space || trailing_break {
        analysis.block_plain_allowed = false;
    }
    if trailing_space {
        analysis.block_allowed = false;
    }
    if break_space {
        analysis.block_plain_allowed = false;
        analysis.single_quoted_allowed = false;
    }
    if space_break || special_characters {
        analysis.block_plain_allowed = false;
        analysis.single_quoted_allowed = false;
        analysis.block_allowed = false;
    }
    if line_breaks {
        analysis.block_plain_allowed = false;
    }
    if block_indicators {
        analysis.block_plain_allowed = false;
    }
    let _ = flow_indicators;
    analysis
}

/// Whether go-yaml v2 would read the plain text as something other than a string
/// (null, bool, number, timestamp, or a base-60 float), so it must be quoted.
fn resolves_to_non_string(s: &str) -> bool {
    if s == "<<" || !matches!(crate::yaml::plain_scalar(s), Value::String(_)) {
        return true;
    }
    s.starts_with(|c: char| c.is_ascii_digit()) && is_timestamp(s) || is_base60_float(s)
}

/// go-yaml v2's timestamp forms: a date, or a date and time.
fn is_timestamp(s: &str) -> bool {
    let date = |d: &str| {
        let parts: Vec<&str> = d.split('-').collect();
        parts.len() == 3
            && parts[0].len() == 4
            && parts
                .iter()
                .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
            && parts[1].len() <= 2
            && parts[2].len() <= 2
    };
    if date(s) {
        return true;
    }
    let split = s.find(['T', 't', ' ']);
    match split {
        Some(i) if date(&s[..i]) => {
            let time = &s[i + 1..];
            let clock: String = time
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == ':')
                .collect();
            let fields: Vec<&str> = clock.split(':').collect();
            fields.len() == 3 && fields.iter().all(|f| !f.is_empty() && f.len() <= 2)
        }
        _ => false,
    }
}

/// `^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$`.
fn is_base60_float(s: &str) -> bool {
    let s = s.strip_prefix(['-', '+']).unwrap_or(s);
    let (body, frac) = match s.split_once('.') {
        Some((b, f)) => (b, Some(f)),
        None => (s, None),
    };
    if frac.is_some_and(|f| !f.chars().all(|c| c.is_ascii_digit() || c == '_')) {
        return false;
    }
    let mut parts = body.split(':');
    let Some(head) = parts.next() else {
        return false;
    };
    if !head.starts_with(|c: char| c.is_ascii_digit())
        || !head.chars().all(|c| c.is_ascii_digit() || c == '_')
    {
        return false;
    }
    let mut any = false;
    for part in parts {
        any = true;
        let ok = match part.len() {
            1 => part.chars().all(|c| c.is_ascii_digit()),
            2 => {
                let b = part.as_bytes();
                (b'0'..=b'5').contains(&b[0]) && b[1].is_ascii_digit()
            }
            _ => false,
        };
        if !ok {
            return false;
        }
    }
    any
}

#[derive(Default)]
struct Emitter {
    out: String,
    column: usize,
}

impl Emitter {
    fn write(&mut self, text: &str) {
        for c in text.chars() {
            self.out.push(c);
            if c == '\n' {
                self.column = 0;
            } else {
                self.column += 1;
            }
        }
    }

    fn document(&mut self, node: &Node) {
        match node {
            Node::Map(entries) if !entries.is_empty() => self.block_map(entries, 0, false),
            Node::Seq(items) if !items.is_empty() => self.block_seq(items, 0, false),
            scalar => self.scalar_value(scalar, 0),
        }
        self.write("\n");
    }

    /// Starts a line at `indent` (the document's first line needs no break).
    fn line(&mut self, indent: usize) {
        if !self.out.is_empty() {
            self.write("\n");
        }
        self.write(&" ".repeat(indent));
    }

    /// A mapping at `indent`; `inline` when its first key follows a `- ` already
    /// written.
    fn block_map(&mut self, entries: &[(String, Node)], indent: usize, inline: bool) {
        for (i, (key, value)) in entries.iter().enumerate() {
            if i > 0 || !inline {
                self.line(indent);
            }
            self.key(key);
            self.write(":");
            match value {
                Node::Map(children) if !children.is_empty() => {
                    self.block_map(children, indent + 2, false)
                }
                // go-yaml v2 does not indent a sequence that is a mapping's value.
                Node::Seq(items) if !items.is_empty() => self.block_seq(items, indent, false),
                scalar => {
                    self.write(" ");
                    self.scalar_value(scalar, indent + 2);
                }
            }
        }
    }

    /// A sequence at `indent`; `inline` when its first item follows a `- `.
    fn block_seq(&mut self, items: &[Node], indent: usize, inline: bool) {
        for (i, item) in items.iter().enumerate() {
            if i > 0 || !inline {
                self.line(indent);
            }
            self.write("- ");
            match item {
                Node::Map(entries) if !entries.is_empty() => {
                    self.block_map(entries, indent + 2, true)
                }
                Node::Seq(inner) if !inner.is_empty() => self.block_seq(inner, indent + 2, true),
                scalar => self.scalar_value(scalar, indent + 2),
            }
        }
    }

    fn key(&mut self, key: &str) {
        let style = choose_style(key, true);
        self.write_string(key, style, 0, false);
    }

    fn scalar_value(&mut self, node: &Node, indent: usize) {
        match node {
            Node::Null => self.write("null"),
            Node::Bool(b) => self.write(if *b { "true" } else { "false" }),
            Node::Int(text) | Node::Float(text) => self.write(text),
            Node::Str(s) => {
                let style = choose_style(s, false);
                self.write_string(s, style, indent, true);
            }
            Node::Seq(_) => self.write("[]"),
            Node::Map(_) => self.write("{}"),
        }
    }

    fn write_string(&mut self, s: &str, style: Style, indent: usize, allow_breaks: bool) {
        match style {
            Style::Plain => self.plain(s, indent, allow_breaks),
            Style::Single => self.single_quoted(s, indent, allow_breaks),
            Style::Double => self.double_quoted(s, indent, allow_breaks),
            Style::Literal => self.literal(s, indent),
        }
    }

    /// go-yaml's write_indent inside a long scalar: a break and the indentation.
    fn fold(&mut self, indent: usize) {
        self.write("\n");
        self.write(&" ".repeat(indent));
    }

    fn plain(&mut self, s: &str, indent: usize, allow_breaks: bool) {
        let chars: Vec<char> = s.chars().collect();
        let mut spaces = false;
        for (i, &c) in chars.iter().enumerate() {
            if is_space(c) {
                if allow_breaks
                    && !spaces
                    && self.column > BEST_WIDTH
                    && !chars.get(i + 1).is_some_and(|n| is_space(*n))
                {
                    self.fold(indent);
                } else {
                    self.write(" ");
                }
                spaces = true;
            } else {
                let mut buf = [0u8; 4];
                self.write(c.encode_utf8(&mut buf));
                spaces = false;
            }
        }
    }

    fn single_quoted(&mut self, s: &str, indent: usize, allow_breaks: bool) {
        self.write("'");
        let chars: Vec<char> = s.chars().collect();
        let mut spaces = false;
        for (i, &c) in chars.iter().enumerate() {
            if is_space(c) {
                if allow_breaks
                    && !spaces
                    && self.column > BEST_WIDTH
                    && i > 0
                    && i < chars.len() - 1
                    && !chars.get(i + 1).is_some_and(|n| is_space(*n))
                {
                    self.fold(indent);
                } else {
                    self.write(" ");
                }
                spaces = true;
            } else {
                if c == '\'' {
                    self.write("'");
                }
                let mut buf = [0u8; 4];
                self.write(c.encode_utf8(&mut buf));
                spaces = false;
            }
        }
        self.write("'");
    }

    fn double_quoted(&mut self, s: &str, indent: usize, allow_breaks: bool) {
        self.write("\"");
        let chars: Vec<char> = s.chars().collect();
        let mut spaces = false;
        for (i, &c) in chars.iter().enumerate() {
            if !is_printable(c) || c == '\u{FEFF}' || is_break(c) || c == '"' || c == '\\' {
                let escaped = match c {
                    '\0' => "\\0".to_owned(),
                    '\u{7}' => "\\a".to_owned(),
                    '\u{8}' => "\\b".to_owned(),
                    '\t' => "\\t".to_owned(),
                    '\n' => "\\n".to_owned(),
                    '\u{b}' => "\\v".to_owned(),
                    '\u{c}' => "\\f".to_owned(),
                    '\r' => "\\r".to_owned(),
                    '\u{1b}' => "\\e".to_owned(),
                    '"' => "\\\"".to_owned(),
                    '\\' => "\\\\".to_owned(),
                    '\u{85}' => "\\N".to_owned(),
                    '\u{a0}' => "\\_".to_owned(),
                    '\u{2028}' => "\\L".to_owned(),
                    '\u{2029}' => "\\P".to_owned(),
                    c if (c as u32) <= 0xFF => format!("\\x{:02X}", c as u32),
                    c if (c as u32) <= 0xFFFF => format!("\\u{:04X}", c as u32),
                    c => format!("\\U{:08X}", c as u32),
                };
                self.write(&escaped);
                spaces = false;
            } else if is_space(c) {
                if allow_breaks
                    && !spaces
                    && self.column > BEST_WIDTH
                    && i > 0
                    && i < chars.len() - 1
                {
                    self.fold(indent);
                    if chars.get(i + 1).is_some_and(|n| is_space(*n)) {
                        self.write("\\");
                    }
                } else {
                    self.write(" ");
                }
                spaces = true;
            } else {
                let mut buf = [0u8; 4];
                self.write(c.encode_utf8(&mut buf));
                spaces = false;
            }
        }
        self.write("\"");
    }

    fn literal(&mut self, s: &str, indent: usize) {
        self.write("|");
        if s.starts_with(' ') || s.starts_with('\n') {
            self.write("2");
        }
        let trailing = s.len() - s.trim_end_matches('\n').len();
        if trailing == 0 {
            self.write("-");
        } else if trailing > 1 || s.chars().all(|c| c == '\n') {
            self.write("+");
        }
        let body = if trailing > 0 { &s[..s.len() - 1] } else { s };
        for line in body.split('\n') {
            self.write("\n");
            if !line.is_empty() {
                self.write(&" ".repeat(indent));
                self.write(line);
            }
        }
    }
}

/// The style go-yaml v2 ends up with for a string (as a key, or as a value).
fn choose_style(s: &str, key: bool) -> Style {
    let requested = if s.contains('\n') {
        Style::Literal
    } else if resolves_to_non_string(s) || is_base60_float(s) {
        Style::Double
    } else {
        Style::Plain
    };
    let analysis = analyze(s);
    let mut style = requested;
    if style == Style::Literal && (!analysis.block_allowed || key) {
        style = Style::Double;
    }
    if style == Style::Plain
        && (!analysis.block_plain_allowed || (s.is_empty() && key) || analysis.multiline && key)
    {
        style = Style::Single;
    }
    if style == Style::Single && !analysis.single_quoted_allowed {
        style = Style::Double;
    }
    style
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sort_naturally() {
        let mut keys = vec!["item10", "item9", "b", "A", "_x", "a-b", "aB", "a1", "a01"];
        keys.sort_by(|a, b| natural_order(a, b));
        // The order Helm's toYaml printed for these keys (the template oracle has them).
        assert_eq!(
            keys,
            ["_x", "A", "a-b", "a1", "a01", "aB", "b", "item9", "item10"]
        );
    }

    #[test]
    fn strings_that_read_as_other_things_are_quoted() {
        for s in [
            "true",
            "yes",
            "On",
            "1",
            "0x1F",
            "1.5",
            "1e3",
            "2024-01-01",
            "12:30",
            "~",
            "null",
            "",
        ] {
            assert!(resolves_to_non_string(s) || is_base60_float(s), "{s}");
        }
        for s in ["hello", "1.2.3", "v1", "-", "a:b", "x1"] {
            assert!(!resolves_to_non_string(s), "{s}");
        }
    }
}
