//! Fetch-and-package of a repository with 10,000 files by ferroflux, against
//! `git clone --depth 1` plus `tar czf` of the same tree, in the same run. Run with
//! `cargo bench --bench gitsource`.

#[path = "../src/source/testutil.rs"]
#[allow(dead_code)]
mod testutil;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ferroflux::source::artifact::ArtifactStore;
use ferroflux::source::git::{fetch, FetchOptions, GitRef};
use ferroflux::source::ignore::IgnoreRules;
use testutil::{git_cmd, run, GitDaemon, TestRepo};

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("gitsource benchmark: run with `cargo bench --bench gitsource`");
        return;
    }
    let repo = TestRepo::new("big");
    // fast-import writes the 10,000 files in one commit quickly.
    let mut script =
        String::from("commit refs/heads/main\ncommitter T <t@e> 0 +0000\ndata 4\nbig\n");
    for i in 0..10_000 {
        let body = format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{i}\ndata:\n  key: value-{i}\n"
        );
        script.push_str(&format!(
            "M 100644 inline dir{}/sub{}/file-{i}.yaml\ndata {}\n{body}\n",
            i % 50,
            i % 7,
            body.len()
        ));
    }
    let mut child = repo
        .git()
        .args(["fast-import", "--quiet"])
        .stdin(Stdio::piped())
        .spawn()
        .expect("fast-import");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(script.as_bytes())
        .expect("write");
    assert!(child.wait().expect("wait").success());
    let daemon = GitDaemon::start(repo.base.path());
    let url = daemon.url("big.git");
    let storage = tempfile::tempdir().expect("tempdir");
    let store = ArtifactStore::new(storage.path(), "http://localhost");
    let runs = 3;
    let (mut ours, mut theirs) = (Duration::ZERO, Duration::ZERO);
    for i in 0..runs {
        let checkout = tempfile::tempdir().expect("tempdir");
        let t = Instant::now();
        let fetched = fetch(
            &FetchOptions::new(url.clone(), GitRef::Branch("main".into())),
            &checkout.path().join("c"),
        )
        .expect("fetch");
        let rules = IgnoreRules::load(&fetched.dir, None).expect("rules");
        let (artifact, stats) = store
            .store_dir(
                "GitRepository",
                "bench",
                &format!("r{i}"),
                &fetched.revision,
                &fetched.dir,
                &rules,
            )
            .expect("store");
        ours += t.elapsed();
        assert_eq!(stats.files, 10_000);
        assert!(artifact.size > 0);

        let work = tempfile::tempdir().expect("tempdir");
        let t = Instant::now();
        run(git_cmd(work.path())
            .args(["clone", "-q", "--depth", "1", "--branch", "main", &url])
            .arg(work.path().join("c")));
        run(Command::new("tar")
            .arg("czf")
            .arg(work.path().join("a.tar.gz"))
            .args(["--exclude=.git", "-C"])
            .arg(work.path().join("c"))
            .arg("."));
        theirs += t.elapsed();
    }
    println!(
        "fetch_and_package_10k_files: ferroflux {:?}/run, git clone --depth 1 + tar czf {:?}/run, ratio {:.2} (ferroflux / git)",
        ours / runs,
        theirs / runs,
        ours.as_secs_f64() / theirs.as_secs_f64()
    );
}
