//! `baker image`: a build's tarball becomes bootable, byte-reproducible disk images, made without
//! root on the host, loop devices, privileged containers or `mount` — the host needs only Docker.
//!
//! ```text
//! plan + tarball ─> OS layer (base + repositories + kernel, init, runtime packages; cached image)
//!                ─> tree (OS layer streamed into the tools container, tarball at /, first-boot files)
//!                ─> raw disk (MBR, ext4 from the tree at sector 2048, GRUB 2 for BIOS; or, for
//!                   BIOS and UEFI, GPT: BIOS boot partition, EFI System Partition, ext4 root)
//!                ─> formats + image.json
//! ```
//!
//! The plan is read through one adapter ([`layer::image_spec`]); the disk's identifiers come from
//! the image key, times are clamped to the plan's epoch, so two runs from empty caches give the same
//! bytes. An output directory that already holds the image is answered from, or, when it lacks a
//! format asked for, given it from the raw disk it holds ([`reuse`]); a format writer that fails
//! leaves `image.json` listing the formats the others wrote ([`finish`]), so running again writes
//! only the rest. [`boot`] proves an image by booting it under QEMU to the first-boot ready line.

pub mod assets;
pub mod boot;
pub mod build_output;
mod disk;
mod error;
mod finish;
pub mod format;
mod key;
pub mod layer;
pub mod layout;
mod lines;
pub mod manifest;
mod network;
mod os_layer;
mod os_layer_install;
mod out_lock;
pub mod output;
mod reuse;
pub(crate) mod run;
pub mod size;
mod tools;
pub use tools::ensure_tools;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

pub use assets::READY_LINE;
pub use error::ImageError;
pub use layer::{ImageSpec, check_plan, image_spec};
pub use manifest::ImageManifest;
pub use output::Format;

use crate::cache::{CacheDir, LockMode};
use crate::engine::Engine;
use crate::progress::{Event, Reporter};
use finish::{FormatsJob, formats_stage, with_boots_on};
use format::{DataCopies, DiskFile};
use key::{DiskIds, ImageMaterial, LAYOUT_VERSION};
use layout::Layout;
use os_layer::{LayerBuild, OsLayer};
use reuse::Existing;

/// What to image, and where to.
#[derive(Debug, Clone)]
pub struct ImageRequest {
    pub spec: ImageSpec,
    /// The build's tarball.
    pub artifact: PathBuf,
    pub artifact_sha256: String,
    /// The plan's `SOURCE_DATE_EPOCH`: every file time on the disk is clamped to it.
    pub epoch: u64,
    pub formats: Vec<Format>,
    /// `None`: the tree plus headroom, in whole GiB.
    pub size: Option<u64>,
    pub out_dir: PathBuf,
    pub cache: CacheDir,
    /// Rebuild the OS layer even when it is cached.
    pub no_cache: bool,
}

#[derive(Debug)]
pub struct ImageOutcome {
    pub manifest: ImageManifest,
    pub manifest_path: PathBuf,
    /// Nothing was made: the output directory already held this image.
    pub unchanged: bool,
    /// The formats asked for were written from the raw disk the output directory already held.
    pub disk_reused: bool,
    pub os_layer_cached: bool,
    pub seconds: f64,
    /// What the user should know about the image, also reported as it was found: the instance
    /// families an `ami` cannot boot on.
    pub warnings: Vec<String>,
}

const STAGES: usize = 4;

/// Makes the image `req` asks for in its output directory: see the module doc. An output directory
/// this call created is removed again when it fails, or is interrupted, leaving it empty.
pub async fn make_image(
    engine: &Engine,
    req: &ImageRequest,
    reporter: Arc<dyn Reporter>,
) -> Result<ImageOutcome, ImageError> {
    let out = &req.out_dir;
    if out.exists() && !out.is_dir() {
        return Err(ImageError::OutNotDirectory { path: out.clone() });
    }
    let _made_here = (!out.exists()).then(|| RemoveIfEmpty(out.clone()));
    let _one_at_a_time = out_lock::lock_out(out, reporter.as_ref()).await?;
    make(engine, req, reporter).await
}

/// Removes a directory when dropped if it is empty (an image written there is not).
struct RemoveIfEmpty(PathBuf);

impl Drop for RemoveIfEmpty {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.0);
    }
}

