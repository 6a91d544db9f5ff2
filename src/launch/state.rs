//! A cluster's state file: what `baker launch` created and where, so that `status`, `login`,
//! `logs`, `destroy` and `launch --resume` work from any new shell. One directory per cluster under
//! the state root (`$BAKER_STATE_DIR`, else the user's state directory), holding `state.json`
//! (written atomically after every change), `plan.json` (the plan it was launched from) and
//! `secret` (mode 0600; the state file only refers to it, so that no secret is printed by `status`
//! or copied with the state). Beside the clusters, `.locks/` holds each one's launch lock (see
//! [`super::launch_lock`]).

use std::collections::BTreeMap;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::launch_lock::LaunchLock;
use crate::atomic_file::write_atomic;
use crate::recipe::RoleKind;

/// `state.json`'s text.
fn state_text(state: &ClusterState) -> String {
    let mut text = serde_json::to_string_pretty(state).expect("a state always serialises");
    text.push('\n');
    text
}

/// A cluster's state file, in its directory.
pub const STATE_FILE: &str = "state.json";

/// The version of `state.json`'s shape.
pub const STATE_FORMAT: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("no cluster named `{name}` (state directory {}); `baker clusters` lists them", dir.display())]
    Unknown { name: String, dir: PathBuf },
    #[error("a cluster named `{name}` exists already (state in {}); `baker destroy {name}` removes it, or choose another name", dir.display())]
    Exists { name: String, dir: PathBuf },
    #[error(
        "`{name}` is not a valid cluster name: use letters, digits and `-`, at most 40, starting with a letter"
    )]
    BadName { name: String },
    #[error(
        "cluster `{name}` is busy: {}; wait for it to finish (`baker status {name}` shows the cluster meanwhile), or stop it where it runs, then try again",
        super::launch_lock::at_work(work, holders)
    )]
    Busy {
        name: String,
        /// What the process holding its launch lock does, when it said (see [`super::launch_lock`]).
        work: Option<super::launch_lock::LaunchWork>,
        /// That process, and any other holding the lock.
        holders: Vec<String>,
    },
    #[error("cannot read {}", path.display())]
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
    /// Another baker's format, or a broken file: says what to do instead (see
    /// [`super::state_unreadable`]).
    #[error("{}", super::state_unreadable::unreadable(path, message))]
    Parse { path: PathBuf, message: String },
}

/// How far a launch got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// Resources are being created; `--resume` continues, `destroy` cleans up.
    Creating,
    /// Every node runs; readiness checks are being made.
    Booting,
    Ready,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterState {
    pub format: u32,
    pub name: String,
    pub provider: String,
    pub recipe: String,
    pub version: String,
    pub distro: String,
    /// The install step's key of the plan the nodes run.
    pub plan_key: String,
    pub phase: Phase,
    /// Seconds since the epoch.
    pub created: u64,
    /// What the provider made besides nodes (a network, a switch process, an image), by kind.
    pub resources: BTreeMap<String, String>,
    pub nodes: Vec<NodeState>,
    /// Seconds each part of the launch took, named by [`timing`], for the summary.
    pub timings: BTreeMap<String, f64>,
    /// Whether the launch runs the smoke test once ready (a resumed launch does too).
    #[serde(default)]
    pub smoke: bool,
}

impl ClusterState {
    /// Cluster `name` on `provider` before anything is known of it: no recipe, no nodes, creating.
    pub fn empty(name: &str, provider: &str) -> ClusterState {
        ClusterState {
            format: STATE_FORMAT,
            name: name.to_owned(),
            provider: provider.to_owned(),
            recipe: String::new(),
            version: String::new(),
            distro: String::new(),
            plan_key: String::new(),
            phase: Phase::Creating,
            created: 0,
            resources: BTreeMap::new(),
            nodes: Vec::new(),
            timings: BTreeMap::new(),
            smoke: false,
        }
    }

