//! recipes/README.md checked against baker itself, so that it cannot go stale silently: its worked
//! example loads and plans, `baker plan` prints what the document shows for it, its error examples
//! are what baker says, the fields its tables document are exactly the ones the parser takes, and
//! its template variables are the ones templates see.

use std::collections::{BTreeMap, BTreeSet};

use baker::plan::{PlanOptions, resolve, roles_for_display};
use baker::recipe::context::{ClusterFacts, build_context, file_context, role_context};
use baker::recipe::template::describe_variables;
use baker::recipe::validate::parse;
use baker::recipe::{Distro, SourceText};

use super::baker;

const README: &str = include_str!("../../recipes/README.md");

/// The part of the README from the heading `## <title>` to the next `## ` heading.
fn section(title: &str) -> &'static str {
    let start = README
        .find(&format!("\n## {title}\n"))
        .unwrap_or_else(|| panic!("recipes/README.md has no section `{title}`"));
    let body = &README[start + 1..];
    let end = body[3..].find("\n## ").map_or(body.len(), |i| i + 4);
    &body[..end]
}

/// The contents of every fenced block in `text` whose opening fence is exactly `fence`.
fn fenced(text: &str, fence: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    // Inside a block: `Some(text)` when it is one of those asked for, `None` for another.
    let mut inside: Option<Option<String>> = None;
    for line in text.lines() {
        match inside.as_mut() {
            None if line.starts_with("```") => {
                inside = Some((line == fence).then(String::new));
            }
            None => {}
            Some(block) if line == "```" => {
                blocks.extend(block.take());
                inside = None;
            }
            Some(Some(block)) => {
                block.push_str(line);
                block.push('\n');
            }
            Some(None) => {}
        }
    }
    blocks
}

fn worked_example() -> String {
    fenced(section("A worked example"), "```toml")
        .into_iter()
        .next()
        .expect("the worked example's TOML")
}

/// The worked example's `$ baker …` block: the command's arguments and the output shown.
fn shown_plan() -> (Vec<String>, Vec<String>) {
    let block = fenced(section("A worked example"), "```")
        .into_iter()
        .find(|b| b.starts_with("$ baker "))
        .expect("the worked example's `$ baker plan` output");
    let mut lines = block.lines();
    let command = lines.next().unwrap();
    let args = command["$ baker ".len()..]
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    (args, lines.map(str::to_owned).collect())
}

/// Where the shown output says the example was loaded from, e.g. `my-recipes/x/debian-12.toml`.
fn example_path(shown: &[String]) -> String {
    let line = shown
        .iter()
        .find_map(|l| l.trim_start().strip_prefix("recipe "))
        .expect("a `recipe` line in the shown plan");
    line.trim().split(' ').next().unwrap().to_owned()
}

/// Runs `args` in a fresh directory holding the example (with `edit` applied) where the shown
/// output says it was saved; returns stdout and stderr.
fn run_on_example(args: &[String], edit: impl Fn(&str) -> String) -> (bool, String, String) {
    let (_, shown) = shown_plan();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(example_path(&shown));
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, edit(&worked_example())).unwrap();
    let out = baker().current_dir(dir.path()).args(args).output().unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.success(), text(&out.stdout), text(&out.stderr))
}

#[test]
fn the_worked_example_loads_and_plans_with_its_roles_rendered() {
    let recipe = parse(SourceText::new("recipes/README.md", worked_example())).unwrap();
    assert_eq!(recipe.name, "hello-minimal");
    let plan = resolve(&recipe, &PlanOptions::default()).unwrap();
    assert_eq!(plan.steps.len(), 5);
    let shown = roles_for_display(&plan);
    assert!(shown.as_written.is_empty(), "{:?}", shown.as_written);
}

#[test]
fn baker_plan_prints_what_the_readme_shows_for_the_worked_example() {
    let (args, shown) = shown_plan();
    let (ok, stdout, stderr) = run_on_example(&args, str::to_owned);
    assert!(ok, "{stderr}");
    let actual: Vec<&str> = stdout.lines().collect();
    // `…` in the shown output stands for any number of lines; every other line is printed as
    // shown, in order, and the shown output starts and ends where baker's does.
    let parts: Vec<&[String]> = shown.split(|l| l.trim() == "…").collect();
    let mut at = 0;
    for (i, part) in parts.iter().enumerate() {
        let found = (at..=actual.len().saturating_sub(part.len()))
            .find(|&start| {
                part.iter()
                    .zip(&actual[start..])
                    .all(|(want, got)| want == got)
            })
            .unwrap_or_else(|| {
                panic!(
                    "recipes/README.md shows\n{}\nbut baker printed\n{stdout}",
                    part.join("\n")
                )
            });
        assert!(i > 0 || found == 0, "baker printed first\n{stdout}");
        at = found + part.len();
    }
    assert_eq!(at, actual.len(), "baker printed more at the end:\n{stdout}");
}

#[test]
fn the_readme_error_examples_are_what_baker_says() {
    let (args, _) = shown_plan();
    let examples = fenced(section("Errors"), "```");
    let examples: Vec<&String> = examples
        .iter()
        .filter(|b| b.starts_with("error: "))
        .collect();
    assert!(examples.len() >= 3, "{examples:?}");
    for example in examples {
        // The snippet's `NN | text` line is the example's line NN as the error shows it.
        let (number, text) = example
            .lines()
            .find_map(|l| {
                let (n, text) = l.split_once(" | ")?;
                Some((n.trim().parse::<usize>().ok()?, text.to_owned()))
            })
            .expect("a numbered source line");
        let (ok, _, stderr) = run_on_example(&args, |toml| {
            let mut lines: Vec<&str> = toml.lines().collect();
            lines[number - 1] = &text;
            lines.join("\n") + "\n"
        });
        assert!(!ok);
        assert_eq!(stderr.trim_end(), example.trim_end());
    }
}

