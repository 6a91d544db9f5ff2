//! A node's bundle: everything its role agent needs, rendered from the plan's role templates and
//! the cluster's facts. Launch renders on the host, with the same handlebars templates and the
//! same context the recipe's loading checked (`{{self.ip}}`, `{{master.ip}}`, `{{cluster.secret}}`),
//! so the agent baked into the image needs no template engine: it runs on the image's own
//! 2014-era userland (bash 4.1, no Python) and only writes files, runs the setup and starts the
//! command. The bundle travels to the node the provider's way (uploaded into a container, a
//! seed disk holding it for QEMU, copied over SSH) as a small tar read by `images/agent/baker-agent`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::plan::{Plan, ProbePlan, RolePlan};
use crate::recipe::context::{ClusterFacts, NodeFacts, build_context, role_context};
use crate::recipe::template::{Renderer, Template};
use crate::recipe::{Distro, RoleKind};

#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("the plan has no role `{0}`")]
    UnknownRole(String),
    #[error("the plan's distro `{0}` is unknown to this baker")]
    UnknownDistro(String),
    #[error("rendering {what} of role `{role}`: {message}")]
    Render {
        role: String,
        what: String,
        message: String,
    },
}

/// One node's role, rendered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeBundle {
    pub node: String,
    pub role: String,
    pub kind: RoleKind,
    /// The user the role runs as; `None` is root.
    pub user: Option<String>,
    /// The role's data directories, rendered: absolute paths, one line each in the bundle.
    #[serde(default)]
    pub data: Vec<String>,
    pub env: BTreeMap<String, String>,
    pub files: Vec<BundleFile>,
    pub setup: Option<String>,
    pub command: String,
    pub ready: Vec<ReadyCheck>,
    /// The plan's smoke steps for this node's role, rendered; run only with `--smoke`.
    #[serde(default)]
    pub smoke: Vec<ReadyCheck>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundleFile {
    pub path: String,
    pub mode: u32,
    pub content: String,
}

/// A readiness check with its templates rendered for this node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadyCheck {
    pub probe: ProbePlan,
    pub equals: Option<String>,
    pub timeout_seconds: u64,
}

/// Renders the role of `me` in `cluster` from the plan.
pub fn render_bundle(
    plan: &Plan,
    cluster: &ClusterFacts,
    me: &NodeFacts,
) -> Result<NodeBundle, BundleError> {
    let role: &RolePlan = plan
        .roles
        .get(&me.role)
        .ok_or_else(|| BundleError::UnknownRole(me.role.clone()))?;
    let distro = Distro::parse(&plan.recipe.distro)
        .ok_or_else(|| BundleError::UnknownDistro(plan.recipe.distro.clone()))?;
    let context = role_context(
        &build_context(&plan.recipe.name, distro, &plan.version),
        cluster,
        me,
    );
    let renderer = Renderer::default();
    let render = |what: &str, text: &str| -> Result<String, BundleError> {
        render_one(&renderer, &context, text).map_err(|message| BundleError::Render {
            role: me.role.clone(),
            what: what.to_owned(),
            message,
        })
    };
    let rendered = role.render_templates(render)?;
    for dir in &rendered.data {
        if let Some(fault) = crate::recipe::data_dir_fault(dir) {
            return Err(BundleError::Render {
                role: me.role.clone(),
                what: "a data directory".to_owned(),
                message: format!("`{dir}` {fault}"),
            });
        }
    }
    let ready = (rendered.ready.into_iter())
        .map(|r| ReadyCheck {
            probe: r.probe,
            equals: r.equals,
            timeout_seconds: r.timeout_seconds,
        })
        .collect();
    let smoke = plan
        .smoke
        .iter()
        .filter(|s| s.role == me.role)
        .map(|s| {
            Ok(ReadyCheck {
                probe: ProbePlan::Command {
                    run: render("a smoke step", &s.run)?,
                },
                equals: s
                    .equals
                    .as_deref()
                    .map(|e| render("a smoke step's `equals`", e))
                    .transpose()?,
                timeout_seconds: s.timeout_seconds,
            })
        })
        .collect::<Result<_, BundleError>>()?;
    Ok(NodeBundle {
        smoke,
        node: me.name.clone(),
        role: me.role.clone(),
        kind: role.kind,
        user: role.user.clone(),
        data: rendered.data,
        env: rendered.env,
        files: (rendered.config.into_iter())
            .map(|f| BundleFile {
                path: f.path,
                mode: f.mode,
                content: f.content,
            })
            .collect(),
        setup: rendered.setup,
        command: rendered.command,
        ready,
    })
}

fn render_one(renderer: &Renderer, context: &Value, text: &str) -> Result<String, String> {
    renderer
        .render(&Template::new(text, 0..0), context)
        .map_err(|fault| fault.message)
}
