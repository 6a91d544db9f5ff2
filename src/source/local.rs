//! Files already on this machine: a mirror directory's copy of a source, copied into the cache's
//! tmp directory and hashed on the way (so the mirror can be a slow or shared mount and is never
//! trusted in place), and the re-hash of a cached download before it is used again.

use std::io::{self, Read, Write};
use std::path::Path;

use sha2::{Digest, Sha256};

use super::partial::{Failure, Partial, Staged};
use crate::progress::{Event, Reporter};

/// Copies `from` into `partial`. A file the mirror does not have, or cannot give, is a
/// [`Failure::Source`]; only failing to write the copy stops the fetch.
pub(crate) fn copy(
    from: &Path,
    partial: Partial,
    reporter: &dyn Reporter,
) -> Result<Staged, Failure> {
    let source = |e: io::Error| match e.kind() {
        io::ErrorKind::NotFound => match from.parent() {
            Some(dir) if !dir.is_dir() => Failure::Source(format!(
                "the mirror folder {} does not exist",
                dir.display()
            )),
            _ => Failure::Source("not found in this mirror".into()),
        },
        _ => Failure::Source(e.to_string()),
    };
    let local = |e| Failure::Local(partial.path().to_owned(), e);
    let mut src = std::fs::File::open(from).map_err(source)?;
    let total = src.metadata().map_err(source)?.len();
    reporter.report(Event::DownloadStarted {
        url: from.display().to_string(),
        total: Some(total),
    });
    let mut out = std::fs::File::create(partial.path()).map_err(local)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0; 256 * 1024];
    let mut bytes = 0;
    loop {
        let n = src.read(&mut buf).map_err(source)?;
        if n == 0 {
            break;
        }
        out.write_all(&buf[..n]).map_err(local)?;
        hasher.update(&buf[..n]);
        bytes += n as u64;
    }
    drop(out);
    Ok(Staged {
        partial,
        sha256: hex::encode(hasher.finalize()),
        bytes,
        resumed_from: 0,
    })
}

/// The sha256 and size of the file at `path`.
pub(crate) fn hash_file(path: &Path) -> io::Result<(String, u64)> {
    let mut hasher = Sha256::new();
    let bytes = io::copy(&mut std::fs::File::open(path)?, &mut hasher)?;
    Ok((hex::encode(hasher.finalize()), bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::Silent;

    #[test]
    fn a_missing_file_is_the_mirror_s_failure_not_the_cache_s() {
        let dir = tempfile::tempdir().unwrap();
        let partial = Partial::scratch(dir.path(), "k").unwrap();
        match copy(&dir.path().join("absent"), partial, &Silent) {
            Err(Failure::Source(why)) => assert!(why.contains("not found"), "{why}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_copy_carries_the_digest_of_its_bytes() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f"), b"abc").unwrap();
        let partial = Partial::scratch(&dir.path().join("tmp"), "k").unwrap();
        let staged = copy(&dir.path().join("f"), partial, &Silent).unwrap();
        let abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        assert_eq!((staged.sha256.as_str(), staged.bytes), (abc, 3));
        assert_eq!(std::fs::read(staged.partial.path()).unwrap(), b"abc");
        assert_eq!(hash_file(&dir.path().join("f")).unwrap().0, abc);
    }
}
