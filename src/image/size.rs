//! The disk's size: `--size` as the user wrote it (refused up front when a format asked for cannot
//! take it), or the tree plus headroom rounded up to whole GiB so that every format accepts it (GCE
//! wants whole GiB, Azure whole MiB), the tarball's share of the tree read from `image.json` when
//! it was recorded for the same tarball.
//!
//! Sizes are read by baker's one size parser ([`byte_size::parse`]: binary units, `GB` refused as
//! ambiguous), then held to what a disk needs: whole MiB, at least 64 MiB.

use std::io::Read;
use std::path::Path;

use super::format::VHD_MAX_SIZE;
use super::layout::{self, MBR_MAX_SIZE};
use super::manifest::ImageManifest;
use super::{Format, ImageError};
use crate::byte_size;
use crate::recipe::Firmware;
use crate::stop::Stop;

pub const MIB: u64 = 1 << 20;
pub const GIB: u64 = 1 << 30;
pub const TIB: u64 = 1 << 40;
/// Where the root partition starts (sector 2048): the MBR, then GRUB's core image, before it.
pub const PARTITION_OFFSET: u64 = MIB;

/// `2G`, `2GiB`, `1.5G`, `1536M`, `10g`, or a plain number of bytes, read by [`byte_size::parse`]
/// as `baker cache prune` reads its sizes, then held to what a disk needs.
pub fn parse_size(given: &str) -> Result<u64, ImageError> {
    let err = |reason: String| ImageError::Size {
        given: given.to_owned(),
        reason,
    };
    let bytes = byte_size::parse(given).map_err(|why| err(why.to_string()))?;
    // What the size breaks: the rule as said of a size with a unit, and of a plain number.
    let (must, is_not) = if bytes % MIB != 0 {
        (
            "must be a whole number of MiB",
            "is not a whole number of MiB",
        )
    } else if bytes < MIN_SIZE {
        (
            "must be at least 64M",
            "is less than 64M, the least disk baker makes",
        )
    } else {
        return Ok(bytes);
    };
    if byte_size::is_without_unit(given) {
        Err(err(bare_number_refused(given.trim(), is_not)))
    } else {
        Err(err(must.to_owned()))
    }
}

/// The least disk baker makes: room for GRUB, the kernel, an init and ext4's own tables.
const MIN_SIZE: u64 = 64 * MIB;

/// Why `number`, written without a unit and so read as bytes, is no disk size (`rule`), with the
/// sizes the user more likely meant: `number` GiB, or MiB, when a disk may be that size.
fn bare_number_refused(number: &str, rule: &str) -> String {
    let meant: Vec<String> = [("G", "GiB"), ("M", "MiB")]
        .into_iter()
        .filter(|(unit, _)| parse_size(&format!("{number}{unit}")).is_ok())
        .map(|(unit, name)| format!("{number}{unit} for {number} {name}"))
        .collect();
    let mut said = format!("{number} bytes {rule}: a number without a unit is bytes");
    if !meant.is_empty() {
        said.push_str(&format!("; write {}", meant.join(" or ")));
    }
    said
}

/// The default disk size for a tree of `tree_bytes`: room for ext4's own tables and journal, a
/// quarter more for what the node writes, at least 512 MiB of it, and whole GiB.
pub fn default_size(tree_bytes: u64) -> u64 {
    let overhead = tree_bytes / 10 + 128 * MIB; // inode tables, journal, reserved blocks
    let headroom = (tree_bytes / 4).max(512 * MIB);
    round_up(PARTITION_OFFSET + tree_bytes + overhead + headroom, GIB)
}

