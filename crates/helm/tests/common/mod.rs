//! What the oracle tests share: the Helm SDK's python, the chart corpus, and the
//! comparison of rendered text that tolerates what random functions write.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use ferroflux_gotemplate::Value;

/// The real public charts of ../shared/corpus. A clone outside this workplace has
/// none: the corpus cases then say so and are not run, unless
/// FERROFLUX_REQUIRE_CORPUS is set (the test command sets it), where that fails.
pub fn corpus() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus/charts");
    if dir.is_dir() {
        return Some(dir);
    }
    assert!(
        std::env::var_os("FERROFLUX_REQUIRE_CORPUS").is_none(),
        "the chart corpus is missing at {}",
        dir.display()
    );
    println!(
        "no chart corpus at {}: its cases are not run",
        dir.display()
    );
    None
}

/// The virtualenv's python, which has the Helm SDK.
pub fn python() -> PathBuf {
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python");
    assert!(
        python.is_file(),
        "the Helm SDK oracle is missing: run ./scripts/test.sh, which creates .venv"
    );
    python
}

/// Runs one of the tests' SDK scripts with `request` as JSON on stdin; its JSON
/// answer.
pub fn sdk(script: &str, request: &serde_json::Value) -> serde_json::Value {
    use std::io::Write as _;
    use std::process::{Command, Stdio};
    let mut child = Command::new(python())
        .arg(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests")
                .join(script),
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("starting the Helm SDK");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(request.to_string().as_bytes())
        .expect("request");
    let output = child.wait_with_output().expect("the Helm SDK ran");
    assert!(
        output.status.success(),
        "the Helm SDK script {script} failed"
    );
    serde_json::from_slice(&output.stdout).expect("JSON from the Helm SDK")
}

/// JSON as Helm's values are made of it (numbers float64): the crate's own reader.
pub fn to_value(v: &serde_json::Value) -> Value {
    ferroflux_helm::yaml::from_json(&v.to_string()).expect("test values are JSON")
}

/// Equal, or different only where random functions write: letters and digits of the
/// same length (`randAlphaNum`), or base64 of generated certificates and keys, where
/// the PEM block kinds must agree (`genCA`, `genSignedCert`: serials and signatures are
/// random, so even the length may differ by a byte).
pub fn same_shape(theirs: &str, ours: &str) -> bool {
    if theirs == ours {
        return true;
    }
    let (a, b): (Vec<&str>, Vec<&str>) = (theirs.lines().collect(), ours.lines().collect());
    a.len() == b.len() && a.iter().zip(&b).all(|(x, y)| line_shape(x, y))
}

pub fn line_shape(theirs: &str, ours: &str) -> bool {
    if theirs.len() == ours.len()
        && theirs
            .chars()
            .zip(ours.chars())
            .all(|(a, b)| a == b || (a.is_ascii_alphanumeric() && b.is_ascii_alphanumeric()))
    {
        return true;
    }
    // `key: <base64 of PEM>` on both sides, with the same kinds of PEM blocks.
    let split = |line: &str| {
        line.rsplit_once(' ')
            .map(|(k, v)| (k.to_owned(), v.trim_matches('"').to_owned()))
    };
    match (split(theirs), split(ours)) {
        (Some((k1, v1)), Some((k2, v2))) if k1 == k2 => match (pem_kinds(&v1), pem_kinds(&v2)) {
            (Some(x), Some(y)) => x == y,
            _ => false,
        },
        _ => false,
    }
}

/// The `-----BEGIN X-----` labels of base64-encoded PEM text.
pub fn pem_kinds(encoded: &str) -> Option<Vec<String>> {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let kinds: Vec<String> = text
        .lines()
        .filter_map(|l| {
            l.strip_prefix("-----BEGIN ")
                .map(|k| k.trim_end_matches('-').to_owned())
        })
        .collect();
    (!kinds.is_empty()).then_some(kinds)
}

pub fn first_difference(a: &str, b: &str) -> (usize, String, String) {
    let (la, lb): (Vec<&str>, Vec<&str>) = (a.lines().collect(), b.lines().collect());
    for i in 0..la.len().max(lb.len()) {
        if la.get(i) != lb.get(i) {
            return (
                i,
                la.get(i).unwrap_or(&"<end>").to_string(),
                lb.get(i).unwrap_or(&"<end>").to_string(),
            );
        }
    }
    (0, String::new(), String::new())
}
