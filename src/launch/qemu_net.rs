//! The network of a `qemu` cluster, which needs no root anywhere. Every node has two NICs. The first
//! is QEMU's user-mode network, which forwards ports on 127.0.0.1 to the guest (SSH and the role's
//! ports); the image's own DHCP client takes its address there (10.0.2.15) and the default route,
//! as it would on a cloud, so every launch proves that part of the image. The second joins the
//! cluster's switch: a UDP multicast group on the loopback interface
//! (`-netdev socket,mcast=…,localaddr=127.0.0.1`), one group and port per cluster, with a static
//! address per node on a cluster-specific /24 that the provider knows before any VM boots. The role
//! agent sets that one from the bundle's `network` entry, matching the NIC by its MAC. A VM that
//! boots again keeps its forwards unless another program took one of their host ports meanwhile.
//! Host ports are picked free, and never one recorded for another node (whose VM, stopped, will
//! listen there again), but QEMU binds them only when the VM starts, seconds or minutes later:
//! one that another program took meanwhile makes QEMU fail ([`forwarding_failed`]), and the node
//! gets new ones.

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, TcpListener};
use std::path::Path;

use std::collections::BTreeMap;

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

/// `count` free TCP ports on 127.0.0.1, all different and none of `recorded` (the host ports of
/// the cluster's nodes, which a VM that stopped listens on again when it starts); each is held
/// open until all are found.
pub fn free_ports(count: usize, recorded: &BTreeSet<u16>) -> Result<Vec<u16>, LaunchError> {
    pick_ports(count, recorded, || {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        Ok((listener.local_addr()?.port(), listener))
    })
    .map_err(|source| LaunchError::Io {
        what: "finding free ports on 127.0.0.1".into(),
        source,
    })
}

/// `count` ports from `bind` (a free port and what holds it), skipping those in `recorded`; what
/// holds each is dropped only at the end, so that `bind` never gives one twice.
fn pick_ports<T>(
    count: usize,
    recorded: &BTreeSet<u16>,
    mut bind: impl FnMut() -> std::io::Result<(u16, T)>,
) -> std::io::Result<Vec<u16>> {
    let mut held = Vec::new();
    let mut ports = Vec::with_capacity(count);
    while ports.len() < count {
        let (port, holder) = bind()?;
        if !recorded.contains(&port) {
            ports.push(port);
        }
        held.push(holder);
    }
    Ok(ports)
}

/// The host ports recorded for the nodes of a cluster.
pub fn recorded_ports(nodes: &[NodeState]) -> BTreeSet<u16> {
    nodes
        .iter()
        .flat_map(|node| node.published.values().copied())
        .collect()
}

/// Whether QEMU failed to start because it could not listen on a forward's host port (another
/// program took it since it was picked): `error` holds what QEMU said.
pub fn forwarding_failed(error: &LaunchError) -> bool {
    error
        .to_string()
        .to_lowercase()
        .contains("set up host forwarding rule")
}

/// What to say of node `name`'s forwards moved to new host ports, `forwards` (guest -> host),
/// because another program took one `since` (`it ran`, say).
pub fn moved_note(name: &str, forwards: &BTreeMap<u16, u16>, since: &str) -> String {
    let now: Vec<String> = forwards
        .iter()
        .map(|(guest, host)| format!("127.0.0.1:{host} -> {guest}"))
        .collect();
    format!(
        "another program took a host port of {name}'s forwards since {since}: they are now {}",
        now.join(", ")
    )
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
    let mut fresh = free_ports(count, &recorded_ports(nodes))?.into_iter();
    for i in moving {
        let node = &mut nodes[i];
        for host in node.published.values_mut() {
            *host = fresh.next().unwrap_or(*host);
        }
        tracing::warn!("{}", moved_note(&node.name, &node.published, "it ran"));
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
        let other = free_ports(1, &BTreeSet::new()).unwrap()[0];
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
        let ports = free_ports(3, &BTreeSet::new()).unwrap();
        assert!(ports[0] != ports[1] && ports[1] != ports[2] && ports[0] != ports[2]);
    }

    #[test]
    fn a_port_recorded_for_a_node_is_never_picked_for_another() {
        // The system hands out 40001 (a stopped node's, free now) first, then others.
        let mut offered = [40001, 40002, 40001, 40003, 40004].into_iter();
        let mut held = 0;
        let recorded = BTreeSet::from([40001, 40003]);
        let ports = pick_ports(2, &recorded, || {
            held += 1;
            Ok((offered.next().unwrap(), ()))
        })
        .unwrap();
        assert_eq!(ports, [40002, 40004]);
        assert_eq!(held, 5, "every port bound is held until the end");
        // For real: the ports another node recorded are left out.
        let taken = free_ports(20, &BTreeSet::new()).unwrap();
        let recorded: BTreeSet<u16> = taken.iter().copied().collect();
        let picked = free_ports(20, &recorded).unwrap();
        assert!(picked.iter().all(|p| !recorded.contains(p)), "{picked:?}");
    }

    #[test]
    fn a_forward_qemu_could_not_listen_on_is_told_from_other_start_failures() {
        let failed = |said: &str| forwarding_failed(&LaunchError::Input(said.to_owned()));
        assert!(failed(
            "starting the VM of q-primary: `qemu-system-x86_64 … -daemonize` failed (exit status: \
             1): qemu-system-x86_64: -netdev user,id=host,hostfwd=tcp:127.0.0.1:40022-:22: Could \
             not set up host forwarding rule 'tcp:127.0.0.1:40022-:22'"
        ));
        // QEMU before 6.0 said it in lower case; the tools image's QEMU through its container.
        assert!(failed(
            "starting the VM of q-primary: QEMU in baker-tools:1 exited at once: could not set up \
             host forwarding rule 'tcp:127.0.0.1:40022-:22'"
        ));
        assert!(!failed(
            "starting the VM of q-primary: `qemu-system-x86_64 … hostfwd=tcp:127.0.0.1:40022-:22 \
             … -daemonize` failed (exit status: 1): qemu-system-x86_64: cannot set up guest \
             memory 'pc.ram': Cannot allocate memory"
        ));
    }
}