/// Refuses, before any work, a `--size` that a format asked for cannot take: GCE's `disk.raw` must
/// be a whole number of GiB, and Azure takes a fixed VHD of at most 32 TiB (FACTS.md; its least,
/// 20 MiB, is below the least disk baker makes). The other formats take the whole MiB every size is.
/// Checked here rather than by the writers, which would find it only after mkfs, and stop every
/// format with it.
pub fn check_for_formats(size: u64, formats: &[Format]) -> Result<(), ImageError> {
    if formats.contains(&Format::Vhd) && size > VHD_MAX_SIZE {
        return Err(ImageError::Size {
            given: describe(size),
            reason: format!(
                "the vhd format (Azure) takes a disk of at most {}: ask for {}T or less, or leave \
                 --size out",
                describe(VHD_MAX_SIZE),
                VHD_MAX_SIZE / TIB
            ),
        });
    }
    if formats.contains(&Format::Gce) && size % GIB != 0 {
        let (below, above) = (size / GIB, size.div_ceil(GIB));
        let choices = if below == 0 {
            format!("{above}G")
        } else {
            format!("{below}G or {above}G")
        };
        return Err(ImageError::Size {
            given: describe(size),
            reason: format!(
                "the gce format needs a whole number of GiB: ask for {choices}, or leave --size out"
            ),
        });
    }
    Ok(())
}

/// Refuses, before any work, a `--size` that the disk's partition layout cannot describe: an MBR
/// (the layout of a recipe whose image layer boots with BIOS only) holds at most
/// [`MBR_MAX_SIZE`]; the GPT layout, made for `firmware = ["bios", "uefi"]`, has no such limit.
pub fn check_for_layout(size: u64, firmware: &[Firmware]) -> Result<(), ImageError> {
    if layout::holds(firmware, size) {
        return Ok(());
    }
    Err(ImageError::Size {
        given: describe(size),
        reason: format!(
            "this recipe's image boots with BIOS only, on an MBR disk, which holds at most {} (its \
             partition table counts sectors in 32 bits): ask for {}T or less, or leave --size out; \
             a GPT disk has no such limit, and is made when the recipe's image layer says \
             `firmware = [\"bios\", \"uefi\"]` (where its kernel boots under UEFI)",
            describe(MBR_MAX_SIZE),
            MBR_MAX_SIZE / TIB
        ),
    })
}

/// The bytes the tarball unpacks to, for the default disk size: what the output directory's
/// image.json recorded when it was made from this same tarball (by its sha256), so that a no-change
/// re-image does not decompress it, else counted by decompressing it on a blocking thread that
/// stops when this future is dropped (Ctrl-C).
pub async fn unpacked_size(
    out_dir: &Path,
    tarball: &Path,
    sha256: &str,
) -> Result<u64, ImageError> {
    let recorded = ImageManifest::read(&ImageManifest::path_in(out_dir))
        .ok()
        .filter(|m| m.artifact.sha256 == sha256)
        .and_then(|m| m.artifact.unpacked_bytes);
    if let Some(bytes) = recorded {
        return Ok(bytes);
    }
    let stop = Stop::default();
    let _stop_unless_done = stop.on_drop();
    let tarball = tarball.to_owned();
    tokio::task::spawn_blocking(move || count_unpacked(&tarball, &stop))
        .await
        .expect("counting a tarball does not panic")
}

/// The bytes `tarball` decompresses to; [`ImageError::Interrupted`] once `stop` is requested.
fn count_unpacked(tarball: &Path, stop: &Stop) -> Result<u64, ImageError> {
    let file = std::fs::File::open(tarball).map_err(ImageError::io("reading", tarball))?;
    let mut gz = flate2::read::GzDecoder::new(std::io::BufReader::new(file));
    let mut chunk = vec![0; 1 << 20];
    let mut total = 0;
    loop {
        if stop.requested() {
            return Err(ImageError::Interrupted);
        }
        match gz
            .read(&mut chunk)
            .map_err(ImageError::io("reading", tarball))?
        {
            0 => return Ok(total),
            n => total += n as u64,
        }
    }
}

pub fn round_up(value: u64, unit: u64) -> u64 {
    value.div_ceil(unit) * unit
}

/// Human-readable, for messages: `3 TiB`, `2 GiB`, `1536 MiB`.
pub fn describe(bytes: u64) -> String {
    if bytes % TIB == 0 {
        format!("{} TiB", bytes / TIB)
    } else if bytes % GIB == 0 {
        format!("{} GiB", bytes / GIB)
    } else {
        format!("{} MiB", bytes / MIB)
    }
}

#[cfg(test)]
#[path = "size_tests.rs"]
mod tests;