async fn make(
    engine: &Engine,
    req: &ImageRequest,
    reporter: Arc<dyn Reporter>,
) -> Result<ImageOutcome, ImageError> {
    let started = Instant::now();
    layer::check_size(&req.spec, &req.formats, req.size)?;
    // What this image takes from the cache (its OS layer, tree volume and package files) stays
    // while it is made: `baker cache prune|clear` wait for the lock, as they wait for builds.
    let _in_use = req
        .cache
        .lock(LockMode::Shared, true, reporter.as_ref())
        .await?;
    let spec = &req.spec;
    let tools_image = tools::tools_reference(&tools::tools_base());
    let unpacked = size::unpacked_size(&req.out_dir, &req.artifact, &req.artifact_sha256).await?;
    let cache_id = req.cache.identity().map_err(ImageError::io(
        "reading the cache's identity in",
        req.cache.root(),
    ))?;
    let warnings = spec.warnings_for(&req.formats);
    for warning in &warnings {
        reporter.report(Event::Warning(warning.clone()));
    }

    // The quick path: a cached OS layer, and the output directory already holds this image.
    let layers = LayerBuild {
        engine,
        cache: &req.cache,
        cache_id: &cache_id,
        reporter: &reporter,
    };
    let cached_layer = if req.no_cache {
        None
    } else {
        match engine.image_id(&spec.base.image).await {
            Ok(base) => os_layer::lookup(engine, spec, &base, &cache_id).await,
            Err(_) => None,
        }
    };
    if let Some(layer) = &cached_layer {
        let key = image_key(req, layer, &tools_image, unpacked);
        match reuse::existing(&req.out_dir, &key, &layer.id, &req.formats) {
            Some(Existing::Complete(manifest)) => {
                let manifest = with_boots_on(&req.out_dir, manifest, spec, &layer.id, &*reporter);
                for (i, name) in ["tools", "os layer", "disk", "formats"].iter().enumerate() {
                    stage(&reporter, i, name, None);
                }
                reporter.report(Event::Note(format!(
                    "unchanged: {} already holds image {}",
                    req.out_dir.display(),
                    &key[..16]
                )));
                return Ok(ImageOutcome {
                    manifest_path: ImageManifest::path_in(&req.out_dir),
                    manifest,
                    unchanged: true,
                    disk_reused: false,
                    os_layer_cached: true,
                    seconds: started.elapsed().as_secs_f64(),
                    warnings,
                });
            }
            Some(Existing::Extend {
                manifest,
                disk,
                missing,
            }) => {
                let manifest = ImageManifest {
                    boots_on: spec.boots_on.clone(),
                    ..manifest
                };
                let mut outcome = add_formats(
                    req, manifest, &disk, &layer.id, &missing, &reporter, started,
                )
                .await?;
                outcome.warnings = warnings;
                return Ok(outcome);
            }
            Some(Existing::OtherOsLayer) => reporter.report(Event::Note(format!(
                "making image {} again: the one {} holds was not made from the OS layer cached \
                 now (made again since, from a new base image or with --no-cache)",
                &key[..16],
                req.out_dir.display()
            ))),
            None => {}
        }
    }

    reporter.report(Event::StepStarted {
        index: 1,
        total: STAGES,
        name: "tools".into(),
    });
    let t = Instant::now();
    let tools = tools::ensure_tools(engine, &req.cache, &reporter).await?;
    stage(&reporter, 0, "tools", Some(t));

    let t = Instant::now();
    let layer = match cached_layer {
        Some(layer) => layer,
        None => {
            reporter.report(Event::StepStarted {
                index: 2,
                total: STAGES,
                name: "os layer".into(),
            });
            layers.ensure(spec, req.no_cache).await?
        }
    };
    stage(&reporter, 1, "os layer", (!layer.cached).then_some(t));

    let key = image_key(req, &layer, &tools, unpacked);
    let size = disk_size(req, &layer, unpacked);
    let ids = DiskIds::derive(&key);
    let layout = Layout::new(&spec.firmware, size);
    reporter.report(Event::StepStarted {
        index: 3,
        total: STAGES,
        name: "disk".into(),
    });
    let t = Instant::now();
    std::fs::create_dir_all(&req.out_dir).map_err(ImageError::io("creating", &req.out_dir))?;
    let work = tempfile::Builder::new()
        .prefix(".baker-image-")
        .tempdir_in(&req.out_dir)
        .map_err(ImageError::io("creating a work directory in", &req.out_dir))?;
    let overlay = assets::overlay(spec, &layer.kernel, &ids.fs_uuid, req.epoch).map_err(
        ImageError::io("assembling the first-boot files in", "(memory)"),
    )?;
    let raw = disk::make_disk(
        engine,
        disk::DiskJob {
            recipe: &spec.recipe,
            distro: &spec.distro,
            cache_id: &cache_id,
            tools_image: &tools,
            os_image: &layer.reference,
            os_key: &layer.key,
            os_id: &layer.id,
            artifact: &req.artifact,
            overlay,
            work_dir: work.path(),
            ids: &ids,
            layout: &layout,
            size,
            epoch: req.epoch,
            mkfs_options: &spec.mkfs_options,
            copies: DataCopies::of(&req.formats),
            picked_size: req.size.map(|_| picked_size(req, &layer, unpacked)),
        },
        &reporter,
    )
    .await?;
    stage(&reporter, 2, "disk", Some(t));

    // The disk is this run's own: the raw (or ami) output is that file, renamed.
    let mut described = manifest::describe(req, &layer, &key, &ids, &layout, size, Vec::new());
    described.artifact.unpacked_bytes = Some(unpacked);
    let (manifest, manifest_path) = formats_stage(FormatsJob {
        asked: req.formats.clone(),
        no_cache: req.no_cache,
        formats: req.formats.clone(),
        disk: (raw, DiskFile::Take),
        out_dir: req.out_dir.clone(),
        stem: req.spec.stem.clone(),
        manifest: described,
        os_layer_id: layer.id.clone(),
        reporter: reporter.clone(),
    })
    .await?;
    drop(work);
    Ok(ImageOutcome {
        manifest,
        manifest_path,
        unchanged: false,
        disk_reused: false,
        os_layer_cached: layer.cached,
        seconds: started.elapsed().as_secs_f64(),
        warnings,
    })
}

