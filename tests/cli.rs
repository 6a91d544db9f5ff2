//! The `baker` executable as users run it: listing, planning, and the error messages for the mistakes
//! people make (unknown distro, a typo in a recipe field, an unknown template variable, no engine).
//! None of these need Docker or the network, and none may touch an engine that happens to run:
//! `cache prune|clear` remove images, so every run points DOCKER_HOST where no engine listens.

use assert_cmd::Command;
use predicates::prelude::*;

/// Where no engine listens.
const NO_ENGINE: &str = "unix:///nonexistent/baker-cli-tests/docker.sock";

fn baker() -> Command {
    let mut cmd = Command::cargo_bin("baker").unwrap();
    cmd.env_remove("BAKER_RECIPES_DIR")
        .env_remove("BAKER_MIRRORS")
        .env_remove("BAKER_LOCK")
        .env_remove("SOURCE_DATE_EPOCH")
        .env_remove("BAKER_QEMU")
        .env_remove("BAKER_QEMU_ACCEL")
        .env("DOCKER_HOST", NO_ENGINE);
    cmd
}

fn recipe_file(dir: &tempfile::TempDir, text: &str) -> String {
    let path = dir.path().join("broken.toml");
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

const HELLO: &str = include_str!("../recipes/hello/debian-12.toml");

#[test]
fn recipes_lists_every_recipe_with_distro_versions_and_source() {
    baker()
        .arg("recipes")
        .assert()
        .success()
        .stdout(predicate::str::is_match(r"mesos\s+centos-6.6\s+0.25.0\*?, 1.11.0").unwrap())
        .stdout(predicate::str::is_match(r"mesos\s+ubuntu-14.04\s+0.25.0").unwrap())
        .stdout(predicate::str::contains("archive.apache.org/dist/mesos"))
        .stdout(predicate::str::is_match(r"hello\s+debian-12\s+2.10").unwrap())
        .stdout(predicate::str::is_match(r"postgresql\s+debian-12\s+15.18").unwrap());
}

#[test]
fn plan_accepts_forgiving_distro_names_and_gives_the_same_plan() {
    let plans: Vec<String> = ["centos6", "centos-6", "centos6.6", "centos-6.6"]
        .iter()
        .map(|d| {
            let out = baker()
                .args(["plan", "--json", "--distro", d])
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{d}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8(out.stdout).unwrap()
        })
        .collect();
    assert!(plans.windows(2).all(|w| w[0] == w[1]));
    for d in ["ubuntu14.04", "ubuntu-14.04", "trusty"] {
        baker()
            .args(["plan", "--distro", d])
            .assert()
            .success()
            .stdout(predicate::str::contains("mesos"));
    }
    for d in ["debian12", "bookworm"] {
        baker()
            .args(["plan", "--recipe", "hello", "--distro", d])
            .assert()
            .success();
    }
}

#[test]
fn plan_shows_base_repositories_packages_source_steps_install_image_and_roles() {
    baker()
        .args(["plan", "--distro", "centos6", "--version", "1.11.0"])
        .assert()
        .success()
        .stdout(predicate::str::contains("centos:6.6"))
        .stdout(predicate::str::contains("slc6-devtoolset.repo"))
        .stdout(predicate::str::contains("wandisco"))
        .stdout(predicate::str::contains("devtoolset-2-toolchain"))
        .stdout(predicate::str::contains(
            "ce08cb648a21502a4a0c45d240a596d9ac860fcaf717f9a3dc986da9d406fe34",
        ))
        .stdout(predicate::str::contains("scl enable devtoolset-2"))
        .stdout(predicate::str::contains("make install DESTDIR=/baker/dest"))
        .stdout(predicate::str::contains("image layer"))
        .stdout(predicate::str::contains("init upstart, firmware bios\n"))
        .stdout(predicate::str::contains("role master"))
        .stdout(predicate::str::contains("role slave"));
}

#[test]
fn plan_marks_a_source_without_a_published_checksum() {
    let cache = tempfile::tempdir().unwrap();
    baker()
        .args([
            "plan",
            "--distro",
            "centos6",
            "--version",
            "0.25.0",
            "--cache-dir",
        ])
        .arg(cache.path())
        .assert()
        .success()
        .stdout(predicate::str::contains("UNPINNED"))
        .stdout(predicate::str::contains("not locked yet"));
}

#[test]
fn an_unknown_distro_lists_the_valid_names() {
    baker()
        .args(["plan", "--distro", "centos7"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("unknown distro `centos7`"))
        .stderr(predicate::str::contains("centos-6.6"))
        .stderr(predicate::str::contains("trusty"))
        .stderr(predicate::str::contains("bookworm"));
}

#[test]
fn an_unknown_version_lists_the_versions() {
    baker()
        .args(["plan", "--distro", "centos6", "--version", "9.9"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("no version `9.9`"))
        .stderr(predicate::str::contains("0.25.0, 1.11.0"));
}

#[test]
fn a_typo_in_a_field_points_at_file_line_column_and_suggests_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let text = HELLO.replace("[packages]\ninstall", "[packages]\ninstal");
    let line = text
        .lines()
        .position(|l| l.starts_with("instal ="))
        .unwrap()
        + 1;
    let path = recipe_file(&dir, &text);
    baker()
        .args(["plan", "--recipe", &path])
        .assert()
        .failure()
        .stderr(predicate::str::contains(format!("{path}:{line}:1")))
        .stderr(predicate::str::contains("unknown field `instal`"))
        .stderr(predicate::str::contains("did you mean `install`?"))
        .stderr(predicate::str::contains("instal = ["));
}

#[test]
fn a_top_level_typo_suggests_the_table() {
    let dir = tempfile::tempdir().unwrap();
    let path = recipe_file(&dir, &HELLO.replace("[packages]", "[pakages]"));
    baker()
        .args(["plan", "--recipe", &path])
        .assert()
        .failure()
        .stderr(predicate::str::contains("did you mean `packages`?"));
}

#[test]
fn an_unknown_template_variable_is_an_error_at_its_place() {
    let dir = tempfile::tempdir().unwrap();
    let text = HELLO.replace("make -j {{jobs}}", "make -j {{jobz}}");
    let line = text.lines().position(|l| l.contains("{{jobz}}")).unwrap() + 1;
    let column = text.lines().nth(line - 1).unwrap().find("jobz").unwrap() + 1;
    let path = recipe_file(&dir, &text);
    baker()
        .args(["plan", "--recipe", &path])
        .assert()
        .failure()
        .stderr(predicate::str::contains(format!("{path}:{line}:{column}")))
        .stderr(predicate::str::contains("unknown template variable `jobz`"))
        .stderr(predicate::str::contains("jobs"));
}

#[test]
fn an_unknown_role_variable_is_caught_before_any_boot() {
    let dir = tempfile::tempdir().unwrap();
    let path = recipe_file(&dir, &HELLO.replace("{{self.ip}}", "{{self.address}}"));
    baker()
        .args(["plan", "--recipe", &path])
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            "unknown template variable `self.address`",
        ))
        .stderr(predicate::str::contains("self.ip"));
}

