//! Whose a container or network on the engine is, for the `docker` provider. A cluster's name is
//! unique only within its state directory, and an engine may hold clusters of one name from
//! several (two users in the docker group; a developer's `pg` and a CI job's, whose
//! `BAKER_STATE_DIR` is its own), and a user's own container may have a node's name. So the provider
//! labels everything it makes with the cluster's name and the identity of its state directory
//! ([`super::state_identity`]), and adopts, starts or removes only what carries both ([`Owner`]);
//! whatever else stands where the cluster would go is refused by name before anything is made
//! ([`DockerProvider::clear_the_way`]), so that no launch, rollback or destroy ever touches
//! another's.

use std::collections::HashMap;

use super::docker::{CLUSTER_LABEL, DockerProvider, network_name};
use super::error::LaunchError;
use super::state::ClusterState;
use super::state_identity::STATE_ID;
use crate::engine::{FoundContainer, FoundNetwork, Labelled};
use crate::progress::{Event, Reporter};

/// On every container and network of a docker cluster: the identity of its state directory.
pub const STATE_LABEL: &str = "baker.state";

/// What of the engine a cluster's state lets the provider take for the cluster's own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    /// What carries the cluster's label and that of the state directory with this identity: a
    /// cluster launched since baker records it.
    Dir(String),
    /// What carries the cluster's label and no state directory's: a cluster launched before, whose
    /// containers and network carry only the cluster's name.
    Legacy,
    /// Either: `destroy` of a name without a state (its directory removed by hand), which takes
    /// what this state directory (when it has an identity) or an older baker made.
    DirOrLegacy(Option<String>),
}

impl Owner {
    /// Whose cluster `state` is: a state without a recipe is one `destroy` made up for a name
    /// without a state (see [`super::run::state_or_empty`]).
    pub fn of(state: &ClusterState) -> Self {
        let id = state.resources.get(STATE_ID).cloned();
        match (state.recipe.is_empty(), id) {
            (true, id) => Self::DirOrLegacy(id),
            (false, Some(id)) => Self::Dir(id),
            (false, None) => Self::Legacy,
        }
    }

    /// Whether what carries `labels` is cluster `cluster`'s own.
    pub fn owns(&self, cluster: &str, labels: &HashMap<String, String>) -> bool {
        if labels.get(CLUSTER_LABEL).map(String::as_str) != Some(cluster) {
            return false;
        }
        let dir = labels.get(STATE_LABEL);
        match self {
            Self::Dir(id) => dir == Some(id),
            Self::Legacy => dir.is_none(),
            Self::DirOrLegacy(id) => dir.is_none() || (id.is_some() && dir == id.as_ref()),
        }
    }

    /// The labels of what the provider makes for cluster `cluster`.
    pub fn labels<'a>(&'a self, cluster: &'a str) -> Vec<(&'static str, &'a str)> {
        let mut labels = vec![(CLUSTER_LABEL, cluster)];
        if let Self::Dir(id) = self {
            labels.push((STATE_LABEL, id.as_str()));
        }
        labels
    }
}

