//! Image cache keys and the identifiers derived from them. Like step keys, a key is the sha256 of a
//! canonical JSON serialisation of a struct of every input (ordered fields, no maps of unordered
//! data, nothing from the host), printed at `-vv` so a miss can be explained.
//!
//! - The **OS layer key** covers what the OS tree is made of: base image, the plan's setup step,
//!   the kernel, init and runtime packages, and the script that installs them. A new tarball does not
//!   change it, so a re-image after a rebuild reuses the cached layer.
//! - The **image key** covers the whole disk: the plan key, the tarball's sha256, the OS layer key,
//!   the tools image, the assets and scripts, the size, the file-system options, the epoch and the
//!   firmware.
//!
//! The disk's identifiers (file-system UUID, directory hash seed, MBR disk id, GPT disk and
//! partition GUIDs, the EFI System Partition's FAT volume id) are derived from the image key, so
//! they are fixed for given inputs and two builds give the same bytes.

use serde::Serialize;
use sha2::{Digest, Sha256};

/// Bumped when the disk layout changes in a way the other inputs do not show.
pub const LAYOUT_VERSION: u32 = 1;

fn sha256_json(value: &impl Serialize) -> String {
    let json = serde_json::to_string(value).expect("key material always serialises");
    tracing::trace!(material = %json, "image key material");
    hex::encode(Sha256::digest(json.as_bytes()))
}

#[derive(Debug, Serialize)]
pub struct OsLayerMaterial<'a> {
    pub layout: u32,
    pub base_image: &'a str,
    pub package_manager: &'a str,
    /// The setup step's key, which covers its repository files and keys; `None` without one.
    pub setup_key: Option<&'a str>,
    pub packages: &'a [String],
    pub script: &'a str,
}

impl OsLayerMaterial<'_> {
    pub fn key(&self) -> String {
        sha256_json(self)
    }
}

#[derive(Debug, Serialize)]
pub struct ImageMaterial<'a> {
    pub layout: u32,
    pub plan_key: &'a str,
    pub artifact_sha256: &'a str,
    pub os_layer_key: &'a str,
    pub tools_image: &'a str,
    /// sha256 over the embedded assets and the disk script.
    pub assets: &'a str,
    pub size_bytes: u64,
    pub mkfs_options: &'a [String],
    pub epoch: u64,
    /// The firmware the disk boots with (`bios`, `uefi`): MBR or hybrid GPT.
    pub firmware: &'a [&'a str],
}

impl ImageMaterial<'_> {
    pub fn key(&self) -> String {
        sha256_json(self)
    }
}

/// The fixed identifiers of one disk, derived from its image key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskIds {
    /// The root file system's UUID (`mkfs.ext4 -U`, `root=UUID=`).
    pub fs_uuid: String,
    /// The seed of ext4's directory hashes (`-E hash_seed=`).
    pub hash_seed: String,
    /// The MBR disk identifier (`label-id` for sfdisk), never zero.
    pub disk_id: u32,
    /// The GPT disk GUID (`label-id` for sfdisk on a GPT disk).
    pub disk_guid: String,
    /// The GPT partition GUIDs: BIOS boot, EFI System, root.
    pub part_guids: [String; 3],
    /// The EFI System Partition's FAT volume id (`mkfs.vfat -i`), never zero.
    pub esp_id: u32,
}

impl DiskIds {
    pub fn derive(image_key: &str) -> Self {
        let digest = |purpose: &str| Sha256::digest(format!("baker {purpose}\0{image_key}"));
        let uuid = |purpose: &str| {
            let bytes: [u8; 16] = digest(purpose)[..16].try_into().expect("16 bytes");
            uuid::Builder::from_random_bytes(bytes)
                .into_uuid()
                .hyphenated()
                .to_string()
        };
        let word = |purpose: &str| {
            u32::from_be_bytes(digest(purpose)[..4].try_into().expect("4 bytes")).max(1)
        };
        Self {
            fs_uuid: uuid("fs uuid"),
            hash_seed: uuid("hash seed"),
            disk_id: word("mbr disk id"),
            disk_guid: uuid("gpt disk guid"),
            part_guids: [
                uuid("gpt bios boot partition"),
                uuid("gpt efi system partition"),
                uuid("gpt root partition"),
            ],
            esp_id: word("esp volume id"),
        }
    }
}

