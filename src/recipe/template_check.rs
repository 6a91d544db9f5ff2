//! Renders every template of a recipe once per version (and role templates against an example
//! cluster) so that a typo in a variable fails when the recipe is loaded, with its `file:line:column`,
//! not in the one build or boot that happens to use it.

use serde_json::Value;

use super::context::{ClusterFacts, build_context, file_context, role_context};
use super::error::RecipeError;
use super::template::{Renderer, Template};
use super::{ReadyProbe, Recipe, RoleKind, SourceText};

/// Renders every template of the recipe for every version, so that a typo in a variable never
/// waits for the one build that uses it.
pub fn check_templates(renderer: &Renderer, recipe: &Recipe) -> Result<(), RecipeError> {
    let of_kind = |kind: RoleKind| {
        recipe
            .roles
            .iter()
            .find(|(_, r)| r.kind == kind)
            .map(|(name, _)| name.clone())
    };
    let master_role = of_kind(RoleKind::Master).unwrap_or_default();
    let slave_role = of_kind(RoleKind::Slave).unwrap_or_else(|| master_role.clone());
    let cluster = ClusterFacts::example(&master_role, &slave_role);
    // The same cluster with its master in slot 1 (placed again by `--resume` beside a slave), so
    // that both sides of an `{{#if master.slot}}` are rendered too.
    let mut moved = cluster.clone();
    moved.master.slot = 1;
    let clusters = [cluster, moved];
    for version in recipe.versions.keys() {
        let build = build_context(&recipe.name, recipe.distro, version);
        let check =
            |t: &Template, ctx: &Value| render_at(renderer, &recipe.source_text, t, ctx).map(drop);
        check(&recipe.source.url, &build)?;
        for t in recipe.source.mirrors.iter().chain(recipe.env.values()) {
            check(t, &build)?;
        }
        for r in &recipe.repositories {
            check(&r.content, &build)?;
            for k in &r.keys {
                check(&k.url, &build)?;
                if let Some(then) = &k.then {
                    check(then, &file_context(&build, &k.path))?;
                }
            }
        }
        for f in &recipe.files {
            check(&f.content, &build)?;
        }
        for t in recipe.versions.values().flat_map(|v| v.env.values()) {
            check(t, &build)?;
        }
        for t in [&recipe.build.wrap, &recipe.build.workdir]
            .into_iter()
            .flatten()
        {
            check(t, &build)?;
        }
        for s in recipe.steps.iter().chain([&recipe.install]) {
            check(&s.run, &build)?;
            for t in s.env.values() {
                check(t, &build)?;
            }
        }
        // Slot 0 and slot 1 (a second node on the first slave's machine): both sides of an
        // `{{#if self.slot}}` are rendered.
        let nodes = || {
            clusters
                .iter()
                .flat_map(|c| c.slaves.iter().map(move |me| (c, me)))
        };
        for (cluster, me) in nodes() {
            let ctx = role_context(&build, cluster, me);
            for smoke in &recipe.smoke {
                check(&smoke.run, &ctx)?;
                if let Some(e) = &smoke.equals {
                    check(e, &ctx)?;
                }
            }
        }
        for (role, (cluster, me)) in recipe
            .roles
            .values()
            .flat_map(|r| nodes().map(move |node| (r, node)))
        {
            let ctx = role_context(&build, cluster, me);
            for t in role
                .setup
                .iter()
                .chain([&role.command])
                .chain(role.env.values())
                .chain(&role.data)
            {
                check(t, &ctx)?;
            }
            for f in &role.config {
                check(&f.content, &ctx)?;
            }
            for c in &role.ready {
                match &c.probe {
                    ReadyProbe::Http { url, .. } => check(url, &ctx)?,
                    ReadyProbe::Command { run } => check(run, &ctx)?,
                }
                if let Some(e) = &c.equals {
                    check(e, &ctx)?;
                }
            }
        }
    }
    Ok(())
}

/// Renders one template, turning a fault into an error at the fault's place in the recipe file.
pub fn render_at(
    renderer: &Renderer,
    source: &SourceText,
    template: &Template,
    context: &Value,
) -> Result<String, RecipeError> {
    renderer.render(template, context).map_err(|fault| {
        let span = fault
            .needle
            .as_deref()
            .and_then(|n| source.find_within(template.span.clone(), n))
            .unwrap_or_else(|| template.span.clone());
        RecipeError::At {
            location: source.locate(span),
            message: fault.message,
        }
    })
}
