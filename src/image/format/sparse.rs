//! Reading a raw disk without reading its holes. A 10 GiB disk image that holds 1 GiB of files is
//! mostly holes; asking the filesystem where the data is (`SEEK_DATA`/`SEEK_HOLE`, through rustix
//! since this crate forbids `unsafe`) lets every writer read about 1 GiB instead of 10. A
//! filesystem without those seeks reports the whole file as one data extent, which is slower but
//! still correct. Within the data, [`block_runs`] tells the 4 KiB blocks of zeros from the others,
//! for every writer that leaves zeros out: sparse copies, the raw outputs, the GCE sparse map.

use std::fs::File;
use std::io;
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use rustix::fs::SeekFrom;
use rustix::io::Errno;

use crate::stop::Stop;

/// A run of bytes that the filesystem stores; everything between extents reads as zeros.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extent {
    pub offset: u64,
    pub len: u64,
}

impl Extent {
    pub fn end(&self) -> u64 {
        self.offset + self.len
    }
}

/// The blocks, aligned to the disk, by which [`Disk::non_zero_runs`] tells data from zeros: a
/// file system's block, so that a disk copied by baker (which writes no all-zero block) stores
/// exactly those runs.
pub const ZERO_BLOCK: usize = 4096;

/// An open raw disk file and its size.
#[derive(Debug)]
pub struct Disk {
    pub file: File,
    pub path: PathBuf,
    pub size: u64,
}

impl Disk {
    pub fn open(path: &Path) -> io::Result<Self> {
        let file = File::open(path)?;
        let size = file.metadata()?.len();
        Ok(Self {
            file,
            path: path.to_owned(),
            size,
        })
    }

    /// The data extents in offset order.
    pub fn extents(&self) -> DataExtents<'_> {
        DataExtents {
            disk: self,
            pos: 0,
            whole: false,
        }
    }

    /// How many bytes the extents hold (what a writer will read).
    pub fn data_bytes(&self) -> io::Result<u64> {
        self.extents().map(|e| e.map(|e| e.len)).sum()
    }

    /// Fills `buf` from `offset`; the caller keeps `offset + buf.len()` within the disk.
    pub fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.file.read_exact_at(buf, offset)
    }

    /// Copies the disk into the empty file `to`, keeping its holes: only the data extents are
    /// read, and of those only the [`ZERO_BLOCK`]s that are not all zeros are written.
    /// (`std::fs::copy` and `copy_file_range` between two file systems write every hole out as
    /// zeros.)
    pub fn copy_sparse(&self, to: &File) -> io::Result<()> {
        to.set_len(self.size)?;
        let mut buf = vec![0u8; 1 << 20];
        for extent in self.extents() {
            let extent = extent?;
            let mut at = extent.offset;
            while at < extent.end() {
                let n = (extent.end() - at).min(buf.len() as u64) as usize;
                self.read_at(&mut buf[..n], at)?;
                write_non_zero(to, &buf[..n], at, &block_runs(&buf[..n], at))?;
                at += n as u64;
            }
        }
        Ok(())
    }

    /// The runs of [`ZERO_BLOCK`]s that hold something other than zeros, in offset order: the data
    /// extents without their all-zero blocks. Unlike the extents, they follow the disk's bytes
    /// alone, not how a file system stores them (blocks written as zeros, as mkfs writes a
    /// journal; ZFS's records; no `SEEK_DATA` at all), so what is built from them is the same on
    /// every machine. Reads every data extent once, 4 MiB at a time, and gives up between two
    /// reads when asked to [`Stop`] (an `Interrupted` error).
    pub fn non_zero_runs(&self, stop: &Stop) -> io::Result<Vec<Extent>> {
        const READ: u64 = 4 << 20;
        let block = ZERO_BLOCK as u64;
        let mut runs: Vec<Extent> = Vec::new();
        let mut buf = vec![0u8; READ as usize];
        // Blocks before `next` were looked at with an earlier extent.
        let mut next = 0;
        for extent in self.extents() {
            let extent = extent?;
            let mut at = (extent.offset / block * block).max(next);
            // Whole blocks, but never past the disk's end: a disk whose size is no multiple of a
            // block ends in a short one, and a read there would find nothing to read.
            let end = (extent.end().div_ceil(block) * block).min(self.size);
            while at < end {
                if stop.requested() {
                    return Err(io::ErrorKind::Interrupted.into());
                }
                let n = (end - at).min(READ) as usize;
                self.read_at(&mut buf[..n], at)?;
                for (range, _) in block_runs(&buf[..n], at).into_iter().filter(|(_, z)| !z) {
                    let (offset, len) = (at + range.start as u64, range.len() as u64);
                    match runs.last_mut() {
                        Some(run) if run.end() == offset => run.len += len,
                        _ => runs.push(Extent { offset, len }),
                    }
                }
                at += n as u64;
            }
            next = end;
        }
        Ok(runs)
    }
}

