//! `qcow2` (version 3, 64 KiB clusters, 16-bit refcounts) for private clouds and OpenStack, with
//! only the clusters that hold something: holes and all-zero clusters are left unallocated, so a
//! 10 GiB disk holding 1 GiB of files gives a file of about 1 GiB.
//!
//! Written by hand: the crates that exist (`qcow2`, `qcow2-rs`) read images or edit them in place
//! through an async block layer; none writes a new image front to back. The layout makes that
//! possible: a first pass over the data extents finds the clusters that are not all zeros (one
//! bit per cluster), which fixes where everything goes; the second pass writes the file strictly
//! in order — header, L1 table, refcount table, refcount blocks (every cluster of the file is
//! used exactly once), then for each 512 MiB of the disk that holds data its L2 table followed
//! by its data clusters — so the sha256 is computed while writing and the bytes depend only on
//! the disk's contents (no time, no random).

use std::path::Path;

use sha2::Digest;

use super::output::Output;
use super::pipe::HashedWriter;
use super::qcow2_layout::{
    CLUSTER, L2_ENTRIES, Layout, Used, header, l1_table, l2_table, refcount_block, refcount_table,
};
use super::sparse::{Disk, is_zero};
use super::{FormatError, Options};
use crate::progress::Meter;
use crate::progress::Reporter;
/// Clusters read at a time.
const BATCH: u64 = 32;
const DEPTH: usize = 4;
/// Bytes of a cluster the scan looks at before reading the rest.
const PEEK: usize = 4096;

pub(super) fn write(
    disk: &Disk,
    target: &Path,
    options: &Options,
    reporter: &dyn Reporter,
) -> Result<(String, u64), FormatError> {
    let total = disk.data_bytes().map_err(FormatError::read(&disk.path))?;
    // The disk is a file in baker's work folder, which means nothing to the user.
    let what = format!("scanning the disk for {}", target.display());
    let used = scan(disk, Meter::new(reporter, &options.stop, what, total))?;
    let layout = Layout::new(disk.size, &used);
    let out = Output::create(target)?;
    let mut w = HashedWriter::new(&out, DEPTH, (BATCH * CLUSTER) as usize);
    let what = format!("writing {}", target.display());
    let mut meter = Meter::new(reporter, &options.stop, what, layout.total * CLUSTER);
    let mut put = |w: &mut HashedWriter, buf: Vec<u8>, lent| {
        meter.add(buf.len() as u64)?;
        w.write(buf, lent)
    };
    put(&mut w, header(disk.size, &layout), false)?;
    put(&mut w, l1_table(&layout, &used), false)?;
    put(&mut w, refcount_table(&layout), false)?;
    for b in 0..layout.block_clusters {
        put(&mut w, refcount_block(&layout, b), false)?;
    }
    let mut at = layout.data_at();
    for r in 0..layout.l1_entries {
        let (l2, next) = l2_table(&layout, &used, r, at);
        if next == at {
            continue;
        }
        put(&mut w, l2, false)?;
        at = next;
        let end = ((r + 1) * L2_ENTRIES).min(layout.guest_clusters);
        let mut c = r * L2_ENTRIES;
        while c < end {
            if !used.get(c) {
                c += 1;
                continue;
            }
            let mut n = 1;
            while c + n < end && n < BATCH && used.get(c + n) {
                n += 1;
            }
            let mut buf = w.buffer();
            let start = c * CLUSTER;
            buf.resize((n * CLUSTER) as usize, 0);
            let len = ((n * CLUSTER).min(disk.size - start)) as usize;
            disk.read_at(&mut buf[..len], start)
                .map_err(FormatError::read(&disk.path))?;
            buf[len..].fill(0);
            put(&mut w, buf, true)?;
            c += n;
        }
    }
    let hasher = w.finish()?;
    let written = out.commit(hex::encode(hasher.finalize()))?;
    meter.finish();
    Ok(written)
}

