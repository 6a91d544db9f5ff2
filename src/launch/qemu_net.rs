//! The network of a `qemu` cluster, which needs no root anywhere. Every node has two NICs. The first
//! is QEMU's user-mode network, which forwards ports on 127.0.0.1 to the guest (SSH and the role's
//! ports); the image's own DHCP client takes its address there (10.0.2.15) and the default route,
//! as it would on a cloud, so every launch proves that part of the image. The second joins the
//! cluster's switch: a UDP multicast group on the loopback interface
//! (`-netdev socket,mcast=…,localaddr=127.0.0.1`), one group and port per cluster, with a static
//! address per node on a cluster-specific /24 that the provider knows before any VM boots. The role
//! agent sets that one from the bundle's `network` entry, matching the NIC by its MAC. A VM that
//! boots again keeps its forwards unless another program took one of their host ports meanwhile.

use std::net::{Ipv4Addr, TcpListener};
use std::path::Path;

use sha2::{Digest, Sha256};

use super::error::LaunchError;
use super::state::NodeState;

/// Nodes on one switch: addresses `.10` to `.249` of the cluster's /24.
pub const MAX_NODES: usize = 240;
/// SSH's port in the guest; its forwarded host port is recorded under this key in `published`.
pub const SSH_PORT: u16 = 22;

/// A cluster's virtual switch: a multicast group and port on loopback, and its /24.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Switch {
    pub group: Ipv4Addr,
    pub port: u16,
    /// The first two octets after `10.`: the subnet is `10.<a>.<b>.0/24`.
    pub subnet: [u8; 2],
}

impl Switch {
    /// The switch of the cluster whose state lives in `dir`: derived from the directory, so two
    /// clusters (or two state roots) get different groups, ports and subnets, and never from
    /// `10.0.x`, where the user-mode network lives.
    pub fn for_cluster(dir: &Path) -> Self {
        let h = Sha256::digest(dir.display().to_string().as_bytes());
        Switch {
            group: Ipv4Addr::new(239, h[0], h[1], h[2].max(1)),
            port: 20_000 + u16::from_be_bytes([h[3], h[4]]) % 30_000,
            subnet: [16 + h[5] % 224, h[6]],
        }
    }

    /// `239.a.b.c:port`, as recorded in the cluster's state and given to QEMU.
    pub fn endpoint(&self) -> String {
        format!("{}:{}", self.group, self.port)
    }

    /// Reads back what [`Switch::endpoint`] and [`Switch::subnet_text`] wrote.
    pub fn parse(endpoint: &str, subnet: &str) -> Option<Self> {
        let (group, port) = endpoint.split_once(':')?;
        let octets: Vec<u8> = subnet
            .strip_suffix(".0/24")?
            .split('.')
            .map(|o| o.parse().ok())
            .collect::<Option<_>>()?;
        match octets[..] {
            [10, a, b] => Some(Switch {
                group: group.parse().ok()?,
                port: port.parse().ok()?,
                subnet: [a, b],
            }),
            _ => None,
        }
    }

    pub fn subnet_text(&self) -> String {
        format!("10.{}.{}.0/24", self.subnet[0], self.subnet[1])
    }

    /// Node `index`'s address on the switch.
    pub fn address(&self, index: usize) -> String {
        assert!(index < MAX_NODES, "at most {MAX_NODES} nodes on a switch");
        format!("10.{}.{}.{}", self.subnet[0], self.subnet[1], index + 10)
    }
}

/// Node `index`'s MAC on its user-mode NIC (`nic` 0) or on the switch (`nic` 1).
pub fn mac(nic: u8, index: usize) -> String {
    format!("52:54:00:{nic:02x}:{:02x}:{:02x}", index >> 8, index & 0xff)
}

/// The bundle's `network` entry for node `index`: its switch NIC (the image's DHCP client brings up
/// the user-mode one, with the default route).
pub fn network_entry(switch: &Switch, index: usize) -> String {
    format!("{} {}/24\n", mac(1, index), switch.address(index))
}