impl DockerProvider<'_> {
    /// The containers (running or not) of cluster `cluster` that `owner` owns.
    pub(super) async fn owned_containers(
        &self,
        owner: &Owner,
        cluster: &str,
    ) -> Result<Vec<Labelled>, LaunchError> {
        let mut all = self
            .engine
            .containers_labelled(CLUSTER_LABEL, cluster)
            .await?;
        all.retain(|c| owner.owns(cluster, &c.labels));
        Ok(all)
    }

    /// The networks of cluster `cluster` that `owner` owns.
    pub(super) async fn owned_networks(
        &self,
        owner: &Owner,
        cluster: &str,
    ) -> Result<Vec<FoundNetwork>, LaunchError> {
        let mut all = self
            .engine
            .networks_labelled(CLUSTER_LABEL, cluster)
            .await?;
        all.retain(|n| owner.owns(cluster, &n.found.labels));
        Ok(all)
    }

    /// What carries cluster `cluster`'s name and is not `owner`'s.
    pub(super) async fn others_of_the_name(
        &self,
        owner: &Owner,
        cluster: &str,
    ) -> Result<Obstacles, LaunchError> {
        let mut containers = self
            .engine
            .containers_labelled(CLUSTER_LABEL, cluster)
            .await?;
        let mut networks: Vec<Labelled> = (self.engine.networks_labelled(CLUSTER_LABEL, cluster))
            .await?
            .into_iter()
            .map(|n| n.found)
            .collect();
        containers.retain(|c| !owner.owns(cluster, &c.labels));
        networks.retain(|n| !owner.owns(cluster, &n.labels));
        Ok(Obstacles::sorted(cluster, containers, networks))
    }

    /// The container named `name` when it is cluster `state`'s; `None` when the engine has no
    /// container of that name; refused, naming it, when the container of that name is another's.
    pub(super) async fn own_container(
        &self,
        state: &ClusterState,
        name: &str,
    ) -> Result<Option<FoundContainer>, LaunchError> {
        let Some(found) = self.engine.container(name).await? else {
            return Ok(None);
        };
        if Owner::of(state).owns(&state.name, &found.found.labels) {
            return Ok(Some(found));
        }
        let obstacles = Obstacles::sorted(&state.name, vec![found.found], Vec::new());
        Err(obstacles.obstruction(&state.name))
    }

    /// Makes room for a new cluster `cluster` of the state directory `id`, which has no state of
    /// it: refuses, naming them, the containers and networks of a cluster of that name of another
    /// state directory, and whatever else is named like the cluster's network or one of its
    /// `nodes`; then removes what this state directory's own earlier cluster of that name left
    /// (its state removed by hand), saying so.
    pub(super) async fn clear_the_way(
        &self,
        id: &str,
        cluster: &str,
        nodes: &[String],
        reporter: &dyn Reporter,
    ) -> Result<(), LaunchError> {
        let owner = Owner::Dir(id.to_owned());
        let mut containers = self
            .engine
            .containers_labelled(CLUSTER_LABEL, cluster)
            .await?;
        for node in nodes {
            if let Some(found) = self.engine.container(node).await? {
                containers.push(found.found);
            }
        }
        let mut networks: Vec<Labelled> = (self.engine.networks_labelled(CLUSTER_LABEL, cluster))
            .await?
            .into_iter()
            .chain(self.engine.networks_named(&network_name(cluster)).await?)
            .map(|n| n.found)
            .collect();
        containers.retain(|c| !owner.owns(cluster, &c.labels));
        networks.retain(|n| !owner.owns(cluster, &n.labels));
        let obstacles = Obstacles::sorted(cluster, containers, networks);
        if !obstacles.is_empty() {
            return Err(LaunchError::Input(
                obstacles.refusal(cluster, Launching::New),
            ));
        }
        let left = self.remove_owned(&owner, cluster).await?;
        if !left.nothing() {
            reporter.report(Event::Note(format!(
                "removed {} and {} that an earlier cluster {cluster} of this state directory, \
                 whose state is gone, left on the engine",
                counted(left.nodes, "container"),
                counted(left.networks, "network")
            )));
        }
        Ok(())
    }
}

/// "1 container", "2 networks".
fn counted(n: usize, thing: &str) -> String {
    format!("{n} {thing}{}", if n == 1 { "" } else { "s" })
}

/// What stands where a cluster would go, by whose it is, each list sorted by name.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Obstacles {
    /// Containers and networks of a cluster of the name from another state directory.
    other_dir: (Vec<String>, Vec<String>),
    /// The identities of those state directories.
    other_ids: std::collections::BTreeSet<String>,
    /// Those of a cluster of the name made by a baker that did not label its state directory.
    unlabelled: (Vec<String>, Vec<String>),
    /// Containers named like a node, and networks like the cluster's, of anything else (a user's
    /// own, another cluster's), each with what it is.
    strangers: Vec<String>,
}

impl Obstacles {
    /// `containers` and `networks` (none of cluster `cluster`'s own) sorted by whose they are.
    pub(super) fn sorted(
        cluster: &str,
        containers: Vec<Labelled>,
        networks: Vec<Labelled>,
    ) -> Self {
        let mut obstacles = Self::default();
        let mut seen = std::collections::HashSet::new();
        let both = (containers.into_iter().map(|c| (c, "container")))
            .chain(networks.into_iter().map(|n| (n, "network")));
        for (found, kind) in both {
            if !seen.insert(found.id.clone()) {
                continue;
            }
            let into_containers = kind == "container";
            let pick = |lists: &mut (Vec<String>, Vec<String>)| {
                let list = if into_containers {
                    &mut lists.0
                } else {
                    &mut lists.1
                };
                list.push(found.name.clone());
            };
            match (
                found.labels.get(CLUSTER_LABEL),
                found.labels.get(STATE_LABEL),
            ) {
                (Some(c), Some(id)) if c == cluster => {
                    obstacles.other_ids.insert(id.clone());
                    pick(&mut obstacles.other_dir)
                }
                (Some(c), None) if c == cluster => pick(&mut obstacles.unlabelled),
                (Some(other), _) => obstacles
                    .strangers
                    .push(format!("{kind} {} (of cluster {other})", found.name)),
                (None, _) => obstacles
                    .strangers
                    .push(format!("{kind} {} (not baker's)", found.name)),
            }
        }
        for list in [
            &mut obstacles.other_dir.0,
            &mut obstacles.other_dir.1,
            &mut obstacles.unlabelled.0,
            &mut obstacles.unlabelled.1,
            &mut obstacles.strangers,
        ] {
            list.sort();
        }
        obstacles
    }

