//! Where everything goes in a `qcow2` file (see [`qcow2`](super::qcow2)): the layout that the
//! set of non-zero clusters fixes, and the metadata clusters themselves — header, L1 table,
//! refcount table and blocks, L2 tables — as the qcow2 specification (QEMU's
//! `docs/interop/qcow2.txt`) lays them out, big-endian.

pub const CLUSTER_BITS: u32 = 16;
pub const CLUSTER: u64 = 1 << CLUSTER_BITS;
/// Guest clusters one L2 table maps (512 MiB of disk).
pub const L2_ENTRIES: u64 = CLUSTER / 8;
/// Clusters one refcount block counts (16-bit counts).
const REFCOUNTS: u64 = CLUSTER / 2;
/// "Refcount is exactly one": set on every L1 and L2 entry here.
const COPIED: u64 = 1 << 63;

/// Which guest clusters hold data, one bit each.
pub struct Used(Vec<u64>);

impl Used {
    /// None of `clusters` used.
    pub fn new(clusters: u64) -> Self {
        Self(vec![0; clusters.div_ceil(64) as usize])
    }

    pub fn get(&self, cluster: u64) -> bool {
        self.0[(cluster / 64) as usize] >> (cluster % 64) & 1 == 1
    }

    pub fn set(&mut self, cluster: u64) {
        self.0[(cluster / 64) as usize] |= 1 << (cluster % 64);
    }

    /// Used clusters in `[from, to)`, `from` a multiple of 64 (bits past the disk are never set).
    pub fn count(&self, from: u64, to: u64) -> u64 {
        let words = &self.0[(from / 64) as usize..(to.div_ceil(64) as usize).min(self.0.len())];
        words.iter().map(|w| u64::from(w.count_ones())).sum()
    }
}

/// Where everything goes, in clusters of the output file.
pub struct Layout {
    pub guest_clusters: u64,
    pub l1_entries: u64,
    l1_clusters: u64,
    table_clusters: u64,
    pub block_clusters: u64,
    /// Clusters in the whole file.
    pub total: u64,
}

impl Layout {
    pub fn new(size: u64, used: &Used) -> Self {
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

    pub fn data_at(&self) -> u64 {
        self.blocks_at() + self.block_clusters
    }
}

fn put32(buf: &mut [u8], at: u64, v: u32) {
    buf[at as usize..at as usize + 4].copy_from_slice(&v.to_be_bytes());
}

fn put64(buf: &mut [u8], at: u64, v: u64) {
    buf[at as usize..at as usize + 8].copy_from_slice(&v.to_be_bytes());
}

/// Cluster 0: the version 3 header, no extensions, no backing file, no encryption.
pub fn header(size: u64, layout: &Layout) -> Vec<u8> {
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
pub fn l1_table(layout: &Layout, used: &Used) -> Vec<u8> {
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
pub fn l2_table(layout: &Layout, used: &Used, r: u64, at: u64) -> (Vec<u8>, u64) {
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

pub fn refcount_table(layout: &Layout) -> Vec<u8> {
    let mut table = vec![0u8; (layout.table_clusters * CLUSTER) as usize];
    for b in 0..layout.block_clusters {
        put64(&mut table, b * 8, (layout.blocks_at() + b) * CLUSTER);
    }
    table
}

/// Refcount block `b`: a count of 1 for every cluster of the file it covers.
pub fn refcount_block(layout: &Layout, b: u64) -> Vec<u8> {
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

    #[test]
    fn the_refcount_blocks_count_themselves() {
        let mut used = Used::new(70_000);
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
