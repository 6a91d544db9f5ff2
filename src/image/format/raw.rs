//! `raw` and `ami`: the raw disk itself, copied so that it stays sparse. Where the filesystem can
//! share blocks between files (`FICLONE`: Btrfs, XFS, ZFS…) the copy is a reflink and costs no
//! space or time; elsewhere only the data extents are read and, of those, only the 4 KiB blocks
//! that are not all zeros are written, at their offsets in a file already extended to the disk's
//! size, so every hole stays a hole. The data has to pass through memory anyway to be hashed
//! (the `.sha256` covers every byte, holes as zeros), so an in-kernel `copy_file_range` would
//! save nothing over writing from the buffer that was just hashed.
//!
//! When an earlier writer of the same run already hashed the disk's bytes ([`DiskHash`]: `raw`,
//! `ami` and `vhd` all start with them), the copy reads and writes without hashing again, and a
//! reflinked copy reads nothing at all.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

use sha2::{Digest, Sha256};

use super::FormatError;
use super::meter::Meter;
use super::output::Output;
use super::pipe::HashPipe;
use super::sparse::{Disk, is_zero};
use crate::progress::Reporter;

/// Bytes read at a time.
const CHUNK: usize = 2 << 20;
/// Buffers in flight between reading and hashing.
const DEPTH: usize = 4;
/// The unit in which written zeros are left out.
const BLOCK: usize = 4096;

pub(super) fn write(
    disk: &Disk,
    target: &Path,
    known: &mut DiskHash,
    reporter: &dyn Reporter,
) -> Result<(String, u64), FormatError> {
    let out = Output::create(target)?;
    let hasher = copy(disk, &out, known, reporter)?;
    out.commit(hex::encode(hasher.finalize()))
}

/// Copies the disk into `out` at the same offsets, holes left as holes, and returns the hasher
/// that has seen all `disk.size` bytes: the one `known` holds, else one fed while copying, which
/// `known` then keeps for the next writer.
pub(super) fn copy(
    disk: &Disk,
    out: &Output,
    known: &mut DiskHash,
    reporter: &dyn Reporter,
) -> Result<Sha256, FormatError> {
    let file = out.file();
    let write_err = FormatError::write(out.target());
    let cloned = rustix::fs::ioctl_ficlone(file, &disk.file).is_ok();
    if !cloned {
        file.set_len(disk.size).map_err(write_err)?;
    }
    if let (true, Some(hasher)) = (cloned, known.get()) {
        out.sync()?;
        return Ok(hasher);
    }
    let total = disk.data_bytes().map_err(FormatError::read(&disk.path))?;
    let mut meter = Meter::new(
        reporter,
        format!("writing {}", out.target().display()),
        total,
    );
    let mut hashing = match known.get() {
        Some(hasher) => Hashing::Done(hasher, Vec::with_capacity(CHUNK)),
        None => Hashing::Pipe(HashPipe::new(DEPTH, CHUNK)),
    };
    let mut pos = 0;
    for extent in disk.extents() {
        let extent = extent.map_err(FormatError::read(&disk.path))?;
        hashing.zeros(extent.offset - pos);
        let mut at = extent.offset;
        while at < extent.end() {
            let n = (extent.end() - at).min(CHUNK as u64) as usize;
            let mut buf = hashing.buffer();
            buf.resize(n, 0);
            disk.read_at(&mut buf, at)
                .map_err(FormatError::read(&disk.path))?;
            if !cloned {
                write_non_zero(file, &buf, at).map_err(FormatError::write(out.target()))?;
            }
            hashing.bytes(buf);
            meter.add(n as u64);
            at += n as u64;
            out.written(at);
        }
        pos = extent.end();
    }
    hashing.zeros(disk.size - pos);
    meter.finish();
    out.sync()?;
    let hasher = hashing.finish();
    known.keep(&hasher);
    Ok(hasher)
}

/// The hash of one disk's bytes, as the first writer of a run that copies them whole computed it.
#[derive(Default)]
pub(super) struct DiskHash(Option<Sha256>);

impl DiskHash {
    fn get(&self) -> Option<Sha256> {
        self.0.clone()
    }

    fn keep(&mut self, hasher: &Sha256) {
        self.0.get_or_insert_with(|| hasher.clone());
    }
}

/// Hashing while copying, or not, when the disk's hash is known.
enum Hashing {
    Pipe(HashPipe),
    /// The known hasher and the one buffer the copy goes through.
    Done(Sha256, Vec<u8>),
}

impl Hashing {
    fn buffer(&mut self) -> Vec<u8> {
        match self {
            Hashing::Pipe(pipe) => pipe.buffer(),
            Hashing::Done(_, spare) => std::mem::take(spare),
        }
    }

