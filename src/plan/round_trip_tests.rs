//! `plan.json` is the contract between stages: what `baker build` writes, `baker image` and
//! `baker launch` read back whole. These tests pin that nothing is lost on the way, for every
//! embedded recipe and version, and that a file of another format is refused by name.

use super::*;
use crate::recipe::Catalog;

fn every_embedded_plan() -> Vec<Plan> {
    let options = PlanOptions {
        source_date_epoch: Some(1_700_000_000),
        ..PlanOptions::default()
    };
    (super::every_embedded_plan(&options).into_iter())
        .map(|(_, plan)| plan)
        .collect()
}

#[test]
fn every_embedded_plan_survives_plan_json() {
    let dir = tempfile::tempdir().unwrap();
    let plans = every_embedded_plan();
    assert!(plans.len() >= 6, "{} plans", plans.len());
    for plan in plans {
        let path = dir.path().join(PLAN_FILE);
        write_plan(&plan, &path).unwrap();
        let back = read_plan(&path).unwrap();
        assert_eq!(back, plan, "{} {}", plan.recipe.name, plan.version);
        // Keys are recomputed the same way from what was read.
        let mut rekeyed = back.steps.clone();
        key::chain_keys(
            &key::base_parent(&back.base.image, &back.recipe.distro),
            &mut rekeyed,
        );
        assert_eq!(rekeyed, plan.steps);
    }
}

#[test]
fn plan_json_keeps_inline_contents_role_templates_and_typed_probes() {
    let plans = every_embedded_plan();
    let mesos = plans
        .iter()
        .find(|p| p.recipe.name == "mesos" && p.recipe.distro == "centos-6.6")
        .unwrap();
    let text = serde_json::to_string(mesos).unwrap();
    assert!(text.contains("[WANdiscoSVN]"), "repository file content");
    let (name, master) = mesos.master_role().unwrap();
    assert_eq!(name, "master");
    assert!(
        master.command.contains("{{self.ip}}"),
        "unrendered template"
    );
    assert!(master.ready.iter().any(|r| matches!(
        &r.probe,
        ProbePlan::Http { json_pointer: Some(p), .. } if p == "/master~1slaves_active"
    )));
    let slave = &mesos.roles["slave"];
    assert_eq!(slave.kind, RoleKind::Slave);
    assert_eq!(slave.env["MESOS_LAUNCHER"], "posix");
    assert!(mesos.image.as_ref().unwrap().boots_on.len() >= 3);
}

#[test]
fn a_plan_of_another_format_is_refused_with_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(PLAN_FILE);
    let plan = every_embedded_plan().remove(0);
    write_plan(&plan, &path).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replacen("\"format\": 1", "\"format\": 2", 1)).unwrap();
    let err = read_plan(&path).unwrap_err().to_string();
    assert!(err.contains("format 2"), "{err}");
    assert!(err.contains("rebuild"), "{err}");
    std::fs::write(&path, "{}").unwrap();
    assert!(
        read_plan(&path)
            .unwrap_err()
            .to_string()
            .contains("format none")
    );
    std::fs::write(&path, "not json").unwrap();
    assert!(
        read_plan(&path)
            .unwrap_err()
            .to_string()
            .contains("is not a baker plan")
    );
}

#[test]
fn source_date_epoch_keys_the_source_step_and_everything_after_it_only_when_set() {
    let catalog = Catalog::embedded().unwrap();
    let hello = catalog.select(Some("hello"), Some("debian12")).unwrap();
    let plan = |epoch| {
        resolve(
            &hello,
            &PlanOptions {
                source_date_epoch: epoch,
                ..Default::default()
            },
        )
        .unwrap()
    };
    let (none, a, b) = (plan(None), plan(Some(1)), plan(Some(2)));
    let source = none.steps.iter().position(|s| s.name == "source").unwrap();
    for i in 0..none.steps.len() {
        let same = none.steps[i].key == a.steps[i].key;
        assert_eq!(same, i < source, "step {}", none.steps[i].name);
        assert_ne!(a.steps[i].key == b.steps[i].key, i >= source);
    }
    assert!(!none.steps[source].env.contains_key("SOURCE_DATE_EPOCH"));
    assert_eq!(a.steps[source].env["SOURCE_DATE_EPOCH"], "1");
}
