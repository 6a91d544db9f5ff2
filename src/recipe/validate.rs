//! From the file as written ([`RawRecipe`]) to a checked [`Recipe`]: defaults applied, names and
//! checksums checked, and every template rendered once per version (and for roles, against an example
//! cluster) so that an unknown variable fails at load time with its `file:line:column`.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

use sha2::{Digest, Sha256};
use toml::Spanned;

use super::error::{RecipeError, did_you_mean};
use super::raw::{self, RawRecipe};
use super::template::{Renderer, Template};
use super::template_check::check_templates;
use super::*;

/// Parses and checks one recipe file.
pub fn parse(source: SourceText) -> Result<Recipe, RecipeError> {
    let raw: RawRecipe =
        toml::from_str(&source.text).map_err(|e| RecipeError::from_toml(&source, &e))?;
    Checker {
        source: &source,
        renderer: Renderer::default(),
    }
    .recipe(raw)
}

struct Checker<'a> {
    source: &'a SourceText,
    renderer: Renderer,
}

impl Checker<'_> {
    fn at(&self, span: Range<usize>, message: impl Into<String>) -> RecipeError {
        RecipeError::At {
            location: self.source.locate(span),
            message: message.into(),
        }
    }

    fn recipe(&self, raw: RawRecipe) -> Result<Recipe, RecipeError> {
        let distro = Distro::parse(raw.recipe.distro.get_ref()).ok_or_else(|| {
            self.at(
                raw.recipe.distro.span(),
                Distro::unknown(raw.recipe.distro.get_ref()),
            )
        })?;
        let name = raw.recipe.name.get_ref().clone();
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(self.at(
                raw.recipe.name.span(),
                "a recipe name is letters, digits and `-`",
            ));
        }
        let package_manager = match raw.base.package_manager.get_ref().as_str() {
            "apt" => PackageManager::Apt,
            "yum" => PackageManager::Yum,
            other => {
                return Err(self.at(
                    raw.base.package_manager.span(),
                    format!("unknown package manager `{other}`; expected `apt` or `yum`"),
                ));
            }
        };

        let versions = self.versions(&raw)?;
        let default_version = raw.recipe.default_version.get_ref().clone();
        if !versions.contains_key(&default_version) {
            return Err(self.at(
                raw.recipe.default_version.span(),
                format!(
                    "default_version `{default_version}` is not among [versions]: {}",
                    versions.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            ));
        }

        let steps = raw
            .steps
            .iter()
            .map(|s| {
                let mut spec = self.step(
                    &s.name,
                    &s.run,
                    &s.caches,
                    &s.env,
                    s.optional,
                    &s.versions,
                    &s.inputs,
                    &versions,
                )?;
                spec.timeout = self.timeout(s.timeout.as_ref())?;
                Ok(spec)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut seen = BTreeSet::new();
        for (step, raw_step) in steps.iter().zip(&raw.steps) {
            // The plan's own steps carry these names, and later stages find them by name.
            if ["source", "setup", "packages", "install"].contains(&step.name.as_str()) {
                return Err(self.at(
                    raw_step.name.span(),
                    format!(
                        "step name `{}` is reserved: the plan's own steps are source, setup, \
                         packages and install (the last from [install]); choose another name",
                        step.name
                    ),
                ));
            }
            if !seen.insert(step.name.clone()) {
                return Err(self.at(
                    raw_step.name.span(),
                    format!("step name `{}` is used twice", step.name),
                ));
            }
        }
        let install_name = Spanned::new(0..0, "install".to_owned());
        let mut install = self.step(
            &install_name,
            &raw.install.run,
            &raw.install.caches,
            &raw.install.env,
            false,
            &[],
            &[],
            &versions,
        )?;
        install.timeout = self.timeout(raw.install.timeout.as_ref())?;

        let roles = self.roles(&raw)?;
        let recipe = Recipe {
            name,
            distro,
            description: raw.recipe.description.clone(),
            digest: hex::encode(Sha256::digest(self.source.text.as_bytes())),
            source_text: self.source.clone(),
            default_version,
            base: Base {
                image: raw.base.image.get_ref().clone(),
                package_manager,
                how_to_make: raw.base.how_to_make.clone(),
            },
            repositories: raw
                .repositories
                .iter()
                .map(|r| self.repository(r))
                .collect::<Result<_, _>>()?,
            files: raw
                .files
                .iter()
                .map(|f| self.file(f))
                .collect::<Result<_, _>>()?,
            packages: names(&raw.packages.install),
            package_groups: names(&raw.packages.groups),
            source: SourceSpec {
                url: Template::from_spanned(&raw.source.url),
                mirrors: raw
                    .source
                    .mirrors
                    .iter()
                    .map(Template::from_spanned)
                    .collect(),
                strip_components: raw.source.strip_components,
            },
            versions,
            env: self.env(&raw.env)?,
            build: BuildSettings {
                wrap: raw.build.wrap.as_ref().map(Template::from_spanned),
                workdir: raw.build.workdir.as_ref().map(Template::from_spanned),
                ccache_max_size: raw
                    .build
                    .ccache_max_size
                    .clone()
                    .unwrap_or_else(|| "5G".to_owned()),
            },
            steps,
            install,
            image: raw.image.as_ref().map(|i| self.image(i)).transpose()?,
            roles: roles.clone(),
            smoke: self.smoke(&raw, &roles)?,
            hints: raw
                .hints
                .iter()
                .map(|h| {
                    regex::Regex::new(h.pattern.get_ref()).map_err(|e| {
                        self.at(h.pattern.span(), format!("invalid hint pattern: {e}"))
                    })?;
                    Ok(Hint {
                        pattern: h.pattern.get_ref().clone(),
                        advice: h.advice.trim().to_owned(),
                    })
                })
                .collect::<Result<_, RecipeError>>()?,
        };
        check_templates(&self.renderer, &recipe)?;
        Ok(recipe)
    }

    #[allow(clippy::too_many_arguments)]
    fn step(
        &self,
        name: &Spanned<String>,
        run: &Spanned<String>,
        caches: &[Spanned<String>],
        env: &BTreeMap<String, Spanned<String>>,
        optional: bool,
        only_versions: &[Spanned<String>],
        inputs: &[Spanned<String>],
        versions: &BTreeMap<String, VersionSpec>,
    ) -> Result<StepSpec, RecipeError> {
        let step_name = name.get_ref();
        if step_name.is_empty()
            || !step_name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            return Err(self.at(
                name.span(),
                "a step name is lower-case letters, digits and `-`",
            ));
        }
        let caches = caches
            .iter()
            .map(|c| {
                CacheKind::ALL
                    .iter()
                    .find(|(n, _)| n == c.get_ref())
                    .map(|(_, k)| *k)
                    .ok_or_else(|| {
                        let valid: Vec<&str> = CacheKind::ALL.iter().map(|(n, _)| *n).collect();
                        let hint = did_you_mean(c.get_ref(), valid.iter().copied());
                        self.at(
                            c.span(),
                            format!(
                                "unknown cache `{}`; valid: {}{hint}",
                                c.get_ref(),
                                valid.join(", ")
                            ),
                        )
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        for v in only_versions {
            if !versions.contains_key(v.get_ref()) {
                return Err(self.at(
                    v.span(),
                    format!(
                        "version `{}` is not among [versions]: {}",
                        v.get_ref(),
                        versions.keys().cloned().collect::<Vec<_>>().join(", ")
                    ),
                ));
            }
        }
        Ok(StepSpec {
            name: step_name.clone(),
            run: Template::from_spanned(run),
            caches,
            env: self.env(env)?,
            optional,
            versions: names(only_versions),
            timeout: None,
            inputs: self.input_globs(inputs)?,
        })
    }

    /// A step's `timeout`: a duration such as `90m`, `2h 30m` or `45s`, at least a second.
    fn timeout(
        &self,
        text: Option<&Spanned<String>>,
    ) -> Result<Option<std::time::Duration>, RecipeError> {
        let Some(text) = text else {
            return Ok(None);
        };
        match parse_duration(text.get_ref()) {
            Ok(d) => Ok(Some(d)),
            Err(why) => Err(self.at(text.span(), format!("timeout: {why}"))),
        }
    }

    /// A step's `inputs`: globs relative to the source tree, each checked to compile.
    fn input_globs(&self, inputs: &[Spanned<String>]) -> Result<Vec<String>, RecipeError> {
        inputs
            .iter()
            .map(|g| {
                let glob = g.get_ref();
                if glob.is_empty() || glob.starts_with('/') || glob.split('/').any(|c| c == "..") {
                    return Err(self.at(
                        g.span(),
                        format!("input `{glob}` must be a glob relative to the source tree (no leading `/`, no `..`), e.g. `configure` or `**/*.in`"),
                    ));
                }
                globset::Glob::new(glob).map_err(|e| {
                    self.at(g.span(), format!("input `{glob}` is not a valid glob: {}", e.kind()))
                })?;
                Ok(glob.clone())
            })
            .collect()
    }

    fn env(
        &self,
        env: &BTreeMap<String, Spanned<String>>,
    ) -> Result<BTreeMap<String, Template>, RecipeError> {
        env.iter()
            .map(|(k, v)| {
                let valid = k
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                    && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                if !valid {
                    return Err(self.at(
                        v.span(),
                        format!("`{k}` is not a valid environment variable name"),
                    ));
                }
                Ok((k.clone(), Template::from_spanned(v)))
            })
            .collect()
    }

    fn file(&self, f: &raw::RawFile) -> Result<FileSpec, RecipeError> {
        let mode = match &f.mode {
            None => 0o644,
            Some(m) => u32::from_str_radix(m.trim_start_matches("0o"), 8).map_err(|_| {
                self.at(
                    f.path.span(),
                    format!("mode `{m}` is not an octal number like \"0644\""),
                )
            })?,
        };
        Ok(FileSpec {
            path: self.absolute(&f.path)?,
            content: Template::from_spanned(&f.content),
            mode,
        })
    }

    /// A path a file is written to inside the container: checked here, at load time, so that a
    /// bad one is reported with its `file:line:column` rather than when a step's archive is made.
    fn absolute(&self, path: &Spanned<String>) -> Result<String, RecipeError> {
        let value = path.get_ref();
        let fault = if value.contains('\0') {
            Some("contains a NUL byte")
        } else if !value.starts_with('/') {
            Some("is not absolute")
        } else if value.split('/').any(|part| part == "..") {
            Some("has a `..` component")
        } else if value.ends_with('/') || value.split('/').next_back() == Some(".") {
            Some("names a directory, not a file")
        } else {
            None
        };
        match fault {
            None => Ok(value.clone()),
            Some(fault) => Err(self.at(
                path.span(),
                format!(
                    "path {value:?} {fault}; expected an absolute path of a file inside the \
                     container, like \"/etc/app/app.conf\": starting with `/`, without `..` \
                     components or NUL bytes"
                ),
            )),
        }
    }
}

fn names(list: &[Spanned<String>]) -> Vec<String> {
    list.iter().map(|s| s.get_ref().trim().to_owned()).collect()
}

#[cfg(test)]
#[path = "validate_tests.rs"]
mod tests;

#[path = "validate_runtime.rs"]
mod runtime;

#[path = "validate_pins.rs"]
mod pins;

/// Parses a step timeout (`90m`, `2h 30m`, `45s`); used for the recipe field and `--step-timeout`.
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let d = humantime::parse_duration(text.trim())
        .map_err(|e| format!("`{text}` is not a duration ({e}); write e.g. 90m, 2h 30m, 45s"))?;
    if d < std::time::Duration::from_secs(1) {
        return Err(format!("`{text}` is shorter than a second"));
    }
    Ok(d)
}
