//! The one library call that runs a build, in the shape every stage shares: a request (what and how),
//! a reporter (what the user sees) and a cancellation future (Ctrl-C, SIGTERM, a deadline — whatever
//! the caller chooses). It plans once, checks the base image once, locks unpinned inputs by filling
//! their sha256s into that plan, runs the steps and exports the artifact; whatever happens — success,
//! an error, or the cancellation resolving — every container the build created is removed before it
//! returns. It holds the cache's lock shared throughout, so `baker cache clear|prune` wait for it, and
//! writes the output set in a staging directory that replaces `--out` only when the build succeeded,
//! holding `--out`'s lock meanwhile, so an image being made there is not swapped from under it.

use std::sync::Arc;

use super::gather::lock_unpinned;
use super::offline::{Offline, recipes_here};
use super::out_dir::StagedOut;
use super::replaced::ReplacedImages;
use super::{BuildError, BuildOptions, BuildOutcome, Builder, Selection};
use crate::cache::LockMode;
use crate::engine::Engine;
use crate::folder_lock::{FolderLock, lock_folder};
use crate::plan::Plan;
use crate::progress::{Event, Reporter};
use crate::recipe::{Base, Catalog};
use crate::source::tree::{LeftOut, TreeDigest};

/// Everything a build needs besides the reporter and the cancellation.
pub struct BuildRequest<'a> {
    /// Where recipes are looked up.
    pub catalog: &'a Catalog,
    pub selection: Selection,
    pub options: BuildOptions,
    /// What the stage after the build (`baker image`) checks of the plan, run once it is made and
    /// before anything is built, so that a plan that stage cannot use (no image layer, a size its
    /// formats refuse) is refused now, not after an hour's build. Its refusal ends the build.
    pub plan_check: Option<PlanCheck<'a>>,
}

/// A later stage's check of the plan (see [`BuildRequest::plan_check`]): the refusal's words.
pub type PlanCheck<'a> = &'a (dyn Fn(&Plan) -> Result<(), String> + Sync);

/// Builds `request`. Returns [`BuildError::Interrupted`] when `cancel` resolves first; the containers
/// are removed, finished steps stay cached, and the next build resumes after them.
pub async fn build(
    request: &BuildRequest<'_>,
    reporter: Arc<dyn Reporter>,
    cancel: impl Future<Output = ()>,
) -> Result<BuildOutcome, BuildError> {
    let options = &request.options;
    StagedOut::prepare(&options.out_dir)?;
    if let Some(tree) = &request.selection.source_dir {
        if LeftOut::output_folder(&options.out_dir).is_root_of(tree) {
            return Err(BuildError::OutIsSourceTree {
                path: options.out_dir.clone(),
            });
        }
    }
    let selection = Selection {
        output_dir: Some(options.out_dir.clone()),
        ..request.selection.clone()
    };
    let (plan, planned_tree) = selection.plan_and_tree(request.catalog, &options.lock_file)?;
    if let Some(check) = request.plan_check {
        check(&plan).map_err(BuildError::RefusedByNextStage)?;
    }
    let _in_use = options
        .cache
        .lock(LockMode::Shared, true, reporter.as_ref())
        .await?;
    let cache_id = options.cache.identity().map_err(BuildError::io(
        "reading the identity of the cache",
        options.cache.root(),
    ))?;
    tracing::debug!("planned");
    let engine = Engine::connect(reporter.as_ref()).await?;
    let out = StagedOut::new(&options.out_dir)?;
    let replaced = ReplacedImages::default();
    let work = async {
        let done = run(
            &engine,
            (plan, planned_tree),
            request,
            reporter.clone(),
            (cache_id, &replaced),
            out.staging.clone(),
        )
        .await?;
        let folder = hold_out_dir(&options.out_dir, reporter.as_ref()).await?;
        Ok((done, folder))
    };
    let outcome = engine
        .run_until(work, cancel)
        .await
        .unwrap_or(Err(BuildError::Interrupted { logs: None }));
    replaced.remove(&engine, &options.cache).await;
    match outcome {
        Ok((mut done, _folder)) => {
            tracing::debug!("built");
            done.artifact.path = out.published(&done.artifact.path);
            done.manifest_path = out.published(&done.manifest_path);
            out.publish().map_err(BuildError::io(
                "moving the output set into",
                &options.out_dir,
            ))?;
            tracing::debug!("output set published");
            Ok(done)
        }
        Err(mut e) => {
            if let Some(failed) = out.discard() {
                e.moved_logs(&failed);
            }
            Err(e)
        }
    }
}

async fn run(
    engine: &Engine,
    (mut plan, planned_tree): (Plan, Option<TreeDigest>),
    request: &BuildRequest<'_>,
    reporter: Arc<dyn Reporter>,
    (cache_id, replaced): (String, &ReplacedImages),
    out_dir: std::path::PathBuf,
) -> Result<BuildOutcome, BuildError> {
    let options = &request.options;
    let base_id = match ensure_base_image(engine, &plan.base, reporter.as_ref()).await {
        Ok(id) => id,
        Err(BuildError::BaseImage {
            image,
            how_to_make,
            source,
            ..
        }) => {
            let here = recipes_here(engine, request.catalog, &image).await;
            return Err(BuildError::BaseImage {
                offline: Some(Box::new(Offline {
                    needs: plan.upstream(),
                    here,
                })),
                image,
                how_to_make,
                source,
            });
        }
        Err(e) => return Err(e),
    };
    if !plan.unlocked_inputs().is_empty() {
        let locked = lock_unpinned(&plan, options, reporter.clone()).await?;
        plan.apply_locks(&locked);
    }
    Builder::new(
        engine.clone(),
        (&plan, planned_tree),
        options,
        reporter,
        base_id,
        (cache_id, replaced),
        out_dir,
    )
    .run()
    .await
}

/// The lock of `--out`, held while the build's set replaces the one there: waits for a `baker image`
/// making an image in it (see [`crate::folder_lock`]).
async fn hold_out_dir(
    out: &std::path::Path,
    reporter: &dyn Reporter,
) -> Result<FolderLock, BuildError> {
    // Made now if missing, so that an image made into it meanwhile is waited for too: the set is
    // then exchanged with this folder (the one a symbolic link names, which it stays).
    let out = &super::out_dir::link_followed(out);
    std::fs::create_dir_all(out).map_err(BuildError::io("creating", out))?;
    let waiting = || {
        format!(
            "waiting for the `baker image` into {} to finish before replacing the build there",
            out.display()
        )
    };
    let held = lock_folder(out, waiting, reporter).await;
    held.map_err(BuildError::io("locking", out))
}

/// The base image's id, pulling it when it is not present. Called before anything is downloaded, so
/// a missing base image is the first thing a user hears about, with how to make one locally.
pub async fn ensure_base_image(
    engine: &Engine,
    base: &Base,
    reporter: &dyn Reporter,
) -> Result<String, BuildError> {
    let image = &base.image;
    if let Ok(id) = engine.image_id(image).await {
        return Ok(id);
    }
    reporter.report(Event::Note(format!("pulling base image {image}")));
    engine
        .pull(image)
        .await
        .map_err(|source| BuildError::BaseImage {
            image: image.clone(),
            how_to_make: base.how_to_make.clone(),
            source: Box::new(source),
            offline: None,
        })
}
