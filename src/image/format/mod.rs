//! The last step of `baker image`: a finished raw disk file becomes each output format a cloud or
//! hypervisor takes — `raw`, `ami` (raw, for the EBS direct upload), `vhd` (fixed, for Azure),
//! `qcow2` and `gce` (a gzipped sparse tar). Every writer reads only the disk's data extents
//! ([`sparse`]), keeps its buffers bounded whatever the disk size, writes under a temporary name
//! beside the target and renames it when complete, and returns the sha256 and size of what it
//! wrote, computed while writing, with a `<file>.sha256` beside it. The same disk and
//! [`Options`] give byte-identical files on any machine: no format carries the time of writing
//! or a random id. [`write_all`] writes several formats of one disk at once: `raw`, `ami` and
//! `vhd` in one pass, and `gce`'s compression on threads of its own beside the others.

mod error;
mod gce;
mod meter;
mod oldgnu;
mod output;
mod pipe;
mod qcow2;
mod qcow2_layout;
mod raw;
pub mod sparse;
#[cfg(test)]
pub(crate) mod testdisk;
mod vhd;

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use sha2::{Digest, Sha256};

// Shared with the release tarball (`artifact/tarball.rs`).
use crate::compress::pgzip;

pub use error::FormatError;
pub use gce::GCE_MEMBER;
pub use meter::Stop;
pub use vhd::{VHD_MAX_SIZE, VHD_MIN_SIZE};

use crate::progress::Reporter;
use sparse::Disk;

/// An output format of `baker image`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Format {
    Raw,
    Ami,
    Vhd,
    Qcow2,
    Gce,
}

impl Format {
    pub const ALL: [Format; 5] = [
        Format::Raw,
        Format::Ami,
        Format::Vhd,
        Format::Qcow2,
        Format::Gce,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Format::Raw => "raw",
            Format::Ami => "ami",
            Format::Vhd => "vhd",
            Format::Qcow2 => "qcow2",
            Format::Gce => "gce",
        }
    }

    /// The file name ending for this format (`ami` is a raw disk too, named apart from `raw`).
    pub fn extension(self) -> &'static str {
        match self {
            Format::Raw => "raw",
            Format::Ami => "ami.raw",
            Format::Vhd => "vhd",
            Format::Qcow2 => "qcow2",
            Format::Gce => "tar.gz",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Format {
    type Err = FormatError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Format::ALL
            .into_iter()
            .find(|f| f.name() == s)
            .ok_or_else(|| FormatError::UnknownFormat { name: s.to_owned() })
    }
}

/// What a writer needs besides the disk: everything that would otherwise be time or chance, how
/// many threads compress, and how it is asked to stop.
#[derive(Debug, Clone)]
pub struct Options {
    /// `SOURCE_DATE_EPOCH` of the plan: the VHD footer's timestamp and the GCE tar entry's mtime.
    pub epoch: u64,
    /// The VHD footer's unique id.
    pub disk_id: [u8; 16],
    /// Threads that compress the GCE archive (its bytes do not depend on this).
    pub threads: usize,
    /// Set, the writers stop at their next few MiB, their partial files removed.
    pub stop: Stop,
}

impl Options {
    /// Options whose disk id is derived from `seed` (e.g. the plan's cache key), so the same plan
    /// gives the same id and different plans different ids; all cores compress.
    pub fn new(epoch: u64, seed: &[u8]) -> Self {
        let digest = Sha256::new()
            .chain_update(b"baker disk id\0")
            .chain_update(seed)
            .finalize();
        let mut disk_id = [0u8; 16];
        disk_id.copy_from_slice(&digest[..16]);
        // An RFC 9562 version 8 (custom) UUID: the bits say it was not made at random.
        disk_id[6] = (disk_id[6] & 0x0f) | 0x80;
        disk_id[8] = (disk_id[8] & 0x3f) | 0x80;
        Self {
            epoch,
            disk_id,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            stop: Stop::default(),
        }
    }
}