/// `count` free TCP ports on 127.0.0.1, all different (held open until all are found).
pub fn free_ports(count: usize) -> std::io::Result<Vec<u16>> {
    let listeners: Vec<TcpListener> = (0..count)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<Result<_, _>>()?;
    listeners
        .iter()
        .map(|l| l.local_addr().map(|a| a.port()))
        .collect()
}

/// Whether every one of `ports` can be listened on at 127.0.0.1 now.
fn ports_free<'a>(mut ports: impl Iterator<Item = &'a u16>) -> bool {
    ports.all(|&p| TcpListener::bind(("127.0.0.1", p)).is_ok())
}

/// A placed node whose VM is `stopped` (its host restarted) boots again with the forwards it had,
/// unless another program took one of their host ports meanwhile: those nodes get new ones.
pub fn move_taken_forwards(
    nodes: &mut [NodeState],
    stopped: impl Fn(&NodeState) -> bool,
) -> Result<(), LaunchError> {
    let moving: Vec<usize> = (0..nodes.len())
        .filter(|&i| {
            let node = &nodes[i];
            !node.address.is_empty() && stopped(node) && !ports_free(node.published.values())
        })
        .collect();
    let count = moving.iter().map(|&i| nodes[i].published.len()).sum();
    let mut fresh = free_ports(count)
        .map_err(|source| LaunchError::Io {
            what: "finding free ports on 127.0.0.1".into(),
            source,
        })?
        .into_iter();
    for i in moving {
        let node = &mut nodes[i];
        for host in node.published.values_mut() {
            *host = fresh.next().unwrap_or(*host);
        }
        let now: Vec<String> = node
            .published
            .iter()
            .map(|(guest, host)| format!("127.0.0.1:{host} -> {guest}"))
            .collect();
        tracing::warn!(
            "another program took a host port of {}'s forwards since it ran: they are now {}",
            node.name,
            now.join(", ")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn switch() -> Switch {
        Switch {
            group: Ipv4Addr::new(239, 1, 2, 3),
            port: 23456,
            subnet: [77, 5],
        }
    }

    #[test]
    fn a_port_another_program_listens_on_is_not_free() {
        let held = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = held.local_addr().unwrap().port();
        let other = free_ports(1).unwrap()[0];
        assert!(!ports_free([other, port].iter()));
        drop(held);
        // A child another test spawns now holds a copy of the closed listeners until its `exec`.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while !ports_free([other, port].iter()) {
            assert!(
                std::time::Instant::now() < deadline,
                "the ports stayed taken"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    #[test]
    fn every_cluster_gets_its_own_switch_away_from_user_mode_addresses() {
        let a = Switch::for_cluster(Path::new("/state/pg"));
        let b = Switch::for_cluster(Path::new("/state/pg2"));
        assert_eq!(a, Switch::for_cluster(Path::new("/state/pg")));
        assert_ne!(a.endpoint(), b.endpoint());
        for s in [&a, &b] {
            assert!(s.subnet[0] >= 16 && s.group.is_multicast() && s.port >= 20_000);
        }
        assert_eq!(Switch::parse(&a.endpoint(), &a.subnet_text()), Some(a));
        assert_eq!(Switch::parse("239.1.2.3:5", "192.168.0.0/24"), None);
    }

    #[test]
    fn nodes_get_static_addresses_and_macs_the_agent_matches() {
        let s = switch();
        assert_eq!(s.address(0), "10.77.5.10");
        assert_eq!(s.address(2), "10.77.5.12");
        assert_eq!(mac(1, 2), "52:54:00:01:00:02");
        assert_eq!(network_entry(&s, 1), "52:54:00:01:00:01 10.77.5.11/24\n");
    }

    #[test]
    fn free_ports_differ() {
        let ports = free_ports(3).unwrap();
        assert!(ports[0] != ports[1] && ports[1] != ports[2] && ports[0] != ports[2]);
    }
}
