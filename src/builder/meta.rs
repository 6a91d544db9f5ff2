//! The end of a build: the install step's tree taken out of its image as a reproducible tarball, the
//! facts recorded inside the image (`/baker/meta`: installed packages, compiler-cache statistics, the
//! source's date) read back, the manifest written, and the finished artifact kept in the cache so that
//! a no-change rebuild only copies it — or, when the output set it replaces already holds the same
//! files, links them and writes only what changed (the manifest's cache hits).

use std::collections::BTreeMap;
use std::io::{Read, Seek, Write};
use std::path::PathBuf;
use std::time::Instant;

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};

use super::{BuildError, BuildOutcome, Builder, StepOutcome, step_cache};
use crate::artifact::{self, ArtifactFile, CcacheStats, Manifest};
use crate::atomic_file::write_atomic_or_link;
use crate::engine::labels::STEP_LABEL;
use crate::engine::{Container, ContainerSpec};
use crate::layout::META_DIR;
use crate::plan::{Plan, SourcePlan};
use crate::progress::Event;
use crate::recipe::Pin;
use crate::stop::Stop;

/// `facts.json` in the artifact cache: the facts, and the tarball's entry count so that a no-change
/// rebuild need not read the tarball to count them (absent in caches of older versions).
#[derive(Debug, Serialize, Deserialize)]
struct CachedFacts {
    #[serde(flatten)]
    facts: ImageFacts,
    #[serde(default)]
    entries: Option<usize>,
}

/// Writes `facts.json` into the artifact cache directory `dir`.
fn write_cached_facts(
    dir: &std::path::Path,
    facts: &ImageFacts,
    entries: usize,
) -> std::io::Result<()> {
    let cached = CachedFacts {
        facts: facts.clone(),
        entries: Some(entries),
    };
    crate::atomic_file::write_atomic(&dir.join("facts.json"), &serde_json::to_vec(&cached)?)
}

/// What the cache keeps beside a finished tarball to rebuild its manifest without the image.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ImageFacts {
    packages_tsv: String,
    ccache: BTreeMap<String, String>,
    source_date_epoch: u64,
}

/// Copies a cached artifact for this install key into the output directory, if the cache has one.
pub(super) async fn reuse_artifact(
    b: &Builder<'_>,
    outcomes: &[StepOutcome],
    started: Instant,
) -> Result<Option<BuildOutcome>, BuildError> {
    let dir = b.artifact_cache_dir();
    let cached = dir.join(&b.plan.artifact.file_name);
    let Ok(facts) = std::fs::read_to_string(dir.join("facts.json")) else {
        return Ok(None);
    };
    let Ok(CachedFacts { facts, entries }) = serde_json::from_str(&facts) else {
        return Ok(None);
    };
    let Some(sha256) = std::fs::read_to_string(artifact::checksum_path(&cached))
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_owned))
    else {
        return Ok(None);
    };
    let out = out_path(b);
    let previous = b.options.out_dir.join(&b.plan.artifact.file_name);
    let file = match artifact::reissue(&cached, &sha256, entries, &out, &previous) {
        Ok(Some(file)) => file,
        Ok(None) => {
            b.reporter.report(Event::Warning(format!(
                "the cached artifact {} does not match its checksum; rebuilding it",
                cached.display()
            )));
            return Ok(None);
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !cached.exists() => return Ok(None),
        Err(e) => return Err(BuildError::io("copying the cached artifact to", &out)(e)),
    };
    if entries.is_none() {
        // A cache of an older version: record the count for the next time (best effort).
        let _ = write_cached_facts(&dir, &facts, file.entries);
    }
    b.reporter.report(Event::Note(format!(
        "unchanged: reused {}",
        cached.display()
    )));
    finish(b, outcomes, file, &facts, started).map(Some)
}

