//! The `baker` executable as users run it: listing, planning, and the error messages for the mistakes
//! people make (unknown distro, a typo in a recipe field, an unknown template variable, no engine).
//! One test binary, one file per subject; this file holds what they share. None of these need Docker
//! or the network, and none may touch an engine that happens to run: `cache prune|clear` remove
//! images, so every run points DOCKER_HOST where no engine listens.

use assert_cmd::Command;
use predicates::BoxPredicate;
use predicates::prelude::*;

mod cache_and_output;
mod cluster_commands;
mod cluster_json;
mod flags;
mod help;
mod image_and_cache_values;
mod images;
mod launch_flags;
mod launch_in_another_shell;
mod launch_qemu_state;
mod launch_resume;
mod plan_roles;
mod recipes;
mod recipes_readme;

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

/// A predicate on output: it holds every one of `needles` (a failure names the one missing).
fn contains_all(needles: &[&str]) -> BoxPredicate<str> {
    needles
        .iter()
        .map(|n| predicate::str::contains(*n).boxed())
        .reduce(|all, one| all.and(one).boxed())
        .expect("at least one needle")
}

/// Runs baker with `args`, which must fail with every one of `said` on its stderr.
fn fails_saying(args: &[&str], said: &[&str]) {
    baker()
        .args(args)
        .assert()
        .failure()
        .stderr(contains_all(said));
}

fn recipe_file(dir: &tempfile::TempDir, text: &str) -> String {
    let path = dir.path().join("broken.toml");
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

const HELLO: &str = include_str!("../../recipes/hello/debian-12.toml");
