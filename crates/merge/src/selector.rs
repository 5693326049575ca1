//! Label and field selectors, in the string syntax of `labelSelector=` and
//! `fieldSelector=` query parameters.

use serde_json::Value;

/// A selector that does not parse.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("unable to parse requirement: {0}")]
pub struct SelectorError(pub String);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Op {
    Equals(String),
    NotEquals(String),
    In(Vec<String>),
    NotIn(Vec<String>),
    Exists,
    DoesNotExist,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Requirement {
    key: String,
    op: Op,
}

/// A parsed label selector; the empty selector matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelSelector {
    requirements: Vec<Requirement>,
}

/// Splits on commas that are not inside parentheses.
fn split_top_level(input: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (i, c) in input.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                parts.push(&input[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&input[start..]);
    parts
}

fn parse_set(rest: &str, whole: &str) -> Result<Vec<String>, SelectorError> {
    let inner = rest
        .trim()
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(|| SelectorError(format!("{whole}: expected a parenthesised set of values")))?;
    Ok(inner
        .split(',')
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
        .collect())
}

impl LabelSelector {
    pub fn parse(input: &str) -> Result<Self, SelectorError> {
        let mut requirements = Vec::new();
        for raw in split_top_level(input) {
            let part = raw.trim();
            if part.is_empty() {
                continue;
            }
            let requirement = if let Some(key) = part.strip_prefix('!') {
                Requirement {
                    key: key.trim().to_owned(),
                    op: Op::DoesNotExist,
                }
            } else if let Some((key, value)) = part.split_once("!=") {
                Requirement {
                    key: key.trim().to_owned(),
                    op: Op::NotEquals(value.trim().to_owned()),
                }
            } else if let Some((key, value)) = part.split_once("==") {
                Requirement {
                    key: key.trim().to_owned(),
                    op: Op::Equals(value.trim().to_owned()),
                }
            } else if let Some((key, value)) = part.split_once('=') {
                Requirement {
                    key: key.trim().to_owned(),
                    op: Op::Equals(value.trim().to_owned()),
                }
            } else if let Some((key, rest)) = part.split_once(" notin ") {
                Requirement {
                    key: key.trim().to_owned(),
                    op: Op::NotIn(parse_set(rest, part)?),
                }
            } else if let Some((key, rest)) = part.split_once(" in ") {
                Requirement {
                    key: key.trim().to_owned(),
                    op: Op::In(parse_set(rest, part)?),
                }
            } else {
                Requirement {
                    key: part.to_owned(),
                    op: Op::Exists,
                }
            };
            if requirement.key.is_empty() || requirement.key.contains(char::is_whitespace) {
                return Err(SelectorError(format!("{part}: invalid label key")));
            }
            requirements.push(requirement);
        }
        Ok(LabelSelector { requirements })
    }

    /// The selector of a `metav1.LabelSelector` object (matchLabels, matchExpressions).
    pub fn from_object(selector: &Value) -> Result<Self, SelectorError> {
        let mut requirements = Vec::new();
        if let Some(labels) = selector.get("matchLabels").and_then(Value::as_object) {
            for (k, v) in labels {
                requirements.push(Requirement {
                    key: k.clone(),
                    op: Op::Equals(v.as_str().unwrap_or_default().to_owned()),
                });
            }
        }
        for expr in selector
            .get("matchExpressions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let key = expr
                .get("key")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            let values: Vec<String> = expr
                .get("values")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            let op = match expr.get("operator").and_then(Value::as_str) {
                Some("In") => Op::In(values),
                Some("NotIn") => Op::NotIn(values),
                Some("Exists") => Op::Exists,
                Some("DoesNotExist") => Op::DoesNotExist,
                other => {
                    return Err(SelectorError(format!(
                        "{:?} is not a valid label selector operator",
                        other.unwrap_or_default()
                    )))
                }
            };
            requirements.push(Requirement { key, op });
        }
        Ok(LabelSelector { requirements })
    }

    /// The selector in string form (`app=web,tier in (a,b)`), as the scale
    /// subresource reports it.
    pub fn to_query(&self) -> String {
        self.requirements
            .iter()
            .map(|r| match &r.op {
                Op::Equals(v) => format!("{}={}", r.key, v),
                Op::NotEquals(v) => format!("{}!={}", r.key, v),
                Op::In(vs) => format!("{} in ({})", r.key, vs.join(",")),
                Op::NotIn(vs) => format!("{} notin ({})", r.key, vs.join(",")),
                Op::Exists => r.key.clone(),
                Op::DoesNotExist => format!("!{}", r.key),
            })
            .collect::<Vec<_>>()
            .join(",")
    }

    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// Whether an object with `labels` (the `metadata.labels` map, or None) matches.
    pub fn matches(&self, labels: Option<&serde_json::Map<String, Value>>) -> bool {
        self.requirements.iter().all(|r| {
            let value = labels.and_then(|l| l.get(&r.key)).and_then(Value::as_str);
            match &r.op {
                Op::Equals(v) => value == Some(v.as_str()),
                Op::NotEquals(v) => value != Some(v.as_str()),
                Op::In(vs) => value.is_some_and(|x| vs.iter().any(|v| v == x)),
                Op::NotIn(vs) => value.is_none_or(|x| !vs.iter().any(|v| v == x)),
                Op::Exists => value.is_some(),
                Op::DoesNotExist => value.is_none(),
            }
        })
    }
}

/// A parsed field selector: equality and inequality on dotted field paths.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSelector {
    terms: Vec<(String, bool, String)>,
}

