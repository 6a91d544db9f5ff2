//! `cache du|prune|clear`, and what baker prints: quietly with --quiet, and without panicking when
//! stdout or stderr is closed.

use super::*;

#[test]
fn cache_du_shows_each_part_and_prune_bounds_it() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("downloads/sha256")).unwrap();
    std::fs::write(root.join("downloads/sha256/aa"), vec![1u8; 4096]).unwrap();
    std::fs::create_dir_all(root.join("packages/debian-12")).unwrap();
    std::fs::write(root.join("packages/debian-12/gcc.deb"), vec![1u8; 1024]).unwrap();
    baker()
        .args(["cache", "du", "--cache-dir"])
        .arg(root)
        .assert()
        .success()
        .stdout(predicate::str::is_match(r"downloads\s+4.0 KiB\s+1 entry").unwrap())
        .stdout(predicate::str::is_match(r"packages\s+1.0 KiB").unwrap())
        .stdout(predicate::str::is_match(r"total\s+5.0 KiB").unwrap());
    baker()
        .args(["cache", "prune", "--max-size", "2K", "--cache-dir"])
        .arg(root)
        .assert()
        .success()
        .stdout(predicate::str::contains("removed 1 entry"));
    assert!(
        root.join("packages/debian-12/gcc.deb").exists(),
        "what fits stays"
    );
    baker()
        .args(["cache", "clear", "--cache-dir"])
        .arg(root)
        .assert()
        .success();
    assert!(!root.join("packages/debian-12/gcc.deb").exists());
    baker()
        .args(["cache", "prune", "--max-size", "lots", "--cache-dir"])
        .arg(root)
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            "invalid value 'lots' for '--max-size <SIZE>': expected a number",
        ));
    // The same advice as `baker image --size`, from the same parser.
    baker()
        .args(["cache", "prune", "--max-size", "20GB", "--cache-dir"])
        .arg(root)
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            "invalid value '20GB' for '--max-size <SIZE>': GB is ambiguous",
        ))
        .stderr(predicate::str::contains("write 20G or 20GiB"));
    // A number without a unit is bytes: a cap that would empty the cache is refused, 0 is not.
    baker()
        .args(["cache", "prune", "--max-size", "20", "--cache-dir"])
        .arg(root)
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            "a cap of 20 bytes empties the cache: write 20G for 20 GiB",
        ));
}

/// Runs baker with stdout connected to a socket whose other end is already closed, so that every
/// write fails with a broken pipe, as in `baker plan | head -1` once `head` has exited.
fn run_with_closed_stdout(args: &[&str], cache: &std::path::Path) -> std::process::Output {
    let (reader, writer) = std::os::unix::net::UnixStream::pair().unwrap();
    drop(reader);
    std::process::Command::new(assert_cmd::cargo::cargo_bin("baker"))
        .env_remove("BAKER_RECIPES_DIR")
        .env_remove("BAKER_MIRRORS")
        .env_remove("BAKER_LOCK")
        .env_remove("SOURCE_DATE_EPOCH")
        .env("DOCKER_HOST", NO_ENGINE)
        .args(args)
        .arg("--cache-dir")
        .arg(cache)
        .stdout(std::os::fd::OwnedFd::from(writer))
        .output()
        .unwrap()
}

#[test]
fn a_closed_pipe_ends_the_output_quietly() {
    let cache = tempfile::tempdir().unwrap();
    for args in [
        &["plan", "--distro", "centos6"][..],
        &["plan", "--json", "--distro", "centos6"],
        &["recipes"],
        &["recipes", "--json"],
        &["cache", "du"],
        &["cache", "du", "--json"],
    ] {
        let out = run_with_closed_stdout(args, cache.path());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{args:?}: {:?} {stderr}", out.status);
        assert!(stderr.is_empty(), "{args:?}: {stderr}");
    }
}

#[test]
fn a_closed_stderr_does_not_turn_an_error_into_a_panic() {
    let (reader, writer) = std::os::unix::net::UnixStream::pair().unwrap();
    drop(reader);
    let status = std::process::Command::new(assert_cmd::cargo::cargo_bin("baker"))
        .args(["plan", "--distro", "centos7"])
        .stderr(std::os::fd::OwnedFd::from(writer))
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(1), "a panic exits with 101");
}

