//! What the cache's directory holds, as entries that `baker cache du` shows and `baker cache
//! prune|clear` remove whole (a download, an artifact, a step's index entry, an OS layer's or node
//! image's entry, an `--incremental` record with its build tree, a package file, a compiler cache,
//! what `--source-dir` builds learnt of a tree's files) so that nothing is left half there; sizes
//! such as `20G` as the user writes them. What a step or OS layer entry holds in the engine is
//! found by [`super::in_engine::measure`], and [`super::accounting`] adds it up and plans
//! evictions.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::CacheDir;

/// One evictable thing in the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheEntry {
    pub part: &'static str,
    pub path: PathBuf,
    pub bytes: u64,
    pub last_used: SystemTime,
    /// For step, OS layer and node image entries: the key, whose image (`baker-step:<key>-<cache>`,
    /// `baker-os:<key>-<cache>`, `baker-node:<key>-<cache>`; an OS layer's tree volumes too) goes
    /// with the entry; for an incremental build's record, the image of its build tree itself.
    pub engine_key: Option<String>,
    /// What the entry holds in the engine (images by id, volumes as `volume:<name>`), filled in by
    /// [`super::in_engine::measure`]; see [`super::accounting`].
    pub held: Vec<String>,
}

/// The parts whose entries stand for something in the engine, named by the entry's key.
pub const ENGINE_PARTS: [&str; 3] = ["steps", "os-layers", "node-images"];

/// Every part of the cache with the directories it lives in, in the order `du` lists them (what
/// `prune` evicts first is the least recently used: see `accounting::eviction_plan`).
fn parts(cache: &CacheDir) -> Vec<(&'static str, PathBuf)> {
    vec![
        ("tmp", cache.tmp()),
        ("host", cache.host()),
        ("artifacts", cache.artifacts()),
        ("steps", cache.steps()),
        ("step-logs", cache.step_logs()),
        ("os-layers", cache.os_layers()),
        ("node-images", cache.node_images()),
        ("incremental", cache.incremental()),
        ("stat", cache.stat()),
        ("downloads", cache.downloads()),
        ("packages", cache.root().join("packages")),
        ("maven", cache.root().join("maven")),
        ("ccache", cache.root().join("ccache")),
    ]
}

/// Lists the cache's entries: one per file in flat parts, one per sub-directory in the others.
pub fn scan(cache: &CacheDir) -> Vec<CacheEntry> {
    let mut entries = Vec::new();
    for (part, dir) in parts(cache) {
        let Ok(read) = std::fs::read_dir(&dir) else {
            continue;
        };
        for item in read.flatten() {
            let path = item.path();
            let (bytes, last_used) = size_and_time(&path);
            let engine_key = if part == "incremental" {
                crate::builder::incremental::Record::build_tree_of(&path)
            } else {
                (ENGINE_PARTS.contains(&part))
                    .then(|| path.file_stem().map(|s| s.to_string_lossy().into_owned()))
                    .flatten()
            };
            // packages/<distro> holds files to evict one by one.
            if part == "packages" && path.is_dir() {
                for file in walk_files(&path) {
                    let (bytes, last_used) = size_and_time(&file);
                    entries.push(CacheEntry {
                        part,
                        path: file,
                        bytes,
                        last_used,
                        engine_key: None,
                        held: Vec::new(),
                    });
                }
                continue;
            }
            entries.push(CacheEntry {
                part,
                path,
                bytes,
                last_used,
                engine_key,
                held: Vec::new(),
            });
        }
    }
    entries
}

/// Removes `entries`; returns the paths of those the user may not remove: a build container wrote
/// them as root, and only the engine can remove them (`Engine::remove_as_root`).
pub fn remove_entries(entries: &[CacheEntry]) -> std::io::Result<Vec<PathBuf>> {
    let mut root_owned = Vec::new();
    for entry in entries {
        match remove(entry) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                root_owned.push(entry.path.clone());
            }
            Err(e) => {
                return Err(std::io::Error::new(
                    e.kind(),
                    format!("removing {}: {e}", entry.path.display()),
                ));
            }
        }
    }
    Ok(root_owned)
}

