//! Render errors as Helm 4 reports them. Helm rewrites text/template's messages: a
//! `fail` or `required` message becomes "execution error at (LOCATION): MESSAGE"; a
//! chain of template errors (an include inside an include) becomes one block per
//! template, location, then the action, then the message; a parse error becomes
//! "parse error at (LOCATION): MESSAGE". Helm works on the message text of each
//! wrapped error, so this does too: the text is Go's, level by level.

use ferroflux_gotemplate::{ExecError, ParseError};

/// Marks a `fail`/`required` message inside an error (Helm's warnWrap).
pub const WARN_START: &str = "HELM_ERR_START";
pub const WARN_END: &str = "HELM_ERR_END";

/// A message wrapped so that Helm's formatting finds it.
pub fn warn_wrap(message: &str) -> String {
    format!("{WARN_START}{message}{WARN_END}")
}

/// Helm's cleanupParseError.
pub fn parse_error(file: &str, error: &ParseError) -> String {
    let text = error.to_string();
    let tokens: Vec<&str> = text.split(": ").collect();
    if tokens.len() == 1 {
        return format!("parse error in ({file}): {text}");
    }
    format!(
        "parse error at ({}): {}",
        tokens[1],
        tokens[tokens.len() - 1]
    )
}

/// Helm's reformatExecErrorMsg.
pub fn exec_error(file: &str, error: &ExecError) -> String {
    let text = error.to_string();
    if matches!(error, ExecError::NoTemplate { .. }) {
        // Not an ExecError in Go: Helm passes it through.
        return text;
    }
    let tokens: Vec<&str> = text.splitn(3, ": ").collect();
    if tokens.len() != 3 {
        return format!("execution error in ({file}): {text}");
    }
    if let Some(start) = tokens[2].find(WARN_START) {
        let inner = &tokens[2][start + WARN_START.len()..];
        if let Some(end) = inner.rfind(WARN_END) {
            return format!("execution error at ({}): {}", tokens[1], &inner[..end]);
        }
    }
    let mut traces: Vec<Trace> = Vec::new();
    let mut current = Some(text.as_str());
    while let Some(level) = current {
        let Some(trace) = parse_trace(level) else {
            return text;
        };
        if traces.last() != Some(&trace) {
            traces.push(trace);
        }
        current = wrapped(level);
    }
    let joined: String = traces.iter().map(Trace::render).collect();
    joined.trim().to_owned()
}

/// One level of Helm's TraceableError.
#[derive(Debug, PartialEq)]
struct Trace {
    location: String,
    message: String,
    executed: String,
}

impl Trace {
    fn render(&self) -> String {
        let mut out = String::new();
        if !self.location.is_empty() {
            out.push_str(&format!("{}\n  ", self.location));
        }
        if !self.executed.is_empty() {
            out.push_str(&format!("{}\n    ", self.executed));
        }
        if !self.message.is_empty() {
            out.push_str(&format!("{}\n", self.message));
        }
        out
    }
}

/// Helm's parseTemplateExecErrorString.
fn parse_trace(text: &str) -> Option<Trace> {
    let remainder = text.strip_prefix("template: ")?;
    if remainder.starts_with("no template ") {
        return Some(Trace {
            location: String::new(),
            message: text.to_owned(),
            executed: String::new(),
        });
    }
    if let Some((template, after)) = remainder.split_once(": executing ") {
        let after = after.strip_prefix('"')?;
        let end_quote = after.find('"')?;
        let function = &after[..end_quote];
        let after_at = after[end_quote + 1..].strip_prefix(" at <")?;
        let (location, message) = after_at.split_once(">: ")?;
        return Some(Trace {
            location: template.to_owned(),
            message: cut_chained(message).to_owned(),
            executed: format!("executing \"{function}\" at <{location}>:"),
        });
    }
    let sep = remainder.rfind(": ")?;
    Some(Trace {
        location: remainder[..sep].to_owned(),
        message: cut_chained(&remainder[sep + 2..]).to_owned(),
        executed: String::new(),
    })
}

/// The message without the next error in the chain (" template: ...").
fn cut_chained(message: &str) -> &str {
    match message.find(" template:") {
        Some(cut) => &message[..cut],
        None => message,
    }
}

/// The error an "error calling NAME: ERR" wraps, as text (Go's %w in text/template).
fn wrapped(text: &str) -> Option<&str> {
    let remainder = text.strip_prefix("template: ")?;
    let (_, after) = remainder.split_once(": executing ")?;
    let (_, message) = after.split_once(">: ")?;
    let rest = message.strip_prefix("error calling ")?;
    let (_, inner) = rest.split_once(": ")?;
    Some(inner)
}