/// Writes the formats that the image in the output directory lacks from its raw disk there (the
/// image's bytes, untouched since baker wrote them from the OS layer of image id `os_layer_id`),
/// without making the disk again, and lists them in its `image.json` beside the formats it had.
async fn add_formats(
    req: &ImageRequest,
    manifest: ImageManifest,
    disk: &Path,
    os_layer_id: &str,
    missing: &[Format],
    reporter: &Arc<dyn Reporter>,
    started: Instant,
) -> Result<ImageOutcome, ImageError> {
    for (i, name) in ["tools", "os layer", "disk"].iter().enumerate() {
        stage(reporter, i, name, None);
    }
    let names: Vec<&str> = missing.iter().map(|f| f.name()).collect();
    reporter.report(Event::Note(format!(
        "adding {} to image {} from its disk {}",
        names.join(", "),
        &manifest.image_key[..16],
        disk.display()
    )));
    let (manifest, manifest_path) = formats_stage(FormatsJob {
        asked: req.formats.clone(),
        no_cache: req.no_cache,
        formats: missing.to_vec(),
        disk: (disk.to_owned(), DiskFile::Keep),
        out_dir: req.out_dir.clone(),
        stem: req.spec.stem.clone(),
        manifest,
        os_layer_id: os_layer_id.to_owned(),
        reporter: reporter.clone(),
    })
    .await?;
    Ok(ImageOutcome {
        manifest,
        manifest_path,
        unchanged: false,
        disk_reused: true,
        os_layer_cached: true,
        seconds: started.elapsed().as_secs_f64(),
        warnings: Vec::new(),
    })
}

/// A stage's end: finished (with its time) or answered from the cache.
fn stage(reporter: &Arc<dyn Reporter>, index: usize, name: &str, started: Option<Instant>) {
    let (index, total, name) = (index + 1, STAGES, name.to_owned());
    reporter.report(match started {
        Some(t) => Event::StepFinished {
            index,
            total,
            name,
            elapsed: t.elapsed(),
        },
        None => Event::StepCached { index, total, name },
    });
}

/// `--size`, or the tree plus headroom and the partitions beside the root.
fn disk_size(req: &ImageRequest, layer: &OsLayer, unpacked: u64) -> u64 {
    req.size
        .unwrap_or_else(|| picked_size(req, layer, unpacked))
}

/// The size baker picks when `--size` is not given.
fn picked_size(req: &ImageRequest, layer: &OsLayer, unpacked: u64) -> u64 {
    size::default_size(layer.size + unpacked + layout::reserved(&req.spec.firmware))
}

fn image_key(req: &ImageRequest, layer: &OsLayer, tools: &str, unpacked: u64) -> String {
    let size = disk_size(req, layer, unpacked);
    let firmware: Vec<&str> = req.spec.firmware.iter().map(|f| f.name()).collect();
    ImageMaterial {
        layout: LAYOUT_VERSION,
        plan_key: &req.spec.plan_key,
        artifact_sha256: &req.artifact_sha256,
        os_layer_key: &layer.key,
        tools_image: tools,
        assets: &assets::assets_digest(),
        size_bytes: size,
        mkfs_options: &req.spec.mkfs_options,
        epoch: req.epoch,
        firmware: &firmware,
    }
    .key()
}
