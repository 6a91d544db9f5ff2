//! `raw`, `ami` and `vhd`: the formats that are the raw disk's bytes (a VHD then adds its 512-byte
//! footer, [`super::vhd`]). However many of them a run asks for, they are written in one pass: each
//! data extent of the disk is read once, written into every one of the files, and hashed once
//! (the `.sha256` covers every byte, holes as zeros; a VHD's continues the disk's past its footer).
//! Every copy stays sparse. Where the filesystem can share blocks between files (`FICLONE`: Btrfs,
//! XFS, ZFS…) a copy is a reflink and costs no write, its all-zero blocks punched out as the
//! disk's are (below: shared with the disk until then, they would be the copy's alone once the
//! disk's are punched); elsewhere only the 4 KiB blocks that
//! are not all zeros are written, at their offsets in a file already extended to the disk's size,
//! so every hole stays a hole. The data has to pass through memory anyway to be hashed, so an
//! in-kernel `copy_file_range` would save nothing over writing from the buffer being hashed.
//! When the disk is baker's own ([`DiskFile::Take`]), the `raw` (else `ami`) file is not a copy
//! but the disk itself: the pass punches out its all-zero blocks (mkfs writes a journal and inode
//! tables of zeros), so it ends as sparse as a copy, and it is renamed into place.

use std::fs::File;
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::Path;

use rustix::fs::FallocateFlags;
use rustix::io::Errno;

use sha2::{Digest, Sha256};

use super::output::Output;
use super::pipe::HashPipe;
use super::sparse::{Disk, ZERO_BLOCK, block_runs, write_non_zero};
use super::{DiskFile, Format, FormatError, Options, vhd};
use crate::progress::Meter;
use crate::progress::Reporter;
use crate::stop::Stop;

/// Bytes read at a time.
const CHUNK: usize = 2 << 20;
/// Buffers in flight between reading and hashing.
const DEPTH: usize = 4;
/// Zero bytes of a hole handed to the hashing at a time.
const ZERO_STEP: u64 = 64 << 20;

/// Whether `format` is the disk's bytes (and so written by this module).
pub(super) fn is_disk_copy(format: Format) -> bool {
    matches!(format, Format::Raw | Format::Ami | Format::Vhd)
}

/// What became of one output of the pass: its file's sha256 and length, or why it failed.
type Outcome = Result<(String, u64), FormatError>;

/// Writes each `(format, target)` — `raw`, `ami` or `vhd` — in one pass over the disk; returns
/// each file's sha256 and length, or why it failed, in the order given. A VHD's size rule is
/// checked before anything is written. An output that fails (a full disk, say) ends alone, its
/// partial file removed, and the others go on; reading the disk failing, or a [`Stop`], ends them
/// all, and then no file of the pass appears. With [`DiskFile::Take`] the `raw` (else `ami`)
/// target is the disk itself, renamed.
pub(super) fn write(
    disk: &Disk,
    disk_file: DiskFile,
    jobs: &[(Format, &Path)],
    options: &Options,
    reporter: &dyn Reporter,
) -> Result<Vec<Outcome>, FormatError> {
    debug_assert!(jobs.iter().all(|(f, _)| is_disk_copy(*f)));
    if jobs.iter().any(|(f, _)| *f == Format::Vhd) {
        vhd::check_size(disk.size).map_err(|size| FormatError::VhdSize {
            path: disk.path.clone(),
            size,
        })?;
    }
    let position = |format| jobs.iter().position(|(f, _)| *f == format);
    let taken = disk_file
        .taken_as(jobs.iter().map(|(f, _)| *f))
        .and_then(position);
    let mut outs: Vec<Result<Output, FormatError>> = jobs
        .iter()
        .enumerate()
        .map(|(i, (_, target))| match taken == Some(i) {
            true => Output::adopt(&disk.path, target),
            false => Output::create(target),
        })
        .collect();
    let (hasher, meter) = copy(disk, &mut outs, taken, &options.stop, reporter)?;
    let written = jobs
        .iter()
        .zip(outs)
        .map(|((format, target), out)| {
            let out = out?;
            let mut hasher = hasher.clone();
            if *format == Format::Vhd {
                let footer = vhd::footer(disk.size, options);
                out.file()
                    .write_all_at(&footer, disk.size)
                    .map_err(FormatError::write(target))?;
                hasher.update(footer);
            }
            out.commit(hex::encode(hasher.finalize()))
        })
        .collect();
    meter.finish();
    Ok(written)
}