#[test]
fn a_role_command_that_would_not_be_the_roles_process_is_warned_about_with_its_fix_unless_quiet() {
    let dir = tempfile::tempdir().unwrap();
    let path = recipe_file(&dir, HELLO);
    baker()
        .args(["plan", "--recipe", &path])
        .assert()
        .success()
        .stderr(predicate::str::contains("own process").not());
    let path = recipe_file(
        &dir,
        &HELLO.replace(
            "command = \"/usr/bin/hello",
            "command = \"cd /tmp && /usr/bin/hello",
        ),
    );
    baker()
        .args(["plan", "--recipe", &path])
        .assert()
        .success()
        .stderr(predicate::str::contains(format!("warning: {path}:81:")))
        .stderr(predicate::str::contains(
            "role `hello`'s command will not be the role's own process",
        ))
        .stderr(predicate::str::contains("&& exec /usr/bin/hello"))
        .stderr(predicate::str::contains("WARN").not());
    // --quiet promises no warnings; -v shows the log's own form, with its level and module.
    baker()
        .args(["plan", "-q", "--recipe", &path])
        .assert()
        .success()
        .stderr(predicate::str::is_empty());
    baker()
        .args(["plan", "-v", "--recipe", &path])
        .assert()
        .success()
        .stderr(predicate::str::contains("WARN"))
        .stderr(predicate::str::contains("own process"));
}

