//! What an `ssh` cluster records in its state, and the provider read back from it, so that
//! `status`, `login`, `logs`, `destroy` and `--resume` reach the same machines the same way from
//! any new shell and any directory: the inventory, the key, the tarball and the cluster's own known
//! hosts by absolute path, the SSH user, and whether host keys seen first are trusted. Each node's
//! machine is recorded in the node itself (its provider id), so that the inventory is read again
//! only for a node that never got one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::error::LaunchError;
use super::inventory::{Host, parse_host, read_inventory};
use super::ssh::SshProvider;
use super::ssh_known_hosts::{HostKeys, KNOWN_HOSTS};
use super::state::ClusterState;

/// `path` from the root, so that it names the same file from any directory (as given when the
/// working directory cannot be known).
pub fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_owned())
}

impl SshProvider {
    /// The provider of a new launch onto `hosts`, for the cluster whose state directory is
    /// `cluster_dir`: its known hosts are the cluster's own file there, then the user's; with
    /// `accept_new`, a key neither has is trusted at first sight and kept in the cluster's.
    pub fn new(
        hosts: Vec<Host>,
        user: String,
        key: Option<&Path>,
        cluster_dir: &Path,
        accept_new: bool,
    ) -> Self {
        Self {
            hosts,
            user,
            key: key.map(absolute),
            host_keys: HostKeys::Checked {
                cluster: Some(absolute(&cluster_dir.join(KNOWN_HOSTS))),
                accept_new,
            },
            tarball: None,
            repositories: None,
            inventory_error: None,
        }
    }

    /// What a launch records in the state's resources, for `--resume`, `destroy` and the rest:
    /// every path absolute, as those may run from another directory.
    pub fn resources(&self, inventory: &Path) -> BTreeMap<String, String> {
        let path = |p: &Path| absolute(p).display().to_string();
        let mut r = BTreeMap::from([
            ("inventory".to_owned(), path(inventory)),
            ("ssh-user".to_owned(), self.user.clone()),
        ]);
        if let Some(key) = &self.key {
            r.insert("ssh-key".into(), path(key));
        }
        if let Some((tarball, sha256)) = &self.tarball {
            r.insert("tarball".into(), path(tarball));
            r.insert("tarball-sha256".into(), sha256.clone());
        }
        if let HostKeys::Checked {
            cluster,
            accept_new,
        } = &self.host_keys
        {
            if let Some(file) = cluster {
                r.insert("ssh-known-hosts".into(), path(file));
            }
            let check = if *accept_new { "accept-new" } else { "known" };
            r.insert("ssh-host-keys".into(), check.into());
        }
        r
    }

    /// The provider of a launched cluster, from its state: each node's machine is the one it was
    /// placed on; the inventory is read again only for a node that has none (a resumed launch
    /// places again a node that was never placed, or that stopped), so later commands do not need
    /// it. A cluster recorded before baker checked host keys (its state says nothing of them)
    /// trusts a key it has not seen at first sight, into its own known hosts in `cluster_dir`:
    /// that baker recorded no key, and a cluster it launched must stay reachable and removable.
    pub fn from_state(state: &ClusterState, cluster_dir: &Path) -> Self {
        let get = |k: &str| state.resources.get(k).cloned();
        let (listed, inventory_error) = match get("inventory") {
            Some(path) => {
                let slaves = state.nodes.len().saturating_sub(1);
                match read_inventory(Path::new(&path)).and_then(|i| i.assign(slaves)) {
                    Ok(listed) => (listed, None),
                    Err(e) => (Vec::new(), Some(e.to_string())),
                }
            }
            None => (Vec::new(), None),
        };
        let mut hosts = Vec::new();
        for (i, node) in state.nodes.iter().enumerate() {
            match node.provider_id.as_deref().map(parse_host) {
                Some(Ok(host)) => hosts.push(host),
                // Without the inventory, the nodes from here on have no machine: `place` says why,
                // and `destroy` has nothing to do on them.
                _ => match listed.get(i) {
                    Some(host) => hosts.push(host.clone()),
                    None => break,
                },
            }
        }
        Self {
            hosts,
            user: get("ssh-user").unwrap_or_default(),
            key: get("ssh-key").map(PathBuf::from),
            host_keys: match get("ssh-host-keys") {
                Some(choice) => HostKeys::Checked {
                    cluster: get("ssh-known-hosts").map(PathBuf::from),
                    accept_new: choice == "accept-new",
                },
                None => HostKeys::Checked {
                    cluster: Some(absolute(&cluster_dir.join(KNOWN_HOSTS))),
                    accept_new: true,
                },
            },
            tarball: get("tarball")
                .zip(get("tarball-sha256"))
                .map(|(t, s)| (PathBuf::from(t), s)),
            // Set by whoever places nodes again (a resumed launch), from the launched plan.
            repositories: None,
            inventory_error,
        }
    }

    /// Why node `name` has no machine.
    pub(super) fn no_machine(&self, name: &str, state: &ClusterState) -> LaunchError {
        let inventory = state.resources.get("inventory").map_or("", String::as_str);
        LaunchError::Input(match &self.inventory_error {
            Some(why) => format!("no machine for node {name}: {why}"),
            None => format!(
                "no machine for node {name}: the cluster's inventory (`{inventory}`) does not list it"
            ),
        })
    }
}
