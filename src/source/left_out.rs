//! What baker wrote into a `--source-dir` tree is not source. A build whose `--out` is inside the tree
//! (`--source-dir .` from the tree's root, with the default `./out`) would otherwise take its last
//! tarball into its next source, so that no build ever hits the cache, and upload it besides. Left
//! out of the tree's walk:
//!
//! - this build's output folder, `<out>.failed` and the staging folders `.<out>.*` beside it (see
//!   `builder::out_dir`), named by path, since at planning time the folder may not be there yet;
//! - the build's lock file (`--lock`), which it writes once it has planned, when it downloads a file
//!   nothing pins (the sha256s it holds key the steps through the plan);
//! - any folder holding a build's output set (a `manifest.json` naming its tarball, and a
//!   `plan.json`) or an image's (`image.json` listing its formats), so another `--out` used before
//!   counts as little;
//! - staging folders (`.*.staging`) and a failed build's `*.failed` holding only `logs/`.
//!
//! They are recognised by what baker writes in them rather than marked, so that output folders made
//! by earlier versions are left out too.

use std::path::{Component, Path, PathBuf};

use crate::artifact::tarball_named_in;
use crate::image::ImageManifest;
use crate::plan::PLAN_FILE;

/// What a tree walk leaves out besides the version-control folders.
#[derive(Debug, Clone, Default)]
pub struct LeftOut {
    /// This build's output folder as an absolute path, its existing part resolved like the tree's
    /// root.
    out: Option<PathBuf>,
    /// The lock file, resolved the same way.
    lock_file: Option<PathBuf>,
}

impl LeftOut {
    pub fn output_folder(out: &Path) -> Self {
        Self {
            out: resolved(out),
            lock_file: None,
        }
    }

    /// These, and the lock file at `lock_file`.
    pub fn and_lock_file(self, lock_file: &Path) -> Self {
        Self {
            lock_file: resolved(lock_file),
            ..self
        }
    }

    /// Whether the output folder is the tree at `root` itself, which it cannot leave out of it.
    pub fn is_root_of(&self, root: &Path) -> bool {
        self.out.is_some() && self.out == resolved(root)
    }

    /// Whether the entry at `path` (a directory when `is_dir`) is left out.
    pub(super) fn skips(&self, path: &Path, is_dir: bool) -> bool {
        self.is_this_builds(path) || (is_dir && written_by_baker(path))
    }

    fn is_this_builds(&self, path: &Path) -> bool {
        if self.lock_file.as_deref() == Some(path) {
            return true;
        }
        let Some(out) = &self.out else {
            return false;
        };
        if path == out {
            return true;
        }
        let (Some(parent), Some(name)) = (out.parent(), out.file_name()) else {
            return false;
        };
        let name = name.to_string_lossy();
        let entry = path.file_name().unwrap_or_default().to_string_lossy();
        path.parent() == Some(parent)
            && (entry == format!("{name}.failed") || entry.starts_with(&format!(".{name}.")))
    }
}

/// Whether the folder `dir` is one baker writes: an output set, an image's folder, a staging folder
/// or a failed build's logs.
fn written_by_baker(dir: &Path) -> bool {
    let name = dir.file_name().unwrap_or_default().to_string_lossy();
    if name.starts_with('.') && name.ends_with(".staging") {
        return true;
    }
    if name.ends_with(".failed") {
        let names: Vec<_> = std::fs::read_dir(dir)
            .map(|d| d.flatten().map(|e| e.file_name()).collect())
            .unwrap_or_default();
        if names == ["logs"] {
            return true;
        }
    }
    let build_set = tarball_named_in(dir).is_some() && dir.join(PLAN_FILE).is_file();
    build_set || ImageManifest::is_in(dir)
}

