//! The tools image: the disk tools baker runs in a container so that the host needs only Docker —
//! e2fsprogs (mkfs.ext4 -d, debugfs, e2fsck), sfdisk, GRUB 2's BIOS and x86_64 EFI modules and
//! `grub-mkimage`, dosfstools and mtools (the EFI System Partition), QEMU, OVMF (UEFI firmware for
//! QEMU) and qemu-img. baker bakes it itself the first
//! time from a Debian 12 image present locally, and tags it `baker-tools:<digest of what it is
//! made of>`, so a changed package list makes a new one and an unchanged one is reused. The engine
//! keeps one: each use removes the tools images other baker versions baked (about 480 MB each),
//! which would otherwise pile up with every upgrade, since they belong to no cache.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::ImageError;
use super::run::{self, RunSpec};
use crate::cache::CacheDir;
use crate::engine::Engine;
use crate::engine::labels::IMAGE_PART_LABEL;
use crate::progress::{Event, Reporter};
use crate::recipe::{DPKG_UNSAFE_IO_OFF, DPKG_UNSAFE_IO_ON};

pub const TOOLS_REPO: &str = "baker-tools";
/// Where the tools image comes from: a Debian 12 image, made locally where no registry serves one.
pub const DEFAULT_TOOLS_BASE: &str = "debian:bookworm";
const HOW_TO_MAKE_BASE: &str = "baker base bootstrap --distro debian12 --tag debian:bookworm";

pub const PACKAGES: &[&str] = &[
    "dosfstools",
    "e2fsprogs",
    "fdisk",
    "grub-common",
    "grub-efi-amd64-bin",
    "grub-pc-bin",
    "mtools",
    "ovmf",
    "qemu-system-x86",
    "qemu-utils",
];

/// The tools image's base: `$BAKER_TOOLS_BASE`, else Debian 12.
pub fn tools_base() -> String {
    std::env::var("BAKER_TOOLS_BASE").unwrap_or_else(|_| DEFAULT_TOOLS_BASE.to_owned())
}

fn script() -> String {
    format!(
        "set -e\n\
         export DEBIAN_FRONTEND=noninteractive\n\
         rm -f /etc/apt/apt.conf.d/docker-clean\n\
         echo 'Binary::apt::APT::Keep-Downloaded-Packages \"true\";' > /etc/apt/apt.conf.d/90baker-keep-packages\n\
         {DPKG_UNSAFE_IO_ON}\n\
         apt-get update -q\n\
         apt-get install -y -q --no-install-recommends {}\n\
         {DPKG_UNSAFE_IO_OFF}\n\
         rm -rf /etc/apt/apt.conf.d/90baker-keep-packages /var/lib/apt/lists/*\n\
         mkdir -p /tree /work /in\n",
        PACKAGES.join(" ")
    )
}

/// `baker-tools:<16 hex digits>`, from the base and the script (which lists the packages).
pub fn tools_reference(base: &str) -> String {
    let digest = super::key::digest_texts(&[base, &script()]);
    format!("{TOOLS_REPO}:{}", &digest[..16])
}

/// The tools image, baked when the engine does not have it yet.
pub async fn ensure_tools(
    engine: &Engine,
    cache: &CacheDir,
    reporter: &Arc<dyn Reporter>,
) -> Result<String, ImageError> {
    let base = tools_base();
    let reference = tools_reference(&base);
    remove_other_tools(engine, &reference, reporter.as_ref()).await;
    if engine.has_image(&reference).await {
        return Ok(reference);
    }
    let Some(base_info) = engine.image_info(&base).await else {
        return Err(ImageError::MissingImage {
            image: base,
            how_to_make: Some(HOW_TO_MAKE_BASE.to_owned()),
        });
    };
    let (repo, tag) = reference.split_once(':').expect("reference has a tag");
    // Held while the tools install.
    let packages = (cache)
        .mount_packages(
            "debian-12",
            crate::recipe::PackageManager::Apt.cache_dir(),
            reporter.as_ref(),
        )
        .await?;
    if engine.has_image(&reference).await {
        // Baked meanwhile by another run, which held the package cache.
        return Ok(reference);
    }
    reporter.report(Event::Note(format!(
        "baking the tools image {reference} from {base} ({})",
        PACKAGES.join(", ")
    )));
    let container = run::create(
        engine,
        &RunSpec {
            name: run::unique_name("baker-tools"),
            image: &base,
            cmd: vec!["bash".into(), "-c".into(), script()],
            env: BTreeMap::new(),
            binds: vec![packages.bind.clone()],
            labels: &[(IMAGE_PART_LABEL, "tools")],
        },
    )
    .await?;
    let mut on_line = |line: &str| {
        reporter.report(Event::StepLog {
            name: "tools".into(),
            line: line.to_owned(),
        })
    };
    let finished = run::run_to_end(container, &mut on_line).await?;
    let result = if finished.code == 0 {
        finished
            .container
            .commit(repo, tag, base_info.env, &[(IMAGE_PART_LABEL, "tools")])
            .await
            .map(|_| reference.clone())
            .map_err(ImageError::from)
    } else {
        Err(ImageError::Failed {
            what: format!("baking the tools image {reference} (apt-get in {base})"),
            code: finished.code,
            tail: finished.tail.clone(),
        })
    };
    finished.container.remove().await;
    result
}

/// Removes the tools images but `keep`. Best effort: one a container still runs (another baker
/// version's `baker image` at work) stays, as does every one when the engine cannot list them.
async fn remove_other_tools(engine: &Engine, keep: &str, reporter: &dyn Reporter) {
    let labels = vec![format!("{IMAGE_PART_LABEL}=tools")];
    let kept = |other: &str| other == keep || !other.starts_with(&format!("{TOOLS_REPO}:"));
    for other in engine.remove_labelled_except(labels, kept).await {
        reporter.report(Event::Note(format!(
            "removed {other}, a tools image this baker does not use (another baker version's, or \
             another BAKER_TOOLS_BASE's)"
        )));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tools_tag_follows_base_and_packages() {
        let a = tools_reference("debian:bookworm");
        assert!(a.starts_with("baker-tools:"));
        assert_eq!(a.len(), "baker-tools:".len() + 16);
        assert_eq!(a, tools_reference("debian:bookworm"));
        assert_ne!(a, tools_reference("my/debian:12"));
        assert!(script().contains("grub-pc-bin") && script().contains("mkdir -p /tree"));
    }
}