impl FieldSelector {
    pub fn parse(input: &str) -> Result<Self, SelectorError> {
        let mut terms = Vec::new();
        for raw in input.split(',') {
            let part = raw.trim();
            if part.is_empty() {
                continue;
            }
            let (field, equal, value) = if let Some((f, v)) = part.split_once("!=") {
                (f, false, v)
            } else if let Some((f, v)) = part.split_once("==") {
                (f, true, v)
            } else if let Some((f, v)) = part.split_once('=') {
                (f, true, v)
            } else {
                return Err(SelectorError(format!(
                    "invalid selector: '{part}'; can't understand '{part}'"
                )));
            };
            terms.push((field.trim().to_owned(), equal, value.trim().to_owned()));
        }
        Ok(FieldSelector { terms })
    }

    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// The value a term names, when it is an equality on `field`.
    pub fn equality(&self, field: &str) -> Option<&str> {
        self.terms
            .iter()
            .find(|(f, eq, _)| *eq && f == field)
            .map(|(_, _, v)| v.as_str())
    }

    pub fn matches(&self, object: &Value) -> bool {
        self.terms.iter().all(|(field, equal, value)| {
            let pointer = format!("/{}", field.replace('.', "/"));
            let actual = match object.pointer(&pointer) {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Null) | None => String::new(),
                Some(other) => other.to_string(),
            };
            (actual == *value) == *equal
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labels(v: Value) -> serde_json::Map<String, Value> {
        v.as_object().cloned().expect("object")
    }

    #[test]
    fn equality_set_and_existence_requirements() {
        let l = labels(json!({"app": "web", "tier": "front"}));
        let sel = |s: &str| LabelSelector::parse(s).expect("parses");
        assert!(sel("app=web").matches(Some(&l)));
        assert!(sel("app==web,tier").matches(Some(&l)));
        assert!(!sel("app!=web").matches(Some(&l)));
        assert!(sel("tier in (front, back)").matches(Some(&l)));
        assert!(!sel("tier notin (front)").matches(Some(&l)));
        assert!(sel("!missing").matches(Some(&l)));
        assert!(!sel("missing").matches(Some(&l)));
        assert!(sel("").matches(None));
        assert!(sel("app notin (x)").matches(None));
    }

    #[test]
    fn selector_object_round_trips_to_query() {
        let s = LabelSelector::from_object(&json!({
            "matchLabels": {"app": "web"},
            "matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]}]
        }))
        .expect("valid");
        assert_eq!(s.to_query(), "app=web,tier in (a,b)");
        assert_eq!(LabelSelector::parse(&s.to_query()).expect("parses"), s);
    }

    #[test]
    fn field_selector_on_name_and_nested_fields() {
        let obj = json!({"metadata": {"name": "a", "namespace": "ns"}, "involvedObject": {"kind": "Pod"}});
        let sel = |s: &str| FieldSelector::parse(s).expect("parses");
        assert!(sel("metadata.name=a").matches(&obj));
        assert!(sel("metadata.namespace==ns,involvedObject.kind=Pod").matches(&obj));
        assert!(!sel("metadata.name!=a").matches(&obj));
        assert_eq!(sel("metadata.name=a").equality("metadata.name"), Some("a"));
        assert!(FieldSelector::parse("nonsense").is_err());
    }
}