    /// A PostgreSQL 15.18 cluster on Debian 12 of `name` on `provider`, in `phase`, without
    /// nodes: the tests' example to change.
    #[cfg(test)]
    pub fn postgresql_example(name: &str, provider: &str, phase: Phase) -> ClusterState {
        ClusterState {
            recipe: "postgresql".into(),
            version: "15.18".into(),
            distro: "debian-12".into(),
            plan_key: "k".into(),
            phase,
            created: 1,
            ..ClusterState::empty(name, provider)
        }
    }

    /// `1 node`, `3 nodes`: the cluster's size, for messages.
    pub fn node_count(&self) -> String {
        match self.nodes.len() {
            1 => "1 node".to_owned(),
            n => format!("{n} nodes"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeState {
    pub name: String,
    pub role: String,
    pub kind: RoleKind,
    /// The provider's handle: a container id, a VM's pid and its overlay, a host name.
    pub provider_id: Option<String>,
    /// The address other nodes reach it at.
    pub address: String,
    /// The host port forwarded to each of the node's ports, keyed by the node's port (`<node port>`
    /// -> `<host port>`), on 127.0.0.1, or on every address for a docker cluster launched with
    /// `--publish-all`.
    pub published: BTreeMap<u16, u16>,
    pub ready: bool,
    /// When it last became ready (seconds since the epoch).
    pub ready_since: Option<u64>,
    /// Which of the nodes on its machine it is (`{{self.slot}}`): only the `ssh` provider puts
    /// several on one machine; elsewhere always 0.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub slot: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// The names of the parts of a launch in [`ClusterState::timings`].
pub mod timing {
    /// Making the node image (`docker`), before the state is made.
    pub const NODE_IMAGE: &str = "node image";
    /// Placing and starting the nodes.
    pub const BOOT: &str = "boot";
    /// Waiting until every role's checks pass.
    pub const READY: &str = "ready";
    /// The recipe's smoke test.
    pub const SMOKE: &str = "smoke";
    /// The order they run in.
    pub const ORDER: [&str; 4] = [NODE_IMAGE, BOOT, READY, SMOKE];
}

/// Where cluster states live.
#[derive(Debug, Clone)]
pub struct StateDir {
    root: PathBuf,
}

impl StateDir {
    pub fn new(root: PathBuf) -> Self {
        Self { root }
    }

    /// The folder every cluster's directory is in.
    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn cluster_dir(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    fn state_path(&self, name: &str) -> PathBuf {
        self.cluster_dir(name).join(STATE_FILE)
    }

    /// Whether cluster `name` has a state file.
    pub(super) fn has_state(&self, name: &str) -> bool {
        self.state_path(name).exists()
    }

    /// The plan the cluster was launched from.
    pub fn plan_path(&self, name: &str) -> PathBuf {
        self.cluster_dir(name).join("plan.json")
    }

    pub fn secret_path(&self, name: &str) -> PathBuf {
        self.cluster_dir(name).join("secret")
    }

    /// Makes the state of a new cluster whose name `_reserved` holds (see
    /// [`StateDir::reserve_launch`]): fails when it is taken, and writes its secret (0600).
    pub fn create(
        &self,
        state: &ClusterState,
        secret: &str,
        _reserved: &LaunchLock,
    ) -> Result<(), StateError> {
        check_name(&state.name)?;
        let dir = self.cluster_dir(&state.name);
        let exists = || StateError::Exists {
            name: state.name.clone(),
            dir: dir.clone(),
        };
        if self.has_state(&state.name) {
            return Err(exists());
        }
        let write = |path: PathBuf| move |source| StateError::Write { path, source };
        std::fs::create_dir_all(&dir).map_err(write(dir.clone()))?;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
            .map_err(write(dir.clone()))?;
        // The name is claimed by linking the state file in place, which never replaces one: should
        // a baker that did not reserve the name launch it at once, the second stops here, before it
        // makes anything that its clean-up would then take from the first.
        let path = self.state_path(&state.name);
        let mut claim = tempfile::NamedTempFile::new_in(&dir).map_err(write(dir.clone()))?;
        std::io::Write::write_all(&mut claim, state_text(state).as_bytes())
            .map_err(write(claim.path().to_owned()))?;
        // The temporary file goes when `claim` is dropped; the link stays.
        match std::fs::hard_link(claim.path(), &path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Err(exists()),
            Err(e) => return Err(write(path)(e)),
        }
        let secret_path = self.secret_path(&state.name);
        let secret_written = write_atomic(&secret_path, secret.as_bytes())
            .and_then(|()| {
                std::fs::set_permissions(&secret_path, std::fs::Permissions::from_mode(0o600))
            })
            .map_err(write(secret_path));
        if secret_written.is_err() {
            // The name is given back: a state without its secret could be neither used nor
            // launched again.
            let _ = std::fs::remove_file(&path);
        }
        secret_written
    }

    /// Writes the state atomically.
    pub fn save(&self, state: &ClusterState) -> Result<(), StateError> {
        let path = self.state_path(&state.name);
        write_atomic(&path, state_text(state).as_bytes())
            .map_err(|source| StateError::Write { path, source })
    }

    pub fn load(&self, name: &str) -> Result<ClusterState, StateError> {
        // Refused as `launch` refuses it, rather than looked for (`../x` is no cluster's folder).
        check_name(name)?;
        let path = self.state_path(name);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(StateError::Unknown {
                    name: name.to_owned(),
                    dir: self.root.clone(),
                });
            }
            Err(source) => return Err(StateError::Read { path, source }),
        };
        let state: ClusterState = serde_json::from_str(&text).map_err(|e| StateError::Parse {
            path: path.clone(),
            message: e.to_string(),
        })?;
        if state.format != STATE_FORMAT {
            return Err(StateError::Parse {
                path,
                message: format!("it has format {}", state.format),
            });
        }
        Ok(state)
    }

    pub fn secret(&self, name: &str) -> Result<String, StateError> {
        let path = self.secret_path(name);
        std::fs::read_to_string(&path).map_err(|source| StateError::Read { path, source })
    }

    /// Every cluster with a state file, by name; fails when one cannot be read (see
    /// [`Self::list_each`] for a listing that goes on).
    pub fn list(&self) -> Result<Vec<ClusterState>, StateError> {
        self.list_each()?.into_iter().map(|(_, s)| s).collect()
    }

    /// Every cluster with a state file, by name, each read or with why it cannot be (another
    /// baker's format, a broken file); a cluster whose state a `destroy` removes meanwhile is left
    /// out.
    pub fn list_each(&self) -> Result<Vec<ListedCluster>, StateError> {
        let entries = match std::fs::read_dir(&self.root) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => {
                return Err(StateError::Read {
                    path: self.root.clone(),
                    source,
                });
            }
        };
        let mut names: Vec<String> = entries
            .filter_map(Result::ok)
            .filter(|e| e.path().join(STATE_FILE).exists())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        Ok(names
            .into_iter()
            .map(|name| {
                let state = self.load(&name);
                (name, state)
            })
            .filter(|(_, state)| !matches!(state, Err(StateError::Unknown { .. })))
            .collect())
    }

    /// Forgets a cluster whose resources are gone.
    pub fn remove(&self, name: &str) -> Result<(), StateError> {
        let dir = self.cluster_dir(name);
        match std::fs::remove_dir_all(&dir) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(StateError::Write {
                path: dir,
                source: e,
            }),
            _ => Ok(()),
        }
    }
}

/// A cluster's name and its state, or why it cannot be read.
pub type ListedCluster = (String, Result<ClusterState, StateError>);

/// Cluster names become container, network and host names: keep them to what all of those accept.
pub fn check_name(name: &str) -> Result<(), StateError> {
    let ok = (1..=40).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(StateError::BadName {
            name: name.to_owned(),
        })
    }
}

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;
