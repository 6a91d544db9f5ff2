//! The flags and settings every command reads, refused at the flag with what is wrong: no engine,
//! an unknown optional step, the lock file, SOURCE_DATE_EPOCH, --jobs, step timeouts, --out.

use super::*;

#[test]
fn build_without_an_engine_says_how_to_start_one() {
    let dir = tempfile::tempdir().unwrap();
    baker()
        .env(
            "DOCKER_HOST",
            format!("unix://{}/no-such.sock", dir.path().display()),
        )
        .args([
            "build",
            "--recipe",
            "hello",
            "--distro",
            "debian12",
            "--no-upstream",
            "--out",
        ])
        .arg(dir.path().join("out"))
        .arg("--cache-dir")
        .arg(dir.path().join("cache"))
        .assert()
        .failure()
        .stderr(contains_all(&[
            "cannot reach a Docker engine",
            "dockerd",
            "DOCKER_HOST",
        ]));
}

#[test]
fn an_unknown_optional_step_lists_the_optional_ones() {
    fails_saying(
        &["plan", "--distro", "trusty", "--enable", "chek"],
        &["no optional step `chek`", "check"],
    );
}

#[test]
fn a_lock_file_beside_the_recipes_is_read_with_lock_or_baker_lock() {
    let dir = tempfile::tempdir().unwrap();
    let lock = dir.path().join("baker.lock");
    let sha = "ab".repeat(32);
    std::fs::write(
        &lock,
        format!("[files]\n\"https://archive.apache.org/dist/mesos/0.25.0/mesos-0.25.0.tar.gz\" = \"{sha}\"\n"),
    )
    .unwrap();
    let plan = |cmd: &mut Command| {
        cmd.args([
            "plan",
            "--distro",
            "centos6",
            "--version",
            "0.25.0",
            "--cache-dir",
        ])
        .arg(dir.path().join("cache"))
        .assert()
        .success()
        .stdout(predicate::str::contains(format!("locked sha256 {sha}")));
    };
    plan(baker().arg("--lock").arg(&lock));
    plan(baker().env("BAKER_LOCK", &lock));
}

#[test]
fn source_date_epoch_is_carried_by_the_plan_and_a_bad_one_is_refused() {
    baker()
        .args(["plan", "--recipe", "hello", "--distro", "debian12"])
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .assert()
        .success()
        .stdout(predicate::str::contains("epoch       1700000000"));
    baker()
        .args(["plan", "--recipe", "hello", "--distro", "debian12"])
        .env("SOURCE_DATE_EPOCH", "yesterday")
        .assert()
        .failure()
        .stderr(predicate::str::contains("SOURCE_DATE_EPOCH is invalid"));
}

#[test]
fn jobs_outside_1_to_1024_are_refused_at_the_flag() {
    for jobs in ["0", "100000"] {
        baker()
            .args(["build", "--recipe", "hello", "--jobs", jobs])
            .assert()
            .code(2)
            .stderr(predicate::str::contains("--jobs <JOBS>"))
            .stderr(
                predicate::str::contains("1..=1024")
                    .or(predicate::str::contains("unexpected argument")),
            );
    }
}

#[test]
fn a_step_timeout_that_is_no_duration_is_refused_at_the_flag() {
    baker()
        .args(["build", "--recipe", "hello", "--step-timeout", "soon"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("`soon` is not a duration"));
}

#[test]
fn a_recipe_step_timeout_is_checked_at_load_time() {
    let dir = tempfile::tempdir().unwrap();
    let text = HELLO.replace(
        "run = \"make check\"",
        "run = \"make check\"\ntimeout = \"ninety minutes\"",
    );
    let path = recipe_file(&dir, &text);
    let line = text
        .lines()
        .position(|l| l.starts_with("timeout = "))
        .unwrap()
        + 1;
    baker()
        .args(["plan", "--recipe", &path])
        .assert()
        .failure()
        .stderr(predicate::str::contains(format!(
            "{path}:{line}:11: timeout: `ninety minutes` is not a duration"
        )));
}

#[test]
fn a_folder_option_naming_a_file_or_a_path_under_one_is_refused_by_name_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("out");
    std::fs::write(&file, "").unwrap();
    let under = file.join("sub");
    let cases = [
        ("--out", &file, "a file, not a folder".to_owned()),
        ("--cache-dir", &file, "a file, not a folder".to_owned()),
        (
            "--out",
            &under,
            format!(
                "{} is a file, so no folder can be made under it",
                file.display()
            ),
        ),
        (
            "--cache-dir",
            &under,
            format!(
                "{} is a file, so no folder can be made under it",
                file.display()
            ),
        ),
    ];
    for (flag, path, reason) in cases {
        for command in [
            &["build", "--recipe", "hello"][..],
            &["image", "--from", "/nonexistent"],
        ] {
            baker()
                .args(command)
                .arg(flag)
                .arg(path)
                .assert()
                .failure()
                .stderr(predicate::str::contains(format!(
                    "invalid value '{}' for '{flag} <DIR>': {reason}",
                    path.display()
                )));
        }
    }
    assert_eq!(std::fs::read(&file).unwrap(), b"");
}

