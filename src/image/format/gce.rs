//! `gce`: what Compute Engine imports — a gzip-compressed tar holding one member, `disk.raw`, in
//! GNU's old format with a sparse map (`tar --format=oldgnu -Sczf`, as Google documents), the
//! disk a whole number of GiB. Only the 4 KiB blocks that hold something go into the archive
//! ([`Disk::non_zero_runs`]: by the disk's bytes, not by how the file system stores them, so the
//! archive is the same on every file system, where `tar -S` stores whatever the file system
//! reports as data, written zeros included); the tar stream
//! ([`oldgnu`](super::oldgnu)) is compressed on every core ([`pgzip`](super::pgzip)) while the
//! output is hashed, so the archive is never read back. The entry's time is the
//! plan's epoch, its owner 0 with no names, its mode 0644: the archive depends on the disk alone.

use std::path::Path;
use std::sync::mpsc::Receiver;

use sha2::{Digest, Sha256};

use super::oldgnu::{data_padding, sparse_headers, trailer};
use super::output::Output;
use super::pgzip::{Gzip, Piece};
use super::pipe::HashedWriter;
use super::sparse::{Disk, Extent};
use super::{FormatError, Options};
use crate::progress::Meter;
use crate::progress::Reporter;

/// The one member's name, which GCE requires.
pub const GCE_MEMBER: &str = "disk.raw";
/// The gzip level. zlib-rs's level 6 writes archives about 3 % larger than `pigz`'s default on
/// binaries (it does not look for 3-byte matches); level 9 writes them smaller for about 10 %
/// more CPU, which storing incompressible blocks more than wins back on a real disk (see
/// `ci/bench-image-formats.sh`). Changing it changes every archive's bytes.
const LEVEL: i32 = 9;
const GIB: u64 = 1 << 30;
/// Bytes read from the disk at a time.
const READ: u64 = 4 << 20;

pub(super) fn write(
    disk: &Disk,
    target: &Path,
    options: &Options,
    reporter: &dyn Reporter,
) -> Result<(String, u64), FormatError> {
    if disk.size == 0 || disk.size % GIB != 0 {
        return Err(FormatError::GceSize {
            path: disk.path.clone(),
            size: disk.size,
        });
    }
    let extents = disk
        .non_zero_runs(&options.stop)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::Interrupted => FormatError::Stopped,
            _ => FormatError::read(&disk.path)(e),
        })?;
    let stored = extents.iter().map(|e| e.len).sum();
    let out = Output::create(target)?;
    let mut meter = Meter::new(
        reporter,
        &options.stop,
        format!("compressing {}", target.display()),
        stored,
    );
    let hasher = std::thread::scope(|scope| {
        let (mut gzip, order) = Gzip::start(scope, LEVEL, options.threads);
        let writer = scope.spawn(|| drain(order, &out));
        let produced = produce(disk, &extents, options.epoch, &mut gzip, &mut meter);
        if produced.is_ok() {
            gzip.finish();
        } else {
            drop(gzip);
        }
        let written = writer.join().expect("the archive writer does not panic");
        produced.and(written)
    })?;
    let written = out.commit(hex::encode(hasher.finalize()))?;
    meter.finish();
    Ok(written)
}

/// The tar stream: headers, the extents' bytes, padding, end of archive.
fn produce(
    disk: &Disk,
    extents: &[Extent],
    epoch: u64,
    gzip: &mut Gzip,
    meter: &mut Meter<'_>,
) -> Result<(), FormatError> {
    let headers = sparse_headers(GCE_MEMBER, epoch, disk.size, extents);
    gzip.write(&headers);
    let mut stored = 0;
    for extent in extents {
        let mut at = extent.offset;
        while at < extent.end() {
            if gzip.stopped() {
                return Ok(());
            }
            let n = (extent.end() - at).min(READ);
            gzip.fill(n as usize, |buf, done| disk.read_at(buf, at + done as u64))
                .map_err(FormatError::read(&disk.path))?;
            meter.add(n)?;
            at += n;
        }
        stored += extent.len;
    }
    gzip.write(&vec![0; data_padding(stored)]);
    let written = headers.len() as u64 + stored.next_multiple_of(512);
    gzip.write(&trailer(written));
    Ok(())
}

