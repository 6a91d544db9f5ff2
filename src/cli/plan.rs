//! `baker plan`: the resolved build plan, as text for people or JSON for tools. Nothing is run.

use std::fmt::Write as _;
use std::process::ExitCode;

use clap::Args;

use baker::plan::{Input, Plan, RolesForDisplay, SourcePlan, roles_for_display};
use baker::recipe::Pin;

use super::Global;
use super::select::Selection;

#[derive(Debug, Args)]
#[command(
    mut_arg("enable", |a| a.help(
        "Include an optional step in the plan (e.g. `check` for `make check`); repeatable"
    )),
    mut_arg("source_dir", |a| a.help(
        "Plan the build of this local source tree instead of the recipe's release archive"
    ))
)]
pub struct PlanArgs {
    #[command(flatten)]
    pub selection: Selection,
    /// Print the plan as JSON (the form tests snapshot and later stages read).
    #[arg(long)]
    pub json: bool,
}

pub fn run(global: &Global, args: &PlanArgs) -> anyhow::Result<ExitCode> {
    let plan = args.selection.plan(global)?;
    if args.json {
        super::emit(&(serde_json::to_string_pretty(&plan)? + "\n"))?;
    } else {
        super::emit(&render_text(&plan))?;
    }
    Ok(ExitCode::SUCCESS)
}

fn short(key: &str) -> &str {
    &key[..key.len().min(12)]
}

/// The plan as people read it: what, from where, then each step with its key and command.
pub fn render_text(plan: &Plan) -> String {
    let mut out = String::new();
    let w = &mut out;
    let _ = writeln!(
        w,
        "{} {} for {}",
        plan.recipe.name, plan.version, plan.recipe.distro
    );
    let _ = writeln!(
        w,
        "  recipe      {} (sha256 {})",
        plan.recipe.origin,
        short(&plan.recipe.digest)
    );
    let _ = writeln!(
        w,
        "  base image  {} ({})",
        plan.base.image, plan.base.package_manager
    );
    if let Some(epoch) = plan.source_date_epoch {
        let _ = writeln!(w, "  epoch       {epoch} (from $SOURCE_DATE_EPOCH)");
    }
    match &plan.source {
        SourcePlan::Archive {
            file_name,
            urls,
            pin,
            locked_sha256,
            ..
        } => {
            let _ = writeln!(w, "  source      {file_name}");
            match pin {
                Pin::Sha256 { sha256, origin } => {
                    let _ = writeln!(
                        w,
                        "              sha256 {sha256}\n              (pinned: {origin})"
                    );
                }
                Pin::Lock { reason } => {
                    let state = locked_sha256.as_ref().map_or_else(
                        || "not locked yet: the first download will be recorded".to_owned(),
                        |s| format!("locked sha256 {s}"),
                    );
                    let _ = writeln!(
                        w,
                        "              UNPINNED ({reason})\n              {state}"
                    );
                }
            }
            for (i, url) in urls.iter().enumerate() {
                let _ = writeln!(
                    w,
                    "              {} {url}",
                    if i == 0 { "from" } else { "  or" }
                );
            }
        }
        SourcePlan::Tree {
            path,
            files,
            sha256,
        } => {
            let _ = writeln!(
                w,
                "  source      local tree {path} ({files} files, sha256 {})",
                short(sha256)
            );
        }
    }
    if !plan.environment.is_empty() {
        let _ = writeln!(w, "  environment");
        for (k, v) in &plan.environment {
            let _ = writeln!(w, "              {k}={v}");
        }
    }
    let _ = writeln!(
        w,
        "\nsteps ({}), each keyed by its parent, its command and its inputs:",
        plan.steps.len()
    );
    for (i, step) in plan.steps.iter().enumerate() {
        let _ = writeln!(
            w,
            "  {:>2}. {:<12} key {}",
            i + 1,
            step.name,
            short(&step.key)
        );
        for input in &step.inputs {
            let line =
                match input {
                    Input::Inline { path, sha256, .. } => {
                        format!("writes {path} (sha256 {})", short(sha256))
                    }
                    Input::Remote {
                        path, url, sha256, ..
                    } => format!(
                        "fetches {url} -> {path} ({})",
                        sha256.as_deref().map_or(
                            "unpinned, not locked yet".to_owned(),
                            |s| format!("sha256 {}", short(s))
                        )
                    ),
                    Input::Source { sha256 } => format!(
                        "unpacks the source ({})",
                        sha256.as_deref().map_or(
                            "unpinned, not locked yet".to_owned(),
                            |s| format!("sha256 {}", short(s))
                        )
                    ),
                };
            let _ = writeln!(w, "        {line}");
        }
        if !step.caches.is_empty() {
            let mounts: Vec<String> = step
                .caches
                .iter()
                .map(|c| {
                    format!(
                        "{} at {}",
                        serde_json::to_value(c.cache)
                            .unwrap_or_default()
                            .as_str()
                            .unwrap_or(""),
                        c.target
                    )
                })
                .collect();
            let _ = writeln!(w, "        caches: {}", mounts.join(", "));
        }
        if let Some(wrap) = &step.wrap {
            let _ = writeln!(w, "        under: {wrap}");
        }
        for line in step.command.lines() {
            let _ = writeln!(w, "        $ {line}");
        }
    }
    let _ = writeln!(
        w,
        "\nartifact: {} (the tree under {})",
        plan.artifact.file_name, plan.artifact.root
    );
    render_image_and_roles(w, plan);
    if !plan.hints.is_empty() {
        let _ = writeln!(w, "failure hints: {}", plan.hints.len());
    }
    out
}

