use super::*;
use crate::plan::{PlanOptions, resolve};
use crate::recipe::Catalog;
use crate::source::tree::TreeEntry;

const BASE: &str = "sha256:base";

fn plan() -> Plan {
    let catalog = Catalog::embedded().unwrap();
    let recipe = catalog.select(Some("hello"), None).unwrap();
    resolve(&recipe, &PlanOptions::default()).unwrap()
}

fn file(path: &str, digest: &str, mtime: u64) -> TreeEntry {
    TreeEntry {
        path: path.into(),
        mode: 0o644,
        digest: digest.into(),
        mtime,
    }
}

fn tree(entries: Vec<TreeEntry>) -> TreeDigest {
    TreeDigest {
        root: "/src".into(),
        entries,
        sha256: String::new(),
    }
}

fn before() -> TreeDigest {
    tree(vec![
        file("configure", "c1", 10),
        file("src", "", 10),
        file("src/hello.c", "h1", 10),
        file("src/gone.c", "g1", 10),
        file("src/touched.c", "t1", 10),
    ])
}

#[test]
fn the_delta_names_changed_deleted_and_touched_paths_by_content() {
    let record = Record::new(&plan(), BASE, &before(), "img");
    let now = tree(vec![
        file("configure", "c1", 10),
        file("src", "", 99),
        file("src/hello.c", "h2", 11),
        file("src/new.c", "n1", 11),
        file("src/touched.c", "t1", 12),
    ]);
    let delta = Delta::between(&record, &now);
    assert_eq!(delta.changed, ["src/hello.c", "src/new.c"]);
    assert_eq!(delta.deleted, ["src/gone.c"]);
    assert_eq!(delta.touched, [("src/touched.c".to_owned(), 12)]);
    assert!(Delta::between(&record, &before()).is_empty());
}

#[test]
fn a_source_change_reruns_compile_but_not_configure() {
    let plan = plan();
    let record = Record::new(&plan, BASE, &before(), "img");
    let mut now = before();
    now.entries[2].digest = "h2".into();
    let run = steps_to_run(&plan, &record, &Delta::between(&record, &now));
    assert_eq!(run, ["compile"]);
    assert!(steps_to_run(&plan, &record, &Delta::between(&record, &before())).is_empty());
}

#[test]
fn a_change_to_configure_s_inputs_reruns_it_and_every_later_step() {
    let plan = plan();
    let record = Record::new(&plan, BASE, &before(), "img");
    let mut now = before();
    now.entries.push(file("src/Makefile.am", "m1", 11));
    let run = steps_to_run(&plan, &record, &Delta::between(&record, &now));
    assert_eq!(run, ["configure", "compile"]);
}

#[test]
fn an_edited_step_reruns_even_on_an_unchanged_tree() {
    let plan = plan();
    let mut record = Record::new(&plan, BASE, &before(), "img");
    record.steps.insert("configure".into(), "other".into());
    let run = steps_to_run(&plan, &record, &Delta::between(&record, &before()));
    assert_eq!(run, ["configure", "compile"]);
}

#[test]
fn the_record_is_named_by_source_recipe_distro_and_version_and_round_trips() {
    let plan = plan();
    let dir = tempfile::tempdir().unwrap();
    let a = record_path(dir.path(), &plan, "/a");
    assert_ne!(a, record_path(dir.path(), &plan, "/b"));
    assert!(Record::load(&a).is_none());
    Record::new(&plan, BASE, &before(), "img").save(&a).unwrap();
    let back = Record::load(&a).unwrap();
    assert_eq!((back.image.as_str(), back.tree.len()), ("img", 5));
    std::fs::write(&a, "{garbled").unwrap();
    assert!(
        Record::load(&a).is_none(),
        "a garbled record means a clean build"
    );
}

#[test]
fn a_record_grown_from_another_base_image_under_the_same_tag_is_not_started_from() {
    let plan = plan();
    let record = Record::new(&plan, "sha256:old-base", &before(), "img");
    assert!(record.fits(&plan, "sha256:old-base"));
    assert!(
        !record.fits(&plan, "sha256:new-base"),
        "the keys name debian:bookworm by tag only: the id tells the images apart"
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.json");
    record.save(&path).unwrap();
    let mut older =
        serde_json::from_slice::<serde_json::Value>(&std::fs::read(&path).unwrap()).unwrap();
    older["format"] = 1.into();
    older.as_object_mut().unwrap().remove("base_image_id");
    std::fs::write(&path, older.to_string()).unwrap();
    assert!(
        Record::load(&path).is_none(),
        "a record that does not say its base image is not used"
    );
}

#[test]
fn no_cache_starts_from_no_record() {
    let plan = plan();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.json");
    Record::new(&plan, BASE, &before(), "img")
        .save(&path)
        .unwrap();
    assert!(record_to_start_from(&path, &plan, BASE, false).is_some());
    assert!(
        record_to_start_from(&path, &plan, BASE, true).is_none(),
        "--no-cache builds from scratch, not on the earlier build tree"
    );
    assert!(record_to_start_from(&path, &plan, "sha256:other", false).is_none());
}
