//! Where the finished raw disk becomes the requested output files. The format writers (raw, ami,
//! vhd, qcow2, gce: `src/image/format/`) plug in at [`write_format`]; until they land this writes
//! `raw` only, by moving the disk into place, and refuses the others by name.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use super::ImageError;
use crate::artifact::{checksum_path, sha256_file};
use crate::progress::Reporter;

/// An output format of `baker image`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Format {
    Raw,
    Ami,
    Vhd,
    Qcow2,
    Gce,
}

impl Format {
    pub const ALL: [Format; 5] = [
        Format::Raw,
        Format::Ami,
        Format::Vhd,
        Format::Qcow2,
        Format::Gce,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Format::Raw => "raw",
            Format::Ami => "ami",
            Format::Vhd => "vhd",
            Format::Qcow2 => "qcow2",
            Format::Gce => "gce",
        }
    }

    /// The file name ending (`ami` is a raw disk too, named apart from `raw`).
    pub fn extension(self) -> &'static str {
        match self {
            Format::Raw => "raw",
            Format::Ami => "ami.raw",
            Format::Vhd => "vhd",
            Format::Qcow2 => "qcow2",
            Format::Gce => "tar.gz",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Format {
    type Err = ImageError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Format::ALL
            .into_iter()
            .find(|f| f.name() == s.trim())
            .ok_or_else(|| ImageError::UnknownFormat {
                given: s.to_owned(),
            })
    }
}

/// `raw,qcow2` -> the formats, each once, in the order given.
pub fn parse_formats(list: &str) -> Result<Vec<Format>, ImageError> {
    let mut formats = Vec::new();
    for name in list.split(',').filter(|n| !n.trim().is_empty()) {
        let format: Format = name.parse()?;
        if !formats.contains(&format) {
            formats.push(format);
        }
    }
    if formats.is_empty() {
        return Err(ImageError::UnknownFormat {
            given: list.to_owned(),
        });
    }
    Ok(formats)
}

/// A finished output file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub format: Format,
    pub path: PathBuf,
    pub sha256: String,
    pub bytes: u64,
}

/// Writes the raw disk at `raw` as `format` to `out` and `out.sha256`. `last` says no other format
/// reads `raw` after this one, so it may be consumed.
pub fn write_format(
    format: Format,
    raw: &Path,
    out: &Path,
    last: bool,
    _reporter: &dyn Reporter,
) -> Result<Written, ImageError> {
    if format != Format::Raw {
        return Err(ImageError::FormatUnavailable {
            format: format.name().to_owned(),
        });
    }
    if last {
        std::fs::rename(raw, out).map_err(ImageError::io("moving the disk to", out))?;
    } else {
        std::fs::copy(raw, out).map_err(ImageError::io("copying the disk to", out))?;
    }
    let sha256 = sha256_file(out).map_err(ImageError::io("reading", out))?;
    let bytes = std::fs::metadata(out)
        .map_err(ImageError::io("reading", out))?
        .len();
    write_sha256_file(out, &sha256)?;
    Ok(Written {
        format,
        path: out.to_owned(),
        sha256,
        bytes,
    })
}

fn write_sha256_file(path: &Path, sha256: &str) -> Result<(), ImageError> {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let target = checksum_path(path);
    crate::atomic_file::write_atomic(&target, format!("{sha256}  {name}\n").as_bytes())
        .map_err(ImageError::io("writing", &target))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_lists_parse_once_each_in_order() {
        assert_eq!(
            parse_formats("raw,qcow2,raw").unwrap(),
            [Format::Raw, Format::Qcow2]
        );
        assert!(parse_formats("raw,vmdk").is_err());
        assert!(parse_formats("").is_err());
        assert_eq!(Format::Gce.extension(), "tar.gz");
    }
}
