//! The artifact stage: the install step's output tree becomes one byte-reproducible `.tar.gz`, its
//! `.sha256` and a manifest that tells people and tools what went into it.
//!
//! The build stage copies `/baker/dest` out of the container as Docker's archive endpoint returns
//! it (an uncompressed tar, every entry under `dest/`) and hands the stream to
//! [`write_reproducible`], which rewrites it with sorted names, owner 0, clamped times and a gzip
//! header without time or name, so that two clean builds of one recipe give one sha256 on any
//! machine (DESIGN.md, Contracts: Reproducibility). The time that clamping uses is the newest source
//! file's, or [`epoch_from_env`]'s when the caller sets `$SOURCE_DATE_EPOCH`. The [`Manifest`] is deliberately *not*
//! reproducible: it records cache hits and durations, which differ between two builds of the same
//! bytes.
//!
//! Every file this stage writes appears under its final name only when complete and fsynced.

mod ccache;
mod checksum;
mod epoch;
mod manifest;
mod spool;
mod tarball;

use std::io;
use std::path::PathBuf;

use thiserror::Error;

pub use crate::atomic_file::copy_atomic;
pub use ccache::{CcacheStats, parse_ccache_stats};
pub(crate) use checksum::write_sums;
pub use checksum::{checksum_path, reissue, sha256_file};
pub use epoch::{epoch_from_env, parse_source_date_epoch};
pub use manifest::{
    ArtifactInfo, BaseImageInfo, IncrementalInfo, MANIFEST_FILE, Manifest, Package, RecipeInfo,
    SourceInfo, StepRecord, parse_package_list, tarball_named_in,
};
pub use tarball::{ArtifactFile, GZIP_LEVEL, write_reproducible};

#[derive(Debug, Error)]
pub enum ArtifactError {
    #[error("cannot write {}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot read the output tree's tar stream for {}", out.display())]
    ReadStream {
        out: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("the output tree's tar stream for {} is invalid at `{entry}`: {reason}", out.display())]
    BadEntry {
        out: PathBuf,
        entry: String,
        reason: String,
    },
    #[error(
        "the output tree's tar stream for {} ends early (no end-of-archive marker); \
         was the copy out of the container cut short?",
        out.display()
    )]
    Truncated { out: PathBuf },
    /// The writing was asked to [`Stop`](crate::stop::Stop) (the build interrupted).
    #[error("writing {} was stopped", out.display())]
    Stopped { out: PathBuf },
}
