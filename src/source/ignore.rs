//! Flux's source-ignore rules: which paths of a fetched tree go into the artifact.
//!
//! Semantics follow source-controller (which uses go-git's gitignore matcher), because what a
//! Flux user sees in their artifact is the contract:
//! - patterns are gitignore lines; the last pattern that matches a path wins (`!` re-includes);
//! - a pattern that matches a directory also matches everything below it, for excludes and
//!   `!` re-includes alike (so `/*` then `!/deploy` publishes all of `deploy/`, and
//!   `build/` then `!build/keep/` re-includes `build/keep/**`, where git would not);
//! - `**` is supported only as a whole path segment;
//! - `.sourceignore` files apply to their own directory and below, root first, then
//!   sub-directories depth-first in name order; `spec.ignore` comes last (highest priority);
//! - `.git/`, `.gitignore`, `.gitmodules`, `.gitattributes` are always excluded; the other
//!   defaults (images, archives, CI files, ...) apply only when there are no `.sourceignore`
//!   files and no `spec.ignore`, because Flux replaces them in that case.

use std::path::Path;

/// The ignore file Flux reads at any depth of the source tree.
pub const IGNORE_FILE: &str = ".sourceignore";
/// Always excluded (version-control metadata).
pub const EXCLUDE_VCS: &[&str] = &[".git/", ".gitignore", ".gitmodules", ".gitattributes"];
/// Excluded unless the user supplies their own rules (`.sourceignore` or `spec.ignore`).
pub const EXCLUDE_DEFAULTS: &[&str] = &[
    "*.jpg",
    "*.jpeg",
    "*.gif",
    "*.png",
    "*.wmv",
    "*.flv",
    "*.tar.gz",
    "*.zip",
    ".github/",
    ".circleci/",
    ".travis.yml",
    ".gitlab-ci.yml",
    "appveyor.yml",
    ".drone.yml",
    "cloudbuild.yaml",
    "codeship-services.yml",
    "codeship-steps.yml",
    "**/.goreleaser.yml",
    "**/.sops.yaml",
    "**/.flux.yaml",
];

/// One parsed gitignore line, scoped to the directory (`domain`) it was read in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    domain: Vec<String>,
    segments: Vec<String>,
    negated: bool,
    dir_only: bool,
    /// A pattern containing `/` is anchored to its domain; otherwise it matches a name anywhere.
    anchored: bool,
}

impl Pattern {
    /// Parse one line; `None` for blank lines and comments.
    pub fn parse(line: &str, domain: &[String]) -> Option<Pattern> {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() || line.starts_with('#') {
            return None;
        }
        let mut p = line;
        let negated = p.starts_with('!');
        if negated {
            p = &p[1..];
        }
        // Trailing spaces are insignificant unless escaped.
        let p = if p.ends_with("\\ ") {
            p
        } else {
            p.trim_end_matches(' ')
        };
        let (p, dir_only) = match p.strip_suffix('/') {
            Some(rest) => (rest, true),
            None => (p, false),
        };
        if p.is_empty() {
            return None;
        }
        Some(Pattern {
            domain: domain.to_vec(),
            segments: p.split('/').map(str::to_owned).collect(),
            negated,
            dir_only,
            anchored: p.contains('/'),
        })
    }

    /// `Some(true)` = exclude, `Some(false)` = re-include, `None` = no opinion.
    fn verdict(&self, path: &[&str], is_dir: bool) -> Option<bool> {
        if path.len() <= self.domain.len()
            || self.domain.iter().zip(path).any(|(d, p)| d.as_str() != *p)
        {
            return None;
        }
        let rest = &path[self.domain.len()..];
        let matched = if self.anchored {
            self.anchored_match(rest, is_dir)
        } else {
            self.name_match(rest, is_dir)
        };
        matched.then_some(!self.negated)
    }

    fn name_match(&self, path: &[&str], is_dir: bool) -> bool {
        let last = path.len() - 1;
        match path
            .iter()
            .position(|name| wildmatch(self.segments[0].as_bytes(), name.as_bytes()))
        {
            // A directory-only pattern whose first hit is the path's own (file) name fails.
            Some(i) => !(self.dir_only && !is_dir && i == last),
            None => false,
        }
    }

