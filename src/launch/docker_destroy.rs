//! Removing a docker cluster: its containers, then its network, found by the labels that say they
//! are this cluster's of this state directory ([`super::docker_owner`]), so that what an
//! interrupted launch made before recording it goes too, and nothing of a cluster of the same name
//! of another state directory does. A launch killed while the engine was still creating a
//! container leaves that creation running in the engine: the container can appear after the
//! first listing (and keeps the network busy), so both are listed again until neither is left; one
//! still there after the last round is an error naming it, and the caller keeps the cluster's state.

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
    /// Removes the containers and networks of cluster `cluster` that `owner` owns; an error naming
    /// what is left when some still are after [`DESTROY_ROUNDS`].
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
            let late = self.owned_containers(owner, cluster).await?;
            if busy.is_none() && late.is_empty() {
                return Ok(removed);
            }
            if round + 1 == DESTROY_ROUNDS {
                let late: Vec<String> = late.into_iter().map(|c| c.name).collect();
                return Err(LaunchError::Input(left_over(cluster, &late, busy)));
            }
            tokio::time::sleep(ROUND_PAUSE).await;
        }
        unreachable!("the last round returns")
    }
}

/// Why destroying cluster `cluster` did not finish: the containers still there (`late`), and the
/// network the engine would not remove, with why.
fn left_over(
    cluster: &str,
    late: &[String],
    busy: Option<(String, crate::engine::EngineError)>,
) -> String {
    let mut left = Vec::new();
    if !late.is_empty() {
        left.push(format!(
            "container{} {} still there",
            if late.len() == 1 { "" } else { "s" },
            late.join(", ")
        ));
    }
    if let Some((network, e)) = busy {
        left.push(format!("network {network} not removed ({e})"));
    }
    format!(
        "cluster {cluster} is not wholly removed after {DESTROY_ROUNDS} tries: {}; its state is \
         kept: `baker destroy {cluster}` again tries once more",
        left.join("; ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_a_destroy_leaves_is_named_and_the_state_kept() {
        let message = left_over("pg", &["pg-primary".to_owned()], None);
        assert_eq!(
            message,
            "cluster pg is not wholly removed after 10 tries: container pg-primary still there; \
             its state is kept: `baker destroy pg` again tries once more"
        );
        let two = left_over("pg", &["pg-a".to_owned(), "pg-b".to_owned()], None);
        assert!(two.contains("containers pg-a, pg-b still there"), "{two}");
    }
}