/// Copies the disk into every one of `outs` but the `taken` one (the disk itself, whose all-zero
/// blocks are punched out instead, as are those of a copy that is a reflink) at the same offsets,
/// holes left as holes, reading each data extent once; returns the hasher that has seen all `disk.size` bytes, and the meter, to finish
/// once the files are committed. An output whose write fails becomes its error, and the pass goes
/// on for the others.
fn copy<'a>(
    disk: &Disk,
    outs: &mut [Result<Output, FormatError>],
    taken: Option<usize>,
    stop: &'a Stop,
    reporter: &'a dyn Reporter,
) -> Result<(Sha256, Meter<'a>), FormatError> {
    // The copies that still need writing; the others hold the disk's bytes already (the disk
    // itself, and reflinks of it), and have their all-zero blocks punched out.
    let mut to_write = Vec::with_capacity(outs.len());
    let mut to_punch: Vec<usize> = taken.into_iter().collect();
    for i in 0..outs.len() {
        let Ok(out) = &outs[i] else { continue };
        if Some(i) == taken {
            continue;
        }
        if rustix::fs::ioctl_ficlone(out.file(), &disk.file).is_ok() {
            to_punch.push(i);
        } else if on_output(outs, i, |file| file.set_len(disk.size)) {
            to_write.push(i);
        }
    }
    // Every byte counts, holes too: hashing them is most of the pass on a large, mostly empty disk.
    let total = disk.size;
    let names: Vec<String> = outs
        .iter()
        .filter_map(|o| o.as_ref().ok())
        .map(|o| o.target().display().to_string())
        .collect();
    let what = format!("writing {}", names.join(", "));
    let mut meter = Meter::new(reporter, stop, what, total);
    let mut pipe = HashPipe::new(DEPTH, CHUNK);
    let mut pos = 0;
    for extent in disk.extents() {
        let extent = extent.map_err(FormatError::read(&disk.path))?;
        hash_zeros(&mut pipe, extent.offset - pos, &mut meter)?;
        let mut at = extent.offset;
        while at < extent.end() {
            let n = (extent.end() - at).min(CHUNK as u64) as usize;
            let mut buf = pipe.buffer();
            buf.resize(n, 0);
            disk.read_at(&mut buf, at)
                .map_err(FormatError::read(&disk.path))?;
            let runs = block_runs(&buf, at);
            for &i in &to_write {
                on_output(outs, i, |file| write_non_zero(file, &buf, at, &runs));
            }
            for &i in &to_punch {
                on_output(outs, i, |file| punch_zeros(file, at, &runs));
            }
            pipe.bytes(buf);
            meter.add(n as u64)?;
            at += n as u64;
            for out in to_write.iter().filter_map(|&i| outs[i].as_ref().ok()) {
                out.written(at);
            }
        }
        pos = extent.end();
    }
    hash_zeros(&mut pipe, disk.size - pos, &mut meter)?;
    // Flushed while the hashing catches up.
    for slot in outs.iter_mut() {
        if let Ok(out) = slot {
            if let Err(e) = out.sync() {
                *slot = Err(e);
            }
        }
    }
    Ok((pipe.finish(), meter))
}

/// Runs `f` on the file of output `i` while it is written; when `f` fails, the output becomes
/// that error (its partial file removed) and the answer is `false`, as it is for an output that
/// had already failed.
fn on_output(
    outs: &mut [Result<Output, FormatError>],
    i: usize,
    f: impl FnOnce(&File) -> std::io::Result<()>,
) -> bool {
    let Ok(out) = &outs[i] else {
        return false;
    };
    match f(out.file()) {
        Ok(()) => true,
        Err(e) => {
            let failed = FormatError::write(out.target())(e);
            outs[i] = Err(failed);
            false
        }
    }
}

