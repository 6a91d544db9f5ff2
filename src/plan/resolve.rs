//! Recipe + version + options -> [`Plan`]: templates rendered, package lists merged, steps chained,
//! keys computed. Nothing is run or downloaded here.

use std::collections::BTreeMap;

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::key::{base_parent, chain_keys};
use super::packages::packages_step;
use super::roles::role_plans;
use super::*;
use crate::layout::{CCACHE_DIR, DEST_DIR, INPUT_DIR, MAVEN_REPOSITORY, SOURCE_DIR};
use crate::recipe::context::{build_context, file_context};
use crate::recipe::template::Renderer;
use crate::recipe::template_check::render_at;
use crate::recipe::{Recipe, RecipeError, Template};

/// A local source tree used instead of the recipe's archive.
#[derive(Debug, Clone)]
pub struct SourceOverride {
    pub path: String,
    pub files: usize,
    pub sha256: String,
}

#[derive(Debug, Clone, Default)]
pub struct PlanOptions {
    /// `None` means the recipe's default version.
    pub version: Option<String>,
    /// Optional steps to run (by name), e.g. `check`.
    pub enable: Vec<String>,
    pub source_override: Option<SourceOverride>,
    /// sha256 values recorded by earlier downloads of unpinned files, by URL.
    pub locked: BTreeMap<String, String>,
    /// The caller's `$SOURCE_DATE_EPOCH`, if set (see [`Plan::source_date_epoch`]).
    pub source_date_epoch: Option<u64>,
}

pub fn resolve(recipe: &Recipe, options: &PlanOptions) -> Result<Plan, RecipeError> {
    let version = options
        .version
        .clone()
        .unwrap_or_else(|| recipe.default_version.clone());
    let Some(spec) = recipe.versions.get(&version) else {
        return Err(RecipeError::UnknownVersion {
            recipe: format!("{} ({})", recipe.name, recipe.distro),
            given: version,
            available: recipe.version_names().join(", "),
        });
    };
    for name in &options.enable {
        if !recipe.steps.iter().any(|s| s.optional && &s.name == name) {
            let optional: Vec<&str> = recipe
                .steps
                .iter()
                .filter(|s| s.optional)
                .map(|s| s.name.as_str())
                .collect();
            return Err(RecipeError::UnknownOptionalStep {
                recipe: format!("{} ({})", recipe.name, recipe.distro),
                given: name.clone(),
                available: if optional.is_empty() {
                    "none".into()
                } else {
                    optional.join(", ")
                },
            });
        }
    }
    let r = Resolver {
        recipe,
        renderer: Renderer::default(),
        context: build_context(&recipe.name, recipe.distro, &version),
    };

    let mut environment = BTreeMap::new();
    for (k, t) in recipe.env.iter().chain(&spec.env) {
        environment.insert(k.clone(), r.render(t)?);
    }

    let source = r.source(spec, options)?;
    let mut steps = Vec::new();
    if let Some(step) = r.setup_step(&options.locked)? {
        steps.push(step);
    }
    steps.push(packages_step(recipe, spec));
    steps.push(r.source_step(&source, options.source_date_epoch));
    let wrap = recipe
        .build
        .wrap
        .as_ref()
        .map(|t| r.render(t))
        .transpose()?;
    let workdir = match &recipe.build.workdir {
        Some(t) => r.render(t)?,
        None => SOURCE_DIR.to_owned(),
    };
    for s in &recipe.steps {
        let wanted = !s.optional || options.enable.contains(&s.name);
        let for_version = s.versions.is_empty() || s.versions.contains(&version);
        if wanted && for_version {
            steps.push(r.build_step(s, StepKind::Build, &environment, wrap.clone(), &workdir)?);
        }
    }
    steps.push(r.build_step(
        &recipe.install,
        StepKind::Install,
        &environment,
        wrap,
        &workdir,
    )?);
    chain_keys(
        &base_parent(&recipe.base.image, recipe.distro.name()),
        &mut steps,
    );

    Ok(Plan {
        recipe: RecipeRef {
            name: recipe.name.clone(),
            distro: recipe.distro.to_string(),
            origin: recipe.source_text.origin.clone(),
            digest: recipe.digest.clone(),
        },
        artifact: ArtifactPlan {
            file_name: format!("{}-{}-{}.tar.gz", recipe.name, version, recipe.distro),
            root: DEST_DIR.to_owned(),
        },
        version,
        base: recipe.base.clone(),
        source,
        source_date_epoch: options.source_date_epoch,
        environment,
        steps,
        image: recipe.image.clone(),
        roles: role_plans(recipe),
        smoke: recipe
            .smoke
            .iter()
            .map(|s| SmokePlan {
                role: s.role.clone(),
                run: s.run.text.trim().to_owned(),
                equals: s.equals.as_ref().map(|e| e.text.clone()),
                timeout_seconds: s.timeout_seconds,
            })
            .collect(),
        hints: recipe.hints.clone(),
    })
}

