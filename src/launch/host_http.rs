//! How readiness checks and smoke steps reach a node's HTTP endpoints from this host. A recipe
//! writes them with the node's cluster address (`http://{{self.ip}}:5050/health`), which the other
//! nodes reach; this host often cannot: a `qemu` cluster's switch lives inside QEMU, and a rootless
//! or remote Docker engine's bridge is not routed to it. The ports a role publishes are reachable
//! on this host's loopback for QEMU and a local engine (a rootless one's port forwarder included),
//! so a request to a node's address and a port it publishes goes to `127.0.0.1` and the host port
//! instead. Everything else goes where the recipe says: a remote engine publishes on its own host,
//! and an `ssh` cluster's machines publish nothing.

use std::collections::HashMap;

use super::error::LaunchError;
use super::state::NodeState;

/// An HTTP client that reaches the cluster's published ports through this host's loopback.
pub struct HostHttp {
    client: reqwest::Client,
    /// `(node address, node port)` to its host port.
    published: HashMap<(String, u16), u16>,
}

impl HostHttp {
    /// For the nodes as started (their host ports are known by then), whose ports are published on
    /// this host when `published_here` (see [`super::provider::Provider::publishes_here`]).
    pub fn new(nodes: &[NodeState], published_here: bool) -> Result<Self, LaunchError> {
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(3))
            .build()
            .map_err(|e| LaunchError::Input(format!("cannot make an HTTP client: {e}")))?;
        let published = nodes
            .iter()
            .filter(|_| published_here)
            .flat_map(|node| {
                (node.published.iter())
                    .filter(|(_, host)| **host != 0)
                    .map(|(port, host)| ((node.address.clone(), *port), *host))
            })
            .collect();
        Ok(HostHttp { client, published })
    }

    /// Sends a GET to `url`, through its published port when it names one (see the module doc).
    pub async fn get(&self, url: &str) -> reqwest::Result<reqwest::Response> {
        self.client.get(self.reachable(url)).send().await
    }

    /// `url`, or the loopback address and host port that reach it from this host.
    fn reachable(&self, url: &str) -> String {
        let Ok(mut parsed) = reqwest::Url::parse(url) else {
            return url.to_owned();
        };
        let (Some(host), Some(port)) = (parsed.host_str(), parsed.port_or_known_default()) else {
            return url.to_owned();
        };
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        match self.published.get(&(host, port)) {
            Some(&host_port)
                if parsed.set_ip_host([127, 0, 0, 1].into()).is_ok()
                    && parsed.set_port(Some(host_port)).is_ok() =>
            {
                parsed.into()
            }
            _ => url.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recipe::RoleKind;

    fn http(published: &[(&str, u16, u16)]) -> HostHttp {
        http_published(published, true)
    }

    fn http_published(published: &[(&str, u16, u16)], here: bool) -> HostHttp {
        let nodes: Vec<NodeState> = published
            .iter()
            .map(|(address, port, host)| NodeState {
                name: format!("m-{address}"),
                role: "master".into(),
                kind: RoleKind::Master,
                provider_id: None,
                address: (*address).to_owned(),
                published: [(*port, *host)].into(),
                ready: false,
                ready_since: None,
                slot: 0,
            })
            .collect();
        HostHttp::new(&nodes, here).unwrap()
    }

    #[test]
    fn a_node_address_and_published_port_go_through_loopback() {
        let http = http(&[("10.7.8.10", 5050, 40123), ("10.7.8.11", 5051, 40124)]);
        assert_eq!(
            http.reachable("http://10.7.8.10:5050/metrics/snapshot?x=1"),
            "http://127.0.0.1:40123/metrics/snapshot?x=1"
        );
        assert_eq!(
            http.reachable("http://10.7.8.11:5051/state"),
            "http://127.0.0.1:40124/state"
        );
    }

    #[test]
    fn nothing_goes_through_loopback_when_the_ports_are_published_elsewhere() {
        // A remote engine's cluster: its host ports are on the engine's host.
        let remote = http_published(&[("10.7.8.10", 5050, 40123)], false);
        let url = "http://10.7.8.10:5050/health";
        assert_eq!(remote.reachable(url), url);
    }

    #[test]
    fn anything_else_goes_where_the_recipe_says() {
        let http = http(&[("10.7.8.10", 5050, 40123), ("10.7.8.12", 5050, 0)]);
        for url in [
            // A port the node does not publish, another address, one not started yet.
            "http://10.7.8.10:8080/",
            "http://10.9.9.9:5050/health",
            "http://10.7.8.12:5050/health",
            "not a url",
        ] {
            assert_eq!(http.reachable(url), url);
        }
    }
}
