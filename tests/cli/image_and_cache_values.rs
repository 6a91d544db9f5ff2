//! The values of `baker image` and `baker cache` as a new user writes and reads them: a bad
//! `--size` or `--format` is a usage error (exit 2) that says what was read and what to write, and
//! `cache prune` says what it removed by the parts `cache du` shows.

use super::*;

/// Runs `baker image` on a build that need not exist: the values are refused before it is read.
fn image_refuses(args: &[&str], said: &[&str]) {
    baker()
        .args(["image", "--from", "/nonexistent-build"])
        .args(args)
        .assert()
        .code(2)
        .stderr(contains_all(said));
}

#[test]
fn a_size_without_a_unit_is_said_to_be_bytes() {
    image_refuses(
        &["--size", "3"],
        &[
            "invalid value '3' for '--size <SIZE>': 3 bytes is not a whole number of MiB: a \
             number without a unit is bytes; write 3G for 3 GiB",
        ],
    );
    image_refuses(
        &["--size", "1048576"],
        &[
            "1048576 bytes is less than 64M",
            "a number without a unit is bytes",
        ],
    );
    // With a unit, the rule alone.
    image_refuses(
        &["--size", "10M"],
        &["'10M' for '--size <SIZE>': must be at least 64M"],
    );
}

#[test]
fn a_bad_format_list_is_a_usage_error_with_the_format_meant() {
    image_refuses(
        &["--format", "qcow"],
        &[
            "invalid value 'qcow' for '--format <LIST>': unknown image format `qcow`",
            "did you mean `qcow2`?",
        ],
    );
    image_refuses(&["--format", "raw,img"], &["did you mean `raw`?"]);
    image_refuses(&["--format", "vpc"], &["did you mean `vhd`?"]);
    image_refuses(&["--format", "tar.gz"], &["did you mean `gce`?"]);
    image_refuses(
        &["--format", "raw,,vhd"],
        &["`raw,,vhd` has an empty item (the 2nd)", "e.g. `raw,vhd`"],
    );
    image_refuses(
        &["--format", "raw,"],
        &["`raw,` has an empty item (the 2nd)"],
    );
    image_refuses(&["--format", ","], &["`,` names no format"]);
}

#[test]
fn prune_says_what_it_removed_by_part() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("downloads/sha256")).unwrap();
    for (name, bytes) in [("aa", 8192), ("bb", 4096)] {
        std::fs::write(root.join("downloads/sha256").join(name), vec![1u8; bytes]).unwrap();
    }
    std::fs::create_dir_all(root.join("packages/debian-12")).unwrap();
    std::fs::write(root.join("packages/debian-12/gcc.deb"), vec![1u8; 1024]).unwrap();
    baker()
        .args(["cache", "prune", "--max-size", "0", "--cache-dir"])
        .arg(root)
        .assert()
        .success()
        .stdout(predicate::str::starts_with(
            "removed 3 entries, 13.0 KiB freed:\n",
        ))
        .stdout(predicate::str::is_match(r"\n  downloads\s+12.0 KiB  2 entries\n").unwrap())
        .stdout(predicate::str::is_match(r"\n  packages\s+1.0 KiB  1 entry\n").unwrap());
}

/// What the image refuses of the plan is said before the build starts (which, for Mesos, takes an
/// hour): a size its formats cannot take, and a recipe without an image layer. Nothing is built,
/// no engine is asked, and `--out` is not made.
#[test]
fn a_plan_the_image_cannot_use_is_refused_before_the_build() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let recipe = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/recipes/hello/debian-12.toml"
    ))
    .unwrap();
    let (head, layer) = recipe.split_once("\n[image]\n").unwrap();
    let roles = layer.find("\n[roles.").unwrap();
    let no_layer = dir.path().join("no-layer.toml");
    std::fs::write(&no_layer, format!("{head}{}", &layer[roles..])).unwrap();
    let no_layer = no_layer.display().to_string();
    for (args, said) in [
        (
            ["--recipe", "hello", "--format", "gce", "--size", "1536M"],
            "the gce format needs a whole number of GiB: ask for 1G or 2G",
        ),
        (
            ["--recipe", &no_layer, "--format", "raw", "--size", "2G"],
            "has no [image] layer",
        ),
    ] {
        baker()
            .args(["image", "--distro", "debian12", "--cache-dir"])
            .arg(dir.path().join("cache"))
            .arg("--out")
            .arg(&out)
            .args(args)
            .assert()
            .failure()
            .stderr(predicate::str::contains(said))
            .stderr(predicate::str::contains("Docker engine").not());
        assert!(!out.exists(), "--out was made for a refused plan");
    }
}
