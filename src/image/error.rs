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

    #[error(
        "the output directory {} (--out) exists and is not a directory; name a directory, or remove the file",
        path.display()
    )]
    OutNotDirectory { path: PathBuf },

    #[error("invalid size `{given}`: {reason}")]
    Size { given: String, reason: String },

    /// The disk of `--size` `size` cannot hold the `tree` bytes of the image's files; without
    /// `--size`, baker would have `picked` a size.
    #[error(
        "--size {} is too small for the image: its files take {}, more than its root file system \
         holds; leave --size out (baker then picks {}) or ask for more",
        crate::image::size::describe(*size),
        crate::byte_size::human(*tree),
        crate::image::size::describe(*picked)
    )]
    TooSmall { size: u64, tree: u64, picked: u64 },

    /// The disk's files (`tree` bytes), once for the disk and once more for each of `copies`, do
    /// not fit in the `free` bytes of the output directory `dir`.
    #[error("{}", no_room(dir, *tree, copies, *free))]
    NoRoom {
        dir: PathBuf,
        tree: u64,
        copies: Vec<crate::image::Format>,
        free: u64,
    },

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

    /// [`ImageError::RemoteEngine`] unless `DOCKER_HOST` names a local engine (a unix socket):
    /// asked before the build an image would start from, so that a remote engine is refused at
    /// once rather than after the build.
    pub fn unless_local_engine() -> Result<(), Self> {
        let host = crate::engine::engine_host();
        if host.starts_with("unix://") || host.starts_with('/') {
            Ok(())
        } else {
            Err(Self::RemoteEngine { host })
        }
    }
}

fn no_room(dir: &std::path::Path, tree: u64, copies: &[crate::image::Format], free: u64) -> String {
    use crate::byte_size::human;
    let (dir, files, free) = (dir.display(), human(tree), human(free));
    if copies.is_empty() {
        return format!(
            "no room for the disk in {dir}: its files take {files} and the file system there has \
             {free} free; free some space, or give an --out on a larger file system"
        );
    }
    let names: Vec<&str> = copies.iter().map(|f| f.name()).collect();
    let all = human(tree * (1 + copies.len() as u64));
    let copies = match names.as_slice() {
        [one] => format!("the copy of them that {one} makes"),
        [init @ .., last] => format!(
            "the copies of them that {} and {last} make",
            init.join(", ")
        ),
        [] => unreachable!("copies is not empty"),
    };
    format!(
        "no room for the disk and its formats in {dir}: its files take {files}, {all} with \
         {copies}, and the file system there has {free} free; free some space, ask for fewer \
         formats, or give an --out on a larger file system"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::Format;

    #[test]
    fn no_room_names_the_copies_the_formats_make_when_they_are_what_does_not_fit() {
        let err = |copies: Vec<Format>| {
            ImageError::NoRoom {
                dir: "/out".into(),
                tree: 400 << 20,
                copies,
                free: 600 << 20,
            }
            .to_string()
        };
        let alone = err(vec![]);
        assert!(
            alone.starts_with("no room for the disk in /out: its files take 400.0 MiB and")
                && alone.contains("has 600.0 MiB free"),
            "{alone}"
        );
        let one = err(vec![Format::Vhd]);
        assert!(
            one.contains(
                "its files take 400.0 MiB, 800.0 MiB with the copy of them that vhd makes,"
            ) && one.contains("ask for fewer formats"),
            "{one}"
        );
        let two = err(vec![Format::Vhd, Format::Qcow2]);
        assert!(
            two.contains("1.2 GiB with the copies of them that vhd and qcow2 make"),
            "{two}"
        );
    }
}
