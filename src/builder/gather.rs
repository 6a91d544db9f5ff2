//! What a step needs from outside its parent image: its script, the files the recipe places, the
//! repository keys and the source archive (fetched through the download cache, pinned or locked), or a
//! local source tree. Fetching happens before the first step runs, so a bad mirror fails at once;
//! files that nothing pins are fetched even earlier, by [`lock_unpinned`], so that their sha256s can
//! be filled into the plan before any key is used.
//!
//! A local tree must be, when it is sent, the tree the plan's keys were made from: one edited since
//! is refused with [`BuildError::SourceChanged`] (as Bazel refuses a source file edited during a
//! build), since its steps would be run on other files and cached under the planned tree's keys.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::inputs::{self, ChangedWhileSent, UploadArchive};
use super::{BuildError, BuildOptions, Builder};
use crate::layout::{INPUT_DIR, SCRIPT_PATH, SOURCE_DIR};
use crate::plan::{Input, Plan, PlanStep, SourcePlan};
use crate::progress::Reporter;
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
    /// Sends the upload into `container`; a tree file that changed while it was sent fails it with
    /// [`BuildError::SourceChanged`], whatever the engine made of the broken stream.
    pub(super) async fn send(self, container: &crate::engine::Container) -> Result<(), BuildError> {
        match self {
            Self::Memory(bytes) => Ok(container.upload(bytes).await?),
            Self::Tree { script, tree } => {
                let root = tree.root.clone();
                let changed = Arc::new(Mutex::new(None));
                let seen = changed.clone();
                let tar = tree_stream::stream_from(move |out| {
                    let mut archive = UploadArchive::new(out);
                    archive.bytes(SCRIPT_PATH, 0o755, script.as_bytes())?;
                    archive.tree(SOURCE_DIR, &tree).inspect_err(|e| {
                        *seen.lock().expect("not poisoned") =
                            ChangedWhileSent::in_error(e).map(str::to_owned);
                    })?;
                    archive.finish().map(drop)
                });
                let sent = container.upload_stream(tar).await;
                // Set before the writer ends the stream with its error, so before the upload returns.
                if let Some(file) = changed.lock().expect("not poisoned").take() {
                    return Err(BuildError::SourceChanged {
                        tree: root,
                        file: Some(file),
                    });
                }
                Ok(sent?)
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
        let io = |e| tree_error(e, "assembling the inputs of a step", self.plan);
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
        let io = |e| tree_error(e, "assembling the source of the build", self.plan);
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

    /// The `--source-dir` tree as it is now, which must be the tree as planned: its digest made the
    /// keys this build caches its steps and artifact under.
    pub(super) fn checked_tree(&self) -> Result<TreeDigest, BuildError> {
        let SourcePlan::Tree { path, sha256, .. } = &self.plan.source else {
            unreachable!("only a tree source is read as a tree");
        };
        let tree = self.source_tree(path)?;
        if &tree.sha256 == sha256 {
            return Ok(tree);
        }
        Err(BuildError::SourceChanged {
            tree: path.into(),
            file: (self.planned_tree.as_ref()).and_then(|planned| first_difference(planned, &tree)),
        })
    }

    /// The `--source-dir` tree as it is now.
    fn source_tree(&self, path: &str) -> Result<TreeDigest, BuildError> {
        let root = Path::new(path);
        let mut cache = StatCache::open(&self.options.cache.stat(), root);
        let left_out =
            LeftOut::output_folder(&self.options.out_dir).and_lock_file(&self.options.lock_file);
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

/// An error assembling an upload in memory: [`BuildError::SourceChanged`] when a tree file changed
/// while it was read, else what was being done.
fn tree_error(e: std::io::Error, what: &'static str, plan: &Plan) -> BuildError {
    match (ChangedWhileSent::in_error(&e), &plan.source) {
        (Some(file), SourcePlan::Tree { path, .. }) => BuildError::SourceChanged {
            tree: path.into(),
            file: Some(file.to_owned()),
        },
        _ => BuildError::io(what, "(memory)")(e),
    }
}

/// The first path, in sorted order, that one tree has and the other has not, or has with another
/// mode or content.
fn first_difference(planned: &TreeDigest, now: &TreeDigest) -> Option<String> {
    let mut planned = planned.entries.iter().peekable();
    let mut now = now.entries.iter().peekable();
    loop {
        match (planned.peek(), now.peek()) {
            (None, None) => return None,
            (Some(p), Some(n)) if p.path == n.path => {
                // Times are no part of the digest: a file only touched is the same file.
                if (p.mode, &p.digest) != (n.mode, &n.digest) {
                    return Some(p.path.clone());
                }
                planned.next();
                now.next();
            }
            // The smaller path is in one tree only.
            (Some(p), Some(n)) => return Some(p.path.as_str().min(n.path.as_str()).to_owned()),
            (Some(only), None) | (None, Some(only)) => return Some(only.path.clone()),
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::tree::digest_tree;

    #[test]
    fn the_first_file_that_differs_from_the_planned_tree_is_named() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["a.txt", "b.txt", "c.txt"] {
            std::fs::write(dir.path().join(name), name).unwrap();
        }
        let planned = digest_tree(dir.path()).unwrap();
        assert_eq!(first_difference(&planned, &planned), None);
        // Touched only, then a later file edited: the edited one is named.
        let touched = std::fs::File::options()
            .write(true)
            .open(dir.path().join("a.txt"))
            .unwrap();
        touched
            .set_modified(std::time::SystemTime::UNIX_EPOCH)
            .unwrap();
        std::fs::write(dir.path().join("c.txt"), "edited").unwrap();
        std::fs::write(dir.path().join("d.txt"), "new").unwrap();
        let now = digest_tree(dir.path()).unwrap();
        assert_eq!(first_difference(&planned, &now).as_deref(), Some("c.txt"));
        std::fs::remove_file(dir.path().join("a.txt")).unwrap();
        let now = digest_tree(dir.path()).unwrap();
        assert_eq!(first_difference(&planned, &now).as_deref(), Some("a.txt"));
        assert_eq!(first_difference(&now, &planned).as_deref(), Some("a.txt"));
    }

    #[test]
    fn a_tree_that_changed_names_its_file_and_says_to_run_again() {
        let err = BuildError::SourceChanged {
            tree: "/src/hello".into(),
            file: Some("a.txt".into()),
        }
        .to_string();
        assert!(
            err.contains("/src/hello changed during the build: `a.txt`"),
            "{err}"
        );
        assert!(
            err.contains("nothing was built from the tree or cached"),
            "{err}"
        );
        assert!(err.contains("run the build again"), "{err}");
    }
}
