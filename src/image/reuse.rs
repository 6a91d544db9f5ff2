//! What the output directory already holds of an image: when it holds the files of this very image
//! key, untouched since baker wrote them, `baker image` says so without rebuilding or even rehashing
//! them; when it lacks some of the formats asked for but holds the raw disk (`raw` or `ami`), the
//! missing ones are written from that disk, which is the image's bytes, instead of making the disk
//! again. A stamp beside `image.json` records each file's length and modification time as written;
//! booting a disk in place (which writes to it) or replacing a file changes them, and the image is
//! made again.
//!
//! The stamp also records the engine's id of the OS layer the disk was made from. The image key
//! names that layer by its key alone (what it is made of, the same on every machine, since the
//! disk's identifiers derive from the image key), but a layer made again under the same key — from
//! a base image bootstrapped anew, or with `--no-cache` — is another tree: a folder whose disk came
//! from the layer before is made again, not answered as unchanged.
//!
//! An image another version of baker made is made again as well: the key covers the scripts and
//! files baker puts into the disk, but not the code that writes the formats from it (the VHD
//! footer, for one, names baker's version), so the same command in an empty folder could give
//! other bytes than the folder holds.

use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use serde::{Deserialize, Serialize};

use super::manifest::ImageManifest;
use super::output::Format;

const STAMP: &str = ".baker-image.stamp";

#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Stamp {
    image_key: String,
    /// The OS layer's image id; absent in a stamp written before it was recorded, which then
    /// matches no layer.
    #[serde(default)]
    os_layer_id: Option<String>,
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

/// What `dir` holds of image `image_key` that a run asking for some formats can use.
#[derive(Debug, PartialEq, Eq)]
pub enum Existing {
    /// Every format asked for, and more perhaps: nothing to make.
    Complete(ImageManifest),
    /// Not every format asked for, but the raw disk at `disk`, to write the `missing` ones from.
    Extend {
        manifest: ImageManifest,
        disk: PathBuf,
        missing: Vec<Format>,
    },
    /// The files of this image key as baker left them, but made from another OS layer than the
    /// one given (made again since, or not recorded): the image has to be made again.
    OtherOsLayer,
}

/// What `dir` holds of image `image_key`, made from the OS layer of image id `os_layer_id`, when
/// its `image.json` is of that key and every file it lists is as baker left it; `None` when the
/// image has to be made (again).
pub fn existing(
    dir: &Path,
    image_key: &str,
    os_layer_id: &str,
    formats: &[Format],
) -> Option<Existing> {
    let (manifest, made_from) = intact(dir, image_key)?;
    if made_from.as_deref() != Some(os_layer_id) {
        return Some(Existing::OtherOsLayer);
    }
    let missing: Vec<Format> = formats
        .iter()
        .copied()
        .filter(|f| manifest.file(f.name()).is_none())
        .collect();
    if missing.is_empty() {
        return Some(Existing::Complete(manifest));
    }
    let disk = [Format::Raw, Format::Ami]
        .iter()
        .find_map(|f| manifest.file(f.name()))
        .map(|f| dir.join(&f.file))?;
    Some(Existing::Extend {
        manifest,
        disk,
        missing,
    })
}

/// The manifest in `dir` when it is of `image_key` and its files are as baker left them, with the
/// id of the OS layer its disk was made from, as recorded.
fn intact(dir: &Path, image_key: &str) -> Option<(ImageManifest, Option<String>)> {
    let manifest = ImageManifest::read(&ImageManifest::path_in(dir)).ok()?;
    if manifest.image_key != image_key || manifest.baker_version != env!("CARGO_PKG_VERSION") {
        return None;
    }
    let recorded: Stamp = serde_json::from_slice(&std::fs::read(dir.join(STAMP)).ok()?).ok()?;
    let now = Stamp {
        image_key: image_key.to_owned(),
        os_layer_id: recorded.os_layer_id.clone(),
        files: names(&manifest)
            .iter()
            .map(|n| stamp_of(dir, n))
            .collect::<Option<_>>()?,
    };
    (recorded == now).then_some((manifest, recorded.os_layer_id))
}