    pub(super) fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// Why cluster `cluster` cannot go where these stand, and what to do: for a new launch
    /// ([`Launching::New`]), choosing another name is one way; a cluster whose state stays
    /// ([`Launching::Made`]: a `--resume`, or a failed launch kept) tries again once they are gone.
    pub(super) fn refusal(&self, cluster: &str, launching: Launching) -> String {
        let (or_rename, then) = match launching {
            Launching::New => ("choose another name, or ", String::new()),
            Launching::Made => (
                "",
                format!(", then `baker launch {cluster} --resume` again"),
            ),
        };
        let mut why = Vec::new();
        if !self.other_dir.0.is_empty() || !self.other_dir.1.is_empty() {
            why.push(format!(
                "a cluster named {cluster} of another state directory runs on this engine ({}): \
                 {or_rename}destroy it with that state directory (`BAKER_STATE_DIR=DIR baker \
                 destroy {cluster}`), or, when that directory is gone, with {}{then}",
                listed(&self.other_dir),
                self.removal(cluster)
            ));
        }
        if !self.unlabelled.0.is_empty() || !self.unlabelled.1.is_empty() {
            let here = match launching {
                // A destroy without a state takes an older baker's cluster of the name.
                Launching::New => format!(
                    " (`baker destroy {cluster}` here removes it when it was this one's and its \
                     state is gone)"
                ),
                Launching::Made => String::new(),
            };
            why.push(format!(
                "a cluster named {cluster} that this state directory does not record runs on this \
                 engine ({}), launched by an older baker: {or_rename}destroy it with the state \
                 directory that launched it{here}{then}",
                listed(&self.unlabelled)
            ));
        }
        if !self.strangers.is_empty() {
            let one = self.strangers.len() == 1;
            let or_rename = match launching {
                Launching::New => ", or choose another cluster name",
                Launching::Made => "",
            };
            why.push(format!(
                "{} {} a name cluster {cluster} needs for its nodes or its network: remove or \
                 rename {} (`docker rm`, `docker rename`, `docker network rm`){or_rename}{then}",
                self.strangers.join(", "),
                if one { "takes" } else { "take" },
                if one { "it" } else { "them" },
            ));
        }
        why.join("; and ")
    }
}

impl Obstacles {
    /// The refusal of cluster `cluster`, met as its launch (or `--resume`) makes a node or its
    /// network: another's made them since a new launch's check ([`DockerProvider::clear_the_way`]).
    /// Told as [`Launching::Made`] while the cluster's state stays, and as [`Launching::New`] once
    /// a failed launch removed it ([`LaunchError::rolled_back`]).
    pub(super) fn obstruction(&self, cluster: &str) -> LaunchError {
        LaunchError::Obstructed {
            kept: self.refusal(cluster, Launching::Made),
            removed: self.refusal(cluster, Launching::New),
        }
    }

    /// Why a `destroy` of `cluster` without a state (its directory removed by hand, or another
    /// `BAKER_STATE_DIR`) removed nothing while a cluster of the name of another state directory
    /// stays on the engine; `None` when there is none.
    pub(super) fn not_this_directorys(&self, cluster: &str) -> Option<String> {
        if self.other_dir.0.is_empty() && self.other_dir.1.is_empty() {
            return None;
        }
        Some(format!(
            "the cluster named {cluster} on this engine ({}) is another state directory's, and \
             this one records none of that name: destroy it with the state directory that \
             launched it (`BAKER_STATE_DIR=DIR baker destroy {cluster}`), or, when that directory \
             is gone, with {}",
            listed(&self.other_dir),
            self.removal(cluster)
        ))
    }

    /// The `docker` commands that remove what carries `cluster`'s name and the other state
    /// directories' identities.
    fn removal(&self, cluster: &str) -> String {
        let ids: Vec<String> = (self.other_ids.iter())
            .map(|id| format!("--filter label={STATE_LABEL}={id}"))
            .collect();
        format!(
            "`docker rm -f $(docker ps -aq --filter label={CLUSTER_LABEL}={cluster} {})` and \
             `docker network rm {}`",
            ids.join(" "),
            network_name(cluster)
        )
    }
}

/// Whether the cluster a refusal is for is a new launch's, or one launched already.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Launching {
    New,
    Made,
}

/// "containers pg-primary, pg-standby-1; network baker-pg".
fn listed((containers, networks): &(Vec<String>, Vec<String>)) -> String {
    let part = |one: &str, list: &[String]| match list.len() {
        0 => None,
        1 => Some(format!("{one} {}", list[0])),
        _ => Some(format!("{one}s {}", list.join(", "))),
    };
    [part("container", containers), part("network", networks)]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
#[path = "docker_owner_tests.rs"]
mod tests;
