//! Files that appear complete or not at all. A partial file is written beside its target under a
//! hidden name, fsynced, renamed over the target and the directory fsynced, so that after a crash
//! or a failed stage the final name either holds the old file or the whole new one — never a
//! prefix that a later stage would mistake for a finished tarball or checksum.
//!
//! An output set rebuilt unchanged takes over the files of the set it replaces ([`link_if_same`],
//! [`write_atomic_or_link`]): a hard link to a file already on disk costs no write and no wait for
//! the disk, where a copy and its fsync can take a second on a machine busy writing elsewhere.

use std::fs::{self, File, Permissions};
use std::io::{self, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use tempfile::NamedTempFile;

/// The directory `target` lives in (`.` for a bare file name).
pub fn parent_dir(target: &Path) -> &Path {
    match target.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

/// A new partial file in `target`'s directory, created with mode 0666 less the umask (like a
/// plain `File::create`, unlike tempfile's default 0600). Dropped without [`commit`], it is removed.
pub fn partial_file(target: &Path) -> io::Result<NamedTempFile> {
    let name = target
        .file_name()
        .map_or_else(|| "artifact".into(), |n| n.to_string_lossy().into_owned());
    let prefix = format!(".{name}.");
    tempfile::Builder::new()
        .prefix(&prefix)
        .suffix(".partial")
        .permissions(Permissions::from_mode(0o666))
        .tempfile_in(parent_dir(target))
}

/// Flushes `partial` to disk, renames it to `target` and makes the rename durable.
pub fn commit(partial: NamedTempFile, target: &Path) -> io::Result<()> {
    partial.as_file().sync_all()?;
    partial.persist(target).map_err(|e| e.error)?;
    File::open(parent_dir(target))?.sync_all()
}

/// Writes `bytes` to `target` atomically.
pub fn write_atomic(target: &Path, bytes: &[u8]) -> io::Result<()> {
    fs::create_dir_all(parent_dir(target))?;
    let mut partial = partial_file(target)?;
    partial.write_all(bytes)?;
    commit(partial, target)
}

/// Writes `bytes` to `target` atomically, or hard-links `previous` there when it already holds
/// exactly these bytes.
pub fn write_atomic_or_link(target: &Path, bytes: &[u8], previous: &Path) -> io::Result<()> {
    let same = |p: &Path| Ok(fs::metadata(p)?.len() == bytes.len() as u64 && fs::read(p)? == bytes);
    if link_if_same(previous, target, same) {
        return Ok(());
    }
    write_atomic(target, bytes)
}

/// Hard-links `previous` at `target` when `same(previous)` says it holds what `target` must; false,
/// with nothing done, when it does not, is missing, or lives on another file system. Only for
/// files that are replaced, never modified in place: the two names share one file.
pub fn link_if_same(
    previous: &Path,
    target: &Path,
    same: impl FnOnce(&Path) -> io::Result<bool>,
) -> bool {
    matches!(same(previous), Ok(true)) && fs::hard_link(previous, target).is_ok()
}

/// Copies `from` to `to` so that `to` appears only when complete (the mode is not copied).
pub fn copy_atomic(from: &Path, to: &Path) -> io::Result<()> {
    fs::create_dir_all(parent_dir(to))?;
    let mut partial = partial_file(to)?;
    io::copy(&mut File::open(from)?, partial.as_file_mut())?;
    commit(partial, to)
}

/// Removes `path` if it exists.
pub fn remove_if_exists(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// The random id kept in `path` (a cache's, a state directory's), written first when there is
/// none: 32 hex digits from the kernel's random source. Two processes racing to write it agree on
/// the one written first.
pub fn read_or_create_id(path: &Path) -> io::Result<String> {
    if let Ok(id) = fs::read_to_string(path) {
        if !id.trim().is_empty() {
            return Ok(id.trim().to_owned());
        }
    }
    let mut random = [0u8; 16];
    File::open("/dev/urandom")?.read_exact(&mut random)?;
    let mut partial = partial_file(path)?;
    writeln!(partial, "{}", hex::encode(random))?;
    partial.as_file().sync_all()?;
    // Another process may have written it meanwhile; then its id is the one.
    let _ = partial.persist_noclobber(path);
    Ok(fs::read_to_string(path)?.trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_atomic_replaces_the_file_and_leaves_no_partial_behind() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("sub").join("x.txt");
        write_atomic(&target, b"one").unwrap();
        write_atomic(&target, b"two").unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"two");
        let names: Vec<_> = fs::read_dir(dir.path().join("sub")).unwrap().collect();
        assert_eq!(names.len(), 1, "only the target remains");
        let plain = dir.path().join("plain");
        File::create(&plain).unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode();
        assert_eq!(
            mode(&target),
            mode(&plain),
            "same mode as File::create gives"
        );
    }

    #[test]
    fn copy_atomic_copies_the_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let (from, to) = (dir.path().join("a"), dir.path().join("cache/b"));
        fs::write(&from, b"tarball").unwrap();
        copy_atomic(&from, &to).unwrap();
        assert_eq!(fs::read(&to).unwrap(), b"tarball");
    }

    #[test]
    fn an_identical_previous_file_is_linked_and_a_different_one_rewritten() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let previous = dir.path().join("old/plan.json");
        write_atomic(&previous, b"same").unwrap();
        let linked = dir.path().join("new/plan.json");
        fs::create_dir(dir.path().join("new")).unwrap();
        write_atomic_or_link(&linked, b"same", &previous).unwrap();
        let ino = |p: &Path| fs::metadata(p).unwrap().ino();
        assert_eq!(
            ino(&linked),
            ino(&previous),
            "the same file under two names"
        );
        let rewritten = dir.path().join("new/manifest.json");
        write_atomic_or_link(&rewritten, b"other", &previous).unwrap();
        assert_eq!(fs::read(&rewritten).unwrap(), b"other");
        assert_ne!(ino(&rewritten), ino(&previous));
        assert_eq!(
            fs::read(&previous).unwrap(),
            b"same",
            "the previous file is untouched"
        );
        let missing = dir.path().join("new/sums");
        write_atomic_or_link(&missing, b"x", &dir.path().join("old/none")).unwrap();
        assert_eq!(fs::read(&missing).unwrap(), b"x");
    }

    #[test]
    fn a_dropped_partial_file_disappears() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("x.tar.gz");
        let mut partial = partial_file(&target).unwrap();
        partial.write_all(b"half").unwrap();
        drop(partial);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
