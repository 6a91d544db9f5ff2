//! The `docker` provider's commands on one node, run with the `docker` client on the user's
//! terminal (`baker login`, with or without a command, and `baker logs -f`), and how it finds a
//! node's container again when the cluster's state does not record it: a launch interrupted after
//! starting containers but before recording their ids left them running, by their names. `status`
//! shows a container by its short id.

use std::io::IsTerminal;

use super::docker::{DockerProvider, network_name};
use super::docker_owner::Owner;
use super::provider::ROLE_LOG;
use super::state::{ClusterState, NodeState};

/// `docker exec` into container `id`: a login shell (on a terminal when baker's own input is one;
/// piped input runs as a script, as over SSH), or with `command`, that command read by bash (as
/// `ssh HOST COMMAND` has the remote shell read it) with baker's input and no terminal.
pub fn login_command(id: &str, command: &[String], input_is_terminal: bool) -> Vec<String> {
    let mut line: Vec<String> = ["docker", "exec"].map(str::to_owned).to_vec();
    if command.is_empty() {
        let input = if input_is_terminal { "-it" } else { "-i" };
        line.extend([input, id, "bash", "-l"].map(str::to_owned));
    } else {
        line.extend(["-i", id, "bash", "-lc"].map(str::to_owned));
        line.push(command.join(" "));
    }
    line
}

/// Whether baker's own input is a terminal, for [`login_command`].
pub fn stdin_is_terminal() -> bool {
    std::io::stdin().is_terminal()
}

/// `docker exec` printing the last `lines` lines of the role log of container `id`, then following it.
pub fn follow_command(id: &str, lines: usize) -> Vec<String> {
    let lines = lines.to_string();
    ["docker", "exec", id, "tail", "-n", &lines, "-F", ROLE_LOG]
        .map(str::to_owned)
        .to_vec()
}

impl DockerProvider<'_> {
    /// `node` with its container's id and published host ports when its state lacks them and the
    /// engine has a container of that name of the cluster (see
    /// [`super::provider::Provider::located`]); else `node` as it is. A container of that name
    /// that does not carry the cluster's labels ([`super::docker_owner`]) is not the node's.
    pub(super) async fn find_container(&self, state: &ClusterState, node: &NodeState) -> NodeState {
        let mut found = node.clone();
        if node.provider_id.is_some() {
            return found;
        }
        let Ok(Some(container)) = self.engine.container(&node.name).await else {
            return found;
        };
        if !Owner::of(state).owns(&state.name, &container.found.labels) {
            return found;
        }
        let id = container.found.id;
        let network = network_name(&state.name);
        if let Ok((_, published)) = self.engine.node_address(&id, &network).await {
            if !published.is_empty() {
                found.published = published;
            }
        }
        found.provider_id = Some(id);
        found
    }
}

/// A node's container as `status` shows it: its id's first 12 characters, as `docker ps` does;
/// `-` when none is known.
pub fn short_id(node: &NodeState) -> String {
    let id = node.provider_id.as_deref().unwrap_or("-");
    id[..12.min(id.len())].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_container_is_shown_by_its_short_id() {
        let node = |id: Option<&str>| NodeState {
            provider_id: id.map(str::to_owned),
            ..crate::launch::provider::WantedNode {
                name: "pg-primary".into(),
                role: "primary".into(),
                kind: crate::recipe::RoleKind::Master,
            }
            .unplaced()
        };
        assert_eq!(
            short_id(&node(Some("579657c93a45deadbeef"))),
            "579657c93a45"
        );
        assert_eq!(short_id(&node(Some("c0ffee"))), "c0ffee");
        assert_eq!(short_id(&node(None)), "-");
    }

    #[test]
    fn a_login_opens_a_shell_and_a_command_runs_without_a_terminal() {
        let on_terminal = login_command("c0ffee", &[], true).join(" ");
        assert_eq!(on_terminal, "docker exec -it c0ffee bash -l");
        assert_eq!(
            login_command("c0ffee", &[], false).join(" "),
            "docker exec -i c0ffee bash -l"
        );
        let command = ["psql".to_owned(), "-c".to_owned(), "'select 1'".to_owned()];
        assert_eq!(
            login_command("c0ffee", &command, true),
            [
                "docker",
                "exec",
                "-i",
                "c0ffee",
                "bash",
                "-lc",
                "psql -c 'select 1'"
            ]
        );
    }

    #[test]
    fn following_tails_the_role_log() {
        assert_eq!(
            follow_command("c0ffee", 20).join(" "),
            format!("docker exec c0ffee tail -n 20 -F {ROLE_LOG}")
        );
    }
}
