//! The reproducible release tarball: the install step's output tree, rewritten so that its bytes
//! depend only on the tree's names, contents, modes and links, and on `SOURCE_DATE_EPOCH`.
//!
//! The format follows `tar --sort=name --format=gnu --owner=0 --group=0 --numeric-owner
//! --mtime=@EPOCH --clamp-mtime | gzip -n` (not byte for byte: no 10 KiB record padding):
//! - plain relative names (`usr/local/bin/mesos-master`, no leading `./`, no entry for the top
//!   directory itself), directories included and named with a trailing `/` as GNU tar does,
//!   sorted bytewise by name without that slash, so a directory precedes its contents;
//! - uid and gid 0 with *empty* user and group names (numeric owner), so extracting as root
//!   gives root ownership without any name lookup;
//! - mtimes clamped to `min(mtime, epoch)`; modes kept whole, setuid, setgid and sticky included;
//! - GNU headers only, no pax headers: no atime or ctime anywhere; names and link targets over
//!   100 bytes use GNU `././@LongLink` entries (owner 0, mtime 0). Extended attributes are
//!   dropped: an install tree has none that matter, and file capabilities would need pax;
//! - symlinks kept verbatim; device files and fifos kept; of the names of one hard-linked file
//!   the first in sort order carries the data and the others link to it (see `spool.rs`);
//! - one gzip member with mtime 0, no file name, OS byte 3 (Unix, as `gzip -n` writes), level
//!   [`GZIP_LEVEL`], compressed on every core by [`pgzip`](crate::compress::pgzip) (1 MiB blocks, each deflated with the
//!   previous block's tail as its dictionary): the bytes depend on the tree and the epoch only, not
//!   on the number of cores. They come from zlib-rs pinned by `Cargo.lock`: upgrading it, or
//!   changing the level or `pgzip`'s block size, changes the tarball's sha256 and is a deliberate,
//!   release-noted change.
//!
//! Measured on PostgreSQL's install tree (34 MB, 1941 entries, this 2-core machine, release
//! build): the single-threaded flate2 writer this replaces took 1.5 s; see `ci/bench-incremental.sh`.
//! A no-change rebuild reuses the cached tarball and pays nothing.
//!
//! Writing is crash-safe: the tarball is written under a hidden partial name beside the target,
//! fsynced and renamed into place; the stale `.sha256` is removed before that rename and the new
//! one written (atomically too) after it, so a `.sha256` always describes the complete tarball
//! beside it. On any error nothing new appears at `out_path`.
//!
//! A Mesos install tree takes many seconds to compress, so the writer reports its progress in
//! bytes of the tar stream, and checks at each write of the stream whether it was asked to
//! [`Stop`] (the build interrupted): it then ends like any failed write, leaving nothing behind.

use std::fs;
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc::Receiver;

use sha2::{Digest, Sha256};
use tar::{Builder, EntryType, Header};

use super::ArtifactError;
use super::checksum::{checksum_path, write_sums};
use super::spool::{Item, Kind, Spool};
use crate::atomic_file::{commit, partial_file, remove_if_exists};
use crate::compress::pgzip::{Gzip, Piece};
use crate::progress::{Meter, Reporter};
use crate::stop::Stop;

/// The gzip level of every tarball. Changing it changes every artifact's sha256.
pub const GZIP_LEVEL: i32 = 6;

/// A finished tarball.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactFile {
    pub path: PathBuf,
    /// Lowercase hex sha256 of the `.tar.gz`.
    pub sha256: String,
    /// Size of the `.tar.gz`.
    pub bytes: u64,
    /// Entries in the tarball (the top directory is not one).
    pub entries: usize,
}

/// Rewrites `spool`, a file holding an uncompressed tar stream whose entries all lie under
/// `strip_prefix/` (Docker's `GET /containers/{id}/archive?path=/baker/dest` with `strip_prefix` =
/// `dest`), into a reproducible `.tar.gz` at `out_path`, plus `<out_path>.sha256`. The directory
/// must exist: it is not made here, since an interrupted build may already have removed its
/// staging directory. Progress goes to `reporter`; once `stop` is requested the writing ends with
/// [`ArtifactError::Stopped`]. See the module doc.
pub fn write_reproducible(
    spool: fs::File,
    strip_prefix: &str,
    epoch: u64,
    out_path: &Path,
    reporter: &dyn Reporter,
    stop: &Stop,
) -> Result<ArtifactFile, ArtifactError> {
    let write_err = |path: &Path| {
        let path = path.to_owned();
        move |source| ArtifactError::Write { path, source }
    };
    let spool = Spool::index(spool, strip_prefix, out_path)?;

    let total = spool.file.metadata().map_err(write_err(out_path))?.len();
    let name = out_path.file_name().unwrap_or_default().to_string_lossy();
    let mut meter = Meter::new(reporter, stop, format!("compressing {name}"), total);
    let mut partial = partial_file(out_path).map_err(write_err(out_path))?;
    let (sha256, bytes) =
        write_tar_gz(&spool, epoch, &mut meter, partial.as_file_mut()).map_err(|e| {
            match stop.requested() {
                true => ArtifactError::Stopped {
                    out: out_path.to_owned(),
                },
                false => write_err(out_path)(e),
            }
        })?;

    let sums = checksum_path(out_path);
    remove_if_exists(&sums).map_err(write_err(&sums))?;
    commit(partial, out_path).map_err(write_err(out_path))?;
    write_sums(out_path, &sha256).map_err(write_err(&sums))?;
    meter.finish();
    Ok(ArtifactFile {
        path: out_path.to_owned(),
        sha256,
        bytes,
        entries: spool.items.len(),
    })
}