    fn anchored_match(&self, path: &[&str], is_dir: bool) -> bool {
        let mut rest = path;
        let mut matched = false;
        let mut any_depth = false;
        let n = self.segments.len();
        for (i, seg) in self.segments.iter().enumerate() {
            if seg.is_empty() {
                any_depth = false;
                continue;
            }
            if seg == "**" {
                if i == n - 1 {
                    break;
                }
                any_depth = true;
                continue;
            }
            // `foo**` and `**bar` are not supported by Flux's matcher: they never match.
            if seg.contains("**") || rest.is_empty() {
                return false;
            }
            if any_depth {
                any_depth = false;
                matched = false;
                while let Some((head, tail)) = rest.split_first() {
                    rest = tail;
                    if wildmatch(seg.as_bytes(), head.as_bytes()) {
                        matched = true;
                        break;
                    }
                }
            } else {
                if !wildmatch(seg.as_bytes(), rest[0].as_bytes()) {
                    return false;
                }
                matched = true;
                rest = &rest[1..];
            }
        }
        // Matching a prefix of the path means matching a parent directory: it applies to
        // everything below, for excludes and re-includes alike.
        matched && !(self.dir_only && !is_dir && rest.is_empty())
    }
}

/// Glob match of one path segment: `*`, `?`, `[...]` (with `!`/`^`, ranges, `[:class:]`), `\` escapes.
fn wildmatch(pattern: &[u8], text: &[u8]) -> bool {
    match pattern.first() {
        None => text.is_empty(),
        Some(b'*') => {
            let rest = &pattern[1..];
            (0..=text.len()).any(|skip| wildmatch(rest, &text[skip..]))
        }
        Some(b'?') => !text.is_empty() && wildmatch(&pattern[1..], &text[1..]),
        Some(b'\\') if pattern.len() > 1 => {
            text.first() == Some(&pattern[1]) && wildmatch(&pattern[2..], &text[1..])
        }
        Some(b'[') => match (
            text.first(),
            class_match(&pattern[1..], text.first().copied()),
        ) {
            (Some(_), Some((true, consumed))) => wildmatch(&pattern[1 + consumed..], &text[1..]),
            _ => false,
        },
        Some(c) => text.first() == Some(c) && wildmatch(&pattern[1..], &text[1..]),
    }
}

