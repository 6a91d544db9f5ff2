//! Role templates as `baker plan` shows them to people: rendered with what the plan already knows
//! (the recipe, its version and distro, each role's name, the master's place) and with a visible
//! placeholder such as `<self.ip>` for each value that only a launch knows: node names and
//! addresses, the number of slaves, the cluster's name and its secret. A real secret is never
//! shown, because a plan has none.
//!
//! The rendering is launch's own: the same [`Renderer`] (strict, with `add`, `eq` and the other
//! helpers) and the same [`role_context`] as `launch::bundle`, field by field, so what `baker plan`
//! shows cannot drift from what a node runs. Every role is shown in slot 0 (the first node on its
//! machine), and a slave as the first slave; [`RolesForDisplay`] says when a role's templates read
//! `self.slot`, or a slave's `self.index`, so that the reader learns that another node differs
//! there. The plan itself, and
//! `baker plan --json` with it (the contract launch reads), keeps the templates as written.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{Plan, ProbePlan, RolePlan, SmokePlan};
use crate::recipe::context::{ClusterFacts, NodeFacts, build_context, role_context};
use crate::recipe::template::{Renderer, Template};
use crate::recipe::{Distro, RoleKind};

/// What stands for `{{slave_count}}`, which only `baker launch --slaves N` decides.
pub const SLAVE_COUNT_PLACEHOLDER: &str = "<slave_count>";

/// Every placeholder a displayed role may hold, in the order they are listed.
pub const LAUNCH_PLACEHOLDERS: &[&str] = &[
    "<self.name>",
    "<self.ip>",
    "<master.name>",
    "<master.ip>",
    "<slaves.*.name>",
    "<slaves.*.ip>",
    SLAVE_COUNT_PLACEHOLDER,
    "<cluster.name>",
    "<cluster.secret>",
];

/// The plan's roles, rendered for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolesForDisplay {
    /// Each role with every template rendered (or as written, when it is in `as_written`).
    pub roles: BTreeMap<String, RolePlan>,
    /// The placeholders that appear in `roles`, in [`LAUNCH_PLACEHOLDERS`] order.
    pub filled_at_launch: Vec<&'static str>,
    /// Whether a role's templates read `self.slot`: another slot shows other ports or directories.
    pub by_slot: bool,
    /// Whether a slave's templates read `self.index`: another slave shows other values.
    pub by_index: bool,
    /// The smoke test (`baker launch --smoke`), each step rendered for a node of its role.
    pub smoke: Vec<SmokePlan>,
    /// What is shown as written (`role master`, `smoke step 2`), each with why a template could not
    /// be rendered for display (a helper that needs a number where a placeholder stands, say).
    pub as_written: Vec<(String, String)>,
}

/// The plan's roles with their templates rendered for display; see the module's doc.
pub fn roles_for_display(plan: &Plan) -> RolesForDisplay {
    let mut shown = RolesForDisplay {
        roles: BTreeMap::new(),
        filled_at_launch: Vec::new(),
        by_slot: false,
        by_index: false,
        smoke: Vec::new(),
        as_written: Vec::new(),
    };
    let renderer = Renderer::default();
    let cluster = placeholder_cluster(plan);
    for (name, role) in &plan.roles {
        let me = placeholder_self(name, role.kind);
        let render_as = |me: &NodeFacts| {
            let context = display_context(plan, &cluster, me)?;
            render_role(&renderer, &context, role)
        };
        let rendered = render_as(&me).and_then(|first| {
            let other_slot = NodeFacts {
                slot: me.slot + 1,
                ..me.clone()
            };
            shown.by_slot |= render_as(&other_slot)? != first;
            if role.kind == RoleKind::Slave {
                let other_index = NodeFacts {
                    index: me.index + 1,
                    ..me.clone()
                };
                shown.by_index |= render_as(&other_index)? != first;
            }
            Ok(first)
        });
        let role = rendered.unwrap_or_else(|why| {
            shown.as_written.push((format!("role {name}"), why));
            role.clone()
        });
        shown.roles.insert(name.clone(), role);
    }
    for (n, step) in plan.smoke.iter().enumerate() {
        let rendered = smoke_for_display(plan, &renderer, &cluster, step).unwrap_or_else(|why| {
            shown
                .as_written
                .push((format!("smoke step {}", n + 1), why));
            step.clone()
        });
        shown.smoke.push(rendered);
    }
    let mut texts: Vec<&str> = shown.roles.values().flat_map(role_texts).collect();
    for step in &shown.smoke {
        texts.push(&step.run);
        texts.extend(step.equals.as_deref());
    }
    shown.filled_at_launch = LAUNCH_PLACEHOLDERS
        .iter()
        .copied()
        .filter(|p| texts.iter().any(|t| t.contains(p)))
        .collect();
    shown
}

