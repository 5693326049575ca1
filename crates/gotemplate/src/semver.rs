//! Semantic versions and constraints as sprig's `semver` and `semverCompare` check
//! them (Masterminds/semver v3): lenient versions (`v1.2`, `1.2.3-rc.1+meta`),
//! constraints with `=`, `!=`, `>`, `<`, `>=`, `<=`, `~`, `^`, wildcards (`1.2.x`),
//! hyphen ranges, `,`/space for and, `||` for or; a prerelease version satisfies a
//! constraint only when that part of the constraint names a prerelease (so charts
//! write `>=1.19-0` to admit `v1.19.3-gke.1`).

use std::cmp::Ordering;
use std::sync::OnceLock;

use regex::Regex;

use crate::value::{Object, Value};

/// One version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    pub major: u64,
    pub minor: u64,
    pub patch: u64,
    pub pre: String,
    pub metadata: String,
    pub original: String,
}

const VERSION_CORE: &str = r"v?([0-9]+)(\.[0-9]+)?(\.[0-9]+)?(-([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?(\+([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?";
/// The version part of a constraint (the character class keeps Masterminds' `|`).
const CONSTRAINT_VERSION: &str = r"v?([0-9|x|X|\*]+)(\.[0-9|x|X|\*]+)?(\.[0-9|x|X|\*]+)?(-([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?(\+([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?";
const OPS: &str = r"=||!=|>|<|>=|=>|<=|=<|~|~>|\^";

struct Patterns {
    version: Regex,
    constraint: Regex,
    range: Regex,
    find: Regex,
    valid: Regex,
}

fn patterns() -> &'static Patterns {
    static PATTERNS: OnceLock<Patterns> = OnceLock::new();
    PATTERNS.get_or_init(|| {
        let compile = |p: String| Regex::new(&p).unwrap_or_else(|e| unreachable_pattern(&e));
        Patterns {
            version: compile(format!("^{VERSION_CORE}$")),
            constraint: compile(format!(r"^\s*({OPS})\s*({CONSTRAINT_VERSION})\s*$")),
            range: compile(format!(r"\s*({CONSTRAINT_VERSION})\s+-\s+({CONSTRAINT_VERSION})\s*")),
            find: compile(format!(r"({OPS})\s*({CONSTRAINT_VERSION})")),
            valid: compile(format!(
                r"^(\s*({OPS})\s*({CONSTRAINT_VERSION})\s*)((?:\s+|,\s*)({OPS})\s*({CONSTRAINT_VERSION})\s*)*$"
            )),
        }
    })
}

/// The patterns above are constants; one that does not compile is a bug caught by
/// every test, not an input error.
fn unreachable_pattern(error: &regex::Error) -> Regex {
    panic!("semver pattern does not compile: {error}")
}

const ALLOWED: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-0123456789";

impl Version {
    /// Masterminds' NewVersion (coercing: missing minor and patch are 0).
    pub fn parse(text: &str) -> Result<Version, String> {
        let m = patterns()
            .version
            .captures(text)
            .ok_or("invalid semantic version")?;
        let segment = |i: usize| -> Result<u64, String> {
            match m.get(i) {
                Some(g) => g
                    .as_str()
                    .trim_start_matches('.')
                    .parse()
                    .map_err(|e| format!("error parsing version segment: {e}")),
                None => Ok(0),
            }
        };
        let version = Version {
            major: segment(1)?,
            minor: segment(2)?,
            patch: segment(3)?,
            pre: m.get(5).map(|g| g.as_str().to_owned()).unwrap_or_default(),
            metadata: m.get(8).map(|g| g.as_str().to_owned()).unwrap_or_default(),
            original: text.to_owned(),
        };
        if !version.pre.is_empty() {
            for part in version.pre.split('.') {
                if part.is_empty() || !part.chars().all(|c| ALLOWED.contains(c)) {
                    return Err("invalid prerelease string".to_owned());
                }
                if part.chars().all(|c| c.is_ascii_digit())
                    && part.len() > 1
                    && part.starts_with('0')
                {
                    return Err("version segment starts with 0".to_owned());
                }
            }
        }
        if !version.metadata.is_empty()
            && version
                .metadata
                .split('.')
                .any(|p| p.is_empty() || !p.chars().all(|c| ALLOWED.contains(c)))
        {
            return Err("invalid metadata string".to_owned());
        }
        Ok(version)
    }