/// Removes the package caches' directories that [`remove_entries`] left empty (`packages/<distro>`
/// and apt's `partial/` in it), once `cache clear` removed every file in them. Best effort: a
/// directory that still holds something stays. apt's `partial/` is mode 0700 and owned by apt's
/// user, so a user without root cannot look into it; removing it needs only the parent.
pub fn remove_empty_package_dirs(cache: &CacheDir) {
    remove_empty_dirs_below(&cache.root().join("packages"));
}

/// Removes every empty directory under `dir`, deepest first; `dir` itself stays.
fn remove_empty_dirs_below(dir: &Path) {
    let Ok(read) = std::fs::read_dir(dir) else {
        return;
    };
    for item in read.flatten() {
        if item.file_type().is_ok_and(|t| t.is_dir()) {
            remove_empty_dirs_below(&item.path());
            let _ = std::fs::remove_dir(item.path());
        }
    }
}

fn remove(entry: &CacheEntry) -> std::io::Result<()> {
    let removed = if entry.path.is_dir() {
        std::fs::remove_dir_all(&entry.path)
    } else {
        std::fs::remove_file(&entry.path)
    };
    match removed {
        // Gone already: a step's kept log that went with its step, earlier in the same list.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        removed => removed?,
    }
    // A step's kept log goes with its entry: `<root>/steps/<key>.json` -> `<root>/step-logs/<key>.log`
    // (see `CacheDir::step_log`).
    let root = entry.path.parent().and_then(Path::parent);
    if let (Some(key), Some(root), "steps") = (&entry.engine_key, root, entry.part) {
        let _ = std::fs::remove_file(CacheDir::new(root).step_log(key));
    }
    Ok(())
}