/// `buf`, which sits at `offset` in the disk, cut at the disk's [`ZERO_BLOCK`] boundaries into runs
/// of blocks that are all zeros (`true`) and runs of blocks that are not, as ranges of `buf`.
pub fn block_runs(buf: &[u8], offset: u64) -> Vec<(Range<usize>, bool)> {
    let mut runs: Vec<(Range<usize>, bool)> = Vec::new();
    let mut i = 0;
    while i < buf.len() {
        // Blocks end on multiples of ZERO_BLOCK in the disk, whatever `offset` is.
        let end = ((offset as usize + i) / ZERO_BLOCK * ZERO_BLOCK + ZERO_BLOCK - offset as usize)
            .min(buf.len());
        let zero = is_zero(&buf[i..end]);
        match runs.last_mut() {
            Some((run, z)) if *z == zero => run.end = end,
            _ => runs.push((i..end, zero)),
        }
        i = end;
    }
    runs
}

/// Writes `buf` at `offset`, leaving out the blocks that `runs` ([`block_runs`] of `buf` at
/// `offset`) says are all zeros.
pub fn write_non_zero(
    file: &File,
    buf: &[u8],
    offset: u64,
    runs: &[(Range<usize>, bool)],
) -> std::io::Result<()> {
    for (run, _) in runs.iter().filter(|(_, zero)| !zero) {
        file.write_all_at(&buf[run.clone()], offset + run.start as u64)?;
    }
    Ok(())
}

/// Iterator over a [`Disk`]'s data extents, found with `SEEK_DATA`/`SEEK_HOLE`.
pub struct DataExtents<'a> {
    disk: &'a Disk,
    pos: u64,
    /// Set when the filesystem cannot report holes: the rest is one extent.
    whole: bool,
}

impl Iterator for DataExtents<'_> {
    type Item = io::Result<Extent>;

    fn next(&mut self) -> Option<Self::Item> {
        let size = self.disk.size;
        if self.pos >= size {
            return None;
        }
        let start = if self.whole {
            self.pos
        } else {
            match rustix::fs::seek(&self.disk.file, SeekFrom::Data(self.pos)) {
                Ok(start) => start,
                // No data after `pos`: the file ends with a hole.
                Err(Errno::NXIO) => {
                    self.pos = size;
                    return None;
                }
                Err(Errno::INVAL | Errno::OPNOTSUPP) => {
                    self.whole = true;
                    self.pos
                }
                Err(e) => return Some(Err(e.into())),
            }
        };
        let end = if self.whole {
            size
        } else {
            match rustix::fs::seek(&self.disk.file, SeekFrom::Hole(start)) {
                Ok(end) => end.min(size),
                Err(e) => return Some(Err(e.into())),
            }
        };
        self.pos = end;
        Some(Ok(Extent {
            offset: start,
            len: end - start,
        }))
    }
}

/// Zeros to hash or write in place of a hole.
pub static ZEROS: [u8; 1 << 16] = [0; 1 << 16];

