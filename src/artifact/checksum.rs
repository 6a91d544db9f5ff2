//! The `.sha256` file beside every tarball, in `sha256sum` format (`<hex>  <file name>\n`) so
//! that `sha256sum -c mesos-1.0.0-centos-6.6.tar.gz.sha256` checks a download, and the helpers a
//! no-change rebuild uses to re-issue a cached tarball with its checksum.

use std::fs::File;
use std::io::{self, BufReader};
use std::path::{Path, PathBuf};

use flate2::read::GzDecoder;
use sha2::{Digest, Sha256};

use super::ArtifactFile;
use crate::atomic_file::write_atomic;

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

/// Writes `<tarball>.sha256` for a tarball already in place whose sha256 the caller computed
/// (e.g. one copied from the artifact cache) and describes it, counting its entries.
pub fn write_sha256_file(tarball: &Path, sha256: &str) -> io::Result<ArtifactFile> {
    write_sums(tarball, sha256)?;
    let gz = GzDecoder::new(BufReader::with_capacity(1 << 16, File::open(tarball)?));
    let mut entries = 0;
    for entry in tar::Archive::new(gz).entries()? {
        entry?;
        entries += 1;
    }
    Ok(ArtifactFile {
        path: tarball.to_owned(),
        sha256: sha256.to_owned(),
        bytes: std::fs::metadata(tarball)?.len(),
        entries,
    })
}

/// Writes `<tarball>.sha256` atomically.
pub(crate) fn write_sums(tarball: &Path, sha256: &str) -> io::Result<()> {
    let name = tarball.file_name().unwrap_or_default().to_string_lossy();
    write_atomic(
        &checksum_path(tarball),
        format!("{sha256}  {name}\n").as_bytes(),
    )
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use flate2::{Compression, write::GzEncoder};

    use super::*;

    #[test]
    fn a_reissued_tarball_gets_its_checksum_file_and_entry_count() {
        let dir = tempfile::tempdir().unwrap();
        let tarball = dir.path().join("hello-2.10-debian-12.tar.gz");
        let mut builder = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::fast()));
        for name in ["bin/", "bin/hello"] {
            let mut header = tar::Header::new_gnu();
            header.set_size(0);
            builder.append_data(&mut header, name, io::empty()).unwrap();
        }
        let mut file = File::create(&tarball).unwrap();
        file.write_all(&builder.into_inner().unwrap().finish().unwrap())
            .unwrap();

        let sha256 = sha256_file(&tarball).unwrap();
        let described = write_sha256_file(&tarball, &sha256).unwrap();
        assert_eq!(
            (described.entries, described.sha256.as_str()),
            (2, sha256.as_str())
        );
        assert_eq!(described.bytes, std::fs::metadata(&tarball).unwrap().len());
        let sums = std::fs::read_to_string(checksum_path(&tarball)).unwrap();
        assert_eq!(sums, format!("{sha256}  hello-2.10-debian-12.tar.gz\n"));
    }
}
