//! The options that choose what to build, shared by `baker plan` and `baker build`, and the step that
//! turns them into a [`Plan`].

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use baker::artifact::epoch_from_env;
use baker::plan::{Plan, PlanOptions, SourceOverride, resolve};
use baker::source::lock::LockFile;
use baker::source::tree::digest_tree;

use super::Global;

#[derive(Debug, Args)]
pub struct Selection {
    /// Distro to build for: centos6, ubuntu14.04 (trusty), debian12 (bookworm); forgiving spellings accepted.
    #[arg(long, short)]
    pub distro: Option<String>,
    /// Recipe name (see `baker recipes`) or path to a recipe file [default: mesos, or the distro's only recipe].
    #[arg(long, short)]
    pub recipe: Option<String>,
    /// Version to build [default: the recipe's default_version].
    #[arg(long = "version", short = 'V', value_name = "VERSION")]
    pub version: Option<String>,
    /// Run an optional step too (e.g. `check` for `make check`); repeatable.
    #[arg(long, value_name = "STEP")]
    pub enable: Vec<String>,
    /// Build this local source tree instead of the recipe's release archive.
    #[arg(long, value_name = "DIR")]
    pub source_dir: Option<PathBuf>,
}

impl Selection {
    pub fn plan(&self, global: &Global) -> anyhow::Result<Plan> {
        let catalog = global.catalog()?;
        let recipe = catalog.select(self.recipe.as_deref(), self.distro.as_deref())?;
        let source_override = match &self.source_dir {
            None => None,
            Some(dir) => {
                let dir = dir
                    .canonicalize()
                    .with_context(|| format!("source directory {}", dir.display()))?;
                let tree = digest_tree(&dir)
                    .with_context(|| format!("reading source directory {}", dir.display()))?;
                Some(SourceOverride {
                    path: dir.display().to_string(),
                    files: tree.files(),
                    sha256: tree.sha256,
                })
            }
        };
        let locked = LockFile::load(&global.cache().lock_file())?.files;
        Ok(resolve(
            &recipe,
            &PlanOptions {
                version: self.version.clone(),
                enable: self.enable.clone(),
                source_override,
                locked,
                source_date_epoch: epoch_from_env().context("reading $SOURCE_DATE_EPOCH")?,
            },
        )?)
    }
}
