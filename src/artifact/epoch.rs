//! Where `SOURCE_DATE_EPOCH` comes from. The tarball clamps every mtime to it, so it must be a
//! property of the source, not of the build machine or the hour: for a release archive, the
//! newest mtime of any entry in it (the moment the release was rolled); for a local tree, the
//! caller's `$SOURCE_DATE_EPOCH` (<https://reproducible-builds.org/specs/source-date-epoch/>).
//!
//! Only gzip is decompressed here: bzip2 and xz would need crates baker does not carry, so for
//! those archives [`open_maybe_gzip`] says so (kind `Unsupported`) and the caller decompresses,
//! e.g. inside the build container, and feeds the plain tar stream to [`newest_mtime_in_tar`].

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use flate2::read::MultiGzDecoder;
use tar::{Archive, EntryType};

/// The newest mtime of any entry (pax global headers aside) in an uncompressed tar stream.
/// An archive without entries is an error: it has no date to give.
pub fn newest_mtime_in_tar(r: impl Read) -> io::Result<u64> {
    let mut newest = None;
    for entry in Archive::new(r).entries()? {
        let entry = entry?;
        if entry.header().entry_type() == EntryType::XGlobalHeader {
            continue;
        }
        newest = newest.max(Some(entry.header().mtime()?));
    }
    newest.ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "the archive has no entries"))
}

/// `path` as a tar stream: gunzipped when it starts with gzip's magic bytes, as is otherwise.
/// bzip2, xz and zstd archives give an error of kind `Unsupported` naming the format.
pub fn open_maybe_gzip(path: &Path) -> io::Result<Box<dyn Read>> {
    let mut reader = BufReader::with_capacity(1 << 16, File::open(path).map_err(at(path))?);
    let magic = reader.fill_buf().map_err(at(path))?;
    let compressed_with = |tool: &str| {
        io::Error::new(
            io::ErrorKind::Unsupported,
            format!(
                "{} is {tool}-compressed and baker only decompresses gzip itself; decompress it \
                 (`{tool} -dc`) and read the tar stream with newest_mtime_in_tar",
                path.display()
            ),
        )
    };
    if magic.starts_with(&[0x1f, 0x8b]) {
        Ok(Box::new(MultiGzDecoder::new(reader)))
    } else if magic.starts_with(b"BZh") {
        Err(compressed_with("bzip2"))
    } else if magic.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        Err(compressed_with("xz"))
    } else if magic.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Err(compressed_with("zstd"))
    } else {
        Ok(Box::new(reader))
    }
}

/// The `SOURCE_DATE_EPOCH` of a release archive (`.tar.gz` or plain `.tar`): its newest entry.
pub fn source_date_epoch_of_archive(path: &Path) -> io::Result<u64> {
    newest_mtime_in_tar(open_maybe_gzip(path)?).map_err(at(path))
}

/// `$SOURCE_DATE_EPOCH` if set. A value that is set but not a number of seconds is an error, as
/// the specification asks, rather than a silently unreproducible build.
pub fn epoch_from_env() -> io::Result<Option<u64>> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(value) => parse_source_date_epoch(&value).map(Some),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => Err(bad_epoch("not valid Unicode")),
    }
}

/// Parses a `SOURCE_DATE_EPOCH` value: decimal seconds since 1970, surrounding whitespace allowed.
pub fn parse_source_date_epoch(value: &str) -> io::Result<u64> {
    let digits = value.trim();
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad_epoch(&format!("`{value}` is not a number of seconds")));
    }
    digits
        .parse()
        .map_err(|e| bad_epoch(&format!("`{value}`: {e}")))
}

fn bad_epoch(why: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("SOURCE_DATE_EPOCH is invalid: {why}"),
    )
}

fn at(path: &Path) -> impl Fn(io::Error) -> io::Error + '_ {
    move |e| io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use flate2::{Compression, write::GzEncoder};

    use super::*;

    fn archive(mtimes: &[u64]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (i, mtime) in mtimes.iter().enumerate() {
            let mut header = tar::Header::new_ustar();
            header.set_mtime(*mtime);
            header.set_size(3);
            builder
                .append_data(&mut header, format!("hello-2.10/f{i}"), &b"abc"[..])
                .unwrap();
        }
        builder.into_inner().unwrap()
    }

    #[test]
    fn newest_mtime_is_the_maximum_over_entries() {
        let tar = archive(&[1_416_000_000, 1_416_843_000, 1_400_000_000]);
        assert_eq!(newest_mtime_in_tar(&tar[..]).unwrap(), 1_416_843_000);
        let empty = archive(&[]);
        assert_eq!(
            newest_mtime_in_tar(&empty[..]).unwrap_err().kind(),
            io::ErrorKind::InvalidData
        );
    }

    #[test]
    fn gzip_and_plain_archives_are_read_and_bzip2_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let tar = archive(&[5, 9, 7]);
        let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
        gz.write_all(&tar).unwrap();
        std::fs::write(dir.path().join("a.tar.gz"), gz.finish().unwrap()).unwrap();
        std::fs::write(dir.path().join("a.tar"), &tar).unwrap();
        std::fs::write(dir.path().join("a.tar.bz2"), b"BZh91AY&SY").unwrap();
        assert_eq!(
            source_date_epoch_of_archive(&dir.path().join("a.tar.gz")).unwrap(),
            9
        );
        assert_eq!(
            source_date_epoch_of_archive(&dir.path().join("a.tar")).unwrap(),
            9
        );
        let err = source_date_epoch_of_archive(&dir.path().join("a.tar.bz2"))
            .err()
            .unwrap();
        assert_eq!(err.kind(), io::ErrorKind::Unsupported);
        assert!(
            err.to_string().contains("a.tar.bz2 is bzip2-compressed"),
            "{err}"
        );
        let missing = source_date_epoch_of_archive(&dir.path().join("none.tar")).unwrap_err();
        assert!(missing.to_string().contains("none.tar"), "{missing}");
    }

    #[test]
    fn source_date_epoch_values_must_be_plain_seconds() {
        assert_eq!(
            parse_source_date_epoch("1700000000").unwrap(),
            1_700_000_000
        );
        assert_eq!(parse_source_date_epoch(" 42\n").unwrap(), 42);
        for bad in ["", "-1", "1.5", "yesterday", "99999999999999999999999"] {
            assert!(parse_source_date_epoch(bad).is_err(), "{bad:?}");
        }
    }
}