/// Whether the raw disk file may become one of the outputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiskFile {
    /// Someone else's file (the raw disk of an image already in `--out`, a benchmark's input):
    /// only read.
    Keep,
    /// baker's own temporary disk, in the output directory: the `raw` output (else `ami`) is that
    /// file, its all-zero blocks punched out as a copy would leave them, renamed into place once
    /// hashed. No copy is written, and the disk's space is not needed twice.
    Take,
}

/// A finished output file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub format: Format,
    pub path: PathBuf,
    /// Lowercase hex sha256 of the file's bytes (holes read as zeros).
    pub sha256: String,
    /// The file's length in bytes (not what it occupies on disk).
    pub bytes: u64,
}

/// Writes the raw disk at `raw` as `format` to `out` (and `out.sha256`). On error nothing new
/// appears at `out`.
pub fn write(
    format: Format,
    raw: &Path,
    out: &Path,
    options: &Options,
    reporter: &dyn Reporter,
) -> Result<Written, FormatError> {
    let jobs = [(format, out.to_owned())];
    let mut written =
        write_all(raw, DiskFile::Keep, &jobs, options, reporter).map_err(|u| u.error)?;
    Ok(written.remove(0))
}

/// What [`write_all`] leaves when a writer fails: its error, and the files the other writers
/// finished, which stay where they were written.
#[derive(Debug)]
pub struct Unfinished {
    pub error: FormatError,
    pub written: Vec<Written>,
}

