//! The last stage of `baker image`: the raw disk written as each format asked for (through
//! [`output`]), then `image.json` listing the files. A format writer that fails leaves the files
//! the others finished, and `image.json` lists those alone rather than none, so the image in the
//! output directory is always described as it is, and the same command run again writes only what
//! is missing — from the raw disk when it is there ([`reuse`]) — instead of making the disk again.
//!
//! The writers are synchronous and take from a second to minutes, so they run on a blocking thread
//! while the runtime watches for Ctrl-C: when `baker image` is interrupted (its future dropped),
//! they are asked to [`Stop`], and end a few MiB later, their partial files removed and
//! `image.json` listing what was finished before.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use super::format::{self, DiskFile, Unfinished};
use super::manifest::{FormatFile, ImageManifest};
use super::{Format, ImageError, ImageSpec, STAGES, output, reuse, stage};
use crate::progress::{Event, Reporter};
use crate::stop::Stop;

/// What the last stage writes, and where.
pub(super) struct FormatsJob {
    /// The formats the user asked for, for the error that says which are missing.
    pub asked: Vec<Format>,
    /// `--no-cache`, under which running again makes the disk again.
    pub no_cache: bool,
    /// The formats to write now.
    pub formats: Vec<Format>,
    /// The raw disk, and whether it may become the `raw` (or `ami`) output.
    pub disk: (PathBuf, DiskFile),
    pub out_dir: PathBuf,
    /// The output files' names without their extensions.
    pub stem: String,
    /// The image as `image.json` describes it, with the formats it already has: the files
    /// written are added to them.
    pub manifest: ImageManifest,
    /// The image id of the OS layer the disk was made from, for the stamp ([`reuse`]).
    pub os_layer_id: String,
    pub reporter: Arc<dyn Reporter>,
}

/// The last stage: `job.disk` written as each of its formats into the output directory (the disk
/// itself becoming one of them when it may be taken), then `image.json`. When a writer fails, the
/// files the others finished stay and `image.json` lists them, so that the same command run again
/// writes only the formats still missing ([`reuse`]), from the raw disk when it is among them.
/// Dropping this future asks the writers to stop.
pub(super) async fn formats_stage(job: FormatsJob) -> Result<(ImageManifest, PathBuf), ImageError> {
    let stop = Stop::default();
    let _stop_unless_done = stop.on_drop();
    tokio::task::spawn_blocking(move || write(job, stop))
        .await
        .expect("the format writers do not panic")
}

fn write(job: FormatsJob, stop: Stop) -> Result<(ImageManifest, PathBuf), ImageError> {
    let FormatsJob {
        asked,
        no_cache,
        formats,
        disk: (raw, disk_file),
        out_dir,
        stem,
        mut manifest,
        os_layer_id,
        reporter,
    } = job;
    reporter.report(Event::StepStarted {
        index: 4,
        total: STAGES,
        name: "formats".into(),
    });
    let t = Instant::now();
    // A disk made anew replaces the image the folder held: its files go before any new one is
    // written, so that a run that fails part way leaves none of them beside the new ones, each
    // with a `.sha256` that still checks out and no image.json naming it.
    if disk_file == DiskFile::Take {
        let removed = reuse::forget_older(&out_dir)
            .map_err(ImageError::io("removing the older image in", &out_dir))?;
        if !removed.is_empty() {
            reporter.report(Event::Note(format!(
                "removed the older image's {} from {}: this image replaces it",
                removed.join(", "),
                out_dir.display()
            )));
        }
    }
    let written = output::write_formats(
        &formats,
        (&raw, disk_file),
        (&out_dir, &stem),
        manifest.source_date_epoch,
        &manifest.image_key,
        stop,
        reporter.as_ref(),
    );
    let files = |written: Vec<format::Written>| written.into_iter().map(FormatFile::from);
    match written {
        Ok(written) => {
            stage(&reporter, 3, "formats", Some(t));
            manifest.formats.extend(files(written));
            let path = write_manifest(&out_dir, &manifest, &os_layer_id)?;
            Ok((manifest, path))
        }
        Err(Unfinished { error, written }) if written.is_empty() => Err(error.into()),
        Err(Unfinished { error, written }) => {
            manifest.formats.extend(files(written));
            write_manifest(&out_dir, &manifest, &os_layer_id)?;
            let listed = |wanted: bool| -> Vec<&str> {
                asked
                    .iter()
                    .filter(|f| manifest.file(f.name()).is_some() == wanted)
                    .map(|f| f.name())
                    .collect()
            };
            let missing = listed(false).join(", ");
            let has_disk = [Format::Raw, Format::Ami]
                .iter()
                .any(|f| manifest.file(f.name()).is_some());
            let rerun = match (has_disk, no_cache) {
                (true, false) => format!(
                    "the same command run again writes {missing} from the raw disk beside them"
                ),
                (true, true) => format!(
                    "the same command without --no-cache writes {missing} from the raw disk beside them"
                ),
                (false, _) => {
                    format!("the same command run again makes the disk again for {missing}")
                }
            };
            Err(ImageError::FormatsUnfinished {
                source: error,
                written: listed(true).join(", "),
                rerun,
            })
        }
    }
}

