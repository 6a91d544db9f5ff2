//! The last stage of `baker image`: the raw disk written as each format asked for (through
//! [`output`]), then `image.json` listing the files. A format writer that fails leaves the files
//! the others finished, and `image.json` lists those alone rather than none, so the image in the
//! output directory is always described as it is, and the same command run again writes only what
//! is missing — from the raw disk when it is there ([`reuse`]) — instead of making the disk again.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use super::format::{self, DiskFile, Unfinished};
use super::manifest::{FormatFile, ImageManifest};
use super::{Format, ImageError, ImageRequest, STAGES, output, reuse, stage};
use crate::progress::{Event, Reporter};

/// The last stage: the raw disk at `raw` written as each of `formats` into the output directory
/// (the disk itself becoming one of them when it may be taken), then `image.json`, which
/// `describe` makes from the files written. When a writer fails, the files the others finished
/// stay and `image.json` lists them alone, so that the same command run again writes only the
/// formats still missing ([`reuse`]), from the raw disk when it is among them.
pub(super) fn formats_stage(
    req: &ImageRequest,
    formats: &[Format],
    (raw, disk_file): (&Path, DiskFile),
    (epoch, image_key): (u64, &str),
    reporter: &Arc<dyn Reporter>,
    describe: impl FnOnce(Vec<FormatFile>) -> ImageManifest,
) -> Result<(ImageManifest, PathBuf), ImageError> {
    reporter.report(Event::StepStarted {
        index: 4,
        total: STAGES,
        name: "formats".into(),
    });
    let t = Instant::now();
    let written = output::write_formats(
        formats,
        (raw, disk_file),
        &req.out_dir,
        &req.spec.stem,
        epoch,
        image_key,
        reporter.as_ref(),
    );
    let files = |written: Vec<format::Written>| written.into_iter().map(FormatFile::from).collect();
    match written {
        Ok(written) => {
            stage(reporter, 3, "formats", Some(t));
            let manifest = describe(files(written));
            let path = write_manifest(&req.out_dir, &manifest)?;
            Ok((manifest, path))
        }
        Err(Unfinished { error, written }) if written.is_empty() => Err(error.into()),
        Err(Unfinished { error, written }) => {
            let manifest = describe(files(written));
            write_manifest(&req.out_dir, &manifest)?;
            let listed = |wanted: bool| -> Vec<&str> {
                req.formats
                    .iter()
                    .filter(|f| manifest.file(f.name()).is_some() == wanted)
                    .map(|f| f.name())
                    .collect()
            };
            Err(ImageError::FormatsUnfinished {
                source: error,
                written: listed(true).join(", "),
                missing: listed(false).join(", "),
                from_disk: [Format::Raw, Format::Ami]
                    .iter()
                    .any(|f| manifest.file(f.name()).is_some()),
            })
        }
    }
}

/// Writes `image.json` into `out_dir` and records its files as they are now (see [`reuse`]).
pub(super) fn write_manifest(
    out_dir: &Path,
    manifest: &ImageManifest,
) -> Result<PathBuf, ImageError> {
    let path = manifest.write(out_dir)?;
    if let Err(e) = reuse::record(out_dir, manifest) {
        tracing::warn!(
            "could not record the image stamp in {}: {e}",
            out_dir.display()
        );
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::CacheDir;
    use crate::image::layer::embedded_spec;
    use crate::image::manifest;
    use crate::image::reuse::Existing;
    use crate::progress::Silent;
    use format::testdisk::TestDisk;

    #[test]
    fn a_format_that_fails_leaves_image_json_listing_the_others_to_extend_from() {
        let disk = TestDisk::typical();
        let out = tempfile::tempdir().unwrap();
        let spec = embedded_spec("postgresql", "debian12");
        let stem = spec.stem.clone();
        let req = ImageRequest {
            spec,
            artifact: PathBuf::from("unused.tar.gz"),
            artifact_sha256: "a".repeat(64),
            epoch: 1,
            // A 64 MiB disk is no whole number of GiB: gce refuses it, after raw is written.
            formats: vec![Format::Raw, Format::Gce],
            size: None,
            out_dir: out.path().to_owned(),
            cache: CacheDir::new(out.path().join("cache")),
            no_cache: false,
        };
        let key = "k".repeat(64);
        let reporter: Arc<dyn Reporter> = Arc::new(Silent);
        let err = formats_stage(
            &req,
            &req.formats,
            (&disk.path, DiskFile::Keep),
            (1, &key),
            &reporter,
            |files| ImageManifest {
                image_key: key.clone(),
                formats: files,
                ..manifest::sample()
            },
        )
        .unwrap_err();
        let said = err.to_string();
        assert!(
            matches!(&err, ImageError::FormatsUnfinished { written, missing, from_disk: true, .. }
                if written == "raw" && missing == "gce"),
            "{said}"
        );
        assert!(said.contains("GCE takes") && said.contains("writes gce from the raw disk"));

        let listed = ImageManifest::read(&ImageManifest::path_in(out.path())).unwrap();
        let names: Vec<_> = listed.formats.iter().map(|f| f.file.as_str()).collect();
        assert_eq!(names, [format!("{stem}.raw")]);
        assert!(!out.path().join(format!("{stem}.tar.gz")).exists());
        assert_eq!(
            reuse::existing(out.path(), &key, &req.formats),
            Some(Existing::Extend {
                disk: out.path().join(format!("{stem}.raw")),
                missing: vec![Format::Gce],
                manifest: listed,
            })
        );
    }
}