/// The run-time half: the image layer with where it boots, then each role with everything it does.
fn render_image_and_roles(w: &mut String, plan: &Plan) {
    if let Some(image) = &plan.image {
        let _ = writeln!(
            w,
            "\nimage layer: kernel {}, bootloader {}, init {}, firmware {}",
            image.kernel,
            image.bootloader,
            image.init,
            image
                .firmware
                .iter()
                .map(|f| f.name())
                .collect::<Vec<_>>()
                .join(" + ")
        );
        if !image.runtime_packages.is_empty() {
            let _ = writeln!(w, "  packages   {}", image.runtime_packages.join(" "));
        }
        if let Some(options) = &image.mkfs_options {
            let _ = writeln!(w, "  mkfs.ext4  {options}");
        }
        for target in &image.boots_on {
            let _ = writeln!(w, "  boots on   {}", target.summary());
        }
    }
    let shown = roles_for_display(plan);
    render_roles_header(w, plan, &shown);
    for (name, role) in &shown.roles {
        let _ = writeln!(
            w,
            "\nrole {name} ({}): {}",
            role.kind.name(),
            role.description
        );
        if let Some(user) = &role.user {
            let _ = writeln!(w, "  user   {user}");
        }
        if !role.ports.is_empty() {
            let ports: Vec<String> = role.ports.iter().map(u16::to_string).collect();
            let _ = writeln!(w, "  ports  {}", ports.join(", "));
        }
        for dir in &role.data {
            let _ = writeln!(w, "  data   {dir}");
        }
        for (k, v) in &role.env {
            let _ = writeln!(w, "  env    {k}={v}");
        }
        for file in &role.config {
            let _ = writeln!(
                w,
                "  writes {} ({:04o}): {}",
                file.path,
                file.mode,
                file.content.trim_end().replace('\n', "\\n")
            );
        }
        if let Some(setup) = &role.setup {
            for line in setup.lines() {
                let _ = writeln!(w, "  setup  $ {line}");
            }
        }
        let _ = writeln!(w, "  runs   $ {}", role.command);
        for ready in &role.ready {
            let _ = writeln!(
                w,
                "  ready  {}{} (within {} s)",
                ready.probe,
                ready
                    .equals
                    .as_ref()
                    .map(|e| format!(" == {e}"))
                    .unwrap_or_default(),
                ready.timeout_seconds
            );
        }
    }
    if !shown.smoke.is_empty() {
        let _ = writeln!(w, "\nsmoke test (`baker launch --smoke`), in this order:");
    }
    for step in &shown.smoke {
        let mut lines = step.run.lines();
        let first = lines.next().unwrap_or_default();
        let _ = writeln!(w, "  on every {} $ {first}", step.role);
        for line in lines {
            let _ = writeln!(w, "      {line}");
        }
        let printing = (step.equals.as_ref()).map_or(String::new(), |e| format!(" printing `{e}`"));
        let _ = writeln!(
            w,
            "    passes when it exits 0{printing} (tried again for up to {} s)",
            step.timeout_seconds
        );
    }
}

/// What the roles below show: their templates rendered for this version, with a placeholder for
/// each value a launch fills in per node, and the node a slave is shown as when that matters.
fn render_roles_header(w: &mut String, plan: &Plan, shown: &RolesForDisplay) {
    if shown.roles.is_empty() {
        return;
    }
    let _ = writeln!(
        w,
        "\nroles, rendered for {} {} (`baker plan --json` keeps the templates as written):",
        plan.recipe.name, plan.version
    );
    if !shown.filled_at_launch.is_empty() {
        let _ = writeln!(
            w,
            "  filled in per node at launch: {}",
            shown.filled_at_launch.join(" ")
        );
    }
    if shown.by_slot {
        let _ = writeln!(
            w,
            "  each role is shown in slot 0, the first node on its machine: a node placed beside \
             another (`--provider ssh`) adds its slot to ports and directories"
        );
    }
    if shown.by_index {
        let _ = writeln!(
            w,
            "  a slave is shown as the first slave (self.index 1): each slave renders its own index"
        );
    }
    for (what, why) in &shown.as_written {
        let _ = writeln!(w, "  {what} is shown as written: {why}");
    }
}
