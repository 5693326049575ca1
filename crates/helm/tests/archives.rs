//! Packaged charts: archives the Helm SDK packages load and render as the directory
//! does, and archives that reach outside the chart or unpack too large are refused
//! with Helm's messages.

use std::io::Write as _;
use std::path::Path;
use std::process::Command;

use ferroflux_gotemplate::Value;
use ferroflux_helm::chart::{load_archive, load_dir};
use ferroflux_helm::render::{render, RenderOptions};

mod common;

/// `helm package` through the SDK: the archive's path.
fn package(chart: &Path, into: &Path) -> std::path::PathBuf {
    let python = common::python();
    let out = Command::new(python)
        .arg("-c")
        .arg("import sys, helm_python; print(helm_python.package(sys.argv[1], destination=sys.argv[2]))")
        .arg(chart)
        .arg(into)
        .output()
        .expect("the Helm SDK in .venv (run ./scripts/test.sh)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().into()
}

#[test]
fn packaged_charts_render_as_their_directories() {
    let Some(corpus) = common::corpus() else {
        return;
    };
    for name in ["podinfo", "prometheus"] {
        let dir = corpus.join(name);
        assert!(
            dir.is_dir(),
            "the chart corpus is missing at {}",
            dir.display()
        );
        let tmp = tempfile::tempdir().expect("tempdir");
        let archive = package(&dir, tmp.path());
        let packaged =
            load_archive(&std::fs::read(&archive).expect("archive")).expect("the archive loads");
        let options = RenderOptions::default();
        let values = Value::map(Default::default());
        let from_archive = render(&packaged, &values, &options).expect("renders");
        let from_dir = render(&load_dir(&dir).expect("loads"), &values, &options).expect("renders");
        assert!(!from_archive.is_empty());
        assert_eq!(
            from_archive.keys().collect::<Vec<_>>(),
            from_dir.keys().collect::<Vec<_>>(),
            "{name}"
        );
        for (path, text) in &from_archive {
            // The same text, except where randAlphaNum writes (test pod names).
            let other = &from_dir[path];
            let same = text.len() == other.len()
                && text.chars().zip(other.chars()).all(|(a, b)| {
                    a == b || (a.is_ascii_alphanumeric() && b.is_ascii_alphanumeric())
                });
            assert!(same, "{path} differs between the archive and the directory");
        }
    }
}

/// A .tgz of (path, contents), the first component being the chart's directory.
fn archive(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::fast(),
    ));
    for (path, data) in entries {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        // Written raw, so that paths a well-behaved tool would refuse get in.
        let name = header.as_old_mut().name.as_mut();
        name[..path.len()].copy_from_slice(path.as_bytes());
        header.set_cksum();
        builder.append(&header, *data).expect("append");
    }
    builder.into_inner().expect("tar").finish().expect("gzip")
}

#[test]
fn archives_that_escape_or_explode_are_refused() {
    let chart = b"apiVersion: v2\nname: x\nversion: 1.0.0\n".as_slice();
    let escape = archive(&[("x/Chart.yaml", chart), ("x/../../etc/passwd", b"root")]);
    let error = load_archive(&escape).expect_err("escapes").to_string();
    assert!(
        error.contains("chart illegally references parent directory"),
        "{error}"
    );
    let big = vec![b'a'; 6 * 1024 * 1024];
    let too_big = archive(&[("x/Chart.yaml", chart), ("x/files/big.txt", &big)]);
    let error = load_archive(&too_big).expect_err("too big").to_string();
    assert!(
        error.contains("is larger than the maximum file size 5242880"),
        "{error}"
    );
    let no_chart = archive(&[("x/values.yaml", b"a: 1")]);
    let error = load_archive(&no_chart)
        .expect_err("no Chart.yaml")
        .to_string();
    assert!(error.contains("Chart.yaml file is missing"), "{error}");
    let mut garbage = Vec::new();
    garbage.write_all(b"not a gzip stream").expect("write");
    assert!(load_archive(&garbage).is_err());
}
