//! The one place that reads a plan's image layer (typed in the plan: kernel package, init, boot
//! targets). Everything else in `src/image` reads the [`ImageSpec`] made here.

use super::{Format, ImageError};
use crate::plan::{Plan, PlanStep, StepKind};
use crate::recipe::{Base, BootTarget, Firmware, PackageManager, Provider};

pub use crate::recipe::Init;

/// What `baker image` needs from a plan.
#[derive(Debug, Clone)]
pub struct ImageSpec {
    pub recipe: String,
    pub distro: String,
    pub version: String,
    pub base: Base,
    /// The plan's setup step (repository files and keys), when it has one: the image's packages come
    /// from the same repositories as the build's.
    pub setup: Option<PlanStep>,
    /// The key of the whole plan: its install step's key, which chains every step before it.
    pub plan_key: String,
    /// The packages the OS layer installs: kernel, init, then the runtime packages, as the recipe lists them.
    pub kernel_package: String,
    pub init: Init,
    pub runtime_packages: Vec<String>,
    /// Extra `mkfs.ext4` arguments, e.g. `-O ^metadata_csum,^64bit` for 2014 kernels.
    pub mkfs_options: Vec<String>,
    pub boots_on: Vec<BootTarget>,
    /// BIOS, or BIOS and UEFI: the disk's partition layout follows.
    pub firmware: Vec<Firmware>,
    /// `<name>-<version>-<distro>`: the stem of every output file.
    pub stem: String,
}

impl ImageSpec {
    /// Instance families of `provider` the recipe says this kernel cannot boot, for a warning.
    pub fn cannot_boot(&self, provider: Provider) -> Vec<String> {
        self.boots_on
            .iter()
            .filter(|t| t.provider == provider)
            .flat_map(|t| t.fails.iter().cloned())
            .collect()
    }

    /// What the user should know before using the formats asked for: the AWS instance families the
    /// recipe says an `ami` of this kernel does not boot on.
    pub fn warnings_for(&self, formats: &[Format]) -> Vec<String> {
        let fails = self.cannot_boot(Provider::Aws);
        if !formats.contains(&Format::Ami) || fails.is_empty() {
            return Vec::new();
        }
        vec![format!(
            "the recipe says this image's kernel ({}) does not boot on AWS {}: pick another instance family when launching it",
            self.kernel_package,
            fails.join(", ")
        )]
    }

    /// The package that makes `init` the system's init.
    pub fn init_package(&self) -> &'static str {
        match (self.init, self.base.package_manager) {
            (Init::Systemd, PackageManager::Apt) => "systemd-sysv",
            (Init::Systemd, PackageManager::Yum) => "systemd",
            (Init::Upstart, _) => "upstart",
        }
    }
}

/// Reads the image layer of `plan`; the only function that knows the layer's field types.
pub fn image_spec(plan: &Plan) -> Result<ImageSpec, ImageError> {
    let layer = plan
        .image
        .as_ref()
        .ok_or_else(|| ImageError::NoImageLayer {
            recipe: format!("{} ({})", plan.recipe.name, plan.recipe.distro),
        })?;
    Ok(ImageSpec {
        recipe: plan.recipe.name.clone(),
        distro: plan.recipe.distro.clone(),
        version: plan.version.clone(),
        base: plan.base.clone(),
        setup: plan
            .steps
            .iter()
            .find(|s| s.kind == StepKind::Setup)
            .cloned(),
        plan_key: plan.install_step().key.clone(),
        kernel_package: layer.kernel.name().to_owned(),
        init: layer.init,
        runtime_packages: layer.runtime_packages.clone(),
        mkfs_options: layer
            .mkfs_options
            .as_deref()
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_owned)
            .collect(),
        boots_on: layer.boots_on.clone(),
        firmware: layer.firmware.clone(),
        stem: plan
            .artifact
            .file_name
            .trim_end_matches(".tar.gz")
            .to_owned(),
    })
}

/// What `baker image` refuses of `plan` as soon as it is made, before its build: a plan without an
/// image layer, or a size [`check_size`] refuses.
pub fn check_plan(plan: &Plan, formats: &[Format], size: Option<u64>) -> Result<(), ImageError> {
    check_size(&image_spec(plan)?, formats, size)
}

/// A `--size` (`None`: baker picks it) that a requested format or `spec`'s partition table cannot
/// take, refused before any work.
pub fn check_size(
    spec: &ImageSpec,
    formats: &[Format],
    size: Option<u64>,
) -> Result<(), ImageError> {
    if let Some(size) = size {
        super::size::check_for_formats(size, formats)?;
        super::size::check_for_layout(size, &spec.firmware)?;
    }
    Ok(())
}

/// The image spec of an embedded recipe's default plan, for tests.
#[cfg(test)]
pub(crate) fn embedded_spec(recipe: &str, distro: &str) -> ImageSpec {
    let catalog = crate::recipe::Catalog::embedded().unwrap();
    let recipe = catalog.select(Some(recipe), Some(distro)).unwrap();
    let plan = crate::plan::resolve(&recipe, &crate::plan::PlanOptions::default()).unwrap();
    image_spec(&plan).unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ami_of_an_old_kernel_warns_of_the_families_it_cannot_boot_on() {
        let centos = spec("mesos", "centos6");
        let said = centos.warnings_for(&[Format::Raw, Format::Ami]);
        assert_eq!(said.len(), 1);
        assert!(
            said[0].contains("does not boot on AWS") && said[0].contains("kernel (kernel)"),
            "{said:?}"
        );
        assert!(centos.warnings_for(&[Format::Raw]).is_empty());
        assert!(
            spec("postgresql", "debian12")
                .warnings_for(&[Format::Ami])
                .is_empty()
        );
    }

    fn spec(recipe: &str, distro: &str) -> ImageSpec {
        embedded_spec(recipe, distro)
    }

    #[test]
    fn the_postgresql_layer_is_a_systemd_debian_image_without_a_setup_step() {
        let s = spec("postgresql", "debian12");
        assert_eq!(s.init, Init::Systemd);
        assert_eq!(s.init_package(), "systemd-sysv");
        assert_eq!(s.kernel_package, "linux-image-cloud-amd64");
        assert_eq!(s.stem, "postgresql-15.18-debian-12");
        assert!(s.setup.is_none());
        assert!(s.mkfs_options.is_empty());
        assert_eq!(s.plan_key.len(), 64);
        assert_eq!(s.firmware, [Firmware::Bios, Firmware::Uefi]);
    }

    #[test]
    fn the_centos_layer_is_upstart_and_keeps_the_build_repositories() {
        let s = spec("mesos", "centos6");
        assert_eq!(s.init, Init::Upstart);
        assert_eq!(s.init_package(), "upstart");
        assert!(s.setup.is_some());
        assert_eq!(s.firmware, [Firmware::Bios]);
    }
}
