//! Roles as the plan shows them. Their templates stay unrendered: cluster facts (`{{master.ip}}`,
//! `{{self.ip}}`) exist only when a cluster boots; the recipe's loading already checked them.

use std::collections::BTreeMap;

use super::{ReadyPlan, RolePlan};
use crate::recipe::{ReadyProbe, Recipe};

pub(super) fn role_plans(recipe: &Recipe) -> BTreeMap<String, RolePlan> {
    recipe
        .roles
        .iter()
        .map(|(name, role)| {
            let ready = role
                .ready
                .iter()
                .map(|c| ReadyPlan {
                    probe: match &c.probe {
                        ReadyProbe::Http {
                            url,
                            status,
                            json_pointer,
                        } => format!(
                            "http GET {} -> {status}{}",
                            url.text,
                            json_pointer
                                .as_ref()
                                .map(|p| format!(", {p}"))
                                .unwrap_or_default()
                        ),
                        ReadyProbe::Command { run } => format!("command {}", run.text.trim()),
                    },
                    equals: c.equals.as_ref().map(|e| e.text.clone()),
                    timeout_seconds: c.timeout_seconds,
                })
                .collect();
            (
                name.clone(),
                RolePlan {
                    description: role.description.clone(),
                    user: role.user.clone(),
                    ports: role.ports.clone(),
                    setup: role.setup.as_ref().map(|t| t.text.trim().to_owned()),
                    command: role.command.text.trim().to_owned(),
                    config: role
                        .config
                        .iter()
                        .map(|f| (f.path.clone(), f.content.text.clone()))
                        .collect(),
                    ready,
                },
            )
        })
        .collect()
}