/// Whether every byte of `buf` is zero (vectorised: no early exit inside a 64-byte lane).
pub fn is_zero(buf: &[u8]) -> bool {
    let mut lanes = buf.chunks_exact(64);
    lanes.all(|lane| lane.iter().fold(0, |acc, b| acc | b) == 0)
        && lanes.remainder().iter().all(|&b| b == 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::format::testdisk::{MIB, TestDisk};

    #[test]
    fn extents_skip_the_holes_and_cover_every_written_byte() {
        let disk = TestDisk::new(64 * MIB)
            .data(0, 4096)
            .data(10 * MIB, 3 * MIB)
            .data(64 * MIB - 8192, 8192)
            .build();
        let d = Disk::open(&disk.path).unwrap();
        let extents: Vec<_> = d.extents().collect::<io::Result<_>>().unwrap();
        // Filesystems may report a little more than was written (whole blocks), never less.
        for (offset, len) in [(0, 4096), (10 * MIB, 3 * MIB), (64 * MIB - 8192, 8192)] {
            assert!(
                extents
                    .iter()
                    .any(|e| e.offset <= offset && e.end() >= offset + len),
                "{offset}+{len} not covered by {extents:?}"
            );
        }
        assert!(d.data_bytes().unwrap() < 8 * MIB, "holes are not read");
        assert!(extents.windows(2).all(|w| w[0].end() < w[1].offset));
    }

    #[test]
    fn a_sparse_copy_has_the_same_bytes_and_stays_sparse() {
        let disk = TestDisk::new(64 * MIB)
            .data(MIB, 3 * MIB)
            .zeros(8 * MIB, 4 * MIB)
            .data(64 * MIB - 4096, 4096)
            .build();
        let to = disk.dir.path().join("copy.raw");
        let d = Disk::open(&disk.path).unwrap();
        d.copy_sparse(&File::create(&to).unwrap()).unwrap();
        assert_eq!(
            std::fs::read(&to).unwrap(),
            std::fs::read(&disk.path).unwrap()
        );
        let copy = Disk::open(&to).unwrap();
        assert!(
            copy.data_bytes().unwrap() < 5 * MIB,
            "the written zeros and the holes take no space"
        );
    }

    #[test]
    fn a_disk_that_is_all_hole_has_no_extents() {
        let disk = TestDisk::new(32 * MIB).build();
        let d = Disk::open(&disk.path).unwrap();
        assert_eq!(d.extents().count(), 0);
        assert_eq!(d.data_bytes().unwrap(), 0);
    }

    #[test]
    fn non_zero_runs_leave_out_written_zeros_and_follow_the_bytes_alone() {
        let disk = TestDisk::typical();
        let opened = Disk::open(&disk.path).unwrap();
        let runs = opened.non_zero_runs(&Stop::default()).unwrap();
        // The written zeros at 8 MiB are gone; the run from 20 MiB + 512 starts at its block.
        let spans: Vec<_> = runs.iter().map(|r| (r.offset, r.len)).collect();
        assert_eq!(
            spans,
            [
                (0, MIB),
                (20 * MIB, 5 * MIB + 4096),
                (64 * MIB - 4096, 4096)
            ]
        );
        // The same bytes with every block allocated (as on a file system without holes, or
        // copied with `cp --sparse=never`) give the same runs.
        let full = disk.dir.path().join("full.raw");
        std::fs::write(&full, std::fs::read(&disk.path).unwrap()).unwrap();
        let full = Disk::open(&full).unwrap();
        assert_eq!(full.data_bytes().unwrap(), 64 * MIB);
        assert_eq!(full.non_zero_runs(&Stop::default()).unwrap(), runs);
        let stop = Stop::default();
        stop.request();
        let err = full.non_zero_runs(&stop).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::Interrupted);
    }

    /// A disk whose size is no multiple of 4 KiB, its last extent reaching its end: the runs stop
    /// at its last byte. (The last block was rounded up past the end, and the loop read 0 bytes
    /// forever; a stop requested after a few seconds turns such a hang into a failure here.)
    #[test]
    fn non_zero_runs_end_at_the_end_of_a_disk_of_any_size() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("odd.raw");
        let size = 3 * 4096 + 100;
        let mut bytes = vec![0u8; size];
        bytes[4096] = 1;
        bytes[size - 1] = 1;
        std::fs::write(&path, &bytes).unwrap();
        let disk = Disk::open(&path).unwrap();
        let stop = Stop::default();
        let give_up = stop.clone();
        std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_secs(5));
            give_up.request();
        });
        let runs = disk.non_zero_runs(&stop).unwrap();
        assert_eq!(
            runs,
            [
                Extent {
                    offset: 4096,
                    len: 4096
                },
                Extent {
                    offset: 3 * 4096,
                    len: 100
                }
            ]
        );
    }

    #[test]
    fn is_zero_sees_a_single_set_byte_anywhere() {
        let mut buf = vec![0u8; 4096 + 33];
        assert!(is_zero(&buf));
        for at in [0, 63, 64, 4095, 4096 + 32] {
            buf[at] = 1;
            assert!(!is_zero(&buf), "byte {at}");
            buf[at] = 0;
        }
    }
}
