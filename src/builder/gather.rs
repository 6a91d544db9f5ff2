//! What a step needs from outside its parent image: its script, the files the recipe places, the
//! repository keys and the source archive (fetched through the download cache, pinned or locked), or a
//! local source tree. Fetching happens before the first step runs, so a bad mirror fails at once;
//! files that nothing pins are fetched even earlier, by [`lock_unpinned`], so that their sha256s can
//! be filled into the plan before any key is used.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::inputs::{self, UploadArchive};
use super::{BuildError, BuildOptions, Builder};
use crate::layout::{INPUT_DIR, SCRIPT_PATH, SOURCE_DIR};
use crate::plan::{Input, Plan, PlanStep, SourcePlan};
use crate::progress::{Event, Reporter};
use crate::recipe::Pin;
use crate::source::fetch::{Expected, FetchRequest, Fetcher};
use crate::source::stat_cache::StatCache;
use crate::source::tree::{LeftOut, TreeDigest, digest_tree_with};
use crate::source::tree_stream;

/// What is uploaded into a step's container before it starts.
pub(super) enum Upload {
    /// A small archive built in memory: the script, recipe files, a source archive's path.
    Memory(Vec<u8>),
    /// The script and a whole local tree, streamed as it is read.
    Tree { script: String, tree: TreeDigest },
}

impl Upload {
    /// Sends the upload into `container`.
    pub(super) async fn send(self, container: &crate::engine::Container) -> Result<(), BuildError> {
        match self {
            Self::Memory(bytes) => Ok(container.upload(bytes).await?),
            Self::Tree { script, tree } => {
                let tar = tree_stream::stream_from(move |out| {
                    let mut archive = UploadArchive::new(out);
                    archive.bytes(SCRIPT_PATH, 0o755, script.as_bytes())?;
                    archive.tree(SOURCE_DIR, &tree)?;
                    archive.finish().map(drop)
                });
                Ok(container.upload_stream(tar).await?)
            }
        }
    }
}