    /// Semantic version order; metadata does not count.
    pub fn compare(&self, other: &Version) -> Ordering {
        (self.major, self.minor, self.patch)
            .cmp(&(other.major, other.minor, other.patch))
            .then_with(|| match (self.pre.is_empty(), other.pre.is_empty()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                (false, false) => compare_prerelease(&self.pre, &other.pre),
            })
    }
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)?;
        if !self.pre.is_empty() {
            write!(f, "-{}", self.pre)?;
        }
        if !self.metadata.is_empty() {
            write!(f, "+{}", self.metadata)?;
        }
        Ok(())
    }
}

fn compare_prerelease(a: &str, b: &str) -> Ordering {
    let (ap, bp): (Vec<&str>, Vec<&str>) = (a.split('.').collect(), b.split('.').collect());
    for i in 0..ap.len().max(bp.len()) {
        let (s, o) = (
            ap.get(i).copied().unwrap_or(""),
            bp.get(i).copied().unwrap_or(""),
        );
        let order = compare_pre_part(s, o);
        if order != Ordering::Equal {
            return order;
        }
    }
    Ordering::Equal
}

fn compare_pre_part(s: &str, o: &str) -> Ordering {
    if s == o {
        return Ordering::Equal;
    }
    if s.is_empty() {
        return Ordering::Less;
    }
    if o.is_empty() {
        return Ordering::Greater;
    }
    match (s.parse::<u64>(), o.parse::<u64>()) {
        (Err(_), Err(_)) => {
            if s > o {
                Ordering::Greater
            } else {
                Ordering::Less
            }
        }
        // A number sorts before a word.
        (Ok(_), Err(_)) => Ordering::Less,
        (Err(_), Ok(_)) => Ordering::Greater,
        (Ok(x), Ok(y)) => {
            if x > y {
                Ordering::Greater
            } else {
                Ordering::Less
            }
        }
    }
}

/// One comparison of a constraint.
#[derive(Debug, Clone)]
struct Constraint {
    version: Version,
    op: String,
    minor_dirty: bool,
    patch_dirty: bool,
    dirty: bool,
}

/// A parsed constraint: groups joined by `||`, each a list that must all hold.
#[derive(Debug, Clone)]
pub struct Constraints {
    groups: Vec<(Vec<Constraint>, bool)>,
}

fn is_x(part: &str) -> bool {
    matches!(part, "x" | "X" | "*")
}

impl Constraints {
    /// Masterminds' NewConstraint.
    pub fn parse(text: &str) -> Result<Constraints, String> {
        let p = patterns();
        // `1.2 - 1.4` is `>= 1.2, <= 1.4`.
        let mut rewritten = text.to_owned();
        for m in p.range.captures_iter(text) {
            let (whole, low, high) = (&m[0], &m[1], &m[11]);
            rewritten = rewritten.replacen(whole, &format!(">= {low}, <= {high} "), 1);
        }
        let mut groups = Vec::new();
        for part in rewritten.split("||") {
            if !p.valid.is_match(part) {
                return Err(format!(
                    "improper constraint: {}",
                    crate::gofmt::quote(part)
                ));
            }
            let found: Vec<&str> = p.find.find_iter(part).map(|m| m.as_str()).collect();
            let found = if found.is_empty() { vec![part] } else { found };
            let mut group = Vec::new();
            let mut has_pre = false;
            for item in found {
                let constraint = parse_constraint(item)?;
                has_pre |= !constraint.version.pre.is_empty();
                group.push(constraint);
            }
            groups.push((group, has_pre));
        }
        Ok(Constraints { groups })
    }