/// Writes `image.json` into `out_dir` and records its files as they are now, made from the OS
/// layer of image id `os_layer_id` (see [`reuse`]).
pub(super) fn write_manifest(
    out_dir: &Path,
    manifest: &ImageManifest,
    os_layer_id: &str,
) -> Result<PathBuf, ImageError> {
    let path = manifest.write(out_dir)?;
    if let Err(e) = reuse::record(out_dir, manifest, os_layer_id) {
        tracing::warn!(
            "could not record the image stamp in {}: {e}",
            out_dir.display()
        );
    }
    Ok(path)
}

/// The manifest of an image kept as the folder holds it, saying which clouds and instance families
/// it boots on as the recipe says now (`spec`'s `boots_on`): the image key does not cover them,
/// since they change no byte of the disk, so a recipe edit to them alone keeps the image but must
/// reach `image.json`, which the later stages read. Rewritten only when they changed; an `--out` that
/// cannot be written (read-only) keeps the older words, with a warning, as the image is still it.
pub(super) fn with_boots_on(
    out_dir: &Path,
    mut manifest: ImageManifest,
    spec: &ImageSpec,
    os_layer_id: &str,
    reporter: &dyn Reporter,
) -> ImageManifest {
    if manifest.boots_on != spec.boots_on {
        manifest.boots_on = spec.boots_on.clone();
        if let Err(e) = write_manifest(out_dir, &manifest, os_layer_id) {
            reporter.report(Event::Warning(format!(
                "the recipe now says other clouds or instance families for this image, but its \
                 image.json could not be rewritten to say so: {e}"
            )));
        }
    }
    manifest
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::manifest;
    use crate::image::reuse::Existing;
    use crate::progress::Silent;
    use format::testdisk::TestDisk;

    /// The OS layer's image id the test disks were made from.
    const LAYER: &str = "sha256:layer";

    /// The job of writing `formats` of `disk` into `out`, for an image of key `kkk…`.
    fn job(disk: &Path, out: &Path, formats: &[Format]) -> FormatsJob {
        FormatsJob {
            asked: formats.to_vec(),
            no_cache: false,
            formats: formats.to_vec(),
            disk: (disk.to_owned(), DiskFile::Keep),
            out_dir: out.to_owned(),
            stem: "pg".into(),
            manifest: ImageManifest {
                image_key: "k".repeat(64),
                formats: Vec::new(),
                ..manifest::sample()
            },
            os_layer_id: LAYER.into(),
            reporter: Arc::new(Silent),
        }
    }

    #[test]
    fn a_format_that_fails_leaves_image_json_listing_the_others_to_extend_from() {
        let disk = TestDisk::typical();
        let out = tempfile::tempdir().unwrap();
        // A 64 MiB disk is no whole number of GiB: gce refuses it, after raw is written.
        let formats = [Format::Raw, Format::Gce];
        let err = write(job(&disk.path, out.path(), &formats), Stop::default()).unwrap_err();
        let said = err.to_string();
        assert!(
            matches!(&err, ImageError::FormatsUnfinished { written, .. } if written == "raw"),
            "{said}"
        );
        assert!(
            said.contains("GCE takes")
                && said.contains("the same command run again writes gce from the raw disk"),
            "{said}"
        );
        let mut no_cache = job(&disk.path, out.path(), &formats);
        no_cache.no_cache = true;
        let said = write(no_cache, Stop::default()).unwrap_err().to_string();
        assert!(
            said.contains("the same command without --no-cache writes gce"),
            "{said}"
        );

        let listed = ImageManifest::read(&ImageManifest::path_in(out.path())).unwrap();
        let names: Vec<_> = listed.formats.iter().map(|f| f.file.as_str()).collect();
        assert_eq!(names, ["pg.raw"]);
        assert!(!out.path().join("pg.gce.tar.gz").exists());
        assert_eq!(
            reuse::existing(out.path(), &"k".repeat(64), LAYER, &formats),
            Some(Existing::Extend {
                disk: out.path().join("pg.raw"),
                missing: vec![Format::Gce],
                manifest: listed,
            })
        );
    }

    /// A disk made anew whose only format fails: the older image's files are gone all the same,
    /// none left with a checksum that still verifies it and nothing naming it.
    #[test]
    fn a_failed_run_with_a_disk_made_anew_leaves_no_file_of_the_older_image() {
        let disk = TestDisk::typical();
        let out = tempfile::tempdir().unwrap();
        let mut older = manifest::sample();
        older.formats[0].format = "qcow2".into();
        older.formats[0].file = "pg.qcow2".into();
        std::fs::write(out.path().join("pg.qcow2"), b"older disk").unwrap();
        std::fs::write(out.path().join("pg.qcow2.sha256"), b"sum  pg.qcow2\n").unwrap();
        write_manifest(out.path(), &older, LAYER).unwrap();
        let mut made_anew = job(&disk.path, out.path(), &[Format::Gce]);
        made_anew.disk.1 = DiskFile::Take;
        // A 64 MiB disk is no whole number of GiB: gce refuses it, and nothing is written.
        write(made_anew, Stop::default()).unwrap_err();
        let left: Vec<_> = std::fs::read_dir(out.path()).unwrap().collect();
        assert!(left.is_empty(), "{left:?}");
    }

    /// A recipe edit to where its image boots (no byte of the disk) keeps the image, whose
    /// image.json then says it as the recipe does now, and is still answered as unchanged.
    #[test]
    fn a_kept_image_says_where_it_boots_as_the_recipe_says_now() {
        let disk = TestDisk::typical();
        let out = tempfile::tempdir().unwrap();
        let (made, _) =
            write(job(&disk.path, out.path(), &[Format::Raw]), Stop::default()).unwrap();
        let mut spec = crate::image::layer::embedded_spec("postgresql", "debian12");
        let mut now = made.boots_on.clone();
        now[0].fails = vec!["m5".into()];
        spec.boots_on = now.clone();
        let kept = with_boots_on(out.path(), made, &spec, LAYER, &Silent);
        assert_eq!(kept.boots_on, now);
        let read = ImageManifest::read(&ImageManifest::path_in(out.path())).unwrap();
        assert_eq!(read.boots_on, now);
        assert_eq!(
            reuse::existing(out.path(), &"k".repeat(64), LAYER, &[Format::Raw]),
            Some(Existing::Complete(read))
        );
    }

    #[tokio::test]
    async fn dropping_the_stage_stops_its_writers_and_leaves_no_partial_file() {
        // 8 GiB, hashed at about 2 GB/s: the pass takes seconds, far longer than the wait below.
        let disk = TestDisk::new(8 << 30).data(0, 64 << 20).build();
        let out = tempfile::tempdir().unwrap();
        let formats = [Format::Raw, Format::Vhd];
        let stage = formats_stage(job(&disk.path, out.path(), &formats));
        let started = Instant::now();
        let cut = tokio::time::timeout(std::time::Duration::from_millis(200), stage).await;
        assert!(cut.is_err(), "the copy finished within 200 ms");
        // The blocking thread sees the request at its next 2 MiB of data or 64 MiB of holes,
        // removes its partial files, and ends: nothing of the writers is left in the directory.
        loop {
            let left: Vec<_> = std::fs::read_dir(out.path()).unwrap().collect();
            if left.is_empty() {
                break;
            }
            assert!(started.elapsed().as_secs() < 30, "still there: {left:?}");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}
