//! Roles as `baker plan` shows them: rendered field by field as launch renders a node's bundle,
//! with each version's own flags, placeholders for launch-time values, slot 0 for a slave, and a
//! role shown as written when a template cannot take a placeholder.

use super::role_display::{LAUNCH_PLACEHOLDERS, render_role, roles_for_display};
use super::{Plan, PlanOptions, ProbePlan, RolePlan, every_embedded_plan, resolve};
use crate::launch::bundle::render_bundle;
use crate::recipe::context::{ClusterFacts, build_context, role_context};
use crate::recipe::template::Renderer;
use crate::recipe::{Catalog, Distro};

/// The plan of every embedded recipe and version.
fn every_plan() -> Vec<Plan> {
    (every_embedded_plan(&PlanOptions::default()).into_iter())
        .map(|(_, plan)| plan)
        .collect()
}

fn mesos_plan(distro: &str, version: &str) -> Plan {
    let catalog = Catalog::embedded().unwrap();
    let recipe = catalog.select(Some("mesos"), Some(distro)).unwrap();
    let options = PlanOptions {
        version: Some(version.to_owned()),
        ..PlanOptions::default()
    };
    resolve(&recipe, &options).unwrap()
}

/// Every string of a displayed role, for looking through.
fn all_text(role: &RolePlan) -> String {
    let mut text = format!("{} {:?} {:?}", role.command, role.setup, role.env);
    for file in &role.config {
        text += &file.content;
    }
    for ready in &role.ready {
        text += &format!("{} {:?}", ready.probe, ready.equals);
    }
    text
}

#[test]
fn the_display_renders_every_field_as_a_nodes_bundle_does() {
    let renderer = Renderer::default();
    for plan in every_plan() {
        let distro = Distro::parse(&plan.recipe.distro).unwrap();
        let master = plan.master_role().unwrap().0.to_owned();
        let slave = (plan.roles.iter())
            .find(|(_, role)| role.kind == crate::recipe::RoleKind::Slave)
            .map_or(master.clone(), |(name, _)| name.clone());
        let cluster = ClusterFacts::example(&master, &slave);
        let nodes = std::iter::once(&cluster.master).chain(&cluster.slaves);
        for me in nodes {
            let build = build_context(&plan.recipe.name, distro, &plan.version);
            let context = role_context(&build, &cluster, me);
            let shown = render_role(&renderer, &context, &plan.roles[&me.role]).unwrap();
            let bundle = render_bundle(&plan, &cluster, me).unwrap();
            let what = format!("{} {} {}", plan.recipe.name, plan.version, me.name);
            assert_eq!(shown.command, bundle.command, "{what}");
            assert_eq!(shown.setup, bundle.setup, "{what}");
            assert_eq!(shown.env, bundle.env, "{what}");
            let files: Vec<_> = shown
                .config
                .iter()
                .map(|f| (f.path.clone(), f.mode, f.content.clone()))
                .collect();
            let bundled: Vec<_> = bundle
                .files
                .iter()
                .map(|f| (f.path.clone(), f.mode, f.content.clone()))
                .collect();
            assert_eq!(files, bundled, "{what}");
            let ready: Vec<_> = shown
                .ready
                .iter()
                .map(|r| (r.probe.clone(), r.equals.clone(), r.timeout_seconds))
                .collect();
            let checks: Vec<_> = bundle
                .ready
                .iter()
                .map(|r| (r.probe.clone(), r.equals.clone(), r.timeout_seconds))
                .collect();
            assert_eq!(ready, checks, "{what}");
        }
    }
}

#[test]
fn every_embedded_role_is_shown_rendered_with_no_template_left() {
    for plan in every_plan() {
        let shown = roles_for_display(&plan);
        assert!(shown.as_written.is_empty(), "{:?}", shown.as_written);
        assert_eq!(shown.roles.len(), plan.roles.len());
        for (name, role) in &shown.roles {
            let text = all_text(role);
            assert!(
                !text.contains("{{"),
                "{} {} role {name}: {text}",
                plan.recipe.name,
                plan.version
            );
        }
        // The plan itself keeps the templates: it is what launch renders.
        assert!(
            plan.roles.values().any(|r| all_text(r).contains("{{")),
            "{} {}",
            plan.recipe.name,
            plan.version
        );
    }
}