/// `path` made absolute and resolved as far as it exists (symbolic links followed, as the tree's
/// walk sees them); the part that does not exist yet (the folder may not be made) is taken as
/// written, its `.` and `..` folded, which is exact there: no link can be in it.
fn resolved(path: &Path) -> Option<PathBuf> {
    let absolute = std::path::absolute(path).ok()?;
    let mut resolved = PathBuf::new();
    for component in absolute.components() {
        resolved.push(component);
        match resolved.canonicalize() {
            Ok(real) => resolved = real,
            Err(_) if component == Component::ParentDir => {
                resolved.pop(); // the `..`
                resolved.pop(); // the folder it leaves, which does not exist
            }
            Err(_) if component == Component::CurDir => {
                resolved.pop();
            }
            Err(_) => {}
        }
    }
    Some(resolved)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::stat_cache::StatCache;
    use crate::source::tree::{digest_tree, digest_tree_with};
    use std::fs;

    #[test]
    fn the_builds_output_folder_and_what_it_stages_beside_it_are_left_out() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        fs::write(root.join("a.c"), "int main(){}\n").unwrap();
        let clean = digest_tree(&root).unwrap();
        for made in ["out/logs", ".out.x1.staging/logs", "out.failed/logs"] {
            fs::create_dir_all(root.join(made)).unwrap();
            fs::write(root.join(made).join("01-x.log"), "log").unwrap();
        }
        fs::write(root.join("out/hello.tar.gz"), "tarball").unwrap();
        // Named directly, through a symbolic link, or through `.` and a `..` that leaves a folder
        // not made yet.
        let link = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(&root, link.path().join("src")).unwrap();
        for out in [
            root.join("out"),
            link.path().join("src/out"),
            root.join("not-made/../././out"),
        ] {
            let left_out = LeftOut::output_folder(&out);
            let tree = digest_tree_with(&root, &left_out, &mut StatCache::none()).unwrap();
            assert_eq!(tree.sha256, clean.sha256, "{out:?}");
        }
        // The lock file the build writes once planned, named through the link too.
        fs::write(root.join("baker.lock"), "[files]\n").unwrap();
        let with_lock = LeftOut::output_folder(&root.join("out"))
            .and_lock_file(&link.path().join("src/baker.lock"));
        let tree = digest_tree_with(&root, &with_lock, &mut StatCache::none()).unwrap();
        assert_eq!(tree.sha256, clean.sha256);
        let without = LeftOut::output_folder(&root.join("out"));
        let tree = digest_tree_with(&root, &without, &mut StatCache::none()).unwrap();
        assert_ne!(
            tree.sha256, clean.sha256,
            "another build's lock file is source"
        );
        fs::remove_file(root.join("baker.lock")).unwrap();
        assert!(LeftOut::output_folder(&link.path().join("src")).is_root_of(&root));
        assert!(!LeftOut::output_folder(&root.join("out")).is_root_of(&root));
        // Another folder's are not left out by name (staging and failed folders are, by what they
        // hold); nor is a folder not yet made a reason to fail.
        let other = LeftOut::output_folder(&root.join("elsewhere/out"));
        let tree = digest_tree_with(&root, &other, &mut StatCache::none()).unwrap();
        let files: Vec<_> = tree
            .entries
            .iter()
            .filter(|e| !e.digest.is_empty())
            .map(|e| e.path.as_str())
            .collect();
        assert_eq!(files, ["a.c", "out/hello.tar.gz", "out/logs/01-x.log"]);
    }

    /// Output folders of other builds and images in the tree are left out too; a folder that only
    /// looks a little like one is not.
    #[test]
    fn what_other_builds_and_images_wrote_in_the_tree_is_left_out() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        fs::write(root.join("a.c"), "int main(){}\n").unwrap();
        let clean = digest_tree(&root).unwrap();
        let write = |path: &str, text: &str| {
            fs::create_dir_all(root.join(path).parent().unwrap()).unwrap();
            fs::write(root.join(path), text).unwrap();
        };
        write(
            "out2/manifest.json",
            r#"{"artifact": {"file_name": "h.tar.gz"}}"#,
        );
        write("out2/plan.json", "{}");
        write("out2/h.tar.gz", "tarball");
        write("images/image.json", r#"{"image_key": "k", "formats": []}"#);
        write("images/pg.raw", "disk");
        write("build.failed/logs/01-x.log", "log");
        write(".out.Ab12.staging/logs/01-x.log", "log");
        let now = digest_tree(&root).unwrap();
        assert_eq!(now.sha256, clean.sha256, "{:?}", now.entries);
        // A project's own manifest.json, or a folder named *.failed holding more than logs, stays.
        write("web/manifest.json", r#"{"name": "app"}"#);
        write("web/plan.json", "{}");
        write("tests.failed/cases.txt", "x");
        assert_eq!(digest_tree(&root).unwrap().files(), 4);
    }
}