/// Clears the way for a disk made anew, before any of its files is written: the stamp, every image
/// file the older `image.json` listed with its `.sha256`, then that `image.json` itself go. All of
/// them, whatever the older image's key — a disk made again may differ from an older one of the same
/// key (a package updated in its repositories since) — and before, not after, the new files are
/// written, so that a run that fails or is stopped part way leaves no older disk, checksum and all,
/// beside the new files as if it were this image's, and no `image.json` describing bytes that are
/// no longer there. (The older image is lost either way once its disk is made anew: the new
/// `image.json` cannot list it.) `image.json` goes last, so a run killed in the middle leaves it
/// naming what is left, for the next run to remove. Only an `image.json` of baker's counts
/// ([`ImageManifest::is_in`], read loosely, so that one written by another version of baker is
/// understood), and of what it lists only image file names (a plain file name with a format's
/// extension); only regular files and links are removed, and what cannot be is left, with a
/// warning in the log. Returns the image files removed.
pub fn forget_older(dir: &Path) -> std::io::Result<Vec<String>> {
    let path = ImageManifest::path_in(dir);
    if !ImageManifest::is_in(dir) {
        return Ok(Vec::new());
    }
    let listed: Vec<String> = std::fs::read_to_string(&path)
        .ok()
        .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
        .and_then(|m| m["formats"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|f| f["file"].as_str().map(str::to_owned))
        .filter(|name| is_image_file_name(name))
        .collect();
    crate::atomic_file::remove_if_exists(&dir.join(STAMP))?;
    let mut removed = Vec::new();
    for name in &listed {
        // The checksum first: a file left without one is never taken for a verified image.
        for file in [format!("{name}.sha256"), name.clone()] {
            let path = dir.join(&file);
            let Ok(meta) = path.symlink_metadata() else {
                continue;
            };
            if meta.is_dir() {
                continue;
            }
            match std::fs::remove_file(&path) {
                Ok(()) if file == *name => removed.push(file),
                Ok(()) => {}
                Err(e) => tracing::warn!("could not remove {}: {e}", path.display()),
            }
        }
    }
    crate::atomic_file::remove_if_exists(&path)?;
    Ok(removed)
}

/// A plain file name (no folder) ending with an image format's extension.
fn is_image_file_name(name: &str) -> bool {
    let plain = !name.contains('/') && !name.starts_with('.');
    plain
        && Format::ALL.iter().any(|f| {
            name.len() > f.extension().len() + 1 && name.ends_with(&format!(".{}", f.extension()))
        })
}

/// Records the files of `manifest` as they are now, and the image id of the OS layer its disk was
/// made from.
pub fn record(dir: &Path, manifest: &ImageManifest, os_layer_id: &str) -> std::io::Result<()> {
    let stamp = Stamp {
        image_key: manifest.image_key.clone(),
        os_layer_id: Some(os_layer_id.to_owned()),
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

    /// The OS layer's image id the disks of these tests were made from.
    const LAYER: &str = "sha256:layer";

    fn setup() -> (tempfile::TempDir, ImageManifest) {
        setup_with(sample())
    }

    /// A folder holding the image `m` lists, as baker left it.
    fn setup_with(m: ImageManifest) -> (tempfile::TempDir, ImageManifest) {
        let dir = tempfile::tempdir().unwrap();
        let file = &m.formats[0].file;
        std::fs::write(dir.path().join(file), b"disk").unwrap();
        std::fs::write(dir.path().join(format!("{file}.sha256")), b"sum").unwrap();
        m.write(dir.path()).unwrap();
        record(dir.path(), &m, LAYER).unwrap();
        (dir, m)
    }

    #[test]
    fn an_untouched_output_of_the_same_key_is_reused() {
        let (dir, m) = setup();
        assert_eq!(
            existing(dir.path(), &m.image_key, LAYER, &[Format::Raw]),
            Some(Existing::Complete(m.clone()))
        );
        assert!(existing(dir.path(), "another key", LAYER, &[Format::Raw]).is_none());
    }

    /// Made by another version of baker, whose format writers may differ: made again.
    #[test]
    fn an_image_another_baker_made_is_made_again() {
        let (dir, m) = setup_with(ImageManifest {
            baker_version: "0.0.9".into(),
            ..sample()
        });
        assert!(existing(dir.path(), &m.image_key, LAYER, &[Format::Raw]).is_none());
    }

    /// The reviewer's case: image A made on base B1; the base bootstrapped anew (B2) and the layer
    /// made again under the same key (so the same image key) for another folder; then A asked
    /// for again must not be answered as unchanged, nor extended from its disk made on B1.
    #[test]
    fn an_image_made_from_an_os_layer_since_made_again_is_made_again() {
        let (dir, m) = setup();
        let again = "sha256:layer made again from a new base";
        for formats in [&[Format::Raw][..], &[Format::Raw, Format::Vhd]] {
            assert_eq!(
                existing(dir.path(), &m.image_key, again, formats),
                Some(Existing::OtherOsLayer)
            );
        }
        // A stamp from before the layer was recorded names no layer: made again too.
        let path = dir.path().join(STAMP);
        let mut older: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        older.as_object_mut().unwrap().remove("os_layer_id");
        std::fs::write(&path, older.to_string()).unwrap();
        assert_eq!(
            existing(dir.path(), &m.image_key, LAYER, &[Format::Raw]),
            Some(Existing::OtherOsLayer)
        );
    }

    #[test]
    fn formats_it_lacks_are_written_from_its_raw_disk() {
        let (dir, m) = setup();
        assert_eq!(
            existing(
                dir.path(),
                &m.image_key,
                LAYER,
                &[Format::Raw, Format::Vhd, Format::Qcow2]
            ),
            Some(Existing::Extend {
                manifest: m.clone(),
                disk: dir.path().join(&m.formats[0].file),
                missing: vec![Format::Vhd, Format::Qcow2],
            })
        );
    }

    #[test]
    fn without_a_raw_disk_the_image_is_made_again() {
        let dir = tempfile::tempdir().unwrap();
        let mut m = sample();
        m.formats[0].format = "qcow2".into();
        m.formats[0].file = "pg.qcow2".into();
        std::fs::write(dir.path().join("pg.qcow2"), b"qcow2").unwrap();
        std::fs::write(dir.path().join("pg.qcow2.sha256"), b"sum").unwrap();
        m.write(dir.path()).unwrap();
        record(dir.path(), &m, LAYER).unwrap();
        assert!(matches!(
            existing(dir.path(), &m.image_key, LAYER, &[Format::Qcow2]),
            Some(Existing::Complete(_))
        ));
        assert!(existing(dir.path(), &m.image_key, LAYER, &[Format::Vhd]).is_none());
    }

    #[test]
    fn a_changed_or_missing_file_is_made_again() {
        let (dir, m) = setup();
        std::fs::write(dir.path().join(&m.formats[0].file), b"booted disk").unwrap();
        assert!(existing(dir.path(), &m.image_key, LAYER, &[Format::Raw]).is_none());
        assert!(existing(dir.path(), &m.image_key, LAYER, &[Format::Vhd]).is_none());
        let (dir, m) = setup();
        std::fs::remove_file(dir.path().join(format!("{}.sha256", m.formats[0].file))).unwrap();
        assert!(existing(dir.path(), &m.image_key, LAYER, &[Format::Raw]).is_none());
    }

    #[test]
    fn a_disk_made_anew_first_removes_the_older_images_files_and_nothing_else() {
        let (dir, mut older) = setup();
        let mut qcow2 = older.formats[0].clone();
        qcow2.format = "qcow2".into();
        qcow2.file = "older.qcow2".into();
        let mut foreign = qcow2.clone();
        foreign.file = "NOTES.txt".into();
        let mut folder = qcow2.clone();
        folder.file = "folder.vhd".into();
        older.formats.extend([qcow2, foreign, folder]);
        older.write(dir.path()).unwrap();
        for name in [
            "older.qcow2",
            "older.qcow2.sha256",
            "NOTES.txt",
            "mine.qcow2",
        ] {
            std::fs::write(dir.path().join(name), b"x").unwrap();
        }
        std::fs::create_dir(dir.path().join("folder.vhd")).unwrap();
        record(dir.path(), &older, LAYER).unwrap();
        let raw = older.formats[0].file.clone();
        assert_eq!(
            forget_older(dir.path()).unwrap(),
            [raw, "older.qcow2".into()]
        );
        let mut left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        // No image.json nor stamp; what the older image.json listed that is no image file of a
        // format, or no file, stays, and so do files it did not list.
        assert_eq!(left, ["NOTES.txt", "folder.vhd", "mine.qcow2"]);
        assert!(
            forget_older(dir.path()).unwrap().is_empty(),
            "safe to repeat"
        );
    }

    #[test]
    fn an_image_json_that_is_not_bakers_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let other = r#"{"formats": [{"file": "disk.qcow2"}]}"#;
        std::fs::write(ImageManifest::path_in(dir.path()), other).unwrap();
        std::fs::write(dir.path().join("disk.qcow2"), b"x").unwrap();
        assert!(forget_older(dir.path()).unwrap().is_empty());
        assert!(ImageManifest::path_in(dir.path()).exists());
    }
}