/// Writes the compressed pieces in order while they are hashed.
fn drain(order: Receiver<Piece>, out: &Output) -> Result<Sha256, FormatError> {
    let mut w = HashedWriter::new(out, 4, 0);
    for piece in order {
        let bytes = match piece {
            Piece::Bytes(bytes) => bytes,
            Piece::Block(result) => result
                .recv()
                .map_err(|_| "a compressing thread stopped".to_owned())
                .and_then(|r| r)
                .map_err(|reason| FormatError::Compress {
                    path: out.target().to_owned(),
                    reason,
                })?,
        };
        w.write(bytes, false)?;
    }
    w.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::format::testdisk::{GIB, MIB, TestDisk, run};
    use crate::image::format::{Format, write as write_format};
    use crate::progress::Silent;

    const EPOCH: u64 = 1_700_000_000;

    /// 1 GiB, seven runs of data (more than a header's four map entries) and written zeros.
    fn disk() -> crate::image::format::testdisk::Built {
        let mut disk = TestDisk::new(GIB).zeros(40 * MIB, MIB);
        for i in 0..7 {
            disk = disk.data(i * 150 * MIB + 4096 * i, 300 * 1024);
        }
        let built = disk.build();
        let mode = std::os::unix::fs::PermissionsExt::from_mode(0o644);
        std::fs::set_permissions(&built.path, mode).unwrap();
        built
    }

    fn write_gce(disk: &Path, out: &Path, threads: usize) -> crate::image::format::Written {
        let mut options = Options::new(EPOCH, b"plan");
        options.threads = threads;
        write_format(Format::Gce, disk, out, &options, &Silent).unwrap()
    }

    #[test]
    fn the_archive_is_what_gnu_tar_writes_for_the_disk_and_gzip_python_and_tar_read_it() {
        let disk = disk();
        let dir = disk.dir.path();
        let out = dir.join("disk.tar.gz");
        let w = write_gce(&disk.path, &out, 2);
        let o = out.to_str().unwrap();
        run("gzip", &["-t", o]);
        // The same tar stream as GNU tar's, byte for byte, once decompressed, of the same bytes
        // with the written zeros stored as holes (`cp --sparse=always`): `tar -S` stores what the
        // file system reports as data, baker the blocks that are not all zeros.
        let holes = dir.join("holes");
        std::fs::create_dir(&holes).unwrap();
        let copy = holes.join(GCE_MEMBER);
        let copy_arg = copy.to_str().unwrap();
        run(
            "cp",
            &["--sparse=always", disk.path.to_str().unwrap(), copy_arg],
        );
        let ours = run("sh", &["-c", &format!("gzip -dc {o} | sha256sum")]);
        let gnu = format!(
            "tar --format=oldgnu -S -c --mtime=@{EPOCH} --owner=0 --group=0 --numeric-owner \
             -C {} -f - disk.raw | sha256sum",
            holes.display()
        );
        assert_eq!(ours, run("sh", &["-c", &gnu]));
        // And the archive of that copy is this one: the file system's holes change nothing.
        let again = write_gce(&copy, &dir.join("again.tar.gz"), 2);
        assert_eq!(again.sha256, w.sha256);
        let listing = run("tar", &["-tvzf", o]);
        assert_eq!(listing.lines().count(), 1, "{listing}");
        assert!(
            listing.contains("1073741824") && listing.ends_with(" disk.raw\n"),
            "{listing}"
        );
        let check = r#"
import hashlib, sys, tarfile
def sha(p):
    h = hashlib.sha256()
    with open(p, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    return h.hexdigest()
t = tarfile.open(sys.argv[1], "r:gz")
m = t.getmembers()
assert [x.name for x in m] == ["disk.raw"], m
assert m[0].issparse() and m[0].size == 1 << 30, (m[0].issparse(), m[0].size)
t.extractall(sys.argv[2])
assert sha(sys.argv[2] + "/disk.raw") == sha(sys.argv[3]), "extracted bytes differ"
print("ok")
"#;
        let x = dir.join("x");
        let args = [o, x.to_str().unwrap(), disk.path.to_str().unwrap()];
        assert_eq!(
            run("python3", &[&["-c", check][..], &args].concat()),
            "ok\n"
        );
        let y = dir.join("y");
        std::fs::create_dir(&y).unwrap();
        run("tar", &["-xzf", o, "-C", y.to_str().unwrap()]);
        run(
            "cmp",
            &[
                y.join("disk.raw").to_str().unwrap(),
                disk.path.to_str().unwrap(),
            ],
        );
        assert_eq!(w.bytes, std::fs::metadata(&out).unwrap().len());
        assert!(w.bytes < 3 * MIB, "only the data is archived: {}", w.bytes);
    }

    #[test]
    fn the_archive_bytes_do_not_depend_on_the_number_of_threads() {
        let disk = disk();
        let (a, b) = (
            disk.dir.path().join("a.tar.gz"),
            disk.dir.path().join("b.tar.gz"),
        );
        let (wa, wb) = (write_gce(&disk.path, &a, 1), write_gce(&disk.path, &b, 3));
        assert_eq!(wa.sha256, wb.sha256);
        assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    }

    #[test]
    fn a_disk_that_is_not_whole_gib_is_refused_and_nothing_is_left() {
        let disk = TestDisk::new(GIB + MIB).data(0, 4096).build();
        let out = disk.dir.path().join("disk.tar.gz");
        let options = Options::new(EPOCH, b"");
        let err = write_format(Format::Gce, &disk.path, &out, &options, &Silent).unwrap_err();
        assert!(err.to_string().contains("whole number of GiB"), "{err}");
        assert_eq!(std::fs::read_dir(disk.dir.path()).unwrap().count(), 1);
    }
}
