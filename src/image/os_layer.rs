//! The OS layer: the recipe's base image with the plan's repository files (its setup step), then the
//! image layer's kernel, init, DHCP client and runtime packages installed from those repositories,
//! committed as `baker-os:<OS layer key>-<cache>` and reused while base, setup and image layer are
//! unchanged — a new tarball does not touch it. Packages come through baker's package cache, as in
//! the build. Like the build's step images, the layer (and the setup step committed for it when the
//! build's own is not in this cache) is tagged and labelled with the identity of the cache that made
//! it: `baker cache clear` removes it, and caches sharing an engine never use or remove each other's.
//!
//! What the layer installs, and the script that does it, are in [`super::os_layer_install`]. The
//! kernel's initramfs is made while the kernel package installs; `SOURCE_DATE_EPOCH` is fixed for
//! the whole install (to [`OS_LAYER_EPOCH`], not the plan's epoch, so that one layer serves every
//! build of the recipe), and `update-initramfs` then writes the same bytes each time.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::ImageError;
use super::assets::Kernel;
use super::key::{LAYOUT_VERSION, OsLayerMaterial};
use super::layer::ImageSpec;
use super::os_layer_install::{KERNEL_LINE, packages, parse_kernel, script};
use super::run::{self, RunSpec};
use crate::builder::{StepCache, ensure_base_image};
use crate::cache::engine_entries::{self, EngineEntry};
use crate::cache::setup_inputs::setup_inputs_tar;
use crate::cache::{CACHE_LABEL, CacheDir};
use crate::engine::Engine;
use crate::engine::labels::{IMAGE_PART_LABEL, OS_REPO, os_layer_image, step_tag};
use crate::plan::PlanStep;
use crate::progress::{Event, Reporter};

/// `SOURCE_DATE_EPOCH` while the OS layer's packages install (2023-11-14).
pub const OS_LAYER_EPOCH: u64 = 1_700_000_000;
const LABEL_BASE_ID: &str = "baker.base-id";
const LABEL_KERNEL: &str = "baker.kernel";

/// A committed OS layer.
#[derive(Debug, Clone)]
pub struct OsLayer {
    pub reference: String,
    pub key: String,
    /// The engine's id of the committed image: a layer made again under the same key (`--no-cache`,
    /// a new base image) has a new one, and so a tree of its own.
    pub id: String,
    pub kernel: Kernel,
    /// The size of its file system.
    pub size: u64,
    /// Whether it came from the cache.
    pub cached: bool,
}

pub fn layer_key(spec: &ImageSpec) -> String {
    let package_manager = spec.base.package_manager.to_string();
    OsLayerMaterial {
        layout: LAYOUT_VERSION,
        base_image: &spec.base.image,
        package_manager: &package_manager,
        setup_key: spec.setup.as_ref().map(|s| s.key.as_str()),
        packages: &packages(spec),
        script: &script(spec),
    }
    .key()
}

/// The cached layer for `spec` in the cache with identity `cache_id`, if the engine has it and it
/// was made from today's base image.
pub async fn lookup(
    engine: &Engine,
    spec: &ImageSpec,
    base_id: &str,
    cache_id: &str,
) -> Option<OsLayer> {
    let key = layer_key(spec);
    let reference = os_layer_image(&key, cache_id);
    let info = engine.image_info(&reference).await?;
    if info.labels.get(LABEL_BASE_ID).map(String::as_str) != Some(base_id) {
        return None;
    }
    let kernel = parse_kernel(&format!("{KERNEL_LINE} {}", info.labels.get(LABEL_KERNEL)?))?;
    Some(OsLayer {
        reference,
        key,
        id: info.id,
        kernel,
        size: info.size,
        cached: true,
    })
}

pub struct LayerBuild<'a> {
    pub engine: &'a Engine,
    pub cache: &'a CacheDir,
    /// The cache's identity, which tags and labels what this makes.
    pub cache_id: &'a str,
    pub reporter: &'a Arc<dyn Reporter>,
}

