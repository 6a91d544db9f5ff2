//! Roles as the plan carries them. Their templates stay unrendered: cluster facts (`{{master.ip}}`,
//! `{{self.ip}}`) exist only when a cluster boots; the recipe's loading already checked them. Probes
//! stay structured so that launch runs them instead of parsing what `baker plan` prints.

use std::collections::BTreeMap;

use super::{ConfigFilePlan, ProbePlan, ReadyPlan, RolePlan};
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
                        } => ProbePlan::Http {
                            url: url.text.clone(),
                            status: *status,
                            json_pointer: json_pointer.clone(),
                        },
                        ReadyProbe::Command { run } => ProbePlan::Command {
                            run: run.text.trim().to_owned(),
                        },
                    },
                    equals: c.equals.as_ref().map(|e| e.text.clone()),
                    timeout_seconds: c.timeout_seconds,
                })
                .collect();
            (
                name.clone(),
                RolePlan {
                    kind: role.kind,
                    description: role.description.clone(),
                    user: role.user.clone(),
                    ports: role.ports.clone(),
                    env: role
                        .env
                        .iter()
                        .map(|(k, t)| (k.clone(), t.text.clone()))
                        .collect(),
                    setup: role.setup.as_ref().map(|t| t.text.trim().to_owned()),
                    command: role.command.text.trim().to_owned(),
                    config: role
                        .config
                        .iter()
                        .map(|f| ConfigFilePlan {
                            path: f.path.clone(),
                            mode: f.mode,
                            content: f.content.text.clone(),
                        })
                        .collect(),
                    ready,
                },
            )
        })
        .collect()
}
