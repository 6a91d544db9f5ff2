//! `vhd`: a fixed VHD for Azure — the raw bytes, written sparse by [`super::raw`] in the same pass
//! as `raw` and `ami`, then the one 512-byte big-endian footer made here (Microsoft's "Virtual Hard
//! Disk Image Format Specification" 1.0; FACTS.md), so its sha256 continues the raw disk's.
//! Written by hand: it is one struct of fixed fields, and `qemu-img` (the usual tool) stamps the
//! time of writing and a random UUID into it, so its VHDs are never reproducible. Here the
//! timestamp is the plan's epoch and the UUID the caller's [`Options::disk_id`].
//!
//! The creator application is `win ` (what Hyper-V writes): readers such as QEMU take a VHD's
//! size from its CHS geometry unless the creator is one they know to mean "the size field is
//! exact" (`win `, `qem2`, `d2v `…); for any other creator a 64 MiB disk would read as
//! 63.95 MiB and lose its tail. The geometry itself follows the specification's algorithm.

use super::Options;

const MIB: u64 = 1 << 20;
/// Azure's smallest fixed VHD.
pub const VHD_MIN_SIZE: u64 = 20 * MIB;
/// Azure's largest fixed VHD (32 TiB).
pub const VHD_MAX_SIZE: u64 = 32 << 40;
/// 2000-01-01T00:00:00Z, the VHD epoch, in Unix seconds.
const VHD_EPOCH: u64 = 946_684_800;

/// Azure's rule for a fixed VHD's size; the size back as the error.
pub(super) fn check_size(size: u64) -> Result<(), u64> {
    if size % MIB == 0 && (VHD_MIN_SIZE..=VHD_MAX_SIZE).contains(&size) {
        Ok(())
    } else {
        Err(size)
    }
}

/// The footer of a fixed disk of `size` bytes.
pub(super) fn footer(size: u64, options: &Options) -> [u8; 512] {
    let mut f = [0u8; 512];
    let timestamp = options
        .epoch
        .saturating_sub(VHD_EPOCH)
        .min(u64::from(u32::MAX)) as u32;
    let (cylinders, heads, sectors) = geometry(size);
    let version = env!("CARGO_PKG_VERSION_MAJOR").parse::<u32>().unwrap_or(0) << 16
        | env!("CARGO_PKG_VERSION_MINOR").parse::<u32>().unwrap_or(0);
    f[0..8].copy_from_slice(b"conectix");
    f[8..12].copy_from_slice(&2u32.to_be_bytes()); // features: reserved bit, always set
    f[12..16].copy_from_slice(&0x0001_0000u32.to_be_bytes()); // file format version 1.0
    f[16..24].copy_from_slice(&u64::MAX.to_be_bytes()); // data offset: none, a fixed disk
    f[24..28].copy_from_slice(&timestamp.to_be_bytes());
    f[28..32].copy_from_slice(b"win ");
    f[32..36].copy_from_slice(&version.to_be_bytes());
    f[36..40].copy_from_slice(b"Wi2k");
    f[40..48].copy_from_slice(&size.to_be_bytes()); // original size
    f[48..56].copy_from_slice(&size.to_be_bytes()); // current size
    f[56..58].copy_from_slice(&cylinders.to_be_bytes());
    f[58] = heads;
    f[59] = sectors;
    f[60..64].copy_from_slice(&2u32.to_be_bytes()); // disk type: fixed
    f[68..84].copy_from_slice(&options.disk_id);
    // f[84]: saved state 0; the rest reserved zeros.
    let checksum = !f
        .iter()
        .map(|&b| u32::from(b))
        .fold(0u32, u32::wrapping_add);
    f[64..68].copy_from_slice(&checksum.to_be_bytes());
    f
}