#[test]
fn a_wrong_checksum_format_is_rejected_with_its_place() {
    let dir = tempfile::tempdir().unwrap();
    let path = recipe_file(&dir, &HELLO.replace("31e066137a96", "31E066137A96"));
    baker()
        .args(["plan", "--recipe", &path])
        .assert()
        .failure()
        .stderr(predicate::str::contains("64 lower-case hexadecimal digits"));
}

#[test]
fn several_recipes_for_a_distro_ask_for_a_choice() {
    baker()
        .args(["plan", "--distro", "debian12"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("hello"))
        .stderr(predicate::str::contains("postgresql"))
        .stderr(predicate::str::contains("--recipe"));
}

#[test]
fn a_recipes_directory_adds_recipes() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("greet")).unwrap();
    std::fs::write(
        dir.path().join("greet/debian-12.toml"),
        HELLO.replace("name = \"hello\"", "name = \"greet\""),
    )
    .unwrap();
    baker()
        .args(["recipes", "--recipes-dir"])
        .arg(dir.path())
        .assert()
        .success()
        .stdout(predicate::str::is_match(r"greet\s+debian-12").unwrap());
}

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
        .stderr(predicate::str::contains("cannot reach a Docker engine"))
        .stderr(predicate::str::contains("dockerd"))
        .stderr(predicate::str::contains("DOCKER_HOST"));
}

#[test]
fn an_unknown_optional_step_lists_the_optional_ones() {
    baker()
        .args(["plan", "--distro", "trusty", "--enable", "chek"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("no optional step `chek`"))
        .stderr(predicate::str::contains("check"));
}

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
        .stdout(predicate::str::is_match(r"downloads\s+4.0 KiB\s+1 entries").unwrap())
        .stdout(predicate::str::is_match(r"packages\s+1.0 KiB").unwrap())
        .stdout(predicate::str::is_match(r"total\s+5.0 KiB").unwrap());
    baker()
        .args(["cache", "prune", "--max-size", "2K", "--cache-dir"])
        .arg(root)
        .assert()
        .success()
        .stdout(predicate::str::contains("removed 1 entries"));
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
        .stderr(predicate::str::contains("not a size"));
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
        .args(["cache", "prune", "--max-size", "0", "--cache-dir"])
        .arg(&root)
        .assert()
        .success()
        .stdout(predicate::str::contains("removed 1 entries"))
        .stderr(predicate::str::contains(
            "step images were left in the engine",
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
fn out_naming_a_file_names_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("out");
    std::fs::write(&file, "").unwrap();
    baker()
        .args(["build", "--recipe", "hello", "--no-upstream", "--out"])
        .arg(&file)
        .arg("--cache-dir")
        .arg(dir.path().join("cache"))
        .assert()
        .failure()
        .stderr(predicate::str::contains(format!(
            "the output directory {} (--out) exists and is not a directory",
            file.display()
        )));
}

#[test]
fn plan_says_debian_12_images_boot_with_bios_and_uefi() {
    baker()
        .args(["plan", "--distro", "debian12", "--recipe", "postgresql"])
        .assert()
        .success()
        .stdout(predicate::str::contains("firmware bios + uefi"));
}

/// An image.json in `dir` for a BIOS-only raw disk, as an older baker wrote it (no `first_nic`).
fn write_bios_image_json(dir: &std::path::Path, baker_version: &str, plan_key: &str) {
    let manifest = serde_json::json!({
        "format": 1, "baker_version": baker_version, "plan_key": plan_key, "image_key": "i",
        "recipe": {"name": "postgresql", "distro": "debian-12", "version": "15.18"},
        "artifact": {"file_name": "a.tar.gz", "sha256": "s"},
        "kernel": {"package": "k", "version": "v", "image": "/boot/k", "initrd": "/boot/i", "cmdline": ""},
        "disk": {"size": 1073741824, "partition_table": "msdos", "partition_offset": 1048576,
                 "filesystem": "ext4", "root_uuid": "u", "bootloader": "grub2", "mkfs_options": []},
        "formats": [{"format": "raw", "file": "d.raw", "size": 1073741824, "sha256": "s"}],
        "boots_on": [], "source_date_epoch": 1
    });
    std::fs::write(dir.join("image.json"), manifest.to_string()).unwrap();
}

#[test]
fn booting_with_uefi_a_disk_made_for_bios_only_is_refused_before_qemu_starts() {
    let dir = tempfile::tempdir().unwrap();
    write_bios_image_json(dir.path(), "0", "p");
    baker()
        .args(["image", "boot", "--firmware", "uefi"])
        .arg(dir.path())
        .assert()
        .failure()
        .stderr(predicate::str::contains("boots with bios only, not uefi"));
    baker()
        .args(["image", "boot", "--firmware", "efi", "x.raw"])
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            "unknown firmware `efi`; valid: bios, uefi",
        ));
}