/// Takes the tarball and facts out of the install step's image and writes tarball and manifest.
pub(super) async fn finish_artifact(
    b: &Builder<'_>,
    install_image: &str,
    outcomes: &[StepOutcome],
    started: Instant,
) -> Result<BuildOutcome, BuildError> {
    let env = BTreeMap::new();
    let container = b
        .engine
        .create_container(ContainerSpec {
            name: format!(
                "baker-{}-export-{}-{}",
                b.plan.recipe.name,
                std::process::id(),
                step_cache::now_nanos()
            ),
            image: install_image,
            cmd: vec!["true".into()],
            workdir: "/",
            env: &env,
            binds: vec![],
            labels: &[(STEP_LABEL, "export")],
        })
        .await?;
    finish_from(b, container, outcomes, started).await
}

/// Takes the tarball and facts out of `container`, a stopped container whose filesystem holds the
/// install step's tree, removes it, and writes tarball and manifest. The container is removed while
/// the tarball is compressed.
pub(super) async fn finish_from(
    b: &Builder<'_>,
    container: Container,
    outcomes: &[StepOutcome],
    started: Instant,
) -> Result<BuildOutcome, BuildError> {
    b.reporter
        .report(Event::Note("exporting the install tree".into()));
    let (spool, facts) = match export(b, &container).await {
        Ok(exported) => exported,
        Err(e) => {
            container.remove().await;
            return Err(e);
        }
    };
    tracing::debug!("install tree spooled");

    let out = out_path(b);
    let epoch = facts.source_date_epoch;
    // Compressing takes many seconds for a large tree: Ctrl-C (this future dropped) stops it.
    let stop = Stop::default();
    let _stop_unless_done = stop.on_drop();
    let writing = tokio::task::spawn_blocking({
        let (out, reporter) = (out.clone(), b.reporter.clone());
        move || artifact::write_reproducible(spool, "dest", epoch, &out, &*reporter, &stop)
    });
    let (written, ()) = tokio::join!(writing, container.remove());
    let file = written.expect("the tarball writer does not panic")?;
    tracing::debug!(bytes = file.bytes, "tarball written");
    keep_in_cache(b, &file, &facts);
    tracing::debug!("tarball kept in the cache");
    finish(b, outcomes, file, &facts, started)
}

async fn export(
    b: &Builder<'_>,
    container: &Container,
) -> Result<(std::fs::File, ImageFacts), BuildError> {
    let tmp = b.options.cache.tmp();
    std::fs::create_dir_all(&tmp).map_err(BuildError::io("creating", &tmp))?;
    let mut spool =
        tempfile::tempfile_in(&tmp).map_err(BuildError::io("creating a spool file in", &tmp))?;
    let mut stream = container.download(&b.plan.artifact.root);
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        spool
            .write_all(&chunk)
            .map_err(BuildError::io("spooling the export in", &tmp))?;
    }
    spool
        .rewind()
        .map_err(BuildError::io("spooling the export in", &tmp))?;

    let mut meta = Vec::new();
    let mut stream = container.download(META_DIR);
    while let Some(chunk) = stream.next().await {
        meta.extend_from_slice(&chunk?);
    }
    Ok((spool, read_facts(&meta)))
}

/// Reads `/baker/meta` (a tar with `meta/packages.tsv`, `meta/ccache-<step>.txt`, `meta/source-date-epoch`).
fn read_facts(tar_bytes: &[u8]) -> ImageFacts {
    let mut facts = ImageFacts {
        packages_tsv: String::new(),
        ccache: BTreeMap::new(),
        source_date_epoch: 0,
    };
    let mut archive = tar::Archive::new(tar_bytes);
    let Ok(entries) = archive.entries() else {
        return facts;
    };
    for mut entry in entries.flatten() {
        let name = entry
            .path()
            .map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .ok()
            .flatten()
            .unwrap_or_default();
        let mut text = String::new();
        if entry.read_to_string(&mut text).is_err() {
            continue;
        }
        if name == "packages.tsv" {
            facts.packages_tsv = text;
        } else if name == "source-date-epoch" {
            facts.source_date_epoch = text.trim().parse().unwrap_or(0);
        } else if let Some(step) = name
            .strip_prefix("ccache-")
            .and_then(|n| n.strip_suffix(".txt"))
        {
            facts.ccache.insert(step.to_owned(), text);
        }
    }
    facts
}

fn out_path(b: &Builder<'_>) -> PathBuf {
    b.out_dir.join(&b.plan.artifact.file_name)
}