/// Cylinders, heads and sectors per track for `size` bytes, by the specification's algorithm.
pub(super) fn geometry(size: u64) -> (u16, u8, u8) {
    let total = (size / 512).min(65535 * 16 * 255);
    let (sectors, heads, cylinder_heads);
    if total >= 65535 * 16 * 63 {
        sectors = 255;
        heads = 16;
        cylinder_heads = total / sectors;
    } else {
        let mut s = 17;
        let mut cth = total / s;
        let mut h = cth.div_ceil(1024).max(4);
        if cth >= h * 1024 || h > 16 {
            s = 31;
            h = 16;
            cth = total / s;
        }
        if cth >= h * 1024 {
            s = 63;
            h = 16;
            cth = total / s;
        }
        (sectors, heads, cylinder_heads) = (s, h, cth);
    }
    ((cylinder_heads / heads) as u16, heads as u8, sectors as u8)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::format::testdisk::{
        MIB, TestDisk, allocated, assert_same_disk, qemu_info, run,
    };
    use crate::image::format::{Format, write as write_format};
    use crate::progress::Silent;

    #[test]
    fn qemu_reads_the_vhd_as_vpc_of_the_raw_size_and_converts_it_back_to_the_raw_bytes() {
        let disk = TestDisk::typical();
        let out = disk.dir.path().join("disk.vhd");
        let options = Options::new(1_700_000_000, b"plan");
        let w = write_format(Format::Vhd, &disk.path, &out, &options, &Silent).unwrap();
        assert_eq!(w.bytes, 64 * MIB + 512);
        assert!(allocated(&out) < 8 * MIB, "the VHD stays sparse");
        let info = qemu_info("vpc", &out);
        assert_eq!(info["format"], "vpc");
        assert_eq!(info["virtual-size"], 64 * MIB);
        assert_same_disk("vpc", &out, &disk.path);
        let back = disk.dir.path().join("back.raw");
        let (o, b) = (out.to_str().unwrap(), back.to_str().unwrap());
        run("qemu-img", &["convert", "-f", "vpc", "-O", "raw", o, b]);
        assert_eq!(
            std::fs::read(&back).unwrap(),
            std::fs::read(&disk.path).unwrap()
        );
        let again = disk.dir.path().join("again.vhd");
        let w2 = write_format(Format::Vhd, &disk.path, &again, &options, &Silent).unwrap();
        assert_eq!(w2.sha256, w.sha256);
        assert_eq!(std::fs::read(&again).unwrap(), std::fs::read(&out).unwrap());
    }

    #[test]
    fn the_footer_has_the_fields_qemu_writes_for_the_same_disk_but_time_and_id_are_ours() {
        // qemu-img without force_size rounds a disk up to whole cylinders of the spec's
        // geometry; at a size that is whole cylinders (600 x 4 heads x 17 sectors) it keeps it.
        let size = 600 * 4 * 17 * 512;
        let disk = TestDisk::new(size).data(0, 4096).build();
        let theirs = disk.dir.path().join("qemu.vhd");
        let (raw, t) = (disk.path.to_str().unwrap(), theirs.to_str().unwrap());
        run(
            "qemu-img",
            &[
                "convert",
                "-f",
                "raw",
                "-O",
                "vpc",
                "-o",
                "subformat=fixed",
                raw,
                t,
            ],
        );
        let bytes = std::fs::read(&theirs).unwrap();
        let q = &bytes[bytes.len() - 512..];
        let options = Options::new(VHD_EPOCH + 86_400, b"plan");
        let ours = footer(size, &options);
        for (field, range) in [
            ("cookie", 0..8),
            ("features", 8..12),
            ("version", 12..16),
            ("data offset", 16..24),
            ("host OS", 36..40),
            ("original size", 40..48),
            ("current size", 48..56),
            ("CHS geometry", 56..60),
            ("disk type", 60..64),
            ("saved state", 84..85),
        ] {
            assert_eq!(&ours[range.clone()], &q[range], "{field}");
        }
        assert_eq!(&ours[24..28], &86_400u32.to_be_bytes(), "timestamp");
        assert_eq!(&ours[68..84], &options.disk_id, "unique id");
        let sum = ours
            .iter()
            .enumerate()
            .filter(|(i, _)| !(64..68).contains(i));
        let sum = sum.fold(0u32, |a, (_, &b)| a.wrapping_add(u32::from(b)));
        assert_eq!(u32::from_be_bytes(ours[64..68].try_into().unwrap()), !sum);
    }

    #[test]
    fn geometry_follows_the_specification_at_its_corners() {
        assert_eq!(geometry(64 * MIB), (963, 8, 17));
        assert_eq!(geometry(20 * MIB), (602, 4, 17));
        // From 65535 * 16 * 63 sectors on: 255 sectors, 16 heads; capped at the maximum.
        assert_eq!(geometry(65535 * 16 * 63 * 512), (16191, 16, 255));
        assert_eq!(geometry(VHD_MAX_SIZE), (65535, 16, 255));
    }

    #[test]
    fn sizes_azure_rejects_are_refused_before_anything_is_written() {
        for size in [20 * MIB - MIB, 64 * MIB + 512, 21 * MIB + 4096] {
            assert_eq!(check_size(size), Err(size));
        }
        assert_eq!(check_size(VHD_MAX_SIZE + MIB), Err(VHD_MAX_SIZE + MIB));
        assert_eq!(check_size(VHD_MAX_SIZE), Ok(()));
        let disk = TestDisk::new(64 * MIB + 512).data(0, 4096).build();
        let out = disk.dir.path().join("disk.vhd");
        let err = write_format(
            Format::Vhd,
            &disk.path,
            &out,
            &Options::new(0, b""),
            &Silent,
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("whole number of MiB") && err.contains("disk.raw"),
            "{err}"
        );
        let names: Vec<_> = std::fs::read_dir(disk.dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "only the raw disk: no partial file is left");
    }
}
