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

use super::FormatError;
use super::meter::Meter;
use super::output::Output;
use super::pipe::HashedWriter;
use super::sparse::{Disk, is_zero};
use crate::progress::Reporter;

const CLUSTER_BITS: u32 = 16;
const CLUSTER: u64 = 1 << CLUSTER_BITS;
/// Guest clusters one L2 table maps (512 MiB of disk).
const L2_ENTRIES: u64 = CLUSTER / 8;
/// Clusters one refcount block counts (16-bit counts).
const REFCOUNTS: u64 = CLUSTER / 2;
/// "Refcount is exactly one": set on every L1 and L2 entry here.
const COPIED: u64 = 1 << 63;
/// Clusters read at a time.
const BATCH: u64 = 32;
const DEPTH: usize = 4;

/// Which guest clusters hold data, one bit each.
struct Used(Vec<u64>);

impl Used {
    fn get(&self, cluster: u64) -> bool {
        self.0[(cluster / 64) as usize] >> (cluster % 64) & 1 == 1
    }

    fn set(&mut self, cluster: u64) {
        self.0[(cluster / 64) as usize] |= 1 << (cluster % 64);
    }

    /// Used clusters in `[from, to)`, `from` a multiple of 64 (bits past the disk are never set).
    fn count(&self, from: u64, to: u64) -> u64 {
        let words = &self.0[(from / 64) as usize..(to.div_ceil(64) as usize).min(self.0.len())];
        words.iter().map(|w| u64::from(w.count_ones())).sum()
    }
}

/// Where everything goes, in clusters of the output file.
struct Layout {
    guest_clusters: u64,
    l1_entries: u64,
    l1_clusters: u64,
    table_clusters: u64,
    block_clusters: u64,
    /// Clusters in the whole file.
    total: u64,
}

impl Layout {
    fn new(size: u64, used: &Used) -> Self {
        let guest_clusters = size.div_ceil(CLUSTER);
        let l1_entries = guest_clusters.div_ceil(L2_ENTRIES);
        let l1_clusters = (l1_entries * 8).div_ceil(CLUSTER).max(1);
        let regions = (0..l1_entries).map(|r| used.count(r * L2_ENTRIES, (r + 1) * L2_ENTRIES));
        let (l2, data) = regions.fold((0, 0), |(l2, data), n| (l2 + u64::from(n > 0), data + n));
        let fixed = 1 + l1_clusters + l2 + data;
        // The refcount blocks count themselves and the table that points at them.
        let (mut table_clusters, mut block_clusters) = (1, 1);
        loop {
            let blocks = (fixed + table_clusters + block_clusters).div_ceil(REFCOUNTS);
            let table = (blocks * 8).div_ceil(CLUSTER);
            if (table, blocks) == (table_clusters, block_clusters) {
                break;
            }
            (table_clusters, block_clusters) = (table, blocks);
        }
        Self {
            guest_clusters,
            l1_entries,
            l1_clusters,
            table_clusters,
            block_clusters,
            total: fixed + table_clusters + block_clusters,
        }
    }

    fn table_at(&self) -> u64 {
        1 + self.l1_clusters
    }

    fn blocks_at(&self) -> u64 {
        self.table_at() + self.table_clusters
    }

    fn data_at(&self) -> u64 {
        self.blocks_at() + self.block_clusters
    }
}