#[test]
fn the_mesos_master_shows_the_flags_of_its_version() {
    for distro in ["ubuntu14.04", "centos6"] {
        for (version, flags, not) in [
            (
                "0.25.0",
                "--authenticate --authenticate_slaves",
                "--authenticate_agents",
            ),
            (
                "1.11.0",
                "--authenticate_frameworks --authenticate_agents",
                "--authenticate_slaves",
            ),
        ] {
            let shown = roles_for_display(&mesos_plan(distro, version));
            let command = &shown.roles["master"].command;
            assert!(command.ends_with(flags), "{distro} {version}: {command}");
            assert!(!command.contains(not), "{distro} {version}: {command}");
            assert!(
                command.contains("--ip=<self.ip> ") && command.contains("--cluster=<cluster.name>"),
                "{command}"
            );
        }
    }
}

#[test]
fn launch_values_are_placeholders_and_a_slave_is_shown_in_slot_0() {
    let shown = roles_for_display(&mesos_plan("centos6", "0.25.0"));
    assert_eq!(
        shown.filled_at_launch,
        [
            "<self.ip>",
            "<master.ip>",
            "<slave_count>",
            "<cluster.name>",
            "<cluster.secret>"
        ]
    );
    assert!(shown.by_slot);
    assert!(!shown.by_index);
    let slave = &shown.roles["slave"];
    assert!(
        slave.command.contains("--master=<master.ip>:5050")
            && slave.command.contains("--port=5051 ")
            && slave.command.contains("--work_dir=/var/lib/mesos "),
        "{}",
        slave.command
    );
    let ready = &shown.roles["master"].ready[1];
    assert_eq!(ready.equals.as_deref(), Some("<slave_count>"));
    assert!(
        matches!(&ready.probe, ProbePlan::Http { url, .. } if url.starts_with("http://<self.ip>:5050/"))
    );
    let credential = slave
        .config
        .iter()
        .find(|f| f.path == "/etc/mesos/credential")
        .unwrap();
    assert!(
        credential.content.contains("\"agent-<cluster.secret>\""),
        "{}",
        credential.content
    );
    for placeholder in &shown.filled_at_launch {
        assert!(LAUNCH_PLACEHOLDERS.contains(placeholder));
    }
}

#[test]
fn a_role_whose_template_needs_a_launch_number_is_shown_as_written() {
    let mut plan = mesos_plan("ubuntu14.04", "1.11.0");
    let master = plan.roles.get_mut("master").unwrap();
    master.command = "serve --peers={{add slave_count 1}} --ip={{self.ip}}".to_owned();
    let shown = roles_for_display(&plan);
    assert_eq!(shown.roles["master"].command, master_command(&plan));
    assert_eq!(shown.as_written.len(), 1, "{:?}", shown.as_written);
    assert_eq!(shown.as_written[0].0, "role master");
    assert!(
        shown.as_written[0].1.starts_with("command: ") && shown.as_written[0].1.contains("`add`"),
        "{}",
        shown.as_written[0].1
    );
    // The other role is still rendered.
    assert!(!shown.roles["slave"].command.contains("{{"));
}

fn master_command(plan: &Plan) -> String {
    plan.roles["master"].command.clone()
}

#[test]
fn a_slave_template_that_reads_its_index_says_so() {
    let mut plan = mesos_plan("ubuntu14.04", "1.11.0");
    let slave = plan.roles.get_mut("slave").unwrap();
    slave.command = "serve --id={{self.index}} --on={{self.role}}".to_owned();
    let shown = roles_for_display(&plan);
    assert_eq!(shown.roles["slave"].command, "serve --id=1 --on=slave");
    assert!(shown.by_index);
}

#[test]
fn a_recipe_without_slaves_is_shown_with_none_and_a_smoke_step_that_cannot_render_says_why() {
    let mut plan = super::embedded_plan("hello", "debian12");
    assert!(
        super::role_display::placeholder_cluster(&plan)
            .slaves
            .is_empty()
    );
    let master = plan.master_role().unwrap().0.to_owned();
    plan.smoke = vec![super::SmokePlan {
        role: master,
        run: "{{#each slaves}}ping {{this.ip}}; {{/each}}echo {{add slave_count 1}}".to_owned(),
        equals: None,
        timeout_seconds: 5,
    }];
    let shown = roles_for_display(&plan);
    assert_eq!(shown.as_written.len(), 1, "{:?}", shown.as_written);
    assert_eq!(shown.as_written[0].0, "smoke step 1");
    assert!(
        shown.as_written[0].1.starts_with("its command: "),
        "{:?}",
        shown.as_written
    );
    assert_eq!(shown.smoke[0], plan.smoke[0], "shown as written");
}