/// sha256 of several texts, each length-prefixed so that moving bytes between them changes the digest.
pub fn digest_texts(texts: &[&str]) -> String {
    let mut h = Sha256::new();
    for t in texts {
        h.update((t.len() as u64).to_le_bytes());
        h.update(t.as_bytes());
    }
    hex::encode(h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn material<'a>(plan_key: &'a str, artifact: &'a str, size: u64) -> ImageMaterial<'a> {
        ImageMaterial {
            layout: LAYOUT_VERSION,
            plan_key,
            artifact_sha256: artifact,
            os_layer_key: "os",
            tools_image: "baker-tools:abc",
            assets: "assets",
            size_bytes: size,
            mkfs_options: &[],
            epoch: 1_700_000_000,
            firmware: &["bios"],
        }
    }

    #[test]
    fn disk_ids_are_fixed_for_a_key_and_differ_between_keys() {
        let a = DiskIds::derive("k1");
        assert_eq!(a, DiskIds::derive("k1"));
        assert_ne!(a.fs_uuid, DiskIds::derive("k2").fs_uuid);
        assert_ne!(a.fs_uuid, a.hash_seed);
        assert_ne!(a.disk_id, 0);
        assert_ne!(a.esp_id, 0);
        assert_ne!(a.esp_id, DiskIds::derive("k2").esp_id);
        assert_ne!(a.disk_guid, DiskIds::derive("k2").disk_guid);
        let mut guids = vec![&a.fs_uuid, &a.hash_seed, &a.disk_guid];
        guids.extend(&a.part_guids);
        guids.sort();
        guids.dedup();
        assert_eq!(guids.len(), 6, "every GUID of a disk is its own");
    }

    #[test]
    fn a_disk_uuid_is_a_well_formed_rfc_4122_uuid() {
        let ids = DiskIds::derive("some image key");
        let u = uuid::Uuid::parse_str(&ids.fs_uuid).unwrap();
        assert_eq!(u.get_version_num(), 4);
        assert_eq!(u.get_variant(), uuid::Variant::RFC4122);
        assert_eq!(ids.fs_uuid.len(), 36);
    }

    #[test]
    fn the_image_key_follows_every_input() {
        let base = material("plan", "tar", 2 << 30).key();
        assert_eq!(base, material("plan", "tar", 2 << 30).key());
        assert_ne!(base, material("plan2", "tar", 2 << 30).key());
        assert_ne!(base, material("plan", "tar2", 2 << 30).key());
        assert_ne!(base, material("plan", "tar", 3 << 30).key());
        let uefi = ImageMaterial {
            firmware: &["bios", "uefi"],
            ..material("plan", "tar", 2 << 30)
        };
        assert_ne!(base, uefi.key());
    }

    #[test]
    fn the_os_layer_key_ignores_the_tarball_but_follows_packages() {
        let packages = vec!["linux-image-cloud-amd64".to_owned()];
        let more = vec!["linux-image-cloud-amd64".to_owned(), "zlib1g".to_owned()];
        let key = |packages: &[String]| {
            OsLayerMaterial {
                layout: LAYOUT_VERSION,
                base_image: "debian:bookworm",
                package_manager: "apt",
                setup_key: None,
                packages,
                script: "s",
            }
            .key()
        };
        assert_eq!(key(&packages), key(&packages));
        assert_ne!(key(&packages), key(&more));
    }

    #[test]
    fn text_digests_are_length_prefixed() {
        assert_ne!(digest_texts(&["ab", "c"]), digest_texts(&["a", "bc"]));
    }
}