/// Best effort: a failure to keep a copy only costs the next no-change rebuild some time.
fn keep_in_cache(b: &Builder<'_>, file: &ArtifactFile, facts: &ImageFacts) {
    let dir = b.artifact_cache_dir();
    let out = &file.path;
    let result = (|| -> std::io::Result<()> {
        std::fs::create_dir_all(&dir)?;
        let name = &b.plan.artifact.file_name;
        artifact::copy_atomic(out, &dir.join(name))?;
        artifact::copy_atomic(
            &out.with_file_name(format!("{name}.sha256")),
            &dir.join(format!("{name}.sha256")),
        )?;
        write_cached_facts(&dir, facts, file.entries)
    })();
    if let Err(e) = result {
        b.reporter.report(Event::Warning(format!(
            "could not keep the artifact in the cache at {}: {e}",
            dir.display()
        )));
    }
}

fn finish(
    b: &Builder<'_>,
    outcomes: &[StepOutcome],
    file: ArtifactFile,
    facts: &ImageFacts,
    started: Instant,
) -> Result<BuildOutcome, BuildError> {
    let mut manifest = manifest(b.plan, &b.base_id, outcomes, &file, facts);
    manifest.incremental = b
        .incremental_from()
        .map(|from| artifact::IncrementalInfo { from });
    let manifest_path = b.out_dir.join(artifact::MANIFEST_FILE);
    let previous = |name| b.options.out_dir.join(name);
    write_atomic_or_link(
        &manifest_path,
        &manifest.to_json(),
        &previous(artifact::MANIFEST_FILE),
    )
    .map_err(BuildError::io("writing", &manifest_path))?;
    // The contract the later stages start from: `baker image --from`, `baker launch`.
    let plan_path = b.out_dir.join(crate::plan::PLAN_FILE);
    write_atomic_or_link(
        &plan_path,
        crate::plan::plan_json(b.plan).as_bytes(),
        &previous(crate::plan::PLAN_FILE),
    )
    .map_err(BuildError::io("writing the plan", &plan_path))?;
    b.reporter.report(Event::Note(format!(
        "finished in {:.1}s",
        started.elapsed().as_secs_f64()
    )));
    Ok(BuildOutcome {
        plan: b.plan.clone(),
        artifact: file,
        manifest_path,
        manifest,
        steps: outcomes.to_vec(),
    })
}

fn manifest(
    plan: &Plan,
    base_id: &str,
    outcomes: &[StepOutcome],
    file: &ArtifactFile,
    facts: &ImageFacts,
) -> Manifest {
    let stats: Vec<CcacheStats> = facts
        .ccache
        .values()
        .filter_map(|t| artifact::parse_ccache_stats(t))
        .collect();
    let compiler_cache = (!stats.is_empty()).then(|| CcacheStats::sum(&stats));
    let source = match &plan.source {
        SourcePlan::Archive {
            file_name,
            pin,
            locked_sha256,
            ..
        } => artifact::SourceInfo::Archive {
            file_name: file_name.clone(),
            // A lock-pinned source is locked before the build starts, so its value is known here.
            sha256: match pin {
                Pin::Sha256 { sha256, .. } => sha256.clone(),
                Pin::Lock { .. } => locked_sha256.clone().unwrap_or_default(),
            },
        },
        SourcePlan::Tree { path, sha256, .. } => artifact::SourceInfo::Tree {
            path: path.clone(),
            sha256: sha256.clone(),
        },
    };
    Manifest {
        baker_version: env!("CARGO_PKG_VERSION").into(),
        recipe: artifact::RecipeInfo::from_plan(plan),
        base_image: artifact::BaseImageInfo {
            reference: plan.base.image.clone(),
            id: base_id.into(),
        },
        source,
        packages: artifact::parse_package_list(&facts.packages_tsv),
        steps: outcomes
            .iter()
            .map(|o| artifact::StepRecord {
                name: o.name.clone(),
                key: o.key.clone(),
                cache_hit: o.cache_hit,
                seconds: o.seconds,
            })
            .collect(),
        compiler_cache,
        artifact: file.into(),
        source_date_epoch: facts.source_date_epoch,
        incremental: None,
    }
}