/// Match `ch` against a bracket expression starting after `[`; returns (matched, bytes consumed
/// including the closing `]`), or `None` for a malformed expression.
fn class_match(p: &[u8], ch: Option<u8>) -> Option<(bool, usize)> {
    let ch = ch?;
    let mut i = 0;
    let negated = matches!(p.first(), Some(b'!') | Some(b'^'));
    if negated {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    while i < p.len() {
        let c = p[i];
        if c == b']' && !first {
            return Some((matched != negated, i + 1));
        }
        first = false;
        if c == b'[' && p.get(i + 1) == Some(&b':') {
            let end = p[i + 2..].windows(2).position(|w| w == b":]")?;
            let name = &p[i + 2..i + 2 + end];
            matched |= posix_class(name, ch)?;
            i += 2 + end + 2;
            continue;
        }
        let (lo, next) = if c == b'\\' {
            (*p.get(i + 1)?, i + 2)
        } else {
            (c, i + 1)
        };
        if p.get(next) == Some(&b'-') && p.get(next + 1).is_some_and(|&b| b != b']') {
            let (hi, after) = if p[next + 1] == b'\\' {
                (*p.get(next + 2)?, next + 3)
            } else {
                (p[next + 1], next + 2)
            };
            matched |= lo <= ch && ch <= hi;
            i = after;
        } else {
            matched |= lo == ch;
            i = next;
        }
    }
    None
}

fn posix_class(name: &[u8], c: u8) -> Option<bool> {
    Some(match name {
        b"alnum" => c.is_ascii_alphanumeric(),
        b"alpha" => c.is_ascii_alphabetic(),
        b"blank" => c == b' ' || c == b'\t',
        b"cntrl" => c.is_ascii_control(),
        b"digit" => c.is_ascii_digit(),
        b"graph" => c.is_ascii_graphic(),
        b"lower" => c.is_ascii_lowercase(),
        b"print" => c.is_ascii_graphic() || c == b' ',
        b"punct" => c.is_ascii_punctuation(),
        b"space" => c.is_ascii_whitespace() || c == 0x0b,
        b"upper" => c.is_ascii_uppercase(),
        b"xdigit" => c.is_ascii_hexdigit(),
        _ => return None,
    })
}

/// Parse gitignore text (a `.sourceignore` file or `spec.ignore`) scoped to `domain`.
pub fn parse_patterns(text: &str, domain: &[String]) -> Vec<Pattern> {
    text.lines()
        .filter_map(|l| Pattern::parse(l, domain))
        .collect()
}

/// The complete rule set for one source tree.
#[derive(Debug, Clone)]
pub struct IgnoreRules {
    patterns: Vec<Pattern>,
}

impl IgnoreRules {
    /// Build Flux's rules from the user's patterns (`.sourceignore` files, then `spec.ignore`).
    pub fn from_user_patterns(user: Vec<Pattern>) -> IgnoreRules {
        let mut patterns = parse_patterns(&EXCLUDE_VCS.join("\n"), &[]);
        if user.is_empty() {
            patterns.extend(parse_patterns(&EXCLUDE_DEFAULTS.join("\n"), &[]));
        }
        patterns.extend(user);
        IgnoreRules { patterns }
    }

    /// Exactly `user`'s patterns, without Flux's VCS and default excludes: how Flux
    /// matches a Bucket's object keys (its root `.sourceignore`, then `spec.ignore`).
    pub fn only(user: Vec<Pattern>) -> IgnoreRules {
        IgnoreRules { patterns: user }
    }

    /// Rules that exclude nothing (a tree that was filtered already).
    pub fn none() -> IgnoreRules {
        IgnoreRules::only(Vec::new())
    }

    /// Load `.sourceignore` files below `root` and append `spec_ignore`, as Flux does.
    /// Symlinked directories are not followed.
    pub fn load(root: &Path, spec_ignore: Option<&str>) -> std::io::Result<IgnoreRules> {
        let mut user = Vec::new();
        load_dir(root, &mut Vec::new(), &mut user)?;
        if let Some(text) = spec_ignore {
            user.extend(parse_patterns(text, &[]));
        }
        Ok(IgnoreRules::from_user_patterns(user))
    }

    /// Whether the slash-separated relative `path` is excluded from the artifact.
    pub fn is_excluded(&self, path: &str, is_dir: bool) -> bool {
        let parts: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        if parts.is_empty() {
            return false;
        }
        self.patterns
            .iter()
            .rev()
            .find_map(|p| p.verdict(&parts, is_dir))
            .unwrap_or(false)
    }
}

fn load_dir(dir: &Path, domain: &mut Vec<String>, out: &mut Vec<Pattern>) -> std::io::Result<()> {
    let file = dir.join(IGNORE_FILE);
    match std::fs::symlink_metadata(&file) {
        Ok(md) if md.is_file() => {
            out.extend(parse_patterns(&std::fs::read_to_string(&file)?, domain))
        }
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let mut subdirs = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() && entry.file_name() != ".git" {
            subdirs.push(entry.file_name());
        }
    }
    subdirs.sort();
    for name in subdirs {
        domain.push(name.to_string_lossy().into_owned());
        load_dir(&dir.join(&name), domain, out)?;
        domain.pop();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(user: &str) -> IgnoreRules {
        IgnoreRules::from_user_patterns(parse_patterns(user, &[]))
    }

    #[test]
    fn defaults_exclude_vcs_ci_and_binaries_but_keep_manifests() {
        let r = rules("");
        assert!(r.is_excluded(".git", true));
        assert!(r.is_excluded(".git/config", false));
        assert!(r.is_excluded(".github/workflows/ci.yaml", false));
        assert!(r.is_excluded("docs/logo.png", false));
        assert!(r.is_excluded("deep/dir/.sops.yaml", false));
        assert!(r.is_excluded("release.tar.gz", false));
        assert!(!r.is_excluded("deploy/app.yaml", false));
        assert!(!r.is_excluded("kustomization.yaml", false));
    }

    #[test]
    fn user_rules_replace_defaults_but_never_vcs() {
        let r = rules("*.txt\n");
        assert!(
            !r.is_excluded("logo.png", false),
            "user rules replace the default list"
        );
        assert!(r.is_excluded("notes.txt", false));
        assert!(
            r.is_excluded(".git/HEAD", false),
            "VCS exclusions always apply"
        );
    }

    #[test]
    fn exclude_all_then_reinclude_a_directory() {
        // The pattern Flux users write to publish only one directory.
        let r = rules("/*\n!/deploy\n");
        assert!(r.is_excluded("README.md", false));
        assert!(r.is_excluded("src", true));
        assert!(r.is_excluded("src/main.go", false));
        assert!(!r.is_excluded("deploy", true));
        assert!(!r.is_excluded("deploy/app.yaml", false));
    }

    #[test]
    fn directory_patterns_exclude_contents_and_reinclude_wins() {
        let r = rules("build/\n!build/keep.yaml\n");
        assert!(r.is_excluded("build", true));
        assert!(r.is_excluded("build/out.yaml", false));
        assert!(
            r.is_excluded("a/build/x", false),
            "unanchored names match at any depth"
        );
        assert!(!r.is_excluded("build/keep.yaml", false));
        let r = rules("build/\n!build/keep/\n");
        assert!(
            !r.is_excluded("build/keep/x.yaml", false),
            "re-includes apply below a directory, as in Flux"
        );
        let r = rules("build/\n");
        assert!(
            !r.is_excluded("build", false),
            "dir-only pattern does not match a file"
        );
    }

    #[test]
    fn anchored_and_double_star_patterns() {
        let r = rules("config/*.env\n**/secret.yaml\na/**/z\n");
        assert!(r.is_excluded("config/prod.env", false));
        assert!(
            !r.is_excluded("other/config/prod.env", false),
            "slash anchors to the domain"
        );
        assert!(r.is_excluded("secret.yaml", false));
        assert!(r.is_excluded("x/y/secret.yaml", false));
        assert!(r.is_excluded("a/z", false));
        assert!(r.is_excluded("a/b/c/z", false));
        assert!(!r.is_excluded("a/b/c/y", false));
    }

    #[test]
    fn glob_syntax() {
        assert!(wildmatch(b"*.y?ml", b"app.yaml"));
        assert!(wildmatch(b"[a-c]x", b"bx"));
        assert!(!wildmatch(b"[!a-c]x", b"bx"));
        assert!(wildmatch(b"[[:digit:]]*", b"9lives"));
        assert!(wildmatch(b"\\*", b"*"));
        assert!(!wildmatch(b"\\*", b"a"));
        assert!(!wildmatch(b"[abc", b"a"), "malformed class never matches");
    }

    #[test]
    fn nested_sourceignore_applies_to_its_subtree_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        std::fs::create_dir_all(root.join("apps/dev")).expect("mkdir");
        std::fs::write(root.join(".sourceignore"), "*.md\n").expect("write");
        std::fs::write(root.join("apps/.sourceignore"), "dev/\n!README.md\n").expect("write");
        let r = IgnoreRules::load(root, Some("extra.yaml\n")).expect("load");
        assert!(r.is_excluded("README.md", false));
        assert!(
            !r.is_excluded("apps/README.md", false),
            "nested file re-includes for its subtree"
        );
        assert!(r.is_excluded("apps/dev/x.yaml", false));
        assert!(
            !r.is_excluded("dev/x.yaml", false),
            "nested rules do not leak upwards"
        );
        assert!(r.is_excluded("extra.yaml", false));
        assert!(
            !r.is_excluded("logo.png", false),
            "defaults are replaced by user rules"
        );
    }
}