    fn bytes(&mut self, buf: Vec<u8>) {
        match self {
            Hashing::Pipe(pipe) => pipe.bytes(buf),
            Hashing::Done(_, spare) => *spare = buf,
        }
    }

    fn zeros(&mut self, n: u64) {
        if let Hashing::Pipe(pipe) = self {
            pipe.zeros(n);
        }
    }

    fn finish(self) -> Sha256 {
        match self {
            Hashing::Pipe(pipe) => pipe.finish(),
            Hashing::Done(hasher, _) => hasher,
        }
    }
}

/// Writes `buf` at `offset`, leaving out the 4 KiB blocks (aligned to the file) that are all zero.
fn write_non_zero(file: &File, buf: &[u8], offset: u64) -> std::io::Result<()> {
    let mut i = 0;
    while i < buf.len() {
        // Blocks end on multiples of BLOCK in the file, whatever `offset` is.
        let block_end = |from: usize| {
            let next = (offset as usize + from) / BLOCK * BLOCK + BLOCK - offset as usize;
            next.min(buf.len())
        };
        let end = block_end(i);
        if is_zero(&buf[i..end]) {
            i = end;
            continue;
        }
        let start = i;
        let mut j = end;
        while j < buf.len() {
            let e = block_end(j);
            if is_zero(&buf[j..e]) {
                break;
            }
            j = e;
        }
        file.write_all_at(&buf[start..j], offset + start as u64)?;
        i = j;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::artifact::sha256_file;
    use crate::image::format::testdisk::{MIB, TestDisk, allocated};
    use crate::image::format::{Format, Options, write as write_format};
    use crate::progress::{Event, Recorder, Silent};

    #[test]
    fn raw_is_the_same_bytes_stays_sparse_and_reports_progress() {
        let disk = TestDisk::typical();
        let out = disk.dir.path().join("out.raw");
        let recorder = Recorder::default();
        let options = Options::new(0, b"t");
        let w = write_format(Format::Raw, &disk.path, &out, &options, &recorder).unwrap();
        assert_eq!(
            std::fs::read(&out).unwrap(),
            std::fs::read(&disk.path).unwrap()
        );
        assert_eq!(w.sha256, sha256_file(&disk.path).unwrap());
        assert_eq!(w.bytes, 64 * MIB);
        assert!(
            allocated(&out) <= 7 * MIB,
            "written zeros and holes stay holes: {} bytes allocated",
            allocated(&out)
        );
        let events = recorder.0.lock().unwrap();
        let last = events.last().unwrap();
        assert!(
            matches!(last, Event::Progress { done, total, .. } if done == total && *total >= 8 * MIB),
            "{last:?}"
        );
    }

    #[test]
    fn a_known_disk_hash_is_taken_as_it_is_and_the_copy_is_still_whole() {
        let disk = TestDisk::typical();
        let opened = Disk::open(&disk.path).unwrap();
        // Not the disk's hash: had the copy hashed the disk again, the digest would differ.
        let marker = Sha256::new().chain_update(b"already hashed");
        let mut known = DiskHash(Some(marker.clone()));
        let out = disk.dir.path().join("again.raw");
        let (sha256, bytes) = write(&opened, &out, &mut known, &Silent).unwrap();
        assert_eq!(sha256, hex::encode(marker.finalize()));
        assert_eq!(bytes, 64 * MIB);
        assert_eq!(
            std::fs::read(&out).unwrap(),
            std::fs::read(&disk.path).unwrap()
        );
        let mut fresh = DiskHash::default();
        let first = disk.dir.path().join("first.raw");
        let (sha256, _) = write(&opened, &first, &mut fresh, &Silent).unwrap();
        assert_eq!(sha256, sha256_file(&disk.path).unwrap());
        assert_eq!(
            hex::encode(fresh.get().unwrap().finalize()),
            sha256,
            "kept for the next"
        );
    }

    #[test]
    fn write_non_zero_leaves_zero_blocks_unwritten_at_any_offset() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let file = std::fs::OpenOptions::new()
            .create_new(true)
            .read(true)
            .write(true)
            .open(&path)
            .unwrap();
        file.set_len(64 * 1024).unwrap();
        let mut buf = vec![0u8; 5 * BLOCK];
        buf[BLOCK - 100] = 7; // in the first (partial) block seen from offset 100
        buf[4 * BLOCK] = 9;
        write_non_zero(&file, &buf, 100).unwrap();
        let mut back = vec![0u8; 5 * BLOCK];
        file.read_exact_at(&mut back, 100).unwrap();
        assert_eq!(back, buf);
        assert!(allocated(&path) <= 3 * BLOCK as u64);
    }
}