    /// Whether `version` satisfies the constraints.
    pub fn check(&self, version: &Version) -> bool {
        self.groups
            .iter()
            .any(|(group, has_pre)| group.iter().all(|c| c.check(version, *has_pre)))
    }
}

fn parse_constraint(text: &str) -> Result<Constraint, String> {
    if text.is_empty() {
        return Ok(Constraint {
            version: Version::parse("0.0.0")?,
            op: String::new(),
            minor_dirty: false,
            patch_dirty: false,
            dirty: true,
        });
    }
    let m = patterns()
        .constraint
        .captures(text)
        .ok_or_else(|| format!("improper constraint: {}", crate::gofmt::quote(text)))?;
    let group = |i: usize| m.get(i).map(|g| g.as_str()).unwrap_or("");
    let (major, minor, patch, pre) = (group(3), group(4), group(5), group(6));
    let (mut dirty, mut minor_dirty, mut patch_dirty) = (false, false, false);
    let version = if is_x(major) || major.is_empty() {
        dirty = true;
        format!("0.0.0{pre}")
    } else if is_x(minor.trim_start_matches('.')) || minor.is_empty() {
        dirty = true;
        minor_dirty = true;
        format!("{major}.0.0{pre}")
    } else if is_x(patch.trim_start_matches('.')) || patch.is_empty() {
        dirty = true;
        patch_dirty = true;
        format!("{major}{minor}.0{pre}")
    } else {
        group(2).to_owned()
    };
    let version = Version::parse(&version).map_err(|_| "constraint parser error".to_owned())?;
    Ok(Constraint {
        version,
        op: group(1).to_owned(),
        minor_dirty,
        patch_dirty,
        dirty,
    })
}

impl Constraint {
    fn check(&self, v: &Version, include_pre: bool) -> bool {
        if !v.pre.is_empty() && !include_pre {
            return false;
        }
        let c = &self.version;
        match self.op.as_str() {
            "" | "=" => {
                if self.dirty {
                    self.tilde(v)
                } else {
                    v.compare(c) == Ordering::Equal
                }
            }
            "!=" => {
                if self.dirty {
                    if c.major != v.major {
                        return true;
                    }
                    if c.minor != v.minor && !self.minor_dirty {
                        return true;
                    } else if self.minor_dirty {
                        return false;
                    } else if c.patch != v.patch && !self.patch_dirty {
                        return true;
                    } else if self.patch_dirty {
                        if !v.pre.is_empty() || !c.pre.is_empty() {
                            return compare_prerelease(&v.pre, &c.pre) != Ordering::Equal;
                        }
                        return false;
                    }
                }
                v.compare(c) != Ordering::Equal
            }
            ">" => {
                if !self.dirty {
                    return v.compare(c) == Ordering::Greater;
                }
                if v.major != c.major {
                    return v.major > c.major;
                }
                if self.minor_dirty {
                    return false;
                }
                if self.patch_dirty {
                    return v.minor > c.minor;
                }
                v.compare(c) == Ordering::Greater
            }
            "<" => v.compare(c) == Ordering::Less,
            ">=" | "=>" => v.compare(c) != Ordering::Less,
            "<=" | "=<" => {
                if !self.dirty {
                    return v.compare(c) != Ordering::Greater;
                }
                if v.major > c.major {
                    return false;
                }
                !(v.major == c.major && v.minor > c.minor && !self.minor_dirty)
            }
            "~" | "~>" => self.tilde(v),
            "^" => {
                if v.compare(c) == Ordering::Less {
                    return false;
                }
                if c.major > 0 || self.minor_dirty {
                    return v.major == c.major;
                }
                if v.major > 0 {
                    return false;
                }
                if c.minor > 0 || self.patch_dirty {
                    return v.minor == c.minor;
                }
                if v.minor > 0 {
                    return false;
                }
                c.patch == v.patch
            }
            _ => false,
        }
    }

