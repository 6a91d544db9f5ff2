//! Removing a docker cluster: its containers, then its network, found by the labels that say they
//! are this cluster's of this state directory ([`super::docker_owner`]), so that what an
//! interrupted launch made before recording it goes too, and nothing of a cluster of the same name
//! of another state directory does. A launch killed while the engine was still creating a
//! container leaves that creation running in the engine: the container can appear after the
//! first listing (and keeps the network busy), so both are listed again until neither is left.

use std::collections::BTreeSet;
use std::time::Duration;

use super::docker::DockerProvider;
use super::docker_owner::Owner;
use super::error::LaunchError;
use super::provider::Removed;

/// How many times destroy lists what is left.
const DESTROY_ROUNDS: usize = 10;

/// How long destroy waits between rounds.
const ROUND_PAUSE: Duration = Duration::from_millis(300);

impl DockerProvider<'_> {
    /// Removes the containers and networks of cluster `cluster` that `owner` owns.
    pub(super) async fn remove_owned(
        &self,
        owner: &Owner,
        cluster: &str,
    ) -> Result<Removed, LaunchError> {
        let mut removed = Removed::default();
        // A container the engine failed to remove is listed again next round: counted once.
        let mut containers = BTreeSet::new();
        for round in 0..DESTROY_ROUNDS {
            for found in self.owned_containers(owner, cluster).await? {
                self.engine.remove_node(&found.id).await;
                if containers.insert(found.id) {
                    removed.nodes += 1;
                }
            }
            let mut busy = None;
            for network in self.owned_networks(owner, cluster).await? {
                match self.engine.remove_network(&network.found.id).await {
                    Ok(()) => removed.networks += 1,
                    Err(e) => busy = Some((network.found.name, e)),
                }
            }
            let late = !self.owned_containers(owner, cluster).await?.is_empty();
            match busy {
                None if !late => return Ok(removed),
                Some((_, e)) if round + 1 == DESTROY_ROUNDS => return Err(e.into()),
                _ => tokio::time::sleep(ROUND_PAUSE).await,
            }
        }
        Ok(removed)
    }
}