/// First pass: which clusters of the data extents are not all zeros. Most clusters of a data
/// extent start with data, so only a cluster's first page is read first and the rest only when
/// that page is all zeros: the pass reads about a sixteenth of the data instead of all of it.
fn scan(disk: &Disk, mut meter: Meter<'_>) -> Result<Used, FormatError> {
    let mut used = Used::new(disk.size.div_ceil(CLUSTER));
    let mut buf = vec![0u8; CLUSTER as usize];
    let mut next = 0;
    for extent in disk.extents() {
        let extent = extent.map_err(FormatError::read(&disk.path))?;
        let last = extent.end().div_ceil(CLUSTER);
        for c in (extent.offset / CLUSTER).max(next)..last {
            let start = c * CLUSTER;
            let len = CLUSTER.min(disk.size - start) as usize;
            let peek = len.min(PEEK);
            disk.read_at(&mut buf[..peek], start)
                .map_err(FormatError::read(&disk.path))?;
            let mut zero = is_zero(&buf[..peek]);
            if zero && peek < len {
                disk.read_at(&mut buf[peek..len], start + peek as u64)
                    .map_err(FormatError::read(&disk.path))?;
                zero = is_zero(&buf[peek..len]);
            }
            if !zero {
                used.set(c);
            }
        }
        next = last;
        meter.add(extent.len)?;
    }
    meter.finish();
    Ok(used)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::format::testdisk::{GIB, MIB, TestDisk, assert_same_disk, qemu_info, run};
    use crate::image::format::{Format, Options, write as write_format};
    use crate::progress::Silent;

    fn check(path: &Path) -> serde_json::Value {
        let p = path.to_str().unwrap();
        serde_json::from_str(&run("qemu-img", &["check", "--output=json", p])).unwrap()
    }

    #[test]
    fn qemu_checks_the_image_clean_and_reads_the_raw_bytes_from_only_the_non_zero_clusters() {
        let disk = TestDisk::typical();
        let out = disk.dir.path().join("disk.qcow2");
        let options = Options::new(0, b"t");
        let w = write_format(Format::Qcow2, &disk.path, &out, &options, &Silent).unwrap();
        let report = check(&out);
        assert_eq!(report["check-errors"], 0, "{report}");
        assert_eq!(report.get("leaks"), None, "{report}");
        assert_eq!(report.get("corruptions"), None, "{report}");
        let info = qemu_info("qcow2", &out);
        assert_eq!(info["virtual-size"], 64 * MIB);
        assert_eq!(info["cluster-size"], 65536);
        assert_same_disk("qcow2", &out, &disk.path);
        // 1 MiB, 5 MiB over 81 clusters, one cluster; header, L1, refcount table and block, one
        // L2 table. The 2 MiB of written zeros take nothing.
        assert_eq!(w.bytes, (16 + 81 + 1 + 5) * CLUSTER);
        let again = disk.dir.path().join("again.qcow2");
        let w2 = write_format(Format::Qcow2, &disk.path, &again, &options, &Silent).unwrap();
        assert_eq!(w2.sha256, w.sha256);
        assert_eq!(std::fs::read(&again).unwrap(), std::fs::read(&out).unwrap());
    }

    #[test]
    fn the_scan_finds_data_behind_a_zero_first_page_and_skips_all_zero_clusters() {
        // Cluster 0: zeros then 512 bytes of data in its last page; cluster 1: data from its
        // second page; clusters 2 and 3: written zeros; cluster 5 starts with data.
        let c = CLUSTER;
        let disk = TestDisk::new(32 * MIB)
            .zeros(0, 4 * c)
            .data(c - 512, 512)
            .data(c + PEEK as u64, 100)
            .data(5 * c, 4096)
            .build();
        let d = Disk::open(&disk.path).unwrap();
        let stop = crate::stop::Stop::default();
        let meter = Meter::new(&Silent, &stop, String::new(), d.data_bytes().unwrap());
        let used = scan(&d, meter).unwrap();
        let found: Vec<u64> = (0..8).filter(|&i| used.get(i)).collect();
        assert_eq!(found, [0, 1, 5]);
    }

    #[test]
    fn a_disk_of_several_l2_regions_and_a_partial_last_cluster_reads_back_whole() {
        let size = GIB + GIB / 2 + 4096;
        let disk = TestDisk::new(size)
            .data(3 * MIB, MIB)
            .data(GIB + 7 * MIB, 2 * MIB)
            .data(size - 4096, 4096)
            .build();
        let out = disk.dir.path().join("disk.qcow2");
        write_format(
            Format::Qcow2,
            &disk.path,
            &out,
            &Options::new(0, b""),
            &Silent,
        )
        .unwrap();
        let report = check(&out);
        assert_eq!(report["check-errors"], 0, "{report}");
        assert_eq!(qemu_info("qcow2", &out)["virtual-size"], size);
        assert_same_disk("qcow2", &out, &disk.path);
    }
}
