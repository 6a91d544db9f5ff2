//! What the user picked, made into a plan: the recipe (by name, distro or path), the version, the
//! optional steps, and a local source tree instead of the release archive, with the sha256s the lock
//! file already holds. `baker plan` prints this plan; [`build`](super::build) builds it. Nothing is
//! downloaded or run here; a `--source-dir` tree is read to digest it.

use std::path::{Path, PathBuf};

use super::BuildError;
use crate::plan::{Plan, PlanOptions, SourceOverride, resolve};
use crate::recipe::Catalog;
use crate::source::lock::LockFile;
use crate::source::stat_cache::StatCache;
use crate::source::tree::{LeftOut, TreeDigest, digest_tree_with};

/// The build's output folder when none is given: `out`, in the working directory.
pub const DEFAULT_OUT_DIR: &str = "out";

/// What to build, as the user chose it.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// A recipe name or the path of a recipe file [default: the distro's only recipe, or mesos].
    pub recipe: Option<String>,
    /// A distro, in any spelling [`crate::recipe::Distro::parse`] accepts.
    pub distro: Option<String>,
    /// [default: the recipe's default version].
    pub version: Option<String>,
    /// Optional steps to run too, by name.
    pub enable: Vec<String>,
    /// A local source tree built instead of the recipe's release archive.
    pub source_dir: Option<PathBuf>,
    /// The caller's `$SOURCE_DATE_EPOCH`, if set: the clamp for the tarball's times.
    pub source_date_epoch: Option<u64>,
    /// Where the stat caches of `--source-dir` trees live (`<cache>/stat`); none re-hashes every file.
    pub stat_cache: Option<PathBuf>,
    /// The build's output folder, left out of the `--source-dir` tree when it is inside it (see
    /// [`LeftOut`]); [`build`](super::build) sets it from `--out`. [default: [`DEFAULT_OUT_DIR`],
    /// so that `baker plan`, which has no `--out`, gives the keys of a build with the default one]
    pub output_dir: Option<PathBuf>,
}

impl Selection {
    /// The plan for this selection from `catalog`, with the locks recorded in `lock_file` (a missing
    /// lock file is an empty one).
    pub fn plan(&self, catalog: &Catalog, lock_file: &Path) -> Result<Plan, BuildError> {
        self.plan_and_tree(catalog, lock_file).map(|(plan, _)| plan)
    }

    /// [`Selection::plan`], and the `--source-dir` tree as it was read to plan, if any.
    pub(super) fn plan_and_tree(
        &self,
        catalog: &Catalog,
        lock_file: &Path,
    ) -> Result<(Plan, Option<TreeDigest>), BuildError> {
        let recipe = catalog.select(self.recipe.as_deref(), self.distro.as_deref())?;
        let (source_override, tree) = match self.source_dir.as_deref() {
            Some(dir) => {
                let out = (self.output_dir.as_deref()).unwrap_or(Path::new(DEFAULT_OUT_DIR));
                let left_out = LeftOut::output_folder(out).and_lock_file(lock_file);
                let (source, tree) = source_tree(dir, &left_out, self.stat_cache.as_deref())?;
                (Some(source), Some(tree))
            }
            None => (None, None),
        };
        let locked = LockFile::load(lock_file)?.files;
        let plan = resolve(
            &recipe,
            &PlanOptions {
                version: self.version.clone(),
                enable: self.enable.clone(),
                source_override,
                locked,
                source_date_epoch: self.source_date_epoch,
            },
        )?;
        Ok((plan, tree))
    }
}

/// The identity of a local source tree (its absolute path, file count and content digest), and the
/// tree as read.
fn source_tree(
    dir: &Path,
    left_out: &LeftOut,
    stat_cache: Option<&Path>,
) -> Result<(SourceOverride, TreeDigest), BuildError> {
    let unreadable = |source| BuildError::SourceDir {
        path: dir.to_owned(),
        source,
    };
    let dir = dir.canonicalize().map_err(unreadable)?;
    let mut cache = stat_cache.map_or_else(StatCache::none, |c| StatCache::open(c, &dir));
    let tree = digest_tree_with(&dir, left_out, &mut cache).map_err(unreadable)?;
    let source = SourceOverride {
        path: dir.display().to_string(),
        files: tree.files(),
        sha256: tree.sha256.clone(),
    };
    Ok((source, tree))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_tree_at_two_paths_plans_the_same_keys_and_compiler_cache_paths() {
        let catalog = Catalog::embedded().unwrap();
        let lock = Path::new("/nonexistent/baker.lock");
        let plan_at = |dir: &Path| {
            std::fs::write(dir.join("hello.c"), "int main(){}\n").unwrap();
            Selection {
                recipe: Some("hello".into()),
                source_dir: Some(dir.to_owned()),
                ..Selection::default()
            }
            .plan(&catalog, lock)
            .unwrap()
        };
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (a, b) = (plan_at(a.path()), plan_at(b.path()));
        let keys =
            |p: &crate::plan::Plan| p.steps.iter().map(|s| s.key.clone()).collect::<Vec<_>>();
        assert_eq!(keys(&a), keys(&b), "the host path is in no key");
        let compile = a.steps.iter().find(|s| s.name == "compile").unwrap();
        // ccache hashes paths relative to this fixed directory, wherever the tree was on the host.
        assert_eq!(compile.env["CCACHE_BASEDIR"], crate::layout::SOURCE_DIR);
        assert_eq!(compile.workdir, crate::layout::SOURCE_DIR);
    }

    #[test]
    fn a_source_dir_replaces_the_archive_and_a_missing_one_is_named() {
        let catalog = Catalog::embedded().unwrap();
        let lock = Path::new("/nonexistent/baker.lock");
        let tree = tempfile::tempdir().unwrap();
        std::fs::write(tree.path().join("hello.c"), "int main(){}\n").unwrap();
        let selection = Selection {
            recipe: Some("hello".into()),
            source_dir: Some(tree.path().to_owned()),
            ..Selection::default()
        };
        let plan = selection.plan(&catalog, lock).unwrap();
        assert!(
            matches!(&plan.source, crate::plan::SourcePlan::Tree { files: 1, .. }),
            "{:?}",
            plan.source
        );

        let missing = tree.path().join("gone");
        let err = Selection {
            source_dir: Some(missing.clone()),
            ..selection
        }
        .plan(&catalog, lock)
        .unwrap_err()
        .to_string();
        assert!(err.contains(&missing.display().to_string()), "{err}");
    }
}
