//! What can go wrong while making or booting a disk image, each naming the image, container, file or
//! step that failed, and for failed commands their exit code and the tail of their output.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error(
        "recipe {recipe} has no [image] layer: add one (kernel, bootloader, init, runtime_packages; see recipes/README.md)"
    )]
    NoImageLayer { recipe: String },

    #[error(transparent)]
    Engine(#[from] crate::engine::EngineError),

    #[error(transparent)]
    CacheLock(#[from] crate::cache::CacheLockError),

    #[error("{what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },

    #[error(
        "the image {image} is not in the local engine and cannot be pulled{}",
        how_to_make.as_ref().map(|h| format!("; make it with: {h}")).unwrap_or_default()
    )]
    MissingImage {
        image: String,
        how_to_make: Option<String>,
    },

    /// The recipe's base image is not here and the engine's pull said why.
    #[error(transparent)]
    BaseImage(Box<crate::builder::BuildError>),

    #[error("{what} failed with exit code {code}; its last lines:\n{tail}")]
    Failed {
        what: String,
        code: i64,
        tail: String,
    },

    #[error("{what}: {}: {reason}", path.display())]
    Input {
        what: &'static str,
        path: PathBuf,
        reason: String,
    },

    #[error("invalid size `{given}`: {reason}")]
    Size { given: String, reason: String },

    #[error("unknown image format `{given}`; expected one of raw, ami, qcow2, vhd, gce")]
    UnknownFormat { given: String },

    #[error(
        "no room for the disk in {}: its files take {} and the file system there has {} free; free some space, or give an --out on a larger file system (each vhd or qcow2, and an ami beside a raw, needs about as much again)",
        dir.display(), crate::cache::usage::human(*need), crate::cache::usage::human(*free)
    )]
    NoRoom { dir: PathBuf, need: u64, free: u64 },

    #[error(transparent)]
    Format(#[from] super::format::FormatError),

    /// A format writer failed after others had finished; `image.json` lists those.
    #[error("{source}; image.json lists the formats that were written ({written}), and {rerun}")]
    FormatsUnfinished {
        source: super::format::FormatError,
        written: String,
        /// What running again does.
        rerun: String,
    },

    #[error(
        "the disk image engine is remote ({host}): `baker image` binds a work directory into its tools container, so it needs a local engine"
    )]
    RemoteEngine { host: String },

    #[error("{0}")]
    Boot(String),

    #[error("interrupted")]
    Interrupted,
}

impl ImageError {
    pub fn io(what: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io { what, path, source }
    }
}
