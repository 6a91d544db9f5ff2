//! Help as each subcommand shows it: options shared between subcommands (the build flags, the
//! selection, a cluster's name) say what they do in the one they are shown in, never what they do
//! in another.

use super::*;

/// `baker <command> --help`'s output.
fn help(command: &[&str]) -> String {
    let out = baker().args(command).arg("--help").output().unwrap();
    assert!(out.status.success(), "{command:?} --help failed");
    String::from_utf8(out.stdout).unwrap()
}

/// The help of option `flag` (its line and the ones up to the next option) in `text`.
fn option_help<'a>(text: &'a str, flag: &str) -> &'a str {
    let start = text
        .find(&format!("{flag} "))
        .or_else(|| text.find(&format!("{flag}\n")))
        .unwrap_or_else(|| panic!("no {flag} in {text}"));
    let rest = &text[start..];
    let end = rest[1..].find("\n  -").map_or(rest.len(), |e| e + 1);
    &rest[..end]
}

#[test]
fn build_help_speaks_of_build_only() {
    let text = help(&["build"]);
    let out = option_help(&text, "--out");
    assert!(out.contains("[default: out]"), "{out}");
    assert!(
        !out.contains("--from") && !out.contains("baker image"),
        "{out}"
    );
    let no_cache = option_help(&text, "--no-cache");
    assert!(!no_cache.contains("image"), "{no_cache}");
    let mirror = option_help(&text, "--mirror");
    assert!(mirror.contains("repository keys"), "{mirror}");
    assert!(mirror.contains("Package repositories"), "{mirror}");
}

#[test]
fn image_and_launch_help_say_what_out_and_no_cache_do_there() {
    let image = help(&["image"]);
    let out = option_help(&image, "--out");
    assert!(
        out.contains("disk images") && out.contains("with --from"),
        "{out}"
    );
    assert!(option_help(&image, "--no-cache").contains("OS layer"));
    let size = option_help(&image, "--size");
    assert!(size.contains("GB and MB are refused"), "{size}");
    let launch = help(&["launch"]);
    let out = option_help(&launch, "--out");
    assert!(out.contains("--provider qemu"), "{out}");
    let no_cache = option_help(&launch, "--no-cache");
    assert!(no_cache.contains("--provider qemu"), "{no_cache}");
    let image = option_help(&launch, "--image");
    assert!(image.contains("plan.json beside the image"), "{image}");
    assert!(image.contains("--from BUILD_DIR"), "{image}");
}

#[test]
fn plan_help_does_not_say_it_runs_anything() {
    let text = help(&["plan"]);
    let enable = option_help(&text, "--enable");
    assert!(enable.contains("in the plan"), "{enable}");
    assert!(!enable.contains("Run "), "{enable}");
    let source_dir = option_help(&text, "--source-dir");
    assert!(
        source_dir.contains("Plan the build of this local source tree"),
        "{source_dir}"
    );
}

#[test]
fn every_cluster_command_describes_its_name_and_status_its_exit_status() {
    for command in ["status", "destroy", "login", "logs"] {
        let text = help(&[command]);
        assert!(
            text.contains("The cluster's name, as `baker launch` was given it"),
            "{command}: {text}"
        );
    }
    let status = help(&["status"]);
    assert!(
        status.contains(
            "Exit status: 0 when the cluster's launch finished and every node runs; 3 when not"
        ),
        "{status}"
    );
}

/// Every environment variable baker's code reads by name (`env::var("…")`, a log filter's
/// `from_env("…")`, or a `…_ENV` constant) is in `baker --help`: the global options' show there as
/// `[env: …]`, the others in its environment section. `PATH` is the system's. (The variables of a
/// subcommand's options, which clap reads, show in that subcommand's help.)
#[test]
fn every_environment_variable_baker_reads_is_in_the_help() {
    let text = help(&[]);
    let mut read = std::collections::BTreeSet::new();
    let mut dirs = vec![std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            let source = std::fs::read_to_string(&path).unwrap_or_default();
            let calls = ["env::var", "from_env"].map(|call| source.match_indices(call));
            for (at, _) in calls.into_iter().flatten() {
                let rest = &source[at..];
                let Some(open) = rest.find("(\"").filter(|open| *open < 12) else {
                    continue;
                };
                let name = &rest[open + 2..];
                read.insert(name[..name.find('"').unwrap()].to_owned());
            }
            for line in source.lines().filter(|l| l.contains("_ENV: &str = \"")) {
                let name = line.rsplit_once("= \"").unwrap().1;
                read.insert(name.trim_end_matches("\";").to_owned());
            }
        }
    }
    read.remove("PATH");
    assert!(
        read.contains("BAKER_STATE_DIR") && read.contains("BAKER_LOG") && read.len() > 5,
        "{read:?}"
    );
    // The whole name: BAKER_LOG is not shown by BAKER_LOGS.
    let shown = |name: &str| {
        (text.match_indices(name)).any(|(at, _)| {
            !text[at + name.len()..].starts_with(|c: char| c == '_' || c.is_ascii_uppercase())
        })
    };
    let missing: Vec<_> = read.iter().filter(|name| !shown(name)).collect();
    assert!(
        missing.is_empty(),
        "not in baker --help: {missing:?}\n{text}"
    );
}
