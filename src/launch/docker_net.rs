//! The `docker` provider's cluster network: a bridge on a /24 of 10.200.0.0/13 that the cluster's
//! name chooses (so that clusters launched side by side rarely try the same one), or the next free
//! one, with every node on a fixed address from `.10` up, as a cloud's subnet would give them. A
//! launch stopped while the engine made the network left it unrecorded: `--resume` adopts it when
//! it carries the cluster's labels (see [`super::docker_owner`]), and refuses one of that name that
//! does not.

use super::docker::DockerProvider;
use super::docker_owner::{Obstacles, Owner};
use super::error::LaunchError;
use super::state::ClusterState;

impl DockerProvider<'_> {
    /// Creates cluster `state`'s network `network` on a /24 of 10.200.0.0/13 chosen from the
    /// cluster's name, or the next free one when another network holds it; returns the subnet.
    pub(super) async fn create_network(
        &self,
        network: &str,
        state: &ClusterState,
    ) -> Result<String, LaunchError> {
        let cluster = &state.name;
        let owner = Owner::of(state);
        let first = subnet_index(cluster);
        for attempt in 0..SUBNET_ATTEMPTS {
            let subnet = subnet_of(first + attempt);
            if self
                .engine
                .create_network(network, &subnet, &owner.labels(cluster))
                .await?
            {
                return Ok(subnet);
            }
        }
        Err(LaunchError::Input(format!(
            "no free /24 for cluster {cluster}'s network among {SUBNET_ATTEMPTS} tried in 10.200.0.0/13; remove unused networks (`docker network prune`)"
        )))
    }

    /// The subnet of cluster `state`'s network `network` when the engine has it already (a launch
    /// stopped before recording it); `None` when it has no network of that name; refused, naming
    /// it, when a network of that name is not the cluster's.
    pub(super) async fn own_network(
        &self,
        state: &ClusterState,
        network: &str,
    ) -> Result<Option<String>, LaunchError> {
        let owner = Owner::of(state);
        let (ours, others): (Vec<_>, Vec<_>) = (self.engine.networks_named(network).await?)
            .into_iter()
            .partition(|n| owner.owns(&state.name, &n.found.labels));
        if !others.is_empty() {
            let others = others.into_iter().map(|n| n.found).collect();
            let obstacles = Obstacles::sorted(&state.name, Vec::new(), others);
            return Err(obstacles.obstruction(&state.name));
        }
        match &ours[..] {
            [] => Ok(None),
            [one] => Ok(Some(one.subnet.clone().ok_or_else(|| {
                LaunchError::Input(format!(
                    "network {network} of cluster {} has no subnet; `baker destroy {}` and \
                     launch it again",
                    state.name, state.name
                ))
            })?)),
            _ => Err(LaunchError::Input(format!(
                "cluster {0} has {1} networks named {network}, which the engine cannot tell \
                 apart; `baker destroy {0}` and launch it again",
                state.name,
                ours.len()
            ))),
        }
    }
}

/// Containers get `.10` and up of their /24.
pub(super) const FIRST_HOST: usize = 10;
pub const MAX_NODES: usize = 240;
const SUBNET_ATTEMPTS: usize = 32;
/// 10.200.0.0/13 holds 2048 /24s.
const SUBNETS: usize = 2048;

/// Where a cluster's search for a free /24 starts: a digest of its name, so that clusters launched
/// side by side rarely try the same ones.
fn subnet_index(cluster: &str) -> usize {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(cluster.as_bytes());
    usize::from(u16::from_be_bytes([digest[0], digest[1]])) % SUBNETS
}

/// The `n`th /24 of 10.200.0.0/13 (wrapping).
fn subnet_of(n: usize) -> String {
    let n = n % SUBNETS;
    format!("10.{}.{}.0/24", 200 + n / 256, n % 256)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnets_are_private_24s_that_wrap_within_the_range() {
        assert_eq!(subnet_of(0), "10.200.0.0/24");
        assert_eq!(subnet_of(257), "10.201.1.0/24");
        assert_eq!(subnet_of(SUBNETS - 1), "10.207.255.0/24");
        assert_eq!(subnet_of(SUBNETS), subnet_of(0));
        assert_eq!(subnet_index("pg"), subnet_index("pg"));
        assert!(subnet_index("pg") < SUBNETS);
    }
}
