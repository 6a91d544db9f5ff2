//! Where the clusters' states are kept: `$BAKER_STATE_DIR`, else the user's state directory, always
//! as an absolute path (see [`absolute_root`]). A `$BAKER_STATE_DIR` set but empty is refused
//! ([`EmptyStateRoot`]), as an empty `$BAKER_CACHE_DIR` is: taken as it is, it would mean the
//! current directory, where `destroy` would make its `.locks`.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use super::state::StateDir;

/// `$BAKER_STATE_DIR` is set but empty.
#[derive(Debug, thiserror::Error)]
#[error(
    "$BAKER_STATE_DIR is an empty path: set it to the folder the clusters' states are kept in, \
     or unset it for the default, {}",
    default.display()
)]
pub struct EmptyStateRoot {
    /// The state root without the variable.
    pub default: PathBuf,
}

impl StateDir {
    /// `$BAKER_STATE_DIR`, else `clusters` in the user's state directory
    /// (`~/.local/state/baker/clusters`), made absolute against the current directory (see
    /// [`absolute_root`]); refused when the variable is set but empty.
    pub fn default_root() -> Result<PathBuf, EmptyStateRoot> {
        root_from(std::env::var_os("BAKER_STATE_DIR"))
    }
}

/// The state root that `$BAKER_STATE_DIR`'s value `var` chooses.
fn root_from(var: Option<OsString>) -> Result<PathBuf, EmptyStateRoot> {
    let default = || {
        directories::ProjectDirs::from("", "", "baker")
            .and_then(|d| d.state_dir().map(Path::to_owned))
            .unwrap_or_else(|| PathBuf::from(".baker-state"))
            .join("clusters")
    };
    match var {
        Some(dir) if dir.is_empty() => Err(EmptyStateRoot {
            default: absolute_root(default()),
        }),
        Some(dir) => Ok(absolute_root(PathBuf::from(dir))),
        None => Ok(absolute_root(default())),
    }
}

/// The state root `chosen` as an absolute path: the paths a launch derives from it are handed to
/// other programs that read them from elsewhere (`qemu-img create -b` resolves a relative backing
/// file against the overlay's folder, and Docker refuses a relative bind), and recorded in the
/// state (a VM's pidfile), which a command run from another directory reads. Only the current
/// directory is prepended: no symbolic link is resolved. Where that directory cannot be read, the
/// root stays as it was given.
fn absolute_root(chosen: PathBuf) -> PathBuf {
    std::path::absolute(&chosen).unwrap_or(chosen)
}

#[cfg(test)]
#[path = "state_root_tests.rs"]
mod tests;