impl Builder<'_> {
    /// What is uploaded before the step starts: its script and its inputs.
    pub(super) async fn upload_for(&self, step: &PlanStep) -> Result<Upload, BuildError> {
        let tree_source = step
            .inputs
            .iter()
            .any(|i| matches!(i, Input::Source { .. }))
            && matches!(self.plan.source, SourcePlan::Tree { .. })
            && !self.has_delta();
        let io = |e| BuildError::io("assembling the inputs of a step", "(memory)")(e);
        let mut env = step.env.clone();
        env.insert("BAKER_JOBS".into(), self.options.jobs.to_string());
        let script = inputs::script(step, &env).map_err(io)?;
        if tree_source {
            return Ok(Upload::Tree {
                script,
                tree: self.checked_tree()?,
            });
        }
        let mut archive = UploadArchive::default();
        archive
            .bytes(SCRIPT_PATH, 0o755, script.as_bytes())
            .map_err(io)?;
        for input in &step.inputs {
            match input {
                Input::Inline {
                    path,
                    mode,
                    content,
                    ..
                } => archive.bytes(path, *mode, content.as_bytes()).map_err(io)?,
                Input::Remote {
                    path, url, sha256, ..
                } => {
                    let fetched = self.remote_file(url, sha256.as_deref()).await?;
                    archive.file(path, 0o644, &fetched).map_err(io)?;
                }
                Input::Source { .. } => {
                    if !self.add_delta(&mut archive).map_err(io)? {
                        self.add_source(&mut archive).await?;
                    }
                }
            }
        }
        archive.finish().map_err(io).map(Upload::Memory)
    }

    /// Downloads (or finds in the cache) every remote input of `step`.
    pub(super) async fn prefetch(&self, step: &PlanStep) -> Result<(), BuildError> {
        for input in &step.inputs {
            match input {
                Input::Remote { url, sha256, .. } => {
                    self.remote_file(url, sha256.as_deref()).await?;
                }
                Input::Source { .. } => {
                    self.source_archive().await?;
                }
                Input::Inline { .. } => {}
            }
        }
        Ok(())
    }

    /// A repository key or other downloaded file, from the download cache.
    async fn remote_file(&self, url: &str, sha256: Option<&str>) -> Result<PathBuf, BuildError> {
        let expected = match sha256 {
            Some(s) => Expected::Sha256(s),
            None => Expected::Lock {
                key_url: url,
                lock_path: &self.options.lock_file,
            },
        };
        let urls = [url.to_owned()];
        self.fetch(url.rsplit('/').next().unwrap_or("file"), &urls, expected)
            .await
    }

    /// The source archive in the download cache; `None` for a local tree.
    async fn source_archive(&self) -> Result<Option<PathBuf>, BuildError> {
        let SourcePlan::Archive {
            file_name,
            urls,
            pin,
            locked_sha256,
            ..
        } = &self.plan.source
        else {
            return Ok(None);
        };
        let expected = match (pin, locked_sha256) {
            (Pin::Sha256 { sha256, .. }, _) | (Pin::Lock { .. }, Some(sha256)) => {
                Expected::Sha256(sha256)
            }
            (Pin::Lock { .. }, None) => Expected::Lock {
                key_url: &urls[0],
                lock_path: &self.options.lock_file,
            },
        };
        self.fetch(file_name, urls, expected).await.map(Some)
    }

    async fn add_source(&self, archive: &mut UploadArchive) -> Result<(), BuildError> {
        let io = |e| BuildError::io("assembling the source of the build", "(memory)")(e);
        match &self.plan.source {
            SourcePlan::Archive { file_name, .. } => {
                let fetched = self
                    .source_archive()
                    .await?
                    .expect("an archive source has a file");
                archive
                    .file(&format!("{INPUT_DIR}/{file_name}"), 0o644, &fetched)
                    .map_err(io)
            }
            SourcePlan::Tree { .. } => archive.tree(SOURCE_DIR, &self.checked_tree()?).map_err(io),
        }
    }

    /// The `--source-dir` tree as it is now, with a warning when it changed since it was planned.
    fn checked_tree(&self) -> Result<TreeDigest, BuildError> {
        let SourcePlan::Tree { path, sha256, .. } = &self.plan.source else {
            unreachable!("only a tree source is read as a tree");
        };
        let tree = self.source_tree(path)?;
        if &tree.sha256 != sha256 {
            self.reporter.report(Event::Warning(format!(
                "the source tree {path} changed since it was planned; building what is there now (a file written into the tree while baker runs, such as a log redirected there, changes it: write it outside the tree)"
            )));
        }
        Ok(tree)
    }

    /// The `--source-dir` tree as it is now.
    pub(super) fn source_tree(&self, path: &str) -> Result<TreeDigest, BuildError> {
        let root = Path::new(path);
        let mut cache = StatCache::open(&self.options.cache.root().join("stat"), root);
        let left_out = LeftOut::output_folder(&self.options.out_dir);
        digest_tree_with(root, &left_out, &mut cache)
            .map_err(BuildError::io("reading the source tree", path))
    }

    async fn fetch(
        &self,
        file_name: &str,
        urls: &[String],
        expected: Expected<'_>,
    ) -> Result<PathBuf, BuildError> {
        let request = FetchRequest {
            file_name,
            urls,
            expected,
        };
        let fetched = self
            .fetcher
            .fetch(&request, &self.options.mirrors, self.options.upstream)
            .await?;
        Ok(fetched.path)
    }
}

/// Downloads every input of `plan` that has no sha256 yet (unpinned, and not in the lock file), once,
/// recording each one's sha256 in the lock file; returns them by URL, as
/// [`Plan::apply_locks`] takes them.
pub async fn lock_unpinned(
    plan: &Plan,
    options: &BuildOptions,
    reporter: Arc<dyn Reporter>,
) -> Result<BTreeMap<String, String>, BuildError> {
    let fetcher = Fetcher::new(options.cache.clone(), reporter, Default::default());
    let mut locked = BTreeMap::new();
    for unlocked in plan.unlocked_inputs() {
        let request = FetchRequest {
            file_name: &unlocked.file_name,
            urls: &unlocked.urls,
            expected: Expected::Lock {
                key_url: unlocked.lock_url(),
                lock_path: &options.lock_file,
            },
        };
        let fetched = fetcher
            .fetch(&request, &options.mirrors, options.upstream)
            .await?;
        locked.insert(unlocked.lock_url().to_owned(), fetched.sha256);
    }
    Ok(locked)
}
