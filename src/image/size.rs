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
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_unpacked_size_comes_from_image_json_when_it_was_made_from_the_same_tarball() {
        let dir = tempfile::tempdir().unwrap();
        let tarball = dir.path().join("t.tar.gz");
        let mut gz = flate2::write::GzEncoder::new(
            std::fs::File::create(&tarball).unwrap(),
            flate2::Compression::fast(),
        );
        std::io::Write::write_all(&mut gz, &[7u8; 10_000]).unwrap();
        gz.finish().unwrap();
        let out = dir.path().join("out");
        std::fs::create_dir(&out).unwrap();
        // No image.json: counted.
        assert_eq!(unpacked_size(&out, &tarball, "s1").await.unwrap(), 10_000);
        let mut recorded = super::super::manifest::sample();
        recorded.artifact.sha256 = "s1".into();
        recorded.artifact.unpacked_bytes = Some(1234);
        recorded.write(&out).unwrap();
        assert_eq!(unpacked_size(&out, &tarball, "s1").await.unwrap(), 1234);
        // Another tarball, or an image.json that does not say: counted.
        assert_eq!(unpacked_size(&out, &tarball, "s2").await.unwrap(), 10_000);
        recorded.artifact.unpacked_bytes = None;
        recorded.write(&out).unwrap();
        assert_eq!(unpacked_size(&out, &tarball, "s1").await.unwrap(), 10_000);
        // Asked to stop (the future dropped at Ctrl-C), the count stops.
        let stop = Stop::default();
        stop.request();
        assert!(matches!(
            count_unpacked(&tarball, &stop),
            Err(ImageError::Interrupted)
        ));
    }

    /// The count runs on a blocking thread, which the runtime does not stop: dropping the future
    /// (Ctrl-C) must ask it to. A tarball that does not end soon (a pipe fed for ten seconds)
    /// shows it: once the future is dropped, the thread stops reading and closes the pipe, which
    /// ends the writer.
    #[tokio::test]
    async fn dropping_the_count_stops_the_thread_that_decompresses() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("endless.tar.gz");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(made.unwrap().success());
        let writer = std::thread::spawn({
            let fifo = fifo.clone();
            move || -> std::io::Result<()> {
                let pipe = std::fs::File::create(&fifo)?;
                let mut gz = flate2::write::GzEncoder::new(pipe, flate2::Compression::fast());
                // Ten seconds of it, so that a test that fails ends too.
                let started = std::time::Instant::now();
                while started.elapsed() < std::time::Duration::from_secs(10) {
                    std::io::Write::write_all(&mut gz, &[0u8; 1 << 16])?;
                }
                gz.finish().map(drop)
            }
        });
        let out = dir.path().join("out");
        std::fs::create_dir(&out).unwrap();
        let count = unpacked_size(&out, &fifo, "s");
        let limit = std::time::Duration::from_millis(300);
        assert!(
            tokio::time::timeout(limit, count).await.is_err(),
            "it ended early"
        );
        // A count that went on would read to the end: the writer would finish its ten seconds.
        let ended = writer.join().unwrap();
        let ended = ended.expect_err("the count went on after it was dropped");
        assert_eq!(ended.kind(), std::io::ErrorKind::BrokenPipe);
    }

    #[test]
    fn a_gce_image_needs_whole_gib_before_any_work() {
        let message = check_for_formats(parse_size("1536M").unwrap(), &[Format::Raw, Format::Gce])
            .unwrap_err()
            .to_string();
        assert!(message.contains("invalid size `1536 MiB`"), "{message}");
        assert!(message.contains("ask for 1G or 2G"), "{message}");
        let small = check_for_formats(512 * MIB, &[Format::Gce]).unwrap_err();
        assert!(small.to_string().contains("ask for 1G,"), "{small}");
        assert!(check_for_formats(parse_size("1536M").unwrap(), &[Format::Vhd]).is_ok());
        assert!(check_for_formats(2 * GIB, &[Format::Gce]).is_ok());
    }

    #[test]
    fn a_vhd_above_azures_32_tib_is_refused_before_any_work() {
        let message = check_for_formats(parse_size("33T").unwrap(), &[Format::Raw, Format::Vhd])
            .unwrap_err()
            .to_string();
        assert_eq!(
            message,
            "invalid size `33 TiB`: the vhd format (Azure) takes a disk of at most 32 TiB: \
             ask for 32T or less, or leave --size out"
        );
        assert!(check_for_formats(parse_size("32T").unwrap(), &[Format::Vhd]).is_ok());
        assert!(check_for_formats(parse_size("33T").unwrap(), &[Format::Raw]).is_ok());
    }

    #[test]
    fn an_mbr_disk_above_2_tib_is_refused_before_any_work() {
        let message = check_for_layout(parse_size("3T").unwrap(), &[Firmware::Bios])
            .unwrap_err()
            .to_string();
        assert!(
            message.starts_with(
                "invalid size `3 TiB`: this recipe's image boots with BIOS only, on an MBR disk, \
                 which holds at most 2 TiB"
            ) && message.contains("ask for 2T or less")
                && message.contains("a GPT disk has no such limit"),
            "{message}"
        );
        assert!(check_for_layout(parse_size("2T").unwrap(), &[Firmware::Bios]).is_ok());
        let hybrid = [Firmware::Bios, Firmware::Uefi];
        assert!(check_for_layout(parse_size("3T").unwrap(), &hybrid).is_ok());
    }

    #[test]
    fn sizes_use_binary_units_as_disk_tools_do() {
        assert_eq!(parse_size("2G").unwrap(), 2 * GIB);
        assert_eq!(parse_size("2GiB").unwrap(), 2 * GIB);
        assert_eq!(parse_size("1536M").unwrap(), 1536 * MIB);
        assert_eq!(parse_size(" 1T ").unwrap(), 1024 * GIB);
        assert_eq!(parse_size("1073741824").unwrap(), GIB);
        assert_eq!(parse_size("1.5G").unwrap(), 1536 * MIB);
    }

    #[test]
    fn refusals_name_the_size_and_say_why() {
        let said = |given: &str| parse_size(given).unwrap_err().to_string();
        assert!(
            said("3GB").starts_with("invalid size `3GB`: GB is ambiguous"),
            "{}",
            said("3GB")
        );
        assert_eq!(said("-1G"), "invalid size `-1G`: a size cannot be negative");
        // `--size --json`, a value forgotten, is not read as a negative size.
        assert!(said("--json").contains("that is an option, not a size"));
        assert_eq!(said("10M"), "invalid size `10M`: must be at least 64M");
    }

    /// A plain number is bytes, which a user who wrote `--size 3` did not mean: the refusal says
    /// so, with the sizes they more likely meant (only those a disk may be).
    #[test]
    fn a_number_without_a_unit_is_refused_as_bytes_with_what_to_write() {
        let said = |given: &str| parse_size(given).unwrap_err().to_string();
        assert_eq!(
            said("3"),
            "invalid size `3`: 3 bytes is not a whole number of MiB: a number without a unit is \
             bytes; write 3G for 3 GiB"
        );
        assert_eq!(
            said("100"),
            "invalid size `100`: 100 bytes is not a whole number of MiB: a number without a unit \
             is bytes; write 100G for 100 GiB or 100M for 100 MiB"
        );
        assert!(
            said("1.5").ends_with("write 1.5G for 1.5 GiB"),
            "{}",
            said("1.5")
        );
        assert_eq!(
            said("1048576"),
            "invalid size `1048576`: 1048576 bytes is less than 64M, the least disk baker makes: \
             a number without a unit is bytes; write 1048576G for 1048576 GiB or 1048576M for \
             1048576 MiB"
        );
        assert!(
            said("0").ends_with("a number without a unit is bytes"),
            "{}",
            said("0")
        );
        // With a unit, the rule alone.
        assert_eq!(
            said("100000K"),
            "invalid size `100000K`: must be a whole number of MiB"
        );
    }

    #[test]
    fn sizes_that_no_format_accepts_are_refused() {
        assert!(parse_size("1.0001G").is_err());
        assert!(parse_size("100000K").is_err());
        assert!(parse_size("10M").is_err());
        assert!(parse_size("2X").is_err());
        assert!(parse_size("").is_err());
    }

    #[test]
    fn the_default_size_is_whole_gib_with_headroom() {
        let tree = 400 * MIB;
        let size = default_size(tree);
        assert_eq!(size % GIB, 0);
        assert!(size >= tree + 512 * MIB);
        assert_eq!(default_size(0), GIB);
        assert_eq!(default_size(3 * GIB) % GIB, 0);
        assert!(default_size(3 * GIB) >= 3 * GIB + 3 * GIB / 4);
    }

    #[test]
    fn rounding_and_descriptions() {
        assert_eq!(round_up(1, GIB), GIB);
        assert_eq!(round_up(GIB, GIB), GIB);
        assert_eq!(describe(2 * GIB), "2 GiB");
        assert_eq!(describe(1536 * MIB), "1536 MiB");
        assert_eq!(describe(3 * TIB), "3 TiB");
        assert_eq!(describe(TIB + GIB), "1025 GiB");
    }
}