/// Writes the raw disk at `raw` as each `(format, out)`, as [`write()`] does. `raw`, `ami` and `vhd`
/// are the disk's bytes, so they are written together, in one pass that reads and hashes the disk
/// once; then `qcow2`. `gce` is written meanwhile on its own threads: compressing is CPU-bound
/// where the others mostly wait on the disk. The results come in the order of `jobs`. When one
/// writer fails, the files the others finished stay, and [`Unfinished`] lists them. With
/// [`DiskFile::Take`], the disk at `raw` becomes the `raw` (else `ami`) output.
pub fn write_all(
    raw: &Path,
    disk_file: DiskFile,
    jobs: &[(Format, PathBuf)],
    options: &Options,
    reporter: &dyn Reporter,
) -> Result<Vec<Written>, Unfinished> {
    let disk = Disk::open(raw).map_err(|e| Unfinished {
        error: FormatError::read(raw)(e),
        written: Vec::new(),
    })?;
    let of = |wanted: fn(Format) -> bool| -> Vec<usize> {
        (0..jobs.len()).filter(|&i| wanted(jobs[i].0)).collect()
    };
    // Each job's sha256 and length, by its index, as it is written.
    let mut done: Vec<Option<(String, u64)>> = vec![None; jobs.len()];
    let (copied, archived) = std::thread::scope(|scope| {
        let archiving = scope.spawn(|| {
            of(|f| f == Format::Gce)
                .into_iter()
                .map(|i| gce::write(&disk, &jobs[i].1, options, reporter).map(|d| (i, d)))
                .collect::<Result<Vec<_>, _>>()
        });
        // The first error; a copy that fails leaves the others of its pass, and qcow2, to go on.
        let mut copy_then_qcow2 = || -> Result<(), FormatError> {
            let mut failed = None;
            let copies = of(raw::is_disk_copy);
            if !copies.is_empty() {
                let targets: Vec<_> = copies
                    .iter()
                    .map(|&i| (jobs[i].0, jobs[i].1.as_path()))
                    .collect();
                let written = raw::write(&disk, disk_file, &targets, options, reporter)?;
                for (i, d) in copies.into_iter().zip(written) {
                    match d {
                        Ok(d) => done[i] = Some(d),
                        Err(e) => failed = failed.or(Some(e)),
                    }
                }
            }
            for i in of(|f| f == Format::Qcow2) {
                done[i] = Some(qcow2::write(&disk, &jobs[i].1, options, reporter)?);
            }
            failed.map_or(Ok(()), Err)
        };
        let copied = copy_then_qcow2();
        (
            copied,
            archiving.join().expect("the gce writer does not panic"),
        )
    });
    let archived = archived.map(|list| {
        for (i, d) in list {
            done[i] = Some(d);
        }
    });
    let written = jobs
        .iter()
        .zip(done)
        .filter_map(|((format, path), d)| {
            d.map(|(sha256, bytes)| Written {
                format: *format,
                path: path.clone(),
                sha256,
                bytes,
            })
        })
        .collect();
    match copied.and(archived) {
        Ok(()) => Ok(written),
        Err(error) => Err(Unfinished { error, written }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::format::testdisk::{GIB, MIB, TestDisk};
    use crate::progress::Silent;

    #[test]
    fn format_names_round_trip_and_unknown_ones_are_listed() {
        for f in Format::ALL {
            assert_eq!(f.name().parse::<Format>().unwrap(), f);
        }
        let err = "vmdk".parse::<Format>().unwrap_err().to_string();
        assert!(err.contains("vmdk") && err.contains("qcow2"), "{err}");
    }

    #[test]
    fn the_disk_id_follows_the_seed_only() {
        let a = Options::new(1, b"plan-a");
        assert_eq!(a.disk_id, Options::new(2, b"plan-a").disk_id);
        assert_ne!(a.disk_id, Options::new(1, b"plan-b").disk_id);
        assert_eq!(a.disk_id[6] >> 4, 8, "version 8");
    }

    #[test]
    fn ami_is_the_raw_disk_under_its_own_name() {
        let disk = TestDisk::new(32 * MIB).data(MIB, MIB).build();
        let options = Options::new(0, b"");
        let raw = disk
            .dir
            .path()
            .join(format!("d.{}", Format::Raw.extension()));
        let ami = disk
            .dir
            .path()
            .join(format!("d.{}", Format::Ami.extension()));
        let r = write(Format::Raw, &disk.path, &raw, &options, &Silent).unwrap();
        let a = write(Format::Ami, &disk.path, &ami, &options, &Silent).unwrap();
        assert_eq!((a.sha256, a.bytes), (r.sha256, r.bytes));
        assert!(ami.ends_with("d.ami.raw") && ami.with_extension("raw.sha256").exists());
    }

    /// Writes `formats` of the disk at `raw` together, then each alone, and checks they agree.
    fn together_matches_alone(raw: &Path, dir: &Path, formats: &[Format]) {
        let options = Options::new(7, b"together");
        let jobs: Vec<_> = formats
            .iter()
            .map(|f| (*f, dir.join(format!("t.{}", f.extension()))))
            .collect();
        let together = write_all(raw, DiskFile::Keep, &jobs, &options, &Silent).unwrap();
        for (w, (format, path)) in together.iter().zip(&jobs) {
            assert_eq!((w.format, &w.path), (*format, path));
            let alone = dir.join(format!("alone.{}", format.extension()));
            let a = write(*format, raw, &alone, &options, &Silent).unwrap();
            assert_eq!((&w.sha256, w.bytes), (&a.sha256, a.bytes), "{format}");
            assert_eq!(crate::artifact::sha256_file(path).unwrap(), a.sha256);
            assert_eq!(std::fs::read(path).unwrap(), std::fs::read(&alone).unwrap());
            std::fs::remove_file(alone).unwrap();
        }
    }

    #[test]
    fn raw_ami_and_vhd_written_in_one_pass_and_qcow2_match_each_written_alone() {
        let disk = TestDisk::typical();
        let formats = [Format::Vhd, Format::Raw, Format::Ami, Format::Qcow2];
        together_matches_alone(&disk.path, disk.dir.path(), &formats);
    }

    #[test]
    fn gce_written_beside_another_format_matches_it_written_alone() {
        // Whole GiB, for gce (a sparse tar hashes no holes, so this stays quick).
        let disk = TestDisk::new(GIB)
            .data(0, MIB)
            .data(300 * MIB + 512, 3 * MIB)
            .data(GIB - 4096, 4096)
            .build();
        together_matches_alone(&disk.path, disk.dir.path(), &[Format::Gce, Format::Qcow2]);
    }

    #[test]
    fn a_writer_that_fails_beside_the_others_is_the_error_and_theirs_stand() {
        // 64 MiB is no whole number of GiB: gce, written on its own thread, refuses it.
        let disk = TestDisk::typical();
        let dir = disk.dir.path();
        let jobs = [
            (Format::Raw, dir.join("d.raw")),
            (Format::Gce, dir.join("d.tar.gz")),
            (Format::Qcow2, dir.join("d.qcow2")),
        ];
        let options = Options::new(0, b"");
        let Unfinished { error, written } =
            write_all(&disk.path, DiskFile::Keep, &jobs, &options, &Silent).unwrap_err();
        assert!(matches!(error, FormatError::GceSize { .. }), "{error:?}");
        let listed: Vec<_> = written.iter().map(|w| (w.format, w.path.clone())).collect();
        assert_eq!(listed, [jobs[0].clone(), jobs[2].clone()]);
        assert_eq!(
            written[1].sha256,
            crate::artifact::sha256_file(&jobs[2].1).unwrap()
        );
        assert!(!dir.join("d.tar.gz").exists());
        for done in ["d.raw", "d.raw.sha256", "d.qcow2", "d.qcow2.sha256"] {
            assert!(dir.join(done).exists(), "{done}");
        }
    }

    #[test]
    fn every_writer_asked_to_stop_stops_and_leaves_no_file() {
        let disk = TestDisk::new(GIB).data(0, 32 * MIB).build();
        let dir = disk.dir.path();
        let options = Options::new(0, b"");
        options.stop.request();
        for format in [Format::Raw, Format::Vhd, Format::Qcow2, Format::Gce] {
            let jobs = [(format, dir.join(format!("s.{}", format.extension())))];
            let Unfinished { error, written } =
                write_all(&disk.path, DiskFile::Keep, &jobs, &options, &Silent).unwrap_err();
            assert!(matches!(error, FormatError::Stopped), "{format}: {error:?}");
            assert!(written.is_empty());
            let left: Vec<_> = std::fs::read_dir(dir)
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect();
            assert_eq!(left, [disk.path.file_name().unwrap()], "{format}");
        }
    }

    #[test]
    fn a_copy_that_fails_leaves_the_disk_taken_as_raw_and_its_bytes() {
        let disk = TestDisk::typical();
        let dir = disk.dir.path();
        let sha = crate::artifact::sha256_file(&disk.path).unwrap();
        // A directory where the vhd goes: its rename fails after the pass.
        std::fs::create_dir(dir.join("d.vhd")).unwrap();
        let jobs = [
            (Format::Raw, dir.join("d.raw")),
            (Format::Vhd, dir.join("d.vhd")),
        ];
        let options = Options::new(0, b"");
        let Unfinished { error, written } =
            write_all(&disk.path, DiskFile::Take, &jobs, &options, &Silent).unwrap_err();
        assert!(
            matches!(&error, FormatError::Write { path, .. } if path.ends_with("d.vhd")),
            "{error:?}"
        );
        assert_eq!(written.len(), 1);
        assert_eq!((written[0].format, &written[0].sha256), (Format::Raw, &sha));
        assert_eq!(
            crate::artifact::sha256_file(&dir.join("d.raw")).unwrap(),
            sha
        );
        assert!(!disk.path.exists(), "the disk became d.raw");
        let hidden = std::fs::read_dir(dir).unwrap().filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with('.')
        });
        assert_eq!(hidden.count(), 0, "no partial file is left");
    }

    #[test]
    fn errors_name_the_file_that_failed_and_leave_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let options = Options::new(0, b"");
        let missing = dir.path().join("missing.raw");
        let out = dir.path().join("out.qcow2");
        let err = write(Format::Qcow2, &missing, &out, &options, &Silent).unwrap_err();
        assert!(matches!(err, FormatError::Read { .. }), "{err:?}");
        assert!(err.to_string().contains("missing.raw"), "{err}");
        let disk = TestDisk::new(32 * MIB).data(0, MIB).build();
        let nowhere = disk.dir.path().join("no/such/dir/out.vhd");
        let err = write(Format::Vhd, &disk.path, &nowhere, &options, &Silent).unwrap_err();
        assert!(matches!(err, FormatError::Write { .. }), "{err:?}");
        assert!(err.to_string().contains("out.vhd"), "{err}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