/// Makes holes of the whole 4 KiB blocks of `runs` (of a buffer read at `offset`) that are all
/// zeros, in the disk file itself or a reflink of it: its bytes stay the same, its zeros stop
/// taking space. On a file
/// system that cannot punch holes the zeros stay, as they would in a copy there.
fn punch_zeros(file: &File, offset: u64, runs: &[(Range<usize>, bool)]) -> std::io::Result<()> {
    let block = ZERO_BLOCK as u64;
    for (run, _) in runs.iter().filter(|(_, zero)| *zero) {
        let start = (offset + run.start as u64).next_multiple_of(block);
        let end = (offset + run.end as u64) / block * block;
        if end > start {
            let mode = FallocateFlags::PUNCH_HOLE | FallocateFlags::KEEP_SIZE;
            match rustix::fs::fallocate(file, mode, start, end - start) {
                Ok(()) => {}
                Err(Errno::OPNOTSUPP) => return Ok(()),
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(())
}

/// Hashes `n` zero bytes (a hole) in steps, each counted by `meter`, so that progress shows and
/// a stop request is seen while the hashing catches up: on a mostly empty disk it is the longest
/// part of the pass.
fn hash_zeros(pipe: &mut HashPipe, mut n: u64, meter: &mut Meter<'_>) -> Result<(), FormatError> {
    while n > 0 {
        let step = n.min(ZERO_STEP);
        meter.add(step)?;
        pipe.zeros(step);
        n -= step;
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
    fn raw_ami_and_vhd_are_one_pass_over_the_disk() {
        let disk = TestDisk::typical();
        let opened = Disk::open(&disk.path).unwrap();
        let dir = disk.dir.path();
        let (raw, ami, vhd) = (dir.join("d.raw"), dir.join("d.ami.raw"), dir.join("d.vhd"));
        let jobs = [
            (Format::Vhd, vhd.as_path()),
            (Format::Raw, raw.as_path()),
            (Format::Ami, ami.as_path()),
        ];
        let recorder = Recorder::default();
        let options = Options::new(5, b"one pass");
        let written = write(&opened, DiskFile::Keep, &jobs, &options, &recorder).unwrap();
        let written: Vec<_> = written.into_iter().map(Result::unwrap).collect();
        // One meter, naming the three files, that counts the disk's bytes once, holes included.
        let events = recorder.0.lock().unwrap();
        let totals: Vec<_> = events
            .iter()
            .filter_map(|e| match e {
                Event::Progress { what, total, .. } => Some((what.clone(), *total)),
                _ => None,
            })
            .collect();
        assert!(!totals.is_empty());
        for (what, total) in &totals {
            assert_eq!(*total, opened.size, "{what}");
            for name in ["d.raw", "d.ami.raw", "d.vhd"] {
                assert!(what.contains(name), "{what}");
            }
        }
        let disk_bytes = std::fs::read(&disk.path).unwrap();
        assert_eq!(written[0].1, 64 * MIB + 512);
        assert_eq!(written[0].0, sha256_file(&vhd).unwrap());
        assert_eq!(
            &std::fs::read(&vhd).unwrap()[..disk_bytes.len()],
            &disk_bytes[..]
        );
        for (i, path) in [(1, &raw), (2, &ami)] {
            assert_eq!(std::fs::read(path).unwrap(), disk_bytes);
            assert_eq!(written[i], (sha256_file(&disk.path).unwrap(), 64 * MIB));
            assert!(allocated(path) <= 7 * MIB, "each copy stays sparse");
        }
    }

    #[test]
    fn a_taken_disk_becomes_the_raw_file_with_its_written_zeros_punched_out() {
        let disk = TestDisk::typical();
        let bytes = std::fs::read(&disk.path).unwrap();
        let sha256 = sha256_file(&disk.path).unwrap();
        assert!(
            allocated(&disk.path) >= 8 * MIB,
            "the test disk has written zeros"
        );
        let opened = Disk::open(&disk.path).unwrap();
        let dir = disk.dir.path();
        let (raw, vhd) = (dir.join("d.raw"), dir.join("d.vhd"));
        let jobs = [(Format::Vhd, vhd.as_path()), (Format::Raw, raw.as_path())];
        let options = Options::new(5, b"taken");
        let written = write(&opened, DiskFile::Take, &jobs, &options, &Silent).unwrap();
        let written: Vec<_> = written.into_iter().map(Result::unwrap).collect();
        assert!(!disk.path.exists(), "the disk was renamed, not copied");
        assert_eq!(std::fs::read(&raw).unwrap(), bytes);
        assert_eq!(written[1], (sha256.clone(), 64 * MIB));
        assert_eq!(
            std::fs::read_to_string(dir.join("d.raw.sha256")).unwrap(),
            format!("{sha256}  d.raw\n")
        );
        assert!(
            allocated(&raw) <= 7 * MIB,
            "as sparse as a copy: {} bytes allocated",
            allocated(&raw)
        );
        assert_eq!(&std::fs::read(&vhd).unwrap()[..bytes.len()], &bytes[..]);
        // With no raw asked for, the ami file is the one taken; kept, the disk stays where it is.
        for (format, disk_file, name, taken) in [
            (Format::Ami, DiskFile::Take, "d.ami.raw", true),
            (Format::Raw, DiskFile::Keep, "d.raw", false),
        ] {
            let disk = TestDisk::typical();
            let target = disk.dir.path().join(name);
            let opened = Disk::open(&disk.path).unwrap();
            let jobs = [(format, target.as_path())];
            write(&opened, disk_file, &jobs, &options, &Silent).unwrap();
            assert_eq!((disk.path.exists(), target.exists()), (!taken, true));
        }
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
        let mut buf = vec![0u8; 5 * ZERO_BLOCK];
        buf[ZERO_BLOCK - 100] = 7; // in the first (partial) block seen from offset 100
        buf[4 * ZERO_BLOCK] = 9;
        write_non_zero(&file, &buf, 100, &block_runs(&buf, 100)).unwrap();
        let mut back = vec![0u8; 5 * ZERO_BLOCK];
        file.read_exact_at(&mut back, 100).unwrap();
        assert_eq!(back, buf);
        assert!(allocated(&path) <= 3 * ZERO_BLOCK as u64);
    }
}
