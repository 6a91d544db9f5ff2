//! The `.sha256` file beside every tarball, in `sha256sum` format (`<hex>  <file name>\n`) so
//! that `sha256sum -c mesos-1.0.0-centos-6.6.tar.gz.sha256` checks a download, and the helpers a
//! no-change rebuild uses to re-issue a cached tarball with its checksum.

use std::fs::File;
use std::io::{self, BufReader};
use std::path::{Path, PathBuf};

use flate2::read::GzDecoder;
use sha2::{Digest, Sha256};

use super::ArtifactFile;
use crate::atomic_file::{copy_atomic, link_if_same, write_atomic, write_atomic_or_link};

/// `<tarball>.sha256`.
pub fn checksum_path(tarball: &Path) -> PathBuf {
    let mut name = tarball.as_os_str().to_owned();
    name.push(".sha256");
    PathBuf::from(name)
}

/// Lowercase hex sha256 of a file's bytes.
pub fn sha256_file(path: &Path) -> io::Result<String> {
    let mut hasher = Sha256::new();
    io::copy(
        &mut BufReader::with_capacity(1 << 16, File::open(path)?),
        &mut hasher,
    )?;
    Ok(hex::encode(hasher.finalize()))
}

/// Re-issues `cached`, a tarball from the artifact cache recorded with `sha256`, at `target` with
/// its `.sha256`, and describes it. Where `previous` (the same name in the output set being
/// replaced) holds these bytes, it and its `.sha256` are linked instead: a no-change rebuild
/// writes nothing it does not have to. Otherwise `cached` is checked against `sha256` and copied;
/// `None` when it does not match (a damaged cache). `entries` is the tarball's entry count when the
/// cache recorded it; otherwise the tarball is read to count them.
pub fn reissue(
    cached: &Path,
    sha256: &str,
    entries: Option<usize>,
    target: &Path,
    previous: &Path,
) -> io::Result<Option<ArtifactFile>> {
    let same = |p: &Path| Ok(sha256_file(p)? == sha256);
    if !link_if_same(previous, target, same) {
        if !same(cached)? {
            return Ok(None);
        }
        copy_atomic(cached, target)?;
    }
    write_atomic_or_link(
        &checksum_path(target),
        sums_line(target, sha256).as_bytes(),
        &checksum_path(previous),
    )?;
    let entries = match entries {
        Some(n) => n,
        None => count_entries(target)?,
    };
    Ok(Some(ArtifactFile {
        path: target.to_owned(),
        sha256: sha256.to_owned(),
        bytes: std::fs::metadata(target)?.len(),
        entries,
    }))
}

/// The number of entries in a `.tar.gz`.
fn count_entries(tarball: &Path) -> io::Result<usize> {
    let gz = GzDecoder::new(BufReader::with_capacity(1 << 16, File::open(tarball)?));
    let mut entries = 0;
    for entry in tar::Archive::new(gz).entries()? {
        entry?;
        entries += 1;
    }
    Ok(entries)
}

/// Writes `<tarball>.sha256` atomically.
pub(crate) fn write_sums(tarball: &Path, sha256: &str) -> io::Result<()> {
    write_atomic(
        &checksum_path(tarball),
        sums_line(tarball, sha256).as_bytes(),
    )
}

/// The content of `<tarball>.sha256`: `<hex>  <file name>\n`.
fn sums_line(tarball: &Path, sha256: &str) -> String {
    let name = tarball.file_name().unwrap_or_default().to_string_lossy();
    format!("{sha256}  {name}\n")
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use flate2::{Compression, write::GzEncoder};

    use super::*;

    #[test]
    fn a_reissued_tarball_gets_its_checksum_file_and_entry_count_and_takes_over_an_identical_one() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let name = "hello-2.10-debian-12.tar.gz";
        let cached = dir.path().join(name);
        let mut builder = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::fast()));
        for name in ["bin/", "bin/hello"] {
            let mut header = tar::Header::new_gnu();
            header.set_size(0);
            builder.append_data(&mut header, name, io::empty()).unwrap();
        }
        let mut file = File::create(&cached).unwrap();
        file.write_all(&builder.into_inner().unwrap().finish().unwrap())
            .unwrap();
        let sha256 = sha256_file(&cached).unwrap();
        let ino = |p: &Path| std::fs::metadata(p).unwrap().ino();
        let set = |n: &str| {
            let d = dir.path().join(n);
            std::fs::create_dir(&d).unwrap();
            d.join(name)
        };

        // No previous set: copied, its entries counted.
        let (first, none) = (set("first"), dir.path().join("none").join(name));
        let described = reissue(&cached, &sha256, None, &first, &none)
            .unwrap()
            .unwrap();
        assert_eq!(
            (described.entries, described.sha256.as_str()),
            (2, sha256.as_str())
        );
        assert_eq!(described.bytes, std::fs::metadata(&cached).unwrap().len());
        assert_ne!(
            ino(&first),
            ino(&cached),
            "a copy: the cache keeps its own file"
        );
        let sums = std::fs::read_to_string(checksum_path(&first)).unwrap();
        assert_eq!(sums, format!("{sha256}  {name}\n"));

        // The previous set holds the same bytes: it and its .sha256 are taken over.
        let second = set("second");
        let described = reissue(&cached, &sha256, Some(2), &second, &first)
            .unwrap()
            .unwrap();
        assert_eq!(described.entries, 2);
        assert_eq!(ino(&second), ino(&first));
        assert_eq!(ino(&checksum_path(&second)), ino(&checksum_path(&first)));

        // A previous file of the same size with other bytes is not.
        let mut bytes = std::fs::read(&second).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        let tampered = set("tampered");
        std::fs::write(&tampered, &bytes).unwrap();
        let third = set("third");
        reissue(&cached, &sha256, Some(2), &third, &tampered)
            .unwrap()
            .unwrap();
        assert_ne!(ino(&third), ino(&tampered));
        assert_eq!(sha256_file(&third).unwrap(), sha256);

        // A damaged cache copy is refused, not re-issued.
        std::fs::write(&cached, &bytes).unwrap();
        let fourth = set("fourth");
        assert!(
            reissue(&cached, &sha256, Some(2), &fourth, &none)
                .unwrap()
                .is_none()
        );
        assert!(!fourth.exists());
    }
}
