//! `image.json`, written beside the disk files: what the next stages (publish, launch) read instead
//! of the recipe. It names each format's file with its size and sha256, the kernel, the disk's
//! layout and the firmware it boots with, the plan's and the image's keys, and where the image
//! boots. Versioned (`"format": 1`) and read back with a clear error when it comes from another
//! version. [`describe`] fills it from the request and what the image's stages made.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::ImageError;
use super::ImageRequest;
use super::assets;
use super::format::Written;
use super::key::DiskIds;
use super::layout::Layout;
use super::os_layer::OsLayer;
use crate::recipe::BootTarget;

pub const IMAGE_JSON: &str = "image.json";
pub const IMAGE_JSON_FORMAT: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageManifest {
    pub format: u32,
    pub baker_version: String,
    pub recipe: RecipeRef,
    /// The plan's key (its install step's key, which chains every step).
    pub plan_key: String,
    /// The key of the disk: plan, tarball, OS layer, tools, assets, size, mkfs options, epoch.
    pub image_key: String,
    pub artifact: ArtifactRef,
    pub kernel: KernelInfo,
    pub disk: DiskInfo,
    /// How the image's first NIC (`eth0`) takes its address at boot, by itself: launch leaves that
    /// NIC to the image. Absent in an image.json from before images configured it
    /// ([`super::network`]), whose VMs nothing could reach.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_nic: Option<FirstNic>,
    pub formats: Vec<FormatFile>,
    /// Where the image's kernel boots, and where not, as the recipe's image layer says.
    pub boots_on: Vec<BootTarget>,
    pub source_date_epoch: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecipeRef {
    pub name: String,
    pub distro: String,
    pub version: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArtifactRef {
    pub file_name: String,
    pub sha256: String,
    /// The bytes the tarball unpacks to, which size the disk when `--size` is not given. Absent
    /// in an image.json from before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unpacked_bytes: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KernelInfo {
    pub package: String,
    pub version: String,
    pub image: String,
    pub initrd: String,
    pub cmdline: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiskInfo {
    /// The virtual size in bytes, a whole number of GiB unless `--size` said otherwise.
    pub size: u64,
    pub partition_table: String,
    pub partition_offset: u64,
    pub filesystem: String,
    pub root_uuid: String,
    pub bootloader: String,
    pub mkfs_options: Vec<String>,
    /// The firmware the disk boots with: `["bios"]` (an MBR disk) or `["bios", "uefi"]` (GPT).
    #[serde(default = "bios")]
    pub firmware: Vec<String>,
    /// The EFI System Partition, on disks that boot under UEFI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub esp: Option<EspInfo>,
}

/// What configures an image's first NIC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FirstNic {
    /// The image's own DHCP client, as on every cloud.
    Dhcp,
}

fn bios() -> Vec<String> {
    vec!["bios".into()]
}

/// Where the EFI System Partition is, and the loader UEFI firmware starts from it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EspInfo {
    pub offset: u64,
    pub size: u64,
    pub loader: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FormatFile {
    pub format: String,
    /// The file name, in the same directory as `image.json`.
    pub file: String,
    pub size: u64,
    pub sha256: String,
}

impl ImageManifest {
    pub fn path_in(dir: &Path) -> PathBuf {
        dir.join(IMAGE_JSON)
    }

    /// Whether `dir` holds an `image.json` of baker's. Read loosely (its `formats` and
    /// `image_key`), so that one written by any version of baker is recognised.
    pub fn is_in(dir: &Path) -> bool {
        std::fs::read_to_string(Self::path_in(dir))
            .ok()
            .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
            .is_some_and(|m| m["formats"].is_array() && m["image_key"].is_string())
    }

    pub fn write(&self, dir: &Path) -> Result<PathBuf, ImageError> {
        let path = Self::path_in(dir);
        let mut text = serde_json::to_string_pretty(self).expect("image.json serialises");
        text.push('\n');
        crate::atomic_file::write_atomic(&path, text.as_bytes())
            .map_err(ImageError::io("writing", &path))?;
        Ok(path)
    }

    pub fn read(path: &Path) -> Result<Self, ImageError> {
        let text = std::fs::read_to_string(path).map_err(ImageError::io("reading", path))?;
        let bad = |reason: String| ImageError::Input {
            what: "image.json",
            path: path.to_owned(),
            reason,
        };
        let value: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
        match value.get("format").and_then(serde_json::Value::as_u64) {
            Some(v) if v == u64::from(IMAGE_JSON_FORMAT) => {}
            Some(v) => {
                return Err(bad(format!(
                    "written in format {v}, this baker reads format {IMAGE_JSON_FORMAT}; make the image again with this baker"
                )));
            }
            None => {
                return Err(bad(
                    "no \"format\" field: not an image.json written by baker".into(),
                ));
            }
        }
        serde_json::from_value(value).map_err(|e| bad(e.to_string()))
    }

    pub fn file(&self, format: &str) -> Option<&FormatFile> {
        self.formats.iter().find(|f| f.format == format)
    }

    /// The raw disk in `dir` (where this image.json lies) that VMs boot from, as an absolute path:
    /// refused when the image leaves its first NIC to nobody (made by an older baker), since launch
    /// reaches a VM through that NIC, or when the image has no raw disk.
    pub fn vm_disk(&self, dir: &Path) -> Result<PathBuf, ImageError> {
        let refuse = |reason: String| ImageError::Input {
            what: "the image for VMs",
            path: Self::path_in(dir),
            reason,
        };
        if self.first_nic.is_none() {
            return Err(refuse(format!(
                "made by baker {}, whose images leave their first NIC unconfigured, so its VMs could not be reached; make it again with this baker's `baker image`",
                self.baker_version
            )));
        }
        let file = self.file("raw").ok_or_else(|| {
            refuse("it has no raw disk; make one with `baker image --format raw`".into())
        })?;
        let path = dir.join(&file.file);
        path.canonicalize()
            .map_err(ImageError::io("opening the image's disk", &path))
    }
}

/// What `image.json` says of the image `req` made: its OS layer, keys, disk and written files.
pub(super) fn describe(
    req: &ImageRequest,
    layer: &OsLayer,
    key: &str,
    ids: &DiskIds,
    layout: &Layout,
    size: u64,
    formats: Vec<FormatFile>,
) -> ImageManifest {
    let spec = &req.spec;
    ImageManifest {
        format: IMAGE_JSON_FORMAT,
        baker_version: env!("CARGO_PKG_VERSION").into(),
        recipe: RecipeRef {
            name: spec.recipe.clone(),
            distro: spec.distro.clone(),
            version: spec.version.clone(),
        },
        plan_key: spec.plan_key.clone(),
        image_key: key.to_owned(),
        artifact: ArtifactRef {
            file_name: req
                .artifact
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned(),
            sha256: req.artifact_sha256.clone(),
            unpacked_bytes: None,
        },
        kernel: KernelInfo {
            package: spec.kernel_package.clone(),
            version: layer.kernel.version.clone(),
            image: layer.kernel.image.clone(),
            initrd: layer.kernel.initrd.clone(),
            cmdline: format!("root=UUID={} ro {}", ids.fs_uuid, assets::KERNEL_CMDLINE),
        },
        disk: DiskInfo {
            size,
            partition_table: layout.table().into(),
            partition_offset: layout.root.offset,
            filesystem: "ext4".into(),
            root_uuid: ids.fs_uuid.clone(),
            bootloader: layout.bootloader(),
            mkfs_options: spec.mkfs_options.clone(),
            firmware: spec.firmware.iter().map(|f| f.name().to_owned()).collect(),
            esp: layout.esp.map(|e| EspInfo {
                offset: e.offset,
                size: e.size,
                loader: "/EFI/BOOT/BOOTX64.EFI".into(),
            }),
        },
        first_nic: Some(FirstNic::Dhcp),
        formats,
        boots_on: spec.boots_on.clone(),
        source_date_epoch: req.epoch,
    }
}

/// A written file as `image.json` lists it.
impl From<Written> for FormatFile {
    fn from(w: Written) -> Self {
        Self {
            format: w.format.name().to_owned(),
            file: w
                .path
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into()),
            size: w.bytes,
            sha256: w.sha256,
        }
    }
}

#[cfg(test)]
pub(crate) fn sample() -> ImageManifest {
    ImageManifest {
        format: IMAGE_JSON_FORMAT,
        baker_version: env!("CARGO_PKG_VERSION").into(),
        recipe: RecipeRef {
            name: "postgresql".into(),
            distro: "debian-12".into(),
            version: "15.18".into(),
        },
        plan_key: "p".repeat(64),
        image_key: "i".repeat(64),
        artifact: ArtifactRef {
            file_name: "postgresql-15.18-debian-12.tar.gz".into(),
            sha256: "a".repeat(64),
            unpacked_bytes: Some(60 << 20),
        },
        kernel: KernelInfo {
            package: "linux-image-cloud-amd64".into(),
            version: "6.1.0-50-cloud-amd64".into(),
            image: "/boot/vmlinuz-6.1.0-50-cloud-amd64".into(),
            initrd: "/boot/initrd.img-6.1.0-50-cloud-amd64".into(),
            cmdline: "console=ttyS0".into(),
        },
        disk: DiskInfo {
            size: 2 << 30,
            partition_table: "msdos".into(),
            partition_offset: 1 << 20,
            filesystem: "ext4".into(),
            root_uuid: "0b2c".into(),
            bootloader: "grub2 i386-pc".into(),
            mkfs_options: vec![],
            firmware: vec!["bios".into()],
            esp: None,
        },
        first_nic: Some(FirstNic::Dhcp),
        formats: vec![FormatFile {
            format: "raw".into(),
            file: "postgresql-15.18-debian-12.raw".into(),
            size: 2 << 30,
            sha256: "b".repeat(64),
        }],
        boots_on: vec![BootTarget {
            provider: crate::recipe::Provider::Qemu,
            boots: vec![],
            fails: vec![],
            proven: true,
            note: None,
        }],
        source_date_epoch: 1_700_000_000,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_json_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let m = sample();
        let path = m.write(dir.path()).unwrap();
        assert_eq!(path, dir.path().join("image.json"));
        assert_eq!(ImageManifest::read(&path).unwrap(), m);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("{\n  \"format\": 1,"), "{text}");
        assert_eq!(m.file("raw").unwrap().size, 2 << 30);
        assert!(m.file("qcow2").is_none());
        assert!(text.contains("\n  \"first_nic\": \"dhcp\",\n"), "{text}");
    }

    #[test]
    fn vms_boot_the_raw_disk_of_an_image_that_brings_up_its_first_nic() {
        let dir = tempfile::tempdir().unwrap();
        let mut m = sample();
        std::fs::write(dir.path().join(&m.formats[0].file), b"disk").unwrap();
        let disk = m.vm_disk(dir.path()).unwrap();
        assert!(disk.is_absolute() && disk.ends_with("postgresql-15.18-debian-12.raw"));
        m.first_nic = None;
        let err = m.vm_disk(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("whose images leave their first NIC unconfigured"),
            "{err}"
        );
        m.first_nic = Some(FirstNic::Dhcp);
        m.formats[0].format = "qcow2".into();
        let err = m.vm_disk(dir.path()).unwrap_err().to_string();
        assert!(err.contains("it has no raw disk"), "{err}");
    }

    #[test]
    fn image_json_of_another_version_is_refused_clearly() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("image.json");
        std::fs::write(&path, "{\"format\": 2}").unwrap();
        let err = ImageManifest::read(&path).unwrap_err().to_string();
        assert!(
            err.contains("format 2") && err.contains("format 1"),
            "{err}"
        );
        std::fs::write(&path, "{}").unwrap();
        let err = ImageManifest::read(&path).unwrap_err().to_string();
        assert!(err.contains("not an image.json"), "{err}");
    }
}
