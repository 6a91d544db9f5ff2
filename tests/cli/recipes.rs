//! Listing recipes and planning them, and the mistakes recipe authors make: an unknown distro or
//! version, a typo in a field, an unknown template variable, a bad checksum, a role command that
//! would not be the role's own process.

use super::*;

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
    fails_saying(
        &["plan", "--distro", "centos7"],
        &[
            "unknown distro `centos7`",
            "centos-6.6",
            "trusty",
            "bookworm",
        ],
    );
}

#[test]
fn a_mistyped_distro_recipe_or_format_names_the_nearest() {
    fails_saying(
        &["plan", "--distro", "debain12"],
        &[
            "unknown distro `debain12`; valid names: ",
            "; did you mean `debian12`?",
        ],
    );
    fails_saying(
        &["plan", "--recipe", "postgres", "--distro", "debian12"],
        &[
            "no recipe named `postgres`; available: hello, mesos, postgresql; did you mean `postgresql`?",
        ],
    );
    fails_saying(
        &[
            "image", "--recipe", "hello", "--distro", "debian12", "--format", "qcow",
        ],
        &[
            "unknown image format `qcow`; expected one of raw, ami, qcow2, vhd, gce; did you mean `qcow2`?",
        ],
    );
}

#[test]
fn an_unknown_version_lists_the_versions() {
    fails_saying(
        &["plan", "--distro", "centos6", "--version", "9.9"],
        &["no version `9.9`", "0.25.0, 1.11.0"],
    );
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
        .stderr(contains_all(&[
            "unknown field `instal`",
            "did you mean `install`?",
            "instal = [",
        ]));
}

#[test]
fn a_top_level_typo_suggests_the_table() {
    let dir = tempfile::tempdir().unwrap();
    let path = recipe_file(&dir, &HELLO.replace("[packages]", "[pakages]"));
    fails_saying(&["plan", "--recipe", &path], &["did you mean `packages`?"]);
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
        .stderr(contains_all(&["unknown template variable `jobz`", "jobs"]));
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
    // The role's command without its `exec`: bash would fork `sleep` and stay in between.
    let line = 1 + HELLO
        .lines()
        .position(|l| l.starts_with("command = \"/usr/bin/hello"))
        .unwrap();
    let path = recipe_file(
        &dir,
        &HELLO.replace("&& exec sleep infinity", "&& sleep infinity"),
    );
    baker()
        .args(["plan", "--recipe", &path])
        .assert()
        .success()
        .stderr(predicate::str::contains(format!("warning: {path}:{line}:")))
        .stderr(predicate::str::contains(
            "role `hello`'s command will not be the role's own process",
        ))
        .stderr(predicate::str::contains("&& exec sleep infinity"))
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
        .stderr(contains_all(&["WARN", "own process"]));
}

#[test]
fn a_wrong_checksum_format_is_rejected_with_its_place() {
    let dir = tempfile::tempdir().unwrap();
    let path = recipe_file(&dir, &HELLO.replace("31e066137a96", "31E066137A96"));
    fails_saying(
        &["plan", "--recipe", &path],
        &["64 lower-case hexadecimal digits"],
    );
}

#[test]
fn several_recipes_for_a_distro_ask_for_a_choice() {
    fails_saying(
        &["plan", "--distro", "debian12"],
        &[
            "recipes hello and postgresql build for debian-12: add --recipe hello or --recipe postgresql",
        ],
    );
    // Without a distro, the product's recipe: which distros it builds for, and the flags.
    let mesos = "recipe mesos builds for centos-6.6 and ubuntu-14.04: add --distro centos6 or \
                 --distro ubuntu14.04";
    fails_saying(&["plan"], &[mesos]);
    fails_saying(&["plan", "--recipe", "mesos"], &[mesos]);
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
fn the_postgresql_standby_smoke_is_written_to_read_its_table_only_after_looking_it_up() {
    // Polled on a standby that replication has not yet brought the table to, a plain `select` from
    // it makes the standby's server log `ERROR: relation "baker_smoke" does not exist` at every try
    // of a check that then passes. The table is looked up first (to_regclass: NULL, no error).
    let out = baker()
        .args("plan --json --recipe postgresql --distro debian12".split(' '))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let standby = (plan["smoke"].as_array().unwrap().iter())
        .find(|step| step["role"] == "standby")
        .unwrap();
    let run = standby["run"].as_str().unwrap();
    assert_eq!(
        standby["equals"], "written on {{master.name}}",
        "as strict as before"
    );
    let lines: Vec<&str> = run.lines().map(str::trim).collect();
    let at = |line: &str| lines.iter().position(|l| *l == line);
    let looked_up = at(r"select to_regclass('public.baker_smoke') is not null as replicated \gset");
    let (guard, otherwise) = (at(r"\if :replicated"), at(r"\else"));
    let read = at("select v from baker_smoke;");
    assert!(
        looked_up.is_some() && looked_up < guard && guard < read && read < otherwise,
        "the standby's smoke must read baker_smoke only under `\\if` on its lookup:\n{run}"
    );
    assert_eq!(run.matches("from baker_smoke").count(), 1, "{run}");
}

#[test]
fn two_files_of_a_recipes_directory_defining_one_recipe_are_refused_naming_both() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("greet")).unwrap();
    let greet = HELLO.replace("name = \"hello\"", "name = \"greet\"");
    std::fs::write(dir.path().join("greet/debian-12.toml"), &greet).unwrap();
    std::fs::write(dir.path().join("greet/bookworm.toml"), &greet).unwrap();
    for command in [&["recipes"][..], &["plan", "--recipe", "greet"]] {
        baker()
            .args(command)
            .arg("--recipes-dir")
            .arg(dir.path())
            .assert()
            .failure()
            .stderr(contains_all(&[
                "recipe greet for debian-12 is defined twice in the recipes directory",
                &dir.path().join("greet/bookworm.toml").display().to_string(),
                &dir.path()
                    .join("greet/debian-12.toml")
                    .display()
                    .to_string(),
            ]));
    }
}

#[test]
fn a_folder_given_as_a_recipe_is_refused_saying_to_give_recipes_dir_or_a_file_in_it() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("greet");
    std::fs::create_dir(&folder).unwrap();
    std::fs::write(folder.join("debian-12.toml"), HELLO).unwrap();
    let shown = folder.display().to_string();
    fails_saying(
        &["plan", "--recipe", &shown],
        &[
            &format!("{shown} is a folder, not a recipe file"),
            &format!("give --recipes-dir {shown} to use the recipes in it"),
            &format!("({shown}/debian-12.toml)"),
        ],
    );
    baker()
        .args(["plan", "--recipe", "hello", "--recipes-dir", &shown])
        .assert()
        .success();
}