struct Resolver<'a> {
    recipe: &'a Recipe,
    renderer: Renderer,
    context: Value,
}

impl Resolver<'_> {
    fn render(&self, t: &Template) -> Result<String, RecipeError> {
        self.render_with(t, &self.context)
    }

    fn render_with(&self, t: &Template, ctx: &Value) -> Result<String, RecipeError> {
        render_at(&self.renderer, &self.recipe.source_text, t, ctx)
    }

    fn source(
        &self,
        spec: &crate::recipe::VersionSpec,
        options: &PlanOptions,
    ) -> Result<SourcePlan, RecipeError> {
        if let Some(tree) = &options.source_override {
            return Ok(SourcePlan::Tree {
                path: tree.path.clone(),
                files: tree.files,
                sha256: tree.sha256.clone(),
            });
        }
        let url = self.render(&self.recipe.source.url)?;
        let mut urls = vec![url.clone()];
        for m in &self.recipe.source.mirrors {
            urls.push(self.render(m)?);
        }
        let file_name = url.rsplit('/').next().unwrap_or("source").to_owned();
        Ok(SourcePlan::Archive {
            file_name,
            locked_sha256: match &spec.pin {
                Pin::Lock { .. } => options.locked.get(&url).cloned(),
                Pin::Sha256 { .. } => None,
            },
            urls,
            pin: spec.pin.clone(),
            strip_components: self.recipe.source.strip_components,
        })
    }

    /// Writes repository files, fetched keys and plain files; `None` when the recipe has none.
    fn setup_step(
        &self,
        locked: &BTreeMap<String, String>,
    ) -> Result<Option<PlanStep>, RecipeError> {
        let mut inputs = Vec::new();
        let mut script = Vec::new();
        for repo in &self.recipe.repositories {
            let content = self.render(&repo.content)?;
            inputs.push(inline(&repo.path, 0o644, content));
            script.push(format!("# repository {}: {}", repo.name, repo.path));
            for key in &repo.keys {
                let url = self.render(&key.url)?;
                let then = key
                    .then
                    .as_ref()
                    .map(|t| self.render_with(t, &file_context(&self.context, &key.path)))
                    .transpose()?;
                if let Some(t) = &then {
                    script.push(t.clone());
                }
                inputs.push(Input::Remote {
                    path: key.path.clone(),
                    sha256: match &key.pin {
                        Pin::Sha256 { sha256, .. } => Some(sha256.clone()),
                        Pin::Lock { .. } => locked.get(&url).cloned(),
                    },
                    url,
                    then,
                });
            }
        }
        for file in &self.recipe.files {
            let content = self.render(&file.content)?;
            script.push(format!("# file {}", file.path));
            inputs.push(inline(&file.path, file.mode, content));
        }
        if inputs.is_empty() {
            return Ok(None);
        }
        script.insert(
            0,
            "# the files below are placed by baker before this script runs".to_owned(),
        );
        Ok(Some(PlanStep {
            name: "setup".into(),
            kind: StepKind::Setup,
            command: script.join("\n"),
            wrap: None,
            workdir: "/".into(),
            env: BTreeMap::new(),
            caches: vec![],
            inputs,
            source_inputs: vec![],
            key: String::new(),
            timeout_seconds: None,
        }))
    }

    /// Unpacks the source; with the caller's `SOURCE_DATE_EPOCH` in its environment, so that a value
    /// changes this key and every later one (the install step's, and so the cached tarball's).
    fn source_step(&self, source: &SourcePlan, epoch: Option<u64>) -> PlanStep {
        let (command, sha256) = match source {
            SourcePlan::Archive {
                file_name,
                pin,
                locked_sha256,
                strip_components,
                ..
            } => (
                format!(
                    "mkdir -p {SOURCE_DIR}\ntar -xf {INPUT_DIR}/{file_name} -C {SOURCE_DIR} --strip-components={strip_components} --no-same-owner\nrm -f {INPUT_DIR}/{file_name}"
                ),
                match pin {
                    Pin::Sha256 { sha256, .. } => Some(sha256.clone()),
                    Pin::Lock { .. } => locked_sha256.clone(),
                },
            ),
            SourcePlan::Tree { sha256, .. } => (
                format!("# the source tree is copied to {SOURCE_DIR} by baker"),
                Some(sha256.clone()),
            ),
        };
        PlanStep {
            name: "source".into(),
            kind: StepKind::Source,
            command,
            wrap: None,
            workdir: "/".into(),
            env: epoch
                .map(|e| ("SOURCE_DATE_EPOCH".to_owned(), e.to_string()))
                .into_iter()
                .collect(),
            caches: vec![],
            inputs: vec![Input::Source { sha256 }],
            source_inputs: vec![],
            key: String::new(),
            timeout_seconds: None,
        }
    }

    fn build_step(
        &self,
        s: &crate::recipe::StepSpec,
        kind: StepKind,
        environment: &BTreeMap<String, String>,
        wrap: Option<String>,
        workdir: &str,
    ) -> Result<PlanStep, RecipeError> {
        let mut env = environment.clone();
        for (k, t) in &s.env {
            env.insert(k.clone(), self.render(t)?);
        }
        let mut caches = Vec::new();
        for cache in &s.caches {
            let target = match cache {
                CacheKind::Ccache => {
                    env.insert("CCACHE_DIR".into(), CCACHE_DIR.into());
                    env.insert("CCACHE_BASEDIR".into(), SOURCE_DIR.into());
                    env.insert("CCACHE_COMPILERCHECK".into(), "content".into());
                    env.insert("CCACHE_SLOPPINESS".into(), "time_macros".into());
                    // A miss costs the compile alone, not a preprocessor run before it: ccache 4
                    // keys such compiles by the dependency file of `-MD`/`-MMD` (automake's
                    // dependency tracking, PostgreSQL's --enable-depend) and falls back to its
                    // usual mode without one. 18% less compile time on PostgreSQL's cold build;
                    // ccache 3 (Ubuntu 14.04, CentOS 6) ignores it.
                    env.insert("CCACHE_DEPEND".into(), "true".into());
                    env.insert(
                        "CCACHE_MAXSIZE".into(),
                        self.recipe.build.ccache_max_size.clone(),
                    );
                    CCACHE_DIR
                }
                CacheKind::Packages => self.recipe.base.package_manager.cache_dir(),
                CacheKind::Maven => MAVEN_REPOSITORY,
            };
            caches.push(CacheMount {
                cache: *cache,
                target: target.into(),
            });
        }
        Ok(PlanStep {
            name: s.name.clone(),
            kind,
            command: self.render(&s.run)?.trim().to_owned(),
            wrap,
            workdir: workdir.to_owned(),
            env,
            caches,
            inputs: vec![],
            source_inputs: s.inputs.clone(),
            key: String::new(),
            timeout_seconds: s.timeout.map(|d| d.as_secs()),
        })
    }
}

fn inline(path: &str, mode: u32, content: String) -> Input {
    Input::Inline {
        path: path.to_owned(),
        mode,
        sha256: hex::encode(Sha256::digest(content.as_bytes())),
        content,
    }
}
