//! Roles as the plan carries them. Their templates stay unrendered: cluster facts (`{{master.ip}}`,
//! `{{self.ip}}`) exist only when a cluster boots; the recipe's loading already checked them. Probes
//! stay structured so that launch runs them instead of parsing what `baker plan` prints.
//! [`RolePlan::render_templates`] is the one walk over a role's templates, for launch's bundles
//! and `baker plan`'s display alike.

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
                    data: role.data.iter().map(|d| d.text.clone()).collect(),
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

impl RolePlan {
    /// The role with each template (env values, setup, command, data directories, config contents,
    /// readiness URLs, commands and `equals`) replaced by what `render` makes of it; `render` is also told what the
    /// template is (`command`, `env PGDATA`, `a readiness URL`…), for its errors.
    pub fn render_templates<E>(
        &self,
        mut render: impl FnMut(&str, &str) -> Result<String, E>,
    ) -> Result<RolePlan, E> {
        let env = (self.env.iter())
            .map(|(k, v)| Ok((k.clone(), render(&format!("env {k}"), v)?)))
            .collect::<Result<_, E>>()?;
        let setup = (self.setup.as_deref())
            .map(|s| render("setup", s))
            .transpose()?;
        let command = render("command", &self.command)?;
        let data = (self.data.iter())
            .map(|d| render("a data directory", d))
            .collect::<Result<_, E>>()?;
        let config = (self.config.iter())
            .map(|f| {
                let content = render(&format!("config file {}", f.path), &f.content)?;
                Ok(ConfigFilePlan {
                    content,
                    ..f.clone()
                })
            })
            .collect::<Result<_, E>>()?;
        let mut ready = Vec::with_capacity(self.ready.len());
        for check in &self.ready {
            let probe = match &check.probe {
                ProbePlan::Http {
                    url,
                    status,
                    json_pointer,
                } => ProbePlan::Http {
                    url: render("a readiness URL", url)?,
                    status: *status,
                    json_pointer: json_pointer.clone(),
                },
                ProbePlan::Command { run } => ProbePlan::Command {
                    run: render("a readiness command", run)?,
                },
            };
            let equals = (check.equals.as_deref())
                .map(|e| render("a readiness `equals`", e))
                .transpose()?;
            ready.push(ReadyPlan {
                probe,
                equals,
                timeout_seconds: check.timeout_seconds,
            });
        }
        Ok(RolePlan {
            env,
            setup,
            command,
            data,
            config,
            ready,
            ..self.clone()
        })
    }
}