#[test]
fn a_folder_variable_naming_no_folder_is_named_in_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("f");
    std::fs::write(&file, "").unwrap();
    for (var, path, reason) in [
        ("BAKER_CACHE_DIR", file.clone(), "a file, not a folder"),
        (
            "BAKER_RECIPES_DIR",
            dir.path().join("none"),
            "no such folder",
        ),
    ] {
        baker()
            .arg("clusters")
            .env(var, &path)
            .assert()
            .failure()
            .stderr(predicate::str::contains(format!(
                "{reason} (the value of ${var})"
            )));
    }
    // Given as the option, the same path is the option's value: no variable is named.
    baker()
        .args(["clusters", "--cache-dir"])
        .arg(&file)
        .assert()
        .failure()
        .stderr(
            predicate::str::contains("a file, not a folder")
                .and(predicate::str::contains("the value of").not()),
        );
}

#[test]
fn an_out_that_is_the_source_tree_itself_is_refused_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("hello.c"), "int main(){}\n").unwrap();
    baker()
        .args(["build", "--recipe", "hello", "--distro", "debian12", "--source-dir", "."])
        .args(["--out", "."])
        .current_dir(dir.path())
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            "(--out) is the --source-dir tree itself: each build's tarball would be part of the next one's source",
        ));
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn launch_from_a_build_refuses_out_and_no_cache_for_containers_and_machines() {
    let from = tempfile::tempdir().unwrap();
    for (provider, flag) in [("docker", "--out"), ("ssh", "--no-cache")] {
        let mut cmd = baker();
        cmd.args(["launch", "c1", "--provider", provider, "--from"])
            .arg(from.path());
        match flag {
            "--out" => cmd.arg("--out").arg(from.path().join("elsewhere")),
            _ => cmd.arg(flag),
        };
        cmd.assert().failure().stderr(contains_all(&[
            "--out and --no-cache are not used with --from and --provider",
            provider,
        ]));
    }
}

#[test]
fn an_empty_state_dir_variable_is_refused_rather_than_taken_for_the_current_directory() {
    let here = tempfile::tempdir().unwrap();
    let commands: &[&[&str]] = &[
        &["status", "x"],
        &["destroy", "x"],
        &["clusters"],
        &["logs", "x", "primary"],
        &["login", "x"],
        &["launch", "x", "--from", "out"],
    ];
    for command in commands {
        baker()
            .current_dir(here.path())
            .env("BAKER_STATE_DIR", "")
            .args(*command)
            .assert()
            .failure()
            .stderr(contains_all(&[
                "$BAKER_STATE_DIR is an empty path: set it to the folder",
                "or unset it for the default,",
            ]));
    }
    // Nothing was made in the current directory (`destroy` made its `.locks` there).
    assert_eq!(std::fs::read_dir(here.path()).unwrap().count(), 0);
}

#[test]
fn an_empty_lock_variable_is_named_in_the_error_as_the_folder_variables_are() {
    let dir = tempfile::tempdir().unwrap();
    for (value, reason) in [
        (String::new(), "an empty path"),
        (dir.path().display().to_string(), "a folder, not a file"),
    ] {
        baker()
            .args(["plan", "-d", "centos6"])
            .env("BAKER_LOCK", &value)
            .assert()
            .code(2)
            .stderr(
                predicate::str::contains(format!("{reason} (the value of $BAKER_LOCK)"))
                    .and(predicate::str::contains("a value is required").not()),
            );
    }
    baker()
        .args(["plan", "-d", "centos6", "--lock", ""])
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains("invalid value '' for '--lock <PATH>': an empty path")
                .and(predicate::str::contains("the value of").not()),
        );
}