/// Renders every template of `role` against `context`, as a node's bundle renders it
/// ([`RolePlan::render_templates`]); the first fault is returned as its message.
pub fn render_role(
    renderer: &Renderer,
    context: &Value,
    role: &RolePlan,
) -> Result<RolePlan, String> {
    role.render_templates(|what, text| {
        renderer
            .render(&Template::new(text, 0..0), context)
            .map_err(|fault| format!("{what}: {}", fault.message))
    })
}

/// What the templates of node `me` see, as a launch gives it (`launch::bundle`), with the
/// cluster's placeholders and [`SLAVE_COUNT_PLACEHOLDER`].
fn display_context(plan: &Plan, cluster: &ClusterFacts, me: &NodeFacts) -> Result<Value, String> {
    let distro = Distro::parse(&plan.recipe.distro)
        .ok_or_else(|| format!("the distro `{}` is unknown", plan.recipe.distro))?;
    let build = build_context(&plan.recipe.name, distro, &plan.version);
    let mut context = role_context(&build, cluster, me);
    context["slave_count"] = Value::from(SLAVE_COUNT_PLACEHOLDER);
    Ok(context)
}

/// Smoke step `step` as a node of its role runs it; why not, when it cannot be rendered.
fn smoke_for_display(
    plan: &Plan,
    renderer: &Renderer,
    cluster: &ClusterFacts,
    step: &SmokePlan,
) -> Result<SmokePlan, String> {
    let role = (plan.roles.get(&step.role))
        .ok_or_else(|| format!("the plan has no role `{}`", step.role))?;
    let context = display_context(plan, cluster, &placeholder_self(&step.role, role.kind))?;
    let render = |what: &str, text: &str| {
        renderer
            .render(&Template::new(text, 0..0), &context)
            .map_err(|fault| format!("{what}: {}", fault.message))
    };
    let equals = (step.equals.as_deref())
        .map(|e| render("its `equals`", e))
        .transpose()?;
    Ok(SmokePlan {
        run: render("its command", &step.run)?,
        equals,
        ..step.clone()
    })
}

/// Every template-bearing string of a role.
fn role_texts(role: &RolePlan) -> Vec<&str> {
    let mut texts = vec![role.command.as_str()];
    texts.extend(role.setup.as_deref());
    texts.extend(role.env.values().map(String::as_str));
    texts.extend(role.config.iter().map(|f| f.content.as_str()));
    for ready in &role.ready {
        texts.push(match &ready.probe {
            ProbePlan::Http { url, .. } => url,
            ProbePlan::Command { run } => run,
        });
        texts.extend(ready.equals.as_deref());
    }
    texts
}

/// A node whose name and address are placeholders under `prefix` (`self`, `master`, `slaves.*`).
fn placeholder_node(prefix: &str, role: &str, index: usize) -> NodeFacts {
    NodeFacts {
        name: format!("<{prefix}.name>"),
        ip: format!("<{prefix}.ip>"),
        role: role.to_owned(),
        index,
        slot: 0,
    }
}

/// The cluster as a plan knows it: the master's role and place (index 0, slot 0, as launch puts
/// it first), one stand-in for every slave (none without a slave role), and placeholders for the
/// rest.
pub fn placeholder_cluster(plan: &Plan) -> ClusterFacts {
    let master_role = plan.master_role().map_or("", |(name, _)| name);
    let slave_role = (plan.roles.iter()).find(|(_, r)| r.kind == RoleKind::Slave);
    ClusterFacts {
        name: "<cluster.name>".to_owned(),
        secret: "<cluster.secret>".to_owned(),
        master: placeholder_node("master", master_role, 0),
        // A recipe without a slave role launches no slaves: none is shown.
        slaves: (slave_role.into_iter())
            .map(|(name, _)| placeholder_node("slaves.*", name, 1))
            .collect(),
    }
}

/// The node a role is shown for: the master, or the first slave (index 1) in slot 0.
fn placeholder_self(role: &str, kind: RoleKind) -> NodeFacts {
    let index = match kind {
        RoleKind::Master => 0,
        RoleKind::Slave => 1,
    };
    placeholder_node("self", role, index)
}
