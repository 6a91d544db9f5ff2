//! Several formats of one disk at once, as `baker image` asks for them: `raw`, `ami` and `vhd` are
//! the disk's bytes, so they are written in one pass that reads and hashes the disk once, then
//! `qcow2`, while `gce` is compressed on threads of its own. A writer that fails leaves the
//! others to finish, and what they finished is returned with its error ([`Unfinished`]), so the
//! caller can describe the files that are there.

use std::path::{Path, PathBuf};

use super::sparse::Disk;
use super::{DiskFile, Format, FormatError, Options, Written, gce, qcow2, raw};
use crate::progress::Reporter;

/// What [`write_all`] leaves when a writer fails: its error, and the files the other writers
/// finished, which stay where they were written.
#[derive(Debug)]
pub struct Unfinished {
    pub error: FormatError,
    pub written: Vec<Written>,
}

/// Writes the raw disk at `raw` as each `(format, out)`, as [`super::write()`] does. `raw`, `ami` and `vhd`
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
    use crate::image::format::write;
    use crate::progress::Silent;

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
}
