//! The options that choose what to build, shared by `baker plan`, `build`, `image` and `launch`: the
//! flags of the library's [`baker::builder::Selection`], which turns them into a [`Plan`]. Their
//! help speaks of a build; `plan`, which runs nothing, says what `--enable` and `--source-dir` mean
//! there (`mut_arg` in `plan.rs`).

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use baker::artifact::epoch_from_env;
use baker::builder;
use baker::plan::Plan;

use super::Global;

/// The [`Selection`] options a build folder (`--from`) has already decided: given with it, they
/// would be ignored, so they are refused.
pub const CHOSEN_BY_THE_BUILD: [&str; 5] = ["distro", "recipe", "version", "enable", "source_dir"];

/// The [`super::build::BuildFlags`] that only steer a build, which `--from` skips: given with it,
/// they would be ignored, so they are refused too.
pub const ONLY_WHEN_BUILDING: [&str; 5] = [
    "jobs",
    "step_timeout",
    "mirror",
    "no_upstream",
    "incremental",
];

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
    /// The selection in the library's terms, with `$SOURCE_DATE_EPOCH` when it is set.
    pub fn to_library(&self) -> anyhow::Result<builder::Selection> {
        Ok(builder::Selection {
            recipe: self.recipe.clone(),
            distro: self.distro.clone(),
            version: self.version.clone(),
            enable: self.enable.clone(),
            source_dir: self.source_dir.clone(),
            source_date_epoch: epoch_from_env().context("reading $SOURCE_DATE_EPOCH")?,
            stat_cache: None,
            output_dir: None,
        })
    }

    /// The plan, with the locks the lock file holds; nothing is downloaded or run.
    pub fn plan(&self, global: &Global) -> anyhow::Result<Plan> {
        let catalog = global.catalog()?;
        let mut selection = self.to_library()?;
        selection.stat_cache = Some(global.cache().stat());
        Ok(selection.plan(&catalog, &global.lock_file())?)
    }
}