/// A table the field reference documents: its TOML path and whether it is an array of tables.
#[derive(Debug)]
struct DocumentedTable {
    path: Vec<String>,
    array: bool,
    fields: BTreeSet<String>,
}

/// Every table of "The fields" with the names in the first column of its `| field |` table.
fn documented_tables() -> Vec<DocumentedTable> {
    let mut tables: Vec<DocumentedTable> = Vec::new();
    let mut in_fields = false;
    for line in section("The fields").lines() {
        let heading = line.strip_prefix("### ").unwrap_or(line);
        if let Some(rest) = heading.strip_prefix('`').filter(|r| r.starts_with('[')) {
            let name = &rest[..rest.find('`').unwrap()];
            let array = name.starts_with("[[");
            let inner = name.trim_matches(|c| c == '[' || c == ']');
            tables.push(DocumentedTable {
                path: inner
                    .split('.')
                    .map(|s| s.trim_matches('"').to_owned())
                    .collect(),
                array,
                fields: BTreeSet::new(),
            });
            in_fields = false;
        } else if line.starts_with("| field |") {
            in_fields = true;
        } else if !line.starts_with('|') {
            in_fields = false;
        } else if in_fields && !line.starts_with("|---") {
            let cell = line.split('|').nth(1).unwrap().trim();
            let table = tables.last_mut().unwrap();
            table.fields.insert(cell.trim_matches('`').to_owned());
        }
    }
    tables.retain(|t| !t.fields.is_empty());
    tables
}

/// The fields the parser takes in the table at `path` of the worked example: asked of the parser
/// itself, by writing an unknown field there and reading the fields its error expects.
fn parsed_fields(path: &[String], arrays: &BTreeSet<Vec<String>>) -> BTreeSet<String> {
    let mut root: toml::Table = worked_example().parse().unwrap();
    let mut table = &mut root;
    for depth in 1..=path.len() {
        let key = match path[depth - 1].as_str() {
            "X" => "2.10",
            "NAME" => "greeter",
            other => other,
        };
        let array = arrays.contains(&path[..depth].to_vec());
        let entry = table.entry(key).or_insert_with(|| {
            if array {
                toml::Value::Array(vec![toml::Value::Table(toml::Table::new())])
            } else {
                toml::Value::Table(toml::Table::new())
            }
        });
        table = match entry {
            toml::Value::Array(items) => items[0].as_table_mut().unwrap(),
            other => other.as_table_mut().unwrap(),
        };
    }
    table.insert("zz_unknown".into(), toml::Value::Integer(1));
    let text = toml::to_string(&root).unwrap();
    let err = parse(SourceText::new("probe.toml", text))
        .unwrap_err()
        .to_string();
    let expected = err
        .split_once("unknown field `zz_unknown`, expected ")
        .unwrap_or_else(|| panic!("{path:?}: {err}"))
        .1;
    let expected = expected.split([';', '\n']).next().unwrap();
    expected
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_documented_fields_are_exactly_the_ones_the_parser_takes() {
    let tables = documented_tables();
    assert!(tables.len() >= 15, "{tables:?}");
    let arrays: BTreeSet<Vec<String>> = tables
        .iter()
        .filter(|t| t.array)
        .map(|t| t.path.clone())
        .collect();
    let mut by_path = BTreeMap::new();
    for table in &tables {
        let parsed = parsed_fields(&table.path, &arrays);
        // A table documented under its own heading (`[[image.boots_on]]`) is a field of its parent.
        let mut documented = table.fields.clone();
        documented.extend(
            tables
                .iter()
                .filter(|t| t.path.len() == table.path.len() + 1 && t.path.starts_with(&table.path))
                .map(|t| t.path.last().unwrap().clone()),
        );
        assert_eq!(
            documented,
            parsed,
            "recipes/README.md documents these fields of [{}]; the parser takes the second list",
            table.path.join(".")
        );
        by_path.insert(table.path.join("."), table.fields.clone());
    }
    // A role's `config` files have "the same fields as `[[files]]`".
    let config = parsed_fields(&["roles".into(), "NAME".into(), "config".into()], &{
        let mut arrays = arrays.clone();
        arrays.insert(vec!["roles".into(), "NAME".into(), "config".into()]);
        arrays
    });
    assert_eq!(config, by_path["files"]);
    // The top-level tables, as the section's first paragraph lists them.
    let listed = section("The fields")
        .split_once("Top-level tables: ")
        .unwrap()
        .1;
    let listed: BTreeSet<String> = listed[..listed.find('.').unwrap()]
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect();
    assert_eq!(listed, parsed_fields(&[], &arrays));
}

#[test]
fn the_documented_template_variables_are_the_ones_templates_see() {
    let table = section("Template variables");
    let documented: BTreeSet<String> = table
        .lines()
        .skip_while(|l| !l.starts_with("| variable |"))
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .flat_map(|l| l.split('|').nth(1).unwrap().split(','))
        .map(|name| name.trim().trim_matches('`').to_owned())
        .collect();
    let build = build_context("x", Distro::Debian12, "1");
    let cluster = ClusterFacts::example("m", "s");
    let mut seen: BTreeSet<String> = BTreeSet::new();
    for context in [
        role_context(&build, &cluster, &cluster.master),
        file_context(&build, "/x"),
    ] {
        seen.extend(describe_variables(&context).split(", ").map(str::to_owned));
    }
    assert_eq!(documented, seen);
}
