//! The no-change answer: when the output directory already holds the files of this very image key,
//! untouched since baker wrote them, `baker image` says so without rebuilding or even rehashing
//! them. A stamp beside `image.json` records each file's length and modification time as written;
//! booting a disk (which writes to it) or replacing a file changes them, and the image is made again.

use std::path::Path;
use std::time::UNIX_EPOCH;

use serde::{Deserialize, Serialize};

use super::manifest::ImageManifest;
use super::output::Format;

const STAMP: &str = ".baker-image.stamp";

#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Stamp {
    image_key: String,
    files: Vec<StampFile>,
}

#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
struct StampFile {
    name: String,
    len: u64,
    mtime_ns: u128,
}

fn stamp_of(dir: &Path, name: &str) -> Option<StampFile> {
    let meta = std::fs::metadata(dir.join(name)).ok()?;
    Some(StampFile {
        name: name.to_owned(),
        len: meta.len(),
        mtime_ns: meta
            .modified()
            .ok()?
            .duration_since(UNIX_EPOCH)
            .ok()?
            .as_nanos(),
    })
}

fn names(manifest: &ImageManifest) -> Vec<String> {
    manifest
        .formats
        .iter()
        .flat_map(|f| [f.file.clone(), format!("{}.sha256", f.file)])
        .collect()
}

/// The manifest in `dir` when it is of `image_key`, lists every format asked for, and its files
/// are as baker left them.
pub fn unchanged(dir: &Path, image_key: &str, formats: &[Format]) -> Option<ImageManifest> {
    let manifest = ImageManifest::read(&ImageManifest::path_in(dir)).ok()?;
    if manifest.image_key != image_key || formats.iter().any(|f| manifest.file(f.name()).is_none())
    {
        return None;
    }
    let recorded: Stamp = serde_json::from_slice(&std::fs::read(dir.join(STAMP)).ok()?).ok()?;
    let now = Stamp {
        image_key: image_key.to_owned(),
        files: names(&manifest)
            .iter()
            .map(|n| stamp_of(dir, n))
            .collect::<Option<_>>()?,
    };
    (recorded == now).then_some(manifest)
}

/// Records the files of `manifest` as they are now.
pub fn record(dir: &Path, manifest: &ImageManifest) -> std::io::Result<()> {
    let stamp = Stamp {
        image_key: manifest.image_key.clone(),
        files: names(manifest)
            .iter()
            .filter_map(|n| stamp_of(dir, n))
            .collect(),
    };
    crate::atomic_file::write_atomic(&dir.join(STAMP), &serde_json::to_vec(&stamp)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::manifest::sample;

    fn setup() -> (tempfile::TempDir, ImageManifest) {
        let dir = tempfile::tempdir().unwrap();
        let m = sample();
        let file = &m.formats[0].file;
        std::fs::write(dir.path().join(file), b"disk").unwrap();
        std::fs::write(dir.path().join(format!("{file}.sha256")), b"sum").unwrap();
        m.write(dir.path()).unwrap();
        record(dir.path(), &m).unwrap();
        (dir, m)
    }

    #[test]
    fn an_untouched_output_of_the_same_key_is_reused() {
        let (dir, m) = setup();
        assert_eq!(
            unchanged(dir.path(), &m.image_key, &[Format::Raw]),
            Some(m.clone())
        );
        assert!(unchanged(dir.path(), "another key", &[Format::Raw]).is_none());
        assert!(unchanged(dir.path(), &m.image_key, &[Format::Raw, Format::Qcow2]).is_none());
    }

    #[test]
    fn a_changed_or_missing_file_is_made_again() {
        let (dir, m) = setup();
        std::fs::write(dir.path().join(&m.formats[0].file), b"booted disk").unwrap();
        assert!(unchanged(dir.path(), &m.image_key, &[Format::Raw]).is_none());
        let (dir, m) = setup();
        std::fs::remove_file(dir.path().join(format!("{}.sha256", m.formats[0].file))).unwrap();
        assert!(unchanged(dir.path(), &m.image_key, &[Format::Raw]).is_none());
    }
}
