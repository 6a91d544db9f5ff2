//! Properties of step keys that users rely on: the same inputs give the same keys whatever the TOML's
//! layout, and changing one input changes the key of that step and of every later one, and no other.

use crate::plan::{Plan, PlanOptions, resolve};
use crate::recipe::{SourceText, validate};

const HELLO: &str = include_str!("../../recipes/hello/debian-12.toml");
const POSTGRES: &str = include_str!("../../recipes/postgresql/debian-12.toml");

fn plan_of(text: &str) -> Plan {
    plan_with(text, &PlanOptions::default())
}

fn plan_with(text: &str, options: &PlanOptions) -> Plan {
    let recipe = validate::parse(SourceText::new("test.toml", text)).unwrap();
    resolve(&recipe, options).unwrap()
}

fn keys(plan: &Plan) -> Vec<(String, String)> {
    plan.steps
        .iter()
        .map(|s| (s.name.clone(), s.key.clone()))
        .collect()
}

/// Which steps' keys differ between two plans with the same steps.
fn changed(a: &Plan, b: &Plan) -> Vec<String> {
    assert_eq!(a.steps.len(), b.steps.len());
    a.steps
        .iter()
        .zip(&b.steps)
        .filter(|(x, y)| x.key != y.key)
        .map(|(x, _)| x.name.clone())
        .collect()
}

#[test]
fn the_same_recipe_gives_the_same_keys() {
    assert_eq!(keys(&plan_of(HELLO)), keys(&plan_of(HELLO)));
}

#[test]
fn reordering_tables_and_changing_whitespace_and_comments_keeps_every_key() {
    // Move [env] to the end, reorder keys inside [recipe], add blank lines, spaces and comments.
    let env_block = "[env]\nCC = \"ccache gcc\"\n";
    let mut moved = HELLO.replace(env_block, "");
    moved.push_str("\n\n# moved here\n[env]\n   CC   =   \"ccache gcc\"   # same value\n");
    let moved = moved
        .replace(
            "name = \"hello\"\ndistro = \"debian-12\"",
            "distro = \"debian-12\"\n\nname = \"hello\"",
        )
        .replace(
            "[packages]\ninstall = [\"build-essential\", \"ccache\"]",
            "[packages]\ninstall = [\n  \"ccache\",\n  \"build-essential\",\n]",
        );
    assert_ne!(moved, HELLO);
    assert_eq!(keys(&plan_of(&moved)), keys(&plan_of(HELLO)));
}

#[test]
fn changing_a_package_changes_that_step_and_every_later_one_only() {
    let more = HELLO.replace(
        "install = [\"build-essential\", \"ccache\"]",
        "install = [\"build-essential\", \"ccache\", \"texinfo\"]",
    );
    assert_eq!(
        changed(&plan_of(HELLO), &plan_of(&more)),
        ["packages", "source", "configure", "compile", "install"]
    );
}

#[test]
fn changing_a_build_command_changes_that_step_and_later_ones_only() {
    let other = HELLO.replace(
        "./configure --prefix=/usr",
        "./configure --prefix=/usr --disable-nls",
    );
    assert_eq!(
        changed(&plan_of(HELLO), &plan_of(&other)),
        ["configure", "compile", "install"]
    );
    let install = HELLO.replace(
        "make install DESTDIR={{destdir}}",
        "make install-strip DESTDIR={{destdir}}",
    );
    assert_eq!(changed(&plan_of(HELLO), &plan_of(&install)), ["install"]);
}

#[test]
fn changing_the_source_checksum_changes_the_source_step_and_later_ones_only() {
    let other = POSTGRES.replace("11df0df97fe3ea4b", "00df0df97fe3ea4b");
    assert_eq!(
        changed(&plan_of(POSTGRES), &plan_of(&other)),
        ["source", "configure", "compile", "install"]
    );
}

#[test]
fn changing_the_environment_changes_the_build_steps_only() {
    let other = HELLO.replace("CC = \"ccache gcc\"", "CC = \"ccache gcc -O1\"");
    assert_eq!(
        changed(&plan_of(HELLO), &plan_of(&other)),
        ["configure", "compile", "install"]
    );
}

#[test]
fn the_number_of_jobs_never_enters_a_key() {
    let plan = plan_of(HELLO);
    let compile = plan.steps.iter().find(|s| s.name == "compile").unwrap();
    assert!(
        compile.command.contains("${BAKER_JOBS}"),
        "{}",
        compile.command
    );
}

#[test]
fn an_optional_step_runs_only_when_enabled_and_then_keys_later_steps() {
    let plain = plan_of(HELLO);
    assert!(!plain.steps.iter().any(|s| s.name == "check"));
    let checked = plan_with(
        HELLO,
        &PlanOptions {
            enable: vec!["check".into()],
            ..Default::default()
        },
    );
    let names: Vec<&str> = checked.steps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "packages",
            "source",
            "configure",
            "compile",
            "check",
            "install"
        ]
    );
    assert_eq!(
        plain.steps[3].key, checked.steps[3].key,
        "steps before it keep their keys"
    );
}

#[test]
fn a_local_tree_replaces_the_archive_and_keys_by_its_digest() {
    let tree = |sha: &str| PlanOptions {
        source_override: Some(crate::plan::SourceOverride {
            path: "/src".into(),
            files: 3,
            sha256: sha.into(),
        }),
        ..Default::default()
    };
    let a = plan_with(HELLO, &tree("aa"));
    let b = plan_with(HELLO, &tree("bb"));
    assert_eq!(
        changed(&a, &b),
        ["source", "configure", "compile", "install"]
    );
}
