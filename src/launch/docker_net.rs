//! The `docker` provider's cluster network: a bridge on a /24 of 10.200.0.0/13 that the cluster's
//! name chooses (so that clusters launched side by side rarely try the same one), or the next free
//! one, with every node on a fixed address from `.10` up, as a cloud's subnet would give them.

use super::docker::{CLUSTER_LABEL, DockerProvider};
use super::error::LaunchError;

impl DockerProvider<'_> {
    /// Creates the cluster's network on a /24 of 10.200.0.0/13 chosen from the cluster's name,
    /// or the next free one when another network holds it; returns the subnet.
    pub(super) async fn create_network(
        &self,
        network: &str,
        cluster: &str,
    ) -> Result<String, LaunchError> {
        let first = subnet_index(cluster);
        for attempt in 0..SUBNET_ATTEMPTS {
            let subnet = subnet_of(first + attempt);
            if self
                .engine
                .create_network(network, &subnet, &[(CLUSTER_LABEL, cluster)])
                .await?
            {
                return Ok(subnet);
            }
        }
        Err(LaunchError::Input(format!(
            "no free /24 for cluster {cluster}'s network among {SUBNET_ATTEMPTS} tried in 10.200.0.0/13; remove unused networks (`docker network prune`)"
        )))
    }
}

/// Containers get `.10` and up of their /24.
pub(super) const FIRST_HOST: usize = 10;
pub(super) const MAX_NODES: usize = 240;
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
