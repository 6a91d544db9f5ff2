//! What the engine holds under a name or a label, with every label it carries. Clusters of one
//! name may be launched on one engine from several state directories (two users, a developer and
//! a CI job), and a user may have a container of their own named like a node: a name, or the
//! cluster's label alone, never says whose a container or network is. These calls return what
//! was found with its labels, for the `docker` provider to decide (see
//! [`crate::launch::docker_owner`]).

use std::collections::HashMap;

use bollard::query_parameters::{
    InspectContainerOptions, ListContainersOptions, ListNetworksOptions,
};

use super::{Engine, EngineError};

/// A container or a network, as a listing shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Labelled {
    pub id: String,
    /// Its name, without the leading `/` the engine gives containers' names.
    pub name: String,
    pub labels: HashMap<String, String>,
}

/// A container as inspecting it shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundContainer {
    pub found: Labelled,
    pub running: bool,
    /// When it last started (`State.StartedAt`, RFC 3339 on the engine's clock); `None` when it
    /// never did.
    pub started_at: Option<String>,
}

/// A network, with the subnet of its first address pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundNetwork {
    pub found: Labelled,
    pub subnet: Option<String>,
}

impl Engine {
    /// The containers (running or not) carrying label `key=value`.
    pub async fn containers_labelled(
        &self,
        key: &str,
        value: &str,
    ) -> Result<Vec<Labelled>, EngineError> {
        let list = self
            .docker
            .list_containers(Some(ListContainersOptions {
                all: true,
                filters: Some(label_filter(key, value)),
                ..Default::default()
            }))
            .await
            .map_err(EngineError::during(format!(
                "listing containers labelled {key}={value}"
            )))?;
        Ok((list.into_iter())
            .filter_map(|c| {
                let name = c.names.unwrap_or_default().into_iter().next();
                Some(Labelled {
                    id: c.id?,
                    name: name.unwrap_or_default().trim_start_matches('/').to_owned(),
                    labels: c.labels.unwrap_or_default(),
                })
            })
            .collect())
    }

    /// The networks carrying label `key=value`. By id: two networks may share a name (an engine
    /// before Docker 25 allows it), and the engine refuses to remove a name that is ambiguous.
    pub async fn networks_labelled(
        &self,
        key: &str,
        value: &str,
    ) -> Result<Vec<FoundNetwork>, EngineError> {
        self.networks(label_filter(key, value), &format!("labelled {key}={value}"))
            .await
    }

    /// The networks named exactly `name` (the engine's name filter also matches longer names).
    pub async fn networks_named(&self, name: &str) -> Result<Vec<FoundNetwork>, EngineError> {
        let filter = HashMap::from([("name".to_owned(), vec![name.to_owned()])]);
        let mut found = self.networks(filter, &format!("named {name}")).await?;
        found.retain(|n| n.found.name == name);
        Ok(found)
    }

    async fn networks(
        &self,
        filters: HashMap<String, Vec<String>>,
        which: &str,
    ) -> Result<Vec<FoundNetwork>, EngineError> {
        let list = self
            .docker
            .list_networks(Some(ListNetworksOptions {
                filters: Some(filters),
            }))
            .await
            .map_err(EngineError::during(format!("listing networks {which}")))?;
        Ok((list.into_iter())
            .filter_map(|n| {
                let subnet = (n.ipam.and_then(|i| i.config))
                    .and_then(|pools| pools.into_iter().find_map(|p| p.subnet));
                Some(FoundNetwork {
                    found: Labelled {
                        id: n.id?,
                        name: n.name.unwrap_or_default(),
                        labels: n.labels.unwrap_or_default(),
                    },
                    subnet,
                })
            })
            .collect())
    }

    /// The container named (or with the id) `name`; `None` when the engine has none.
    pub async fn container(&self, name: &str) -> Result<Option<FoundContainer>, EngineError> {
        let info = match self
            .docker
            .inspect_container(name, None::<InspectContainerOptions>)
            .await
        {
            Ok(info) => info,
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => return Ok(None),
            Err(e) => {
                return Err(EngineError::during(format!("inspecting container {name}"))(
                    e,
                ));
            }
        };
        let Some(id) = info.id else {
            return Ok(None);
        };
        let state = info.state.unwrap_or_default();
        Ok(Some(FoundContainer {
            found: Labelled {
                id,
                name: (info.name.unwrap_or_default())
                    .trim_start_matches('/')
                    .to_owned(),
                labels: info.config.and_then(|c| c.labels).unwrap_or_default(),
            },
            running: state.running.unwrap_or(false),
            started_at: state.started_at.filter(|t| !t.starts_with("0001-")),
        }))
    }
}

/// The engine's list filter for label `key=value`.
fn label_filter(key: &str, value: &str) -> HashMap<String, Vec<String>> {
    HashMap::from([("label".to_owned(), vec![format!("{key}={value}")])])
}
