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

/// The help of option `flag` (its line and the ones up to the next option or heading) in `text`.
fn option_help<'a>(text: &'a str, flag: &str) -> &'a str {
    let start = text
        .find(&format!("{flag} "))
        .or_else(|| text.find(&format!("{flag}\n")))
        .unwrap_or_else(|| panic!("no {flag} in {text}"));
    let rest = &text[start..];
    let next_option = rest[1..].find("\n  -");
    let next_heading = (rest[1..].match_indices("\n\n"))
        .find(|(at, _)| rest[at + 3..].starts_with(|c: char| !c.is_whitespace()))
        .map(|(at, _)| at);
    let end = (next_option.into_iter().chain(next_heading).min()).map_or(rest.len(), |e| e + 1);
    &rest[..end]
}

/// The headings of `text` (lines that end in `:` and start at the margin), each with the flags
/// listed under it.
fn sections(text: &str) -> Vec<(String, Vec<String>)> {
    let mut sections: Vec<(String, Vec<String>)> = Vec::new();
    for line in text.lines() {
        if !line.starts_with(' ') && line.ends_with(':') {
            sections.push((line.trim_end_matches(':').to_owned(), Vec::new()));
        } else if let Some((_, flags)) = sections.last_mut() {
            // `  -v, --verbose...  More…` or `      --from <DIR>  A build's…`.
            let mut words = line.split_whitespace();
            let flag = match words.next() {
                Some(short)
                    if short.len() == 3 && short.starts_with('-') && short.ends_with(',') =>
                {
                    words.next()
                }
                first => first,
            };
            let flag = flag.filter(|f| f.starts_with("--") && f.len() > 2);
            flags.extend(flag.map(|f| f.trim_end_matches("...").to_owned()));
        }
    }
    sections
}

/// The heading option `flag` is listed under in `text`.
fn heading_of(text: &str, flag: &str) -> String {
    sections(text)
        .into_iter()
        .find(|(_, flags)| flags.iter().any(|f| f == flag))
        .unwrap_or_else(|| panic!("{flag} under no heading in {text}"))
        .0
}

#[test]
fn launch_help_groups_its_options_by_what_reads_them() {
    let text = help(&["launch"]);
    let short = baker().args(["launch", "-h"]).output().unwrap();
    let short = String::from_utf8(short.stdout).unwrap();
    for text in [&text, &short] {
        let headings: Vec<String> = sections(text).into_iter().map(|(h, _)| h).collect();
        assert_eq!(
            headings,
            [
                "Arguments",
                "Options",
                "Build (when it builds first)",
                "--provider qemu",
                "--provider ssh",
                "--provider docker",
                "Global options",
            ],
            "{text}"
        );
        for (flag, heading) in [
            ("--provider", "Options"),
            ("--from", "Options"),
            ("--resume", "Options"),
            ("--distro", "Build (when it builds first)"),
            ("--step-timeout", "Build (when it builds first)"),
            ("--no-cache", "Build (when it builds first)"),
            ("--image", "--provider qemu"),
            ("--accel", "--provider qemu"),
            ("--inventory", "--provider ssh"),
            ("--accept-new-host-keys", "--provider ssh"),
            ("--publish-all", "--provider docker"),
            ("--verbose", "Global options"),
            ("--cache-dir", "Global options"),
            ("--recipes-dir", "Global options"),
        ] {
            assert_eq!(heading_of(text, flag), heading, "{flag} in {text}");
        }
    }
    // The heading says whose option it is; the option's help does not say it again.
    let memory = option_help(&text, "--memory");
    assert!(!memory.contains("--provider"), "{memory}");
}

#[test]
fn every_command_lists_the_global_options_under_their_own_heading() {
    let commands: &[&[&str]] = &[
        &[],
        &["recipes"],
        &["plan"],
        &["build"],
        &["image"],
        &["image", "boot"],
        &["cache", "du"],
        &["base", "import"],
        &["launch"],
        &["status"],
        &["login"],
        &["logs"],
        &["destroy"],
        &["clusters"],
    ];
    for command in commands {
        let text = help(command);
        for flag in [
            "--verbose",
            "--quiet",
            "--cache-dir",
            "--lock",
            "--recipes-dir",
        ] {
            assert_eq!(
                heading_of(&text, flag),
                "Global options",
                "{command:?}: {text}"
            );
        }
    }
    let build = help(&["build"]);
    assert_eq!(heading_of(&build, "--json"), "Options");
    assert_eq!(heading_of(&build, "--jobs"), "Build");
    let image = help(&["image"]);
    assert_eq!(heading_of(&image, "--format"), "Options");
    assert_eq!(heading_of(&image, "--out"), "Build (when it builds first)");
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
            "Exit status: 0 when the cluster's launch finished and every node runs, checked ready since it last started; 3 when not"
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