impl LayerBuild<'_> {
    /// The layer from the cache, or built now.
    pub async fn ensure(&self, spec: &ImageSpec, no_cache: bool) -> Result<OsLayer, ImageError> {
        let base_id = ensure_base_image(self.engine, &spec.base, self.reporter.as_ref())
            .await
            .map_err(|e| ImageError::BaseImage(Box::new(e)))?;
        if !no_cache {
            if let Some(layer) = lookup(self.engine, spec, &base_id, self.cache_id).await {
                self.remember(spec, &layer);
                return Ok(layer);
            }
        }
        let parent = match &spec.setup {
            None => base_id.clone(),
            Some(setup) => self.setup_image(setup, &base_id).await?,
        };
        let layer = self.build(spec, &parent, &base_id, no_cache).await?;
        self.remember(spec, &layer);
        Ok(layer)
    }

    /// Writes (or rewrites, which marks its use) the layer's entry under `<cache>/os-layers/`.
    fn remember(&self, spec: &ImageSpec, layer: &OsLayer) {
        let (key, recipe, distro, image) =
            (&layer.key, &spec.recipe, &spec.distro, &layer.reference);
        let entry = EngineEntry {
            key,
            recipe,
            distro,
            image,
        };
        engine_entries::remember(&self.cache.os_layers(), &entry);
    }

    /// The build's committed setup step when the step cache has it, else the setup step run again
    /// from its inputs (repository files from the plan, keys from the download cache).
    async fn setup_image(&self, setup: &PlanStep, base_id: &str) -> Result<String, ImageError> {
        let steps = StepCache::new(self.cache);
        if let Some(entry) = steps.lookup(self.engine, &setup.key, base_id).await {
            return Ok(entry.image_id);
        }
        let tar = setup_inputs_tar(self.cache, setup).map_err(|e| ImageError::Input {
            what: "repository key",
            path: e.path.clone(),
            reason: e.to_string(),
        })?;
        let container = run::create(
            self.engine,
            &RunSpec {
                name: run::unique_name("baker-image-setup"),
                image: base_id,
                cmd: vec!["bash".into(), "-c".into(), setup.command.clone()],
                env: BTreeMap::new(),
                binds: vec![],
                labels: &[(IMAGE_PART_LABEL, "setup")],
            },
        )
        .await?;
        container.upload(tar).await?;
        let finished = run::run_to_end(container, &mut |_: &str| {}).await?;
        if finished.code != 0 {
            let tail = finished.tail.clone();
            finished.container.remove().await;
            return Err(ImageError::Failed {
                what: "the setup step (repository files) for the image".into(),
                code: finished.code,
                tail,
            });
        }
        let id = finished
            .container
            .commit(
                "baker-image-setup",
                &step_tag(&setup.key, self.cache_id),
                vec![],
                &[(IMAGE_PART_LABEL, "setup"), (CACHE_LABEL, self.cache_id)],
            )
            .await
            .map_err(ImageError::from);
        finished.container.remove().await;
        id
    }

    async fn build(
        &self,
        spec: &ImageSpec,
        parent: &str,
        base_id: &str,
        no_cache: bool,
    ) -> Result<OsLayer, ImageError> {
        let key = layer_key(spec);
        let env = BTreeMap::from([("SOURCE_DATE_EPOCH".to_owned(), OS_LAYER_EPOCH.to_string())]);
        // Held while the layer's packages install.
        let package_cache = (self.cache)
            .mount_packages(
                &spec.distro,
                spec.base.package_manager.cache_dir(),
                self.reporter.as_ref(),
            )
            .await?;
        if !no_cache {
            // Made meanwhile by another run, which held the package cache.
            if let Some(layer) = lookup(self.engine, spec, base_id, self.cache_id).await {
                return Ok(layer);
            }
        }
        let container = run::create(
            self.engine,
            &RunSpec {
                name: run::unique_name(&format!("baker-os-{}", spec.recipe)),
                image: parent,
                cmd: vec!["bash".into(), "-c".into(), script(spec)],
                env,
                binds: vec![package_cache.bind.clone()],
                labels: &[(IMAGE_PART_LABEL, "os-layer")],
            },
        )
        .await?;
        let mut kernel = None;
        let mut on_line = |line: &str| {
            if let Some(k) = parse_kernel(line) {
                kernel = Some(k);
            }
            self.reporter.report(Event::StepLog {
                name: "os layer".into(),
                line: line.to_owned(),
            });
        };
        let finished = run::run_to_end(container, &mut on_line).await?;
        let (code, tail) = (finished.code, finished.tail.clone());
        let kernel = match (code, kernel) {
            (0, Some(k)) => k,
            _ => {
                finished.container.remove().await;
                return Err(ImageError::Failed {
                    what: format!(
                        "installing the image layer ({}) into {}",
                        packages(spec).join(" "),
                        spec.base.image
                    ),
                    code,
                    tail,
                });
            }
        };
        let env = self.engine.image_env(base_id).await.unwrap_or_default();
        let kernel_label = format!("{} {} {}", kernel.version, kernel.image, kernel.initrd);
        let committed = finished
            .container
            .commit(
                OS_REPO,
                &step_tag(&key, self.cache_id),
                env,
                &[
                    (IMAGE_PART_LABEL, "os-layer"),
                    (CACHE_LABEL, self.cache_id),
                    ("baker.recipe", &spec.recipe),
                    (LABEL_BASE_ID, base_id),
                    (LABEL_KERNEL, &kernel_label),
                ],
            )
            .await
            .map_err(ImageError::from);
        finished.container.remove().await;
        let id = committed?;
        let reference = os_layer_image(&key, self.cache_id);
        let size = self
            .engine
            .image_info(&reference)
            .await
            .map_or(0, |i| i.size);
        Ok(OsLayer {
            reference,
            key,
            id,
            kernel,
            size,
            cached: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::layer::embedded_spec as spec;

    #[test]
    fn the_layer_key_ignores_the_build_but_follows_the_image_layer() {
        let s = spec("postgresql", "debian12");
        let mut other = s.clone();
        other.plan_key = "another build".into();
        assert_eq!(layer_key(&s), layer_key(&other));
        other.runtime_packages.push("less".into());
        assert_ne!(layer_key(&s), layer_key(&other));
    }

    #[test]
    fn each_cache_tags_its_own_layer() {
        let key = layer_key(&spec("postgresql", "debian12"));
        let (a, b) = ("a".repeat(64), "b".repeat(64));
        assert_eq!(
            os_layer_image(&key, &a),
            format!("baker-os:{key}-{}", &a[..16])
        );
        assert_ne!(os_layer_image(&key, &a), os_layer_image(&key, &b));
    }
}