#[test]
fn launching_an_image_from_before_images_configured_their_first_nic_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let plan = baker()
        .args(["plan", "--recipe", "postgresql", "--json"])
        .env("BAKER_CACHE_DIR", dir.path().join("cache"))
        .output()
        .unwrap();
    assert!(plan.status.success());
    let plan: serde_json::Value = serde_json::from_slice(&plan.stdout).unwrap();
    let install = plan["steps"].as_array().unwrap().last().unwrap();
    write_bios_image_json(dir.path(), "0.1.0", install["key"].as_str().unwrap());
    baker()
        .args([
            "launch",
            "old",
            "--recipe",
            "postgresql",
            "--provider",
            "qemu",
            "--image",
        ])
        .arg(dir.path())
        .env("BAKER_STATE_DIR", dir.path().join("state"))
        .env("BAKER_CACHE_DIR", dir.path().join("cache"))
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            "made by baker 0.1.0, whose images leave their first NIC unconfigured",
        ));
    assert!(!dir.path().join("state").join("old").exists());
}

#[test]
fn image_boot_takes_auto_kvm_or_tcg_as_its_accelerator() {
    baker()
        .args(["image", "boot", "--accel", "hvf", "x.raw"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("invalid value 'hvf'"))
        .stderr(predicate::str::contains("auto, kvm, tcg"));
    baker()
        .args(["image", "boot", "--help"])
        .assert()
        .success()
        .stdout(predicate::str::contains("--accel <ACCEL>"));
}

#[test]
fn launch_takes_auto_kvm_or_tcg_as_the_qemu_accelerator() {
    baker()
        .args(["launch", "c", "--provider", "qemu", "--accel", "hvf"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("invalid value 'hvf'"))
        .stderr(predicate::str::contains("auto, kvm, tcg"));
}

#[test]
fn qemu_from_the_host_only_fails_at_once_where_the_host_has_none() {
    let dir = tempfile::tempdir().unwrap();
    let disk = dir.path().join("x.raw");
    std::fs::write(&disk, [0u8; 512]).unwrap();
    // A PATH with no QEMU (and, as in every test here, no engine).
    let no_qemu = |args: &[&str]| {
        let mut cmd = baker();
        cmd.args(args)
            .env("PATH", dir.path())
            .env("BAKER_STATE_DIR", dir.path().join("state"))
            .env("BAKER_CACHE_DIR", dir.path().join("cache"));
        cmd
    };
    no_qemu(&["image", "boot", "--qemu", "host", disk.to_str().unwrap()])
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            "--qemu host: no qemu-system-x86_64 on this host's PATH",
        ));
    no_qemu(&["launch", "c", "--provider", "qemu", "--qemu", "host"])
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            "--qemu host: the qemu provider needs qemu-system-x86_64 and qemu-img",
        ));
    baker()
        .args(["launch", "c", "--provider", "qemu", "--qemu", "vm"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("auto, host, tools"));
}