pub(super) fn write(
    disk: &Disk,
    target: &Path,
    reporter: &dyn Reporter,
) -> Result<(String, u64), FormatError> {
    let total = disk.data_bytes().map_err(FormatError::read(&disk.path))?;
    let what = format!("scanning {} for {}", disk.path.display(), target.display());
    let used = scan(disk, Meter::new(reporter, what, total))?;
    let layout = Layout::new(disk.size, &used);
    let out = Output::create(target)?;
    let mut w = HashedWriter::new(&out, DEPTH, (BATCH * CLUSTER) as usize);
    let what = format!("writing {}", target.display());
    let mut meter = Meter::new(reporter, what, layout.total * CLUSTER);
    let mut put = |w: &mut HashedWriter, buf: Vec<u8>, lent| {
        meter.add(buf.len() as u64);
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
    meter.finish();
    let hasher = w.finish();
    out.commit(hex::encode(hasher.finalize()))
}

/// First pass: which clusters of the data extents are not all zeros.
fn scan(disk: &Disk, mut meter: Meter<'_>) -> Result<Used, FormatError> {
    let mut used = Used(vec![0; disk.size.div_ceil(CLUSTER).div_ceil(64) as usize]);
    let mut buf = vec![0u8; (BATCH * CLUSTER) as usize];
    let mut next = 0;
    for extent in disk.extents() {
        let extent = extent.map_err(FormatError::read(&disk.path))?;
        let mut c = (extent.offset / CLUSTER).max(next);
        let last = extent.end().div_ceil(CLUSTER);
        while c < last {
            let n = (last - c).min(BATCH);
            let start = c * CLUSTER;
            let len = ((n * CLUSTER).min(disk.size - start)) as usize;
            disk.read_at(&mut buf[..len], start)
                .map_err(FormatError::read(&disk.path))?;
            for (i, cluster) in buf[..len].chunks(CLUSTER as usize).enumerate() {
                if !is_zero(cluster) {
                    used.set(c + i as u64);
                }
            }
            c += n;
        }
        next = last;
        meter.add(extent.len);
    }
    meter.finish();
    Ok(used)
}

fn put32(buf: &mut [u8], at: u64, v: u32) {
    buf[at as usize..at as usize + 4].copy_from_slice(&v.to_be_bytes());
}

fn put64(buf: &mut [u8], at: u64, v: u64) {
    buf[at as usize..at as usize + 8].copy_from_slice(&v.to_be_bytes());
}

/// Cluster 0: the version 3 header, no extensions, no backing file, no encryption.
fn header(size: u64, layout: &Layout) -> Vec<u8> {
    let mut h = vec![0u8; CLUSTER as usize];
    h[0..4].copy_from_slice(b"QFI\xfb");
    put32(&mut h, 4, 3);
    put32(&mut h, 20, CLUSTER_BITS);
    put64(&mut h, 24, size);
    put32(&mut h, 36, layout.l1_entries as u32);
    put64(&mut h, 40, CLUSTER); // the L1 table follows the header
    put64(&mut h, 48, layout.table_at() * CLUSTER);
    put32(&mut h, 56, layout.table_clusters as u32);
    put32(&mut h, 96, 4); // refcount order: 16-bit counts
    put32(&mut h, 100, 112); // header length; byte 104, compression type, 0 = zlib
    h
}

/// The L1 table: where each region's L2 table lands (regions without data have none).
fn l1_table(layout: &Layout, used: &Used) -> Vec<u8> {
    let mut l1 = vec![0u8; (layout.l1_clusters * CLUSTER) as usize];
    let mut at = layout.data_at();
    for r in 0..layout.l1_entries {
        let n = used.count(r * L2_ENTRIES, (r + 1) * L2_ENTRIES);
        if n > 0 {
            put64(&mut l1, r * 8, (at * CLUSTER) | COPIED);
            at += 1 + n;
        }
    }
    l1
}

/// Region `r`'s L2 table, written at cluster `at` with its data clusters right after it, and
/// the cluster after those; `at` itself when the region holds no data.
fn l2_table(layout: &Layout, used: &Used, r: u64, at: u64) -> (Vec<u8>, u64) {
    let first = r * L2_ENTRIES;
    let end = (first + L2_ENTRIES).min(layout.guest_clusters);
    let mut l2 = vec![0u8; CLUSTER as usize];
    let mut host = at + 1;
    for c in (first..end).filter(|&c| used.get(c)) {
        put64(&mut l2, (c - first) * 8, (host * CLUSTER) | COPIED);
        host += 1;
    }
    (l2, if host == at + 1 { at } else { host })
}

fn refcount_table(layout: &Layout) -> Vec<u8> {
    let mut table = vec![0u8; (layout.table_clusters * CLUSTER) as usize];
    for b in 0..layout.block_clusters {
        put64(&mut table, b * 8, (layout.blocks_at() + b) * CLUSTER);
    }
    table
}

/// Refcount block `b`: a count of 1 for every cluster of the file it covers.
fn refcount_block(layout: &Layout, b: u64) -> Vec<u8> {
    let mut block = vec![0u8; CLUSTER as usize];
    let covered = layout.total.saturating_sub(b * REFCOUNTS).min(REFCOUNTS);
    for i in 0..covered {
        block[(i * 2 + 1) as usize] = 1;
    }
    block
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
        let disk = TestDisk::new(64 * MIB)
            .data(0, MIB)
            .zeros(8 * MIB, 2 * MIB)
            .data(20 * MIB + 4096, 5 * MIB)
            .data(64 * MIB - 4096, 4096)
            .build();
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

    #[test]
    fn the_refcount_blocks_count_themselves() {
        let mut used = Used(vec![0; 70_000_usize.div_ceil(64)]);
        for c in 0..70_000 {
            used.set(c);
        }
        let layout = Layout::new(70_000 * CLUSTER, &used);
        // 70 000 data + 9 L2 + 1 header + 1 L1 clusters, a table, 3 blocks.
        assert_eq!((layout.table_clusters, layout.block_clusters), (1, 3));
        assert_eq!(layout.total, 70_000 + 9 + 1 + 1 + 1 + 3);
        let last = refcount_block(&layout, 2);
        let counted = last.chunks(2).filter(|c| c == &[0, 1]).count() as u64;
        assert_eq!(counted, layout.total - 2 * REFCOUNTS);
    }
}
