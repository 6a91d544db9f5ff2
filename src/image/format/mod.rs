//! The last step of `baker image`: a finished raw disk file becomes each output format a cloud or
//! hypervisor takes — `raw`, `ami` (raw, for the EBS direct upload), `vhd` (fixed, for Azure),
//! `qcow2` and `gce` (a gzipped sparse tar). Every writer reads only the disk's data extents
//! ([`sparse`]), keeps its buffers bounded whatever the disk size, writes under a temporary name
//! beside the target and renames it when complete, and returns the sha256 and size of what it
//! wrote, computed while writing, with a `<file>.sha256` beside it. The same disk and
//! [`Options`] give byte-identical files on any machine: no format carries the time of writing
//! or a random id. [`write_all`] ([`together`]) writes several formats of one disk at once: `raw`,
//! `ami` and `vhd` in one pass, and `gce`'s compression on threads of its own beside the others.

mod error;
mod gce;
mod names;
mod oldgnu;
mod output;
mod pipe;
mod qcow2;
mod qcow2_layout;
mod raw;
pub mod sparse;
#[cfg(test)]
pub(crate) mod testdisk;
mod together;
mod vhd;

use std::fmt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

// Shared with the release tarball (`artifact/tarball.rs`).
use crate::compress::pgzip;

pub use error::FormatError;
pub use gce::GCE_MEMBER;
pub use names::parse_list;
pub use together::{Unfinished, write_all};
pub use vhd::{VHD_MAX_SIZE, VHD_MIN_SIZE};

use crate::progress::Reporter;
use crate::stop::Stop;

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

    /// The file name ending for this format (`ami` is a raw disk too, named apart from `raw`; `gce`
    /// is named apart from the build's `<stem>.tar.gz`, which an `--out` may hold beside it).
    pub fn extension(self) -> &'static str {
        match self {
            Format::Raw => "raw",
            Format::Ami => "ami.raw",
            Format::Vhd => "vhd",
            Format::Qcow2 => "qcow2",
            Format::Gce => "gce.tar.gz",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
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

impl DiskFile {
    /// Of `formats`, the one whose file is the disk itself when it is [`DiskFile::Take`]n: `raw`,
    /// else `ami`.
    pub fn taken_as(self, formats: impl IntoIterator<Item = Format> + Clone) -> Option<Format> {
        let asked = |format| formats.clone().into_iter().any(|f| f == format);
        match self {
            DiskFile::Take => [Format::Raw, Format::Ami].into_iter().find(|&f| asked(f)),
            DiskFile::Keep => None,
        }
    }
}

/// The copies of the disk's data that writing some formats beside baker's own disk
/// ([`DiskFile::Take`]) adds to the output directory: the room they need besides the disk's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DataCopies {
    /// Formats that always write the data again: qcow2.
    pub written: Vec<Format>,
    /// Formats whose copy shares the disk's blocks where the file system can (reflinks): vhd, and
    /// ami beside raw.
    pub shareable: Vec<Format>,
}

impl DataCopies {
    /// The copies `formats` make; gce, compressed to a size not known before, is not counted.
    pub fn of(formats: &[Format]) -> Self {
        let taken = DiskFile::Take.taken_as(formats.iter().copied());
        let mut copies = Self::default();
        for &format in formats {
            match format {
                Format::Qcow2 => copies.written.push(format),
                Format::Raw | Format::Ami | Format::Vhd if taken != Some(format) => {
                    copies.shareable.push(format)
                }
                _ => {}
            }
        }
        copies
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::format::testdisk::{MIB, TestDisk};
    use crate::progress::Silent;

    #[test]
    fn format_names_round_trip_and_unknown_ones_are_listed() {
        for f in Format::ALL {
            assert_eq!(f.name().parse::<Format>().unwrap(), f);
        }
        assert_eq!("QCOW2".parse::<Format>().unwrap(), Format::Qcow2);
        let err = "vmdk".parse::<Format>().unwrap_err().to_string();
        assert!(err.contains("vmdk") && err.contains("qcow2"), "{err}");
    }

    #[test]
    fn the_copies_of_the_data_are_those_beside_the_disk_taken_as_raw_else_ami() {
        use Format::*;
        let copies = |formats: &[Format]| {
            let c = DataCopies::of(formats);
            (c.written, c.shareable)
        };
        assert_eq!(copies(&[Raw, Gce]), (vec![], vec![]));
        assert_eq!(copies(&[Ami, Raw, Vhd]), (vec![], vec![Ami, Vhd]));
        assert_eq!(copies(&[Ami, Qcow2]), (vec![Qcow2], vec![]));
        assert_eq!(copies(&[Vhd, Qcow2]), (vec![Qcow2], vec![Vhd]));
        assert_eq!(DiskFile::Keep.taken_as([Raw]), None);
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