fn walk_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(read) = std::fs::read_dir(dir) else {
        return out;
    };
    for item in read.flatten() {
        let path = item.path();
        if path.is_dir() {
            out.extend(walk_files(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// Bytes under `path` and the newest modification time in it (its last use).
fn size_and_time(path: &Path) -> (u64, SystemTime) {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return (0, SystemTime::UNIX_EPOCH);
    };
    let own_time = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
    if !meta.is_dir() {
        return (meta.len(), own_time);
    }
    let mut bytes = 0;
    let mut newest = own_time;
    for file in walk_files(path) {
        let (b, t) = size_and_time(&file);
        bytes += b;
        newest = newest.max(t);
    }
    (bytes, newest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scans_the_cache_layout() {
        let dir = tempfile::tempdir().unwrap();
        let cache = CacheDir::new(dir.path());
        std::fs::create_dir_all(cache.downloads()).unwrap();
        std::fs::write(cache.download("ab"), vec![0u8; 10]).unwrap();
        std::fs::create_dir_all(cache.packages("debian-12")).unwrap();
        std::fs::write(cache.packages("debian-12").join("gcc.deb"), vec![0u8; 5]).unwrap();
        // What baker learnt about the host is shown, and `cache clear` forgets it.
        std::fs::create_dir_all(cache.host()).unwrap();
        std::fs::write(cache.kvm_verdict(), vec![0u8; 3]).unwrap();
        let entries = scan(&cache);
        assert_eq!(
            super::super::accounting::totals(&entries, &Default::default()),
            vec![("host", 3, 1), ("downloads", 10, 1), ("packages", 5, 1)]
        );
    }

    /// `cache clear` leaves no directory of the package caches behind, apt's `partial/` (mode
    /// 0700) included; a directory still holding a file stays.
    #[test]
    fn a_clear_leaves_no_empty_package_directory() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let cache = CacheDir::new(dir.path());
        for distro in ["debian-12", "centos-6"] {
            let partial = cache.packages(distro).join("partial");
            std::fs::create_dir_all(&partial).unwrap();
            std::fs::write(cache.packages(distro).join("gcc.deb"), b"deb").unwrap();
            std::fs::set_permissions(&partial, std::fs::Permissions::from_mode(0o700)).unwrap();
        }
        let kept = cache.packages("centos-6").join("yum.lock");
        std::fs::write(&kept, b"").unwrap();
        let packages: Vec<CacheEntry> = scan(&cache)
            .into_iter()
            .filter(|e| e.path != kept)
            .collect();
        assert!(remove_entries(&packages).unwrap().is_empty());
        remove_empty_package_dirs(&cache);
        assert!(!cache.packages("debian-12").exists());
        assert!(kept.exists());
        assert!(!cache.packages("centos-6").join("partial").exists());
    }

    /// A step's kept log is counted on its own and goes when its step entry goes.
    #[test]
    fn a_step_entrys_log_goes_with_it() {
        let dir = tempfile::tempdir().unwrap();
        let cache = CacheDir::new(dir.path());
        std::fs::create_dir_all(cache.steps()).unwrap();
        std::fs::create_dir_all(cache.step_logs()).unwrap();
        for key in ["k1", "k2"] {
            std::fs::write(cache.steps().join(format!("{key}.json")), b"{}").unwrap();
            std::fs::write(cache.step_log(key), b"make\n").unwrap();
        }
        let entries = scan(&cache);
        assert_eq!(
            super::super::accounting::totals(&entries, &Default::default()),
            vec![("steps", 4, 2), ("step-logs", 10, 2)]
        );
        let k1: Vec<CacheEntry> = (entries.into_iter())
            .filter(|e| e.engine_key.as_deref() == Some("k1"))
            .collect();
        assert_eq!(k1.len(), 1);
        remove_entries(&k1).unwrap();
        assert!(!cache.step_log("k1").exists());
        assert!(cache.step_log("k2").exists());
        // `cache clear` lists a step before its log, which is gone by then.
        assert!(remove_entries(&scan(&cache)).unwrap().is_empty());
        assert!(!cache.step_log("k2").exists() && !cache.steps().join("k2.json").exists());
    }

    /// An incremental build's record is an entry holding its build tree's own image, and what
    /// `--source-dir` builds learnt of their trees' files is one too: `du` shows them, `prune`
    /// bounds them and `clear` removes them.
    #[test]
    fn incremental_records_hold_their_build_trees_and_stat_caches_count() {
        let dir = tempfile::tempdir().unwrap();
        let cache = CacheDir::new(dir.path());
        std::fs::create_dir_all(cache.incremental()).unwrap();
        std::fs::create_dir_all(cache.stat()).unwrap();
        let record = |image: &str| {
            format!(
                r#"{{"format": 2, "build_key": "k", "image": "{image}", "prefix_key": "p",
                "base_image_id": "sha256:ba5e",
                "tree_sha256": "t", "tree": {{}}, "steps": {{}}}}"#
            )
        };
        let incremental = cache.incremental();
        std::fs::write(
            incremental.join("a.json"),
            record("baker-step:incr-0123-17"),
        )
        .unwrap();
        // Right after the clean build that starts it: a step image, which its step entry holds.
        std::fs::write(incremental.join("b.json"), record("sha256:5e1f")).unwrap();
        std::fs::write(cache.stat().join("tree.json"), b"{}").unwrap();
        let entries = scan(&cache);
        let key_of = |name: &str| {
            (entries.iter())
                .find(|e| e.path.ends_with(name))
                .map(|e| (e.part, e.engine_key.clone()))
        };
        assert_eq!(
            key_of("a.json"),
            Some(("incremental", Some("baker-step:incr-0123-17".into())))
        );
        assert_eq!(key_of("b.json"), Some(("incremental", None)));
        assert_eq!(key_of("tree.json"), Some(("stat", None)));
        remove_entries(&entries).unwrap();
        assert!(scan(&cache).is_empty());
    }
}
