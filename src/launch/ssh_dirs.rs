//! Several nodes on one machine (the `ssh` provider, as the Mesos users' guide runs several slaves
//! per host): which slot each node takes on its machine, and the directories a slot's agent uses.
//! The first node on a machine (slot 0) keeps the agent's defaults (`/etc/baker/role`,
//! `/var/lib/baker`, `/var/log/baker`, `/run/baker`); slot N uses the same names with `-N`, side by
//! side rather than nested, so that removing one node's directories never touches another's. The
//! agent is pointed at them through `BAKER_BUNDLE`, `BAKER_AGENT_STATE_DIR` and
//! `BAKER_AGENT_LOG_DIR`; role templates see the slot as `{{self.slot}}`.

use super::bundle_tar::BUNDLE_DIR;
use super::inventory::{Host, parse_host};
use super::state::NodeState;

/// One node's directories on its machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeDirs {
    /// The bundle (the agent's `BAKER_BUNDLE`).
    pub bundle: String,
    /// The agent's state: the setup marker, the role user it created.
    pub state: String,
    /// The role log and the agent's own output.
    pub log: String,
    /// The agent's pid (a tmpfs: a reboot forgets it).
    pub run: String,
}

/// The machine's own baker directory, shared by every slot: their bundles, the claims of data
/// directories (`claims/`, which the agent makes; see `images/agent/baker-agent`), and the lock of
/// what looks at the other nodes (the agent's `BAKER_AGENT_MACHINE_DIR`).
pub const MACHINE_DIR: &str = "/etc/baker";

/// The bundle directories of every slot, as a shell glob (the first node's and the `-N` ones).
pub const ALL_BUNDLES: &str = "/etc/baker/role /etc/baker/role-[0-9]*";

impl NodeDirs {
    pub fn of_slot(slot: usize) -> Self {
        let at = |base: &str| {
            if slot == 0 {
                base.to_owned()
            } else {
                format!("{base}-{slot}")
            }
        };
        Self {
            bundle: at(BUNDLE_DIR),
            state: at("/var/lib/baker"),
            log: at("/var/log/baker"),
            run: at("/run/baker"),
        }
    }

    pub fn pidfile(&self) -> String {
        format!("{}/agent.pid", self.run)
    }

    /// When the agent's process started (field 22 of `/proc/PID/stat`, clock ticks since boot):
    /// it stays through the agent's exec into the role, and tells that process from a later one
    /// given the same pid.
    pub fn start_file(&self) -> String {
        format!("{}/agent.start", self.run)
    }

    /// The agent's own output before it opens its role log.
    pub fn agent_out(&self) -> String {
        format!("{}/agent.out", self.log)
    }

    pub fn role_log(&self) -> String {
        format!("{}/role.log", self.log)
    }
}

/// The machine a host names: its address and SSH port (the user does not make another machine).
pub(super) fn machine(host: &Host) -> (&str, u16) {
    (host.host.as_str(), host.port)
}

/// Gives each node that has a machine but no address yet (about to be placed) the first slot no
/// other node of the cluster holds on that machine; nodes placed before keep theirs.
pub fn assign_slots(nodes: &mut [NodeState], todo: &[usize]) {
    let hosts: Vec<Option<Host>> = nodes
        .iter()
        .map(|n| n.provider_id.as_deref().and_then(|p| parse_host(p).ok()))
        .collect();
    for &i in todo {
        let Some(mine) = &hosts[i] else { continue };
        let taken: Vec<usize> = (0..nodes.len())
            .filter(|&j| j != i && (!todo.contains(&j) || j < i))
            .filter(|&j| {
                hosts[j]
                    .as_ref()
                    .is_some_and(|h| machine(h) == machine(mine))
            })
            .map(|j| nodes[j].slot)
            .collect();
        nodes[i].slot = (0..).find(|s| !taken.contains(s)).unwrap_or_default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::launch::provider::WantedNode;
    use crate::recipe::RoleKind;

    fn node(name: &str, host: &str) -> NodeState {
        let mut n = WantedNode {
            name: name.into(),
            role: "r".into(),
            kind: RoleKind::Slave,
        }
        .unplaced();
        n.provider_id = Some(host.into());
        n
    }

    #[test]
    fn nodes_sharing_a_machine_take_the_next_slots_and_a_new_node_the_first_free_one() {
        let mut nodes = vec![
            node("m", "a:22"),
            node("s1", "b:22"),
            node("s2", "root@b:22"),
            node("s3", "b:2222"),
            node("s4", "a:22"),
        ];
        assign_slots(&mut nodes, &[0, 1, 2, 3, 4]);
        let slots: Vec<usize> = nodes.iter().map(|n| n.slot).collect();
        assert_eq!(slots, [0, 0, 1, 0, 1]);
        // s1 was destroyed and is placed again (resume): slot 0 is free again, s2 keeps slot 1.
        nodes[1].slot = 7;
        assign_slots(&mut nodes, &[1]);
        assert_eq!(nodes[1].slot, 0);
        assert_eq!(nodes[2].slot, 1);
    }

    #[test]
    fn slot_zero_keeps_the_agents_defaults_and_the_others_sit_beside_them() {
        let first = NodeDirs::of_slot(0);
        assert_eq!(first.bundle, "/etc/baker/role");
        assert_eq!(first.pidfile(), "/run/baker/agent.pid");
        assert_eq!(first.role_log(), "/var/log/baker/role.log");
        let second = NodeDirs::of_slot(2);
        assert_eq!(second.bundle, "/etc/baker/role-2");
        assert_eq!(second.state, "/var/lib/baker-2");
        assert_eq!(second.agent_out(), "/var/log/baker-2/agent.out");
        assert!(!second.run.starts_with(&format!("{}/", first.run)));
    }
}