    fn tilde(&self, v: &Version) -> bool {
        let c = &self.version;
        if v.compare(c) == Ordering::Less {
            return false;
        }
        if c.major == 0 && c.minor == 0 && c.patch == 0 && !self.minor_dirty && !self.patch_dirty {
            return true;
        }
        if v.major != c.major {
            return false;
        }
        v.minor == c.minor || self.minor_dirty
    }
}

/// sprig's semverCompare.
pub fn semver_compare(constraint: &str, version: &str) -> Result<bool, String> {
    let constraints = Constraints::parse(constraint)?;
    let version = Version::parse(version)?;
    Ok(constraints.check(&version))
}

/// A version as a template value (`*semver.Version`, with its methods).
#[derive(Debug)]
pub struct VersionObject(pub Version);

impl Object for VersionObject {
    fn type_name(&self) -> String {
        "*semver.Version".to_owned()
    }

    fn field(&self, _name: &str) -> Option<Value> {
        None
    }

    fn call_method(&self, name: &str, args: &[Value]) -> Option<Result<Value, String>> {
        let v = &self.0;
        let value = match name {
            "Major" => Value::Int64(v.major as i64),
            "Minor" => Value::Int64(v.minor as i64),
            "Patch" => Value::Int64(v.patch as i64),
            "Prerelease" => Value::from(v.pre.as_str()),
            "Metadata" => Value::from(v.metadata.as_str()),
            "Original" => Value::from(v.original.as_str()),
            "String" => Value::from(v.to_string()),
            "Compare" => {
                return Some(match args.first() {
                    Some(Value::Object(other)) => match other.call_method("String", &[]) {
                        Some(Ok(Value::String(text))) => Version::parse(&text).map(|o| {
                            Value::Int(match v.compare(&o) {
                                Ordering::Less => -1,
                                Ordering::Equal => 0,
                                Ordering::Greater => 1,
                            })
                        }),
                        _ => Err("wrong type for value; expected *semver.Version".to_owned()),
                    },
                    _ => Err("wrong type for value; expected *semver.Version".to_owned()),
                })
            }
            _ => return None,
        };
        Some(Ok(value))
    }

    fn display(&self) -> String {
        self.0.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constraints_as_charts_use_them() {
        for (constraint, version, expected) in [
            (">=1.19-0", "v1.19.3-gke.1", true),
            (">=1.19", "v1.19.3-gke.1", false),
            (">=1.19-0", "1.18.9", false),
            ("^1.2.3", "1.9.0", true),
            ("^1.2.3", "2.0.0", false),
            ("~1.2.3", "1.2.9", true),
            ("~1.2.3", "1.3.0", false),
            ("1.2.x", "1.2.7", true),
            (">1.2, <2", "1.5.0", true),
            ("1.2 - 1.4.5", "1.4.5", true),
            ("1.2 - 1.4.5", "1.4.6", false),
            ("<1.0 || >=3", "3.1.0", true),
            ("!=1.2.3", "1.2.3", false),
            ("*", "0.0.1", true),
            ("^0.2.3", "0.2.9", true),
            ("^0.2.3", "0.3.0", false),
        ] {
            assert_eq!(
                semver_compare(constraint, version),
                Ok(expected),
                "{constraint} {version}"
            );
        }
        assert!(semver_compare("nonsense!", "1.0.0").is_err());
        assert!(semver_compare(">1", "not-a-version").is_err());
    }

    #[test]
    fn prereleases_order_numbers_before_words() {
        let v = |t: &str| Version::parse(t).expect(t);
        assert_eq!(
            v("1.0.0-alpha").compare(&v("1.0.0-alpha.1")),
            Ordering::Less
        );
        assert_eq!(
            v("1.0.0-alpha.1").compare(&v("1.0.0-alpha.beta")),
            Ordering::Less
        );
        assert_eq!(v("1.0.0-rc.1").compare(&v("1.0.0")), Ordering::Less);
        assert_eq!(v("v1.2").to_string(), "1.2.0");
    }
}