/// Writes the spooled entries as a `.tar.gz` to `out`; returns its sha256 and size. The tar stream
/// is produced on this thread and compressed on every core ([`pgzip`](crate::compress::pgzip)),
/// its bytes counted by `meter`.
fn write_tar_gz(
    spool: &Spool,
    epoch: u64,
    meter: &mut Meter<'_>,
    out: &mut fs::File,
) -> io::Result<(String, u64)> {
    let threads = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    std::thread::scope(|scope| {
        let (gzip, order) = Gzip::start(scope, GZIP_LEVEL, threads);
        let writer = scope.spawn(move || drain(order, out));
        let produced = {
            let mut tar = Builder::new(Compressing { gzip, meter });
            spool
                .items
                .iter()
                .try_for_each(|item| append(&mut tar, &spool.file, item, epoch))
                .and_then(|()| tar.into_inner())
            // On an error the compressor is dropped here unfinished, which ends the writer's input.
        };
        let finished = produced.map(|Compressing { gzip, .. }| gzip.finish());
        let written = writer.join().expect("the tarball writer does not panic");
        // The writer's own error (a full disk) is the cause when both failed.
        written.and_then(|w| finished.map(|()| w))
    })
}

/// Writes the compressed pieces to `out` in order while hashing them.
fn drain(order: Receiver<Piece>, out: &mut fs::File) -> io::Result<(String, u64)> {
    let mut hashing = Hashing::new(BufWriter::new(out));
    for piece in order {
        match piece {
            Piece::Bytes(bytes) => hashing.write_all(&bytes)?,
            Piece::Block(result) => {
                let block = result
                    .recv()
                    .map_err(|_| io::Error::other("a compressing thread stopped"))?
                    .map_err(io::Error::other)?;
                hashing.write_all(&block)?;
            }
        }
    }
    let (sha256, bytes, mut buffered) = hashing.into_parts();
    buffered.flush()?;
    Ok((sha256, bytes))
}

/// The tar stream's sink: hands the bytes to the parallel compressor, counting them.
struct Compressing<'m, 'r> {
    gzip: Gzip,
    meter: &'m mut Meter<'r>,
}

impl Write for Compressing<'_, '_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.gzip.stopped() {
            return Err(io::Error::other("the tarball writer stopped"));
        }
        self.meter.add(buf.len() as u64).map_err(io::Error::other)?;
        self.gzip.write(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn append<W: Write>(
    tar: &mut Builder<W>,
    spool: &fs::File,
    item: &Item,
    epoch: u64,
) -> io::Result<()> {
    let mut header = Header::new_gnu();
    header.set_mode(item.mode);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(item.mtime.min(epoch));
    header.set_size(0);
    let path = Path::new(std::ffi::OsStr::from_bytes(&item.path));
    match &item.kind {
        Kind::File { offset, size } => {
            header.set_entry_type(EntryType::Regular);
            header.set_size(*size);
            let mut data = spool;
            data.seek(SeekFrom::Start(*offset))?;
            tar.append_data(&mut header, path, data.take(*size))
        }
        Kind::Dir => {
            header.set_entry_type(EntryType::Directory);
            tar.append_data(&mut header, path.join(""), io::empty())
        }
        Kind::Symlink(target) => link(tar, header, EntryType::Symlink, path, target),
        Kind::HardLink(target) => link(tar, header, EntryType::Link, path, target),
        Kind::Char { major, minor } | Kind::Block { major, minor } => {
            let char = matches!(item.kind, Kind::Char { .. });
            header.set_entry_type(if char {
                EntryType::Char
            } else {
                EntryType::Block
            });
            header.set_device_major(*major)?;
            header.set_device_minor(*minor)?;
            tar.append_data(&mut header, path, io::empty())
        }
        Kind::Fifo => {
            header.set_entry_type(EntryType::Fifo);
            tar.append_data(&mut header, path, io::empty())
        }
    }
}

/// A link whose target is stored byte for byte: in the header when it fits, else in a GNU
/// long-link entry (the `tar` crate would normalise `a/./b` in the first case only).
fn link<W: Write>(
    tar: &mut Builder<W>,
    mut header: Header,
    kind: EntryType,
    path: &Path,
    target: &[u8],
) -> io::Result<()> {
    header.set_entry_type(kind);
    if target.len() <= header.as_old().linkname.len() {
        header.set_link_name_literal(target)?;
        tar.append_data(&mut header, path, io::empty())
    } else {
        tar.append_link(&mut header, path, std::ffi::OsStr::from_bytes(target))
    }
}

/// Passes bytes through while hashing and counting them.
struct Hashing<W> {
    inner: W,
    hasher: Sha256,
    bytes: u64,
}

impl<W: Write> Hashing<W> {
    fn new(inner: W) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
            bytes: 0,
        }
    }

    fn into_parts(self) -> (String, u64, W) {
        (hex::encode(self.hasher.finalize()), self.bytes, self.inner)
    }
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod docker_stream;
#[cfg(test)]
mod tests;