/// A cache holding one step entry, whose image `prune`/`clear` would remove from an engine.
fn cache_with_a_step(dir: &tempfile::TempDir) -> std::path::PathBuf {
    let root = dir.path().join("cache");
    std::fs::create_dir_all(root.join("steps")).unwrap();
    std::fs::write(root.join(format!("steps/{}.json", "ab".repeat(32))), "{}").unwrap();
    std::fs::write(root.join("cache-id"), "0123456789abcdef\n").unwrap();
    root
}

#[test]
fn quiet_prints_nothing_when_the_cache_is_pruned_or_cleared() {
    for command in [
        &["cache", "prune", "--max-size", "0"][..],
        &["cache", "clear"],
    ] {
        let dir = tempfile::tempdir().unwrap();
        let root = cache_with_a_step(&dir);
        baker()
            .args(command)
            .arg("--quiet")
            .arg("--cache-dir")
            .arg(&root)
            .assert()
            .success()
            .stdout("")
            .stderr("");
        assert!(
            !root
                .join("steps")
                .join(format!("{}.json", "ab".repeat(32)))
                .exists()
        );
    }
}

#[test]
fn without_quiet_pruning_says_what_it_removed_and_what_it_left() {
    let dir = tempfile::tempdir().unwrap();
    let root = cache_with_a_step(&dir);
    baker()
        .args(["cache", "du", "--cache-dir"])
        .arg(&root)
        .assert()
        .success()
        .stdout(contains_all(&[
            "in the engine: not measured (the engine could not be reached)",
            "docker images --filter label=baker.cache=",
        ]))
        .stderr(predicate::str::contains(
            "note: cannot reach a Docker engine",
        ));
    baker()
        .args(["cache", "prune", "--max-size", "0", "--cache-dir"])
        .arg(&root)
        .assert()
        .success()
        .stdout(predicate::str::contains("removed 1 entry"))
        .stderr(contains_all(&[
            "the size counts only the cache's directory",
            "what this cache keeps in the engine was left there",
        ]));
    // A clear says so too, though it names no step: it removes the cache's image layers as well.
    baker()
        .args(["cache", "clear", "--cache-dir"])
        .arg(&root)
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "what this cache keeps in the engine was left there",
        ));
}

#[test]
fn quiet_keeps_what_was_asked_for_and_says_nothing_else() {
    let cache = tempfile::tempdir().unwrap();
    baker()
        .args([
            "--quiet", "plan", "--recipe", "hello", "--distro", "debian12",
        ])
        .arg("--cache-dir")
        .arg(cache.path())
        .assert()
        .success()
        .stdout(predicate::str::contains("hello 2.10 for debian-12"))
        .stderr("");
    baker()
        .args(["recipes", "-q"])
        .assert()
        .success()
        .stdout(predicate::str::contains("hello"))
        .stderr("");
}

#[test]
fn quiet_drops_the_warnings_and_summaries_of_the_cluster_commands_and_keeps_their_lists() {
    // No engine answers (DOCKER_HOST names no socket): destroy warns it cannot look for containers.
    let states = tempfile::tempdir().unwrap();
    baker()
        .env("BAKER_STATE_DIR", states.path())
        .args(["destroy", "nope"])
        .assert()
        .success()
        .stdout(predicate::str::contains("no cluster nope is left"))
        .stderr(predicate::str::contains(
            "warning: not looking for containers of nope: cannot reach a Docker engine",
        ));
    baker()
        .env("BAKER_STATE_DIR", states.path())
        .args(["-q", "destroy", "nope"])
        .assert()
        .success()
        .stdout("")
        .stderr("");
    // The list is what `clusters` was asked for: -q keeps it, and drops the note under it.
    let states = super::launch_resume::cluster_of_two_standbys_on("docker");
    baker()
        .env("BAKER_STATE_DIR", states.path())
        .arg("clusters")
        .assert()
        .success()
        .stdout(predicate::str::contains("pg "))
        .stderr(predicate::str::contains(
            "phases as the launches recorded them",
        ));
    baker()
        .env("BAKER_STATE_DIR", states.path())
        .args(["clusters", "-q"])
        .assert()
        .success()
        .stdout(predicate::str::contains("pg "))
        .stderr("");
}
