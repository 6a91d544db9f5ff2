//! What can go wrong while writing an image format, each error naming the file concerned.

use std::io;
use std::path::{Path, PathBuf};

use thiserror::Error;

#[derive(Debug, Error)]
pub enum FormatError {
    /// `hint` is `recipe::error::did_you_mean`'s.
    #[error("unknown image format `{given}`; expected one of raw, ami, qcow2, vhd, gce{hint}")]
    UnknownFormat { given: String, hint: String },
    /// A format list naming none (`--format ,`).
    #[error(
        "`{given}` names no format; expected one or more of raw, ami, qcow2, vhd, gce, \
         comma-separated"
    )]
    NoFormat { given: String },
    /// A format list with an empty item (`raw,,vhd`) at `position` (from 1); `without` is the
    /// list without its empty items.
    #[error(
        "`{given}` has an empty item (the {}): name a format between every two commas{}",
        ordinal(*position),
        if without.is_empty() { String::new() } else { format!(", e.g. `{}`", without.join(",")) }
    )]
    EmptyItem {
        given: String,
        position: usize,
        without: Vec<String>,
    },
    #[error("cannot read the raw disk {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot write {}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "{} is {size} bytes; Azure takes a fixed VHD whose size is a whole number of MiB from \
         20 MiB to 32 TiB: make the raw disk such a size (e.g. `--size` in MiB)",
        path.display()
    )]
    VhdSize { path: PathBuf, size: u64 },
    #[error(
        "{} is {size} bytes; GCE takes a disk whose size is a whole number of GiB: make the raw \
         disk such a size (e.g. `--size` in GiB)",
        path.display()
    )]
    GceSize { path: PathBuf, size: u64 },
    #[error("compressing {} failed: {reason}", path.display())]
    Compress { path: PathBuf, reason: String },
    /// The writers were asked to [`Stop`](crate::stop::Stop).
    #[error("interrupted")]
    Stopped,
}

/// `1st`, `2nd`, `3rd`, `4th`… `11th`, `21st`.
fn ordinal(n: usize) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

impl From<crate::stop::Stopped> for FormatError {
    fn from(_: crate::stop::Stopped) -> Self {
        FormatError::Stopped
    }
}

impl FormatError {
    /// Maps an I/O error on the raw disk `path`.
    pub fn read(path: &Path) -> impl FnOnce(io::Error) -> FormatError + '_ {
        move |source| FormatError::Read {
            path: path.to_owned(),
            source,
        }
    }

    /// Maps an I/O error on the output `path`.
    pub fn write(path: &Path) -> impl FnOnce(io::Error) -> FormatError + '_ {
        move |source| FormatError::Write {
            path: path.to_owned(),
            source,
        }
    }
}
