//! Fetch → checkout → pack against real Git servers on loopback.

use std::time::{Duration, Instant};

use super::artifact::ArtifactStore;
use super::git::{fetch, FetchOptions, FetchResult, GitAuth, GitError, GitRef, ProxySettings};
use super::ignore::IgnoreRules;
use super::testutil::*;

fn fetch_into(opts: &FetchOptions) -> (tempfile::TempDir, Result<FetchResult, GitError>) {
    let out = tempfile::tempdir().expect("tempdir");
    let res = fetch(opts, &out.path().join("checkout"));
    (out, res)
}

fn ok(opts: &FetchOptions) -> (tempfile::TempDir, FetchResult) {
    let (dir, res) = fetch_into(opts);
    match res {
        Ok(r) => (dir, r),
        Err(e) => panic!(
            "fetch of {:?} from {} failed: {e}",
            opts.reference, opts.url
        ),
    }
}

fn read(r: &FetchResult, path: &str) -> String {
    std::fs::read_to_string(r.dir.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn sample_repo() -> TestRepo {
    let repo = TestRepo::new("app");
    repo.write("deploy/app.yaml", "kind: Deployment\n");
    repo.write("README.md", "hello\n");
    repo.commit("first");
    repo
}

#[test]
fn git_daemon_branch_fetch_and_new_commit_gives_new_revision() {
    let repo = sample_repo();
    let daemon = GitDaemon::start(repo.base.path());
    let opts = FetchOptions::new(daemon.url("app.git"), GitRef::Branch("main".into()));
    let (_d, first) = ok(&opts);
    assert_eq!(first.revision, format!("main@sha1:{}", repo.head()));
    assert_eq!(first.reference.as_deref(), Some("refs/heads/main"));
    assert_eq!(read(&first, "deploy/app.yaml"), "kind: Deployment\n");
    assert!(!first.dir.join(".git").exists());
    assert!(first.shallow, "git daemon supports depth 1");

    repo.write("deploy/app.yaml", "kind: StatefulSet\n");
    let second_sha = repo.commit("second");
    let (_d2, second) = ok(&opts);
    assert_eq!(second.revision, format!("main@sha1:{second_sha}"));
    assert_ne!(first.revision, second.revision);
    assert_eq!(read(&second, "deploy/app.yaml"), "kind: StatefulSet\n");
}

#[test]
fn missing_branch_and_missing_repo_are_not_found() {
    let repo = sample_repo();
    let daemon = GitDaemon::start(repo.base.path());
    let (_d, res) = fetch_into(&FetchOptions::new(
        daemon.url("app.git"),
        GitRef::Branch("nope".into()),
    ));
    assert!(matches!(res, Err(GitError::NotFound { .. })), "{res:?}");
    let (_d, res) = fetch_into(&FetchOptions::new(
        daemon.url("missing.git"),
        GitRef::Branch("main".into()),
    ));
    assert!(matches!(res, Err(GitError::NotFound { .. })), "{res:?}");
    let http = GitHttpServer::start(repo.base.path(), HttpAuth::None);
    let (_d, res) = fetch_into(&FetchOptions::new(
        http.url("missing.git"),
        GitRef::Branch("main".into()),
    ));
    assert!(matches!(res, Err(GitError::NotFound { .. })), "{res:?}");
}

#[test]
fn tags_lightweight_and_annotated_resolve_to_the_commit() {
    let repo = sample_repo();
    let c1 = repo.head();
    repo.tag("v1.0.0", false);
    repo.write("x.yaml", "x: 1\n");
    let c2 = repo.commit("second");
    repo.tag("v1.1.0", true);
    let http = GitHttpServer::start(repo.base.path(), HttpAuth::None);
    let (_d, r) = ok(&FetchOptions::new(
        http.url("app.git"),
        GitRef::Tag("v1.0.0".into()),
    ));
    assert_eq!(r.revision, format!("v1.0.0@sha1:{c1}"));
    assert!(r.shallow, "smart HTTP supports depth 1");
    assert!(!r.dir.join("x.yaml").exists());
    let (_d, r) = ok(&FetchOptions::new(
        http.url("app.git"),
        GitRef::Tag("v1.1.0".into()),
    ));
    assert_eq!(
        r.revision,
        format!("v1.1.0@sha1:{c2}"),
        "annotated tags peel to their commit"
    );
    let (_d, res) = fetch_into(&FetchOptions::new(
        http.url("app.git"),
        GitRef::Tag("v9".into()),
    ));
    assert!(matches!(res, Err(GitError::NotFound { .. })), "{res:?}");
}

#[test]
fn semver_range_picks_highest_matching_tag() {
    let repo = sample_repo();
    let mut shas = Vec::new();
    for (i, tag) in [
        "v0.9.0",
        "v1.0.0",
        "1.2.0",
        "v1.3.0-rc.1",
        "v2.0.0",
        "not-a-version",
    ]
    .iter()
    .enumerate()
    {
        repo.write("version.txt", &format!("{i}\n"));
        shas.push(repo.commit(tag));
        repo.tag(tag, i % 2 == 0);
    }
    let daemon = GitDaemon::start(repo.base.path());
    let (_d, r) = ok(&FetchOptions::new(
        daemon.url("app.git"),
        GitRef::SemVer(">=1.0.0 <2.0.0".into()),
    ));
    assert_eq!(r.revision, format!("1.2.0@sha1:{}", shas[2]));
    assert_eq!(read(&r, "version.txt"), "2\n");
    let (_d, r) = ok(&FetchOptions::new(
        daemon.url("app.git"),
        GitRef::SemVer("*".into()),
    ));
    assert_eq!(r.revision, format!("v2.0.0@sha1:{}", shas[4]));
    let (_d, res) = fetch_into(&FetchOptions::new(
        daemon.url("app.git"),
        GitRef::SemVer(">=5".into()),
    ));
    assert!(matches!(res, Err(GitError::InvalidRef(_))), "{res:?}");
    let (_d, res) = fetch_into(&FetchOptions::new(
        daemon.url("app.git"),
        GitRef::SemVer("not a range".into()),
    ));
    assert!(matches!(res, Err(GitError::InvalidRef(_))), "{res:?}");
}

#[test]
fn commit_pin_with_and_without_branch() {
    let repo = sample_repo();
    let old = repo.head();
    repo.write("new.yaml", "n: 1\n");
    repo.commit("newer");
    let daemon = GitDaemon::start(repo.base.path());
    let pin = |branch: Option<&str>| GitRef::Commit {
        sha: old.clone(),
        branch: branch.map(str::to_owned),
    };
    let (_d, r) = ok(&FetchOptions::new(daemon.url("app.git"), pin(Some("main"))));
    assert_eq!(r.revision, format!("main@sha1:{old}"));
    assert!(
        !r.dir.join("new.yaml").exists(),
        "the pinned commit, not the branch tip"
    );
    for url in [daemon.url("app.git"), repo.file_url()] {
        let (_d, r) = ok(&FetchOptions::new(url, pin(None)));
        assert_eq!(r.revision, format!("sha1:{old}"));
        assert!(
            r.shallow,
            "protocol v2 serves a want by commit id, so no full clone is needed"
        );
        assert!(!r.dir.join("new.yaml").exists());
    }
    let (_d, res) = fetch_into(&FetchOptions::new(
        daemon.url("app.git"),
        GitRef::Commit {
            sha: "0".repeat(40),
            branch: Some("main".into()),
        },
    ));
    assert!(matches!(res, Err(GitError::InvalidRef(_))), "{res:?}");
    let (_d, res) = fetch_into(&FetchOptions::new(
        daemon.url("app.git"),
        GitRef::Commit {
            sha: "abc".into(),
            branch: None,
        },
    ));
    assert!(matches!(res, Err(GitError::InvalidRef(_))), "{res:?}");
}

#[test]
fn name_reference_and_file_url() {
    let repo = sample_repo();
    run(repo.git().args(["update-ref", "refs/pull/7/head", "HEAD"]));
    let head = repo.head();
    let (_d, r) = ok(&FetchOptions::new(
        repo.file_url(),
        GitRef::Name("refs/heads/main".into()),
    ));
    assert_eq!(r.revision, format!("refs/heads/main@sha1:{head}"));
    let (_d, r) = ok(&FetchOptions::new(
        repo.file_url(),
        GitRef::Name("refs/pull/7/head".into()),
    ));
    assert_eq!(r.revision, format!("refs/pull/7/head@sha1:{head}"));
    let (_d, res) = fetch_into(&FetchOptions::new(
        repo.file_url(),
        GitRef::Name("main".into()),
    ));
    assert!(matches!(res, Err(GitError::InvalidRef(_))), "{res:?}");
}

#[test]
fn http_basic_auth_right_wrong_and_missing_credentials() {
    let repo = sample_repo();
    let http = GitHttpServer::start(
        repo.base.path(),
        HttpAuth::Basic {
            user: "flux".into(),
            password: "c0rrect-horse".into(),
        },
    );
    let mut opts = FetchOptions::new(http.url("app.git"), GitRef::Branch("main".into()));
    opts.auth = GitAuth::Basic {
        username: "flux".into(),
        password: "c0rrect-horse".into(),
    };
    let (_d, r) = ok(&opts);
    assert_eq!(r.revision, format!("main@sha1:{}", repo.head()));

    opts.auth = GitAuth::Basic {
        username: "flux".into(),
        password: "wr0ng-battery".into(),
    };
    let (_d, res) = fetch_into(&opts);
    let err = res.expect_err("wrong password must fail");
    assert!(matches!(err, GitError::Auth { .. }), "{err:?}");
    assert!(
        !err.to_string().contains("wr0ng-battery"),
        "no secret in: {err}"
    );
    assert!(!format!("{err:?}").contains("wr0ng-battery"));

    opts.auth = GitAuth::None;
    let (_d, res) = fetch_into(&opts);
    assert!(matches!(res, Err(GitError::Auth { .. })), "{res:?}");
}

#[test]
fn http_bearer_token() {
    let repo = sample_repo();
    let http = GitHttpServer::start(repo.base.path(), HttpAuth::Bearer("t0ken".into()));
    let mut opts = FetchOptions::new(http.url("app.git"), GitRef::Branch("main".into()));
    opts.auth = GitAuth::Bearer {
        token: "t0ken".into(),
    };
    let (_d, r) = ok(&opts);
    assert_eq!(r.revision, format!("main@sha1:{}", repo.head()));
    opts.auth = GitAuth::Bearer {
        token: "bad-t0ken".into(),
    };
    let (_d, res) = fetch_into(&opts);
    let err = res.expect_err("wrong token must fail");
    assert!(matches!(err, GitError::Auth { .. }), "{err:?}");
    assert!(!err.to_string().contains("bad-t0ken"));
}

#[test]
fn unreachable_and_hanging_servers() {
    let closed = free_port();
    for url in [
        format!("git://127.0.0.1:{closed}/app.git"),
        format!("http://127.0.0.1:{closed}/app.git"),
    ] {
        let (_d, res) = fetch_into(&FetchOptions::new(
            url.clone(),
            GitRef::Branch("main".into()),
        ));
        let err = res.expect_err("nothing listens there");
        assert!(
            matches!(err, GitError::Unreachable { .. }),
            "{url}: {err:?}"
        );
        assert!(
            err.to_string().contains("127.0.0.1"),
            "message names the host: {err}"
        );
    }
    let hole = BlackHole::start();
    let mut opts = FetchOptions::new(
        format!("http://127.0.0.1:{}/app.git", hole.port),
        GitRef::Branch("main".into()),
    );
    opts.timeout = Duration::from_secs(2);
    let started = Instant::now();
    let (_d, res) = fetch_into(&opts);
    assert!(matches!(res, Err(GitError::Timeout { .. })), "{res:?}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the timeout holds: {:?}",
        started.elapsed()
    );
}

#[test]
fn malicious_symlinks_never_leave_the_checkout() {
    let repo = TestRepo::new("evil");
    repo.write("ok.yaml", "a: 1\n");
    repo.write("dir/inner.yaml", "b: 2\n");
    let w = &repo.work;
    std::os::unix::fs::symlink("/etc/passwd", w.join("passwd")).expect("symlink");
    std::os::unix::fs::symlink("../../../../../../etc/shadow", w.join("dir/up")).expect("symlink");
    std::os::unix::fs::symlink("ok.yaml", w.join("good")).expect("symlink");
    std::os::unix::fs::symlink("../ok.yaml", w.join("dir/good")).expect("symlink");
    std::os::unix::fs::symlink(".", w.join("self")).expect("symlink");
    std::os::unix::fs::symlink("self/../outside", w.join("chained")).expect("symlink");
    std::os::unix::fs::symlink("/tmp", w.join("tmpdir")).expect("symlink");
    repo.commit("evil links");
    // A tree entry named `..` and one named `.git`, which `git add` would never produce.
    let blob = run(repo
        .git()
        .args(["hash-object", "-w", "--stdin"])
        .stdin(std::process::Stdio::null()));
    let base_tree = run(repo.git().args(["rev-parse", "HEAD^{tree}"]));
    let listing = run(repo.git().args(["ls-tree", &base_tree]));
    let crafted = format!("{listing}\n100644 blob {blob}\t..\n040000 tree {base_tree}\t.git\n");
    let tree = {
        use std::io::Write;
        let mut child = repo
            .git()
            .args(["mktree", "--missing"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("mktree");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(crafted.as_bytes())
            .expect("write");
        let out = child.wait_with_output().expect("mktree");
        assert!(out.status.success(), "git mktree accepts crafted names");
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    let commit = run(repo
        .git()
        .args(["commit-tree", &tree, "-p", "HEAD", "-m", "crafted"]));
    run(repo.git().args(["update-ref", "refs/heads/main", &commit]));

    let daemon = GitDaemon::start(repo.base.path());
    let (holder, r) = ok(&FetchOptions::new(
        daemon.url("evil.git"),
        GitRef::Branch("main".into()),
    ));
    let root = r.dir.clone();
    for dropped in ["passwd", "dir/up", "chained", "tmpdir"] {
        assert!(
            std::fs::symlink_metadata(root.join(dropped)).is_err(),
            "{dropped} must be dropped"
        );
        assert!(
            r.skipped.iter().any(|s| s.starts_with(dropped)),
            "{dropped} reported: {:?}",
            r.skipped
        );
    }
    assert!(
        !root.join(".git").exists(),
        "a crafted .git entry is never written"
    );
    assert!(
        r.skipped.iter().any(|s| s.starts_with("..")),
        "{:?}",
        r.skipped
    );
    assert!(!holder.path().join("..").join("evil-parent").exists());
    assert_eq!(
        std::fs::read_to_string(root.join("good")).expect("good link"),
        "a: 1\n"
    );
    assert_eq!(
        std::fs::read_to_string(root.join("dir/good")).expect("good link"),
        "a: 1\n"
    );
    // Nothing was written next to the checkout.
    let siblings: Vec<_> = std::fs::read_dir(holder.path())
        .expect("ls")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(siblings, vec![std::ffi::OsString::from("checkout")]);

    // And the artifact never contains an escaping link.
    let (bytes, stats) = super::artifact::pack_dir(
        &root,
        &IgnoreRules::from_user_patterns(Vec::new()),
        Vec::new(),
    )
    .expect("pack");
    assert_eq!(stats.symlinks, 3, "good, dir/good, self");
    let out = tempfile::tempdir().expect("tempdir");
    let skipped = super::artifact::extract_tar_gz(&bytes[..], out.path()).expect("extract");
    assert!(skipped.is_empty(), "{skipped:?}");
}

fn pack_digest(
    store: &ArtifactStore,
    name: &str,
    r: &FetchResult,
    spec_ignore: Option<&str>,
) -> (String, std::path::PathBuf) {
    let rules = IgnoreRules::load(&r.dir, spec_ignore).expect("rules");
    let (artifact, _) = store
        .store_dir(
            "GitRepository",
            "default",
            name,
            &r.revision,
            &r.dir,
            &rules,
        )
        .expect("store");
    (artifact.digest.clone(), store.local_path(&artifact))
}

#[test]
fn ignore_rules_and_deterministic_digest_end_to_end() {
    let repo = TestRepo::new("site");
    repo.write("deploy/app.yaml", "kind: Deployment\n");
    repo.write("deploy/secret.env", "TOKEN=x\n");
    repo.write("docs/logo.png", "png");
    repo.write(".github/workflows/ci.yaml", "on: push\n");
    repo.write("apps/.sourceignore", "*.env\n");
    repo.write("apps/prod.env", "P=1\n");
    repo.write("apps/prod.yaml", "p: 1\n");
    repo.commit("tree");
    let daemon = GitDaemon::start(repo.base.path());
    let opts = FetchOptions::new(daemon.url("site.git"), GitRef::Branch("main".into()));
    let storage = tempfile::tempdir().expect("tempdir");
    let store = ArtifactStore::new(storage.path(), "http://localhost:9090");

    let (_a, r1) = ok(&opts);
    let (_b, r2) = ok(&opts);
    let (d1, p1) = pack_digest(&store, "one", &r1, None);
    let (d2, p2) = pack_digest(&store, "two", &r2, None);
    assert_eq!(
        d1, d2,
        "two fetches of the same commit pack to the same digest"
    );
    assert_eq!(
        std::fs::read(&p1).expect("read"),
        std::fs::read(&p2).expect("read")
    );

    let out = tempfile::tempdir().expect("tempdir");
    super::artifact::extract_tar_gz(std::fs::File::open(&p1).expect("open"), out.path())
        .expect("extract");
    let has = |p: &str| out.path().join(p).exists();
    assert!(has("deploy/app.yaml"));
    assert!(
        !has("apps/prod.env"),
        ".sourceignore in a subdirectory applies there"
    );
    assert!(has("apps/prod.yaml"));
    assert!(
        has("deploy/secret.env"),
        ".sourceignore does not apply above its directory"
    );
    // With a .sourceignore present, Flux drops its default list except VCS files.
    assert!(has("docs/logo.png"));
    assert!(has(".github/workflows/ci.yaml"));

    let (d3, p3) = pack_digest(&store, "three", &r1, Some("docs/\n/deploy/*.env\n"));
    assert_ne!(d3, d1);
    let out = tempfile::tempdir().expect("tempdir");
    super::artifact::extract_tar_gz(std::fs::File::open(&p3).expect("open"), out.path())
        .expect("extract");
    assert!(!out.path().join("docs").exists());
    assert!(!out.path().join("deploy/secret.env").exists());
    assert!(out.path().join("deploy/app.yaml").exists());
}

#[test]
fn ssh_transport_uses_the_secret_identity_and_known_hosts() {
    // No sshd here: a stand-in `ssh` program checks what it is given (key file contents and
    // modes, strict host checking) and then runs the git command locally, like sshd would.
    let repo = sample_repo();
    let tools = tempfile::tempdir().expect("tempdir");
    let fake = tools.path().join("fake-ssh");
    let log = tools.path().join("log");
    std::fs::write(
        &fake,
        format!(
            "#!/bin/sh\nlog={log}\necho \"$@\" > $log\nid=''\nkh=''\nwhile [ $# -gt 0 ]; do\n  case \"$1\" in\n    -i) id=\"$2\"; shift;;\n    -o) case \"$2\" in UserKnownHostsFile=*) kh=\"${{2#UserKnownHostsFile=}}\";; esac; shift;;\n    -F|-p) shift;;\n    -*) ;;\n    *) break;;\n  esac\n  shift\ndone\nshift\nstat -c %a \"$id\" >> $log\ncat \"$id\" >> $log\ncat \"$kh\" >> $log\nexec sh -c \"$*\" 2>>$log\n",
            log = log.display()
        ),
    )
    .expect("write");
    super::artifact::set_mode(&fake, 0o755).expect("chmod");
    let mut opts = FetchOptions::new(
        format!("ssh://git@example.invalid{}", repo.git_dir().display()),
        GitRef::Branch("main".into()),
    );
    opts.auth = GitAuth::Ssh {
        identity: b"FAKE-PRIVATE-KEY".to_vec(),
        known_hosts: b"example.invalid ssh-ed25519 AAAA".to_vec(),
    };
    opts.ssh_program = Some(fake);
    let (_d, res) = fetch_into(&opts);
    let logged = std::fs::read_to_string(&log).unwrap_or_default();
    let r = res.unwrap_or_else(|e| panic!("{e}; ssh log: {logged}"));
    assert_eq!(r.revision, format!("main@sha1:{}", repo.head()));
    let logged = std::fs::read_to_string(&log).expect("log");
    assert!(logged.contains("StrictHostKeyChecking=yes"), "{logged}");
    assert!(logged.contains("BatchMode=yes"), "{logged}");
    assert!(
        logged.contains("\n600\nFAKE-PRIVATE-KEY\n"),
        "identity written 0600: {logged}"
    );
    assert!(
        logged.contains("example.invalid ssh-ed25519 AAAA"),
        "{logged}"
    );
}

/// `app` records `lib` (relative URL) at libs/lib; `lib` records `deep` (absolute git://
/// URL) at vendor/deep. `lib` has moved on since `app` recorded it.
struct SubmoduleFixture {
    app: TestRepo,
    _lib: TestRepo,
    _deep: TestRepo,
    daemon: GitDaemon,
}

fn submodule_fixture() -> SubmoduleFixture {
    let app = sample_repo();
    let daemon = GitDaemon::start(app.base.path());
    let deep = app.sibling("deep");
    deep.write("deep.txt", "deep v1\n");
    let deep_commit = deep.commit("deep");
    let lib = app.sibling("lib");
    lib.write("lib.txt", "lib v1\n");
    lib.commit("lib");
    let lib_commit = lib.commit_submodule("vendor/deep", &daemon.url("deep.git"), &deep_commit);
    lib.write("lib.txt", "lib v2\n");
    lib.commit("lib moves on");
    app.commit_submodule("libs/lib", "../lib.git", &lib_commit);
    SubmoduleFixture {
        app,
        _lib: lib,
        _deep: deep,
        daemon,
    }
}

#[test]
fn submodules_are_checked_out_at_the_recorded_commit_only_when_asked() {
    let fx = submodule_fixture();
    let mut opts = FetchOptions::new(fx.daemon.url("app.git"), GitRef::Branch("main".into()));

    let (_d, plain) = ok(&opts);
    assert!(!plain.dir.join("libs/lib").exists());
    assert!(
        plain.skipped.iter().any(|s| s == "libs/lib: submodule"),
        "{:?}",
        plain.skipped
    );

    opts.recurse_submodules = true;
    let (_d, deep) = ok(&opts);
    assert_eq!(deep.revision, format!("main@sha1:{}", fx.app.head()));
    assert_eq!(read(&deep, "README.md"), "hello\n");
    assert_eq!(
        read(&deep, "libs/lib/lib.txt"),
        "lib v1\n",
        "the recorded commit"
    );
    assert_eq!(read(&deep, "libs/lib/vendor/deep/deep.txt"), "deep v1\n");
    assert!(!deep.dir.join("libs/lib/.git").exists());
    assert!(deep.skipped.is_empty(), "{:?}", deep.skipped);
}

#[test]
fn submodules_use_the_parent_credentials_over_http() {
    let fx = submodule_fixture();
    let http = GitHttpServer::start(
        fx.app.base.path(),
        HttpAuth::Basic {
            user: "flux".into(),
            password: "sub-secret".into(),
        },
    );
    let mut opts = FetchOptions::new(http.url("app.git"), GitRef::Branch("main".into()));
    opts.recurse_submodules = true;
    opts.auth = GitAuth::Basic {
        username: "flux".into(),
        password: "sub-secret".into(),
    };
    let (_d, r) = ok(&opts);
    assert_eq!(read(&r, "libs/lib/lib.txt"), "lib v1\n");
    assert_eq!(read(&r, "libs/lib/vendor/deep/deep.txt"), "deep v1\n");
}

#[test]
fn submodules_escaping_the_checkout_or_pointing_at_local_disk_are_refused() {
    let app = sample_repo();
    let daemon = GitDaemon::start(app.base.path());
    let lib = app.sibling("lib");
    lib.write("lib.txt", "lib\n");
    let lib_commit = lib.commit("lib");

    // A gitlink at `evil` whose .gitmodules path climbs out of the checkout.
    app.commit_submodule("evil", "../lib.git", &lib_commit);
    run(app.git().args([
        "config",
        "-f",
        ".gitmodules",
        "submodule.evil.path",
        "../evil",
    ]));
    // Not `commit -a`: that would drop the gitlink, which has no directory in the work tree.
    run(app.git().args(["add", ".gitmodules"]));
    run(app.git().args(["commit", "-q", "-m", "escape"]));
    let mut opts = FetchOptions::new(daemon.url("app.git"), GitRef::Branch("main".into()));
    opts.recurse_submodules = true;
    let (out, res) = fetch_into(&opts);
    let err = res.expect_err("the path climbs out");
    assert!(
        matches!(&err, GitError::Checkout(m) if m.contains("not inside the checkout")),
        "{err:?}"
    );
    assert!(!out.path().join("evil").exists());
    assert!(!out.path().join("checkout").exists());

    // A remote repository may not make the controller read a repository from its own disk.
    let local = TestRepo::new("local");
    local.write("x", "x\n");
    let local_commit = local.commit("x");
    run(app.git().args(["rm", "-q", "--cached", "evil"]));
    run(app.git().args(["rm", "-q", ".gitmodules"]));
    app.commit_submodule("vendor/local", &local.file_url(), &local_commit);
    let (_d, res) = fetch_into(&opts);
    let err = res.expect_err("a local submodule URL");
    assert!(
        matches!(&err, GitError::InvalidUrl { detail, .. } if detail.contains("local URL")),
        "{err:?}"
    );
}

#[test]
fn http_fetch_goes_through_the_proxy_with_its_credentials() {
    let repo = sample_repo();
    let http = GitHttpServer::start(repo.base.path(), HttpAuth::None);
    let proxy = TestProxy::start();
    let mut opts = FetchOptions::new(http.url("app.git"), GitRef::Branch("main".into()));
    opts.proxy = Some(ProxySettings {
        address: proxy.address(),
        username: Some("proxy-user".into()),
        password: Some("pr0xy-pass".into()),
    });
    let (_d, r) = ok(&opts);
    assert_eq!(r.revision, format!("main@sha1:{}", repo.head()));
    let seen = proxy.seen();
    assert!(!seen.is_empty(), "the fetch bypassed the proxy");
    let expected_auth = format!("Basic {}", base64(b"proxy-user:pr0xy-pass"));
    for request in &seen {
        assert!(
            request
                .line
                .contains(&format!("http://127.0.0.1:{}/app.git", http.port)),
            "{request:?}"
        );
        assert_eq!(
            request.proxy_authorization.as_deref(),
            Some(expected_auth.as_str()),
            "{request:?}"
        );
    }
    assert!(!format!("{opts:?}").contains("pr0xy-pass"));

    // A dead proxy fails the fetch rather than going direct, and keeps the password secret.
    opts.proxy = Some(ProxySettings {
        address: format!("http://127.0.0.1:{}", free_port()),
        username: Some("proxy-user".into()),
        password: Some("pr0xy-pass".into()),
    });
    let (_d, res) = fetch_into(&opts);
    let err = res.expect_err("the proxy is down");
    assert!(!format!("{err} {err:?}").contains("pr0xy-pass"), "{err}");
}
