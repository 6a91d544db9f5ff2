//! Where the clusters' states are kept: `$BAKER_STATE_DIR`, else the user's state directory, always
//! as an absolute path (see [`absolute_root`]).

use std::path::{Path, PathBuf};

use super::state::StateDir;

impl StateDir {
    /// `$BAKER_STATE_DIR`, else `clusters` in the user's state directory
    /// (`~/.local/state/baker/clusters`), made absolute against the current directory (see
    /// [`absolute_root`]).
    pub fn default_root() -> PathBuf {
        let chosen = match std::env::var_os("BAKER_STATE_DIR") {
            Some(dir) => PathBuf::from(dir),
            None => directories::ProjectDirs::from("", "", "baker")
                .and_then(|d| d.state_dir().map(Path::to_owned))
                .unwrap_or_else(|| PathBuf::from(".baker-state"))
                .join("clusters"),
        };
        absolute_root(chosen)
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
