//! The `docker` provider's commands on one node, run with the `docker` client on the user's
//! terminal (`baker login`, with or without a command, and `baker logs -f`), and how it finds a
//! node's container again when the cluster's state does not record it: a launch interrupted after
//! starting containers but before recording their ids left them running, by their names; and
//! whether a node's container started again since its role was checked ready. `status` shows a
//! container by its short id.

use std::io::IsTerminal;

use super::docker::{DockerProvider, network_name};
use super::docker_owner::Owner;
use super::provider::ROLE_LOG;
use super::state::{ClusterState, NodeState};
use crate::engine::unix_seconds;

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
    /// `node` as the engine has it now (see [`super::provider::Provider::located`]): with its
    /// container's id and published host ports when its state lacks them and the engine has a
    /// container of that name of the cluster; and not ready when its container started since it
    /// was checked ready (`docker restart`, or `docker start` after the host restarted): its
    /// role was not checked since. Else `node` as it is.
    pub(super) async fn find_container(&self, state: &ClusterState, node: &NodeState) -> NodeState {
        let mut found = node.clone();
        let recorded = node.provider_id.as_deref();
        let Ok(Some(container)) = self.engine.container(recorded.unwrap_or(&node.name)).await
        else {
            return found;
        };
        // Found by its name, it is the node's only when it is the cluster's.
        if recorded.is_none() && !Owner::of(state).owns(&state.name, &container.found.labels) {
            return found;
        }
        if container.running
            && restarted_since(
                container.started_at.as_deref(),
                node.ready_since,
                self.on.clock_ahead,
            )
        {
            found.ready = false;
        }
        if recorded.is_some() {
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

/// How many seconds after a node was checked ready its container must have started for it to be
/// taken as started again: the ready time is in whole seconds of this host's clock, and the start
/// time's reading of the engine's clock is off by a second or so.
const CLOCK_SLACK: i64 = 2;

/// Whether a container that started at `started_at` (RFC 3339, on the engine's clock, which is
/// `clock_ahead` seconds ahead of this host's) started after its node was checked ready at
/// `ready_since` (seconds since the epoch on this host's clock).
fn restarted_since(started_at: Option<&str>, ready_since: Option<u64>, clock_ahead: i64) -> bool {
    let (Some(started), Some(ready)) = (started_at.and_then(unix_seconds), ready_since) else {
        return false;
    };
    let ready = i64::try_from(ready).unwrap_or(i64::MAX);
    started - clock_ahead > ready.saturating_add(CLOCK_SLACK)
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
    fn a_container_started_after_its_node_was_checked_ready_was_restarted() {
        let at = |secs: u64| {
            humantime::format_rfc3339_nanos(
                std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs),
            )
            .to_string()
        };
        // Started, then ready in the same second or the next: not restarted.
        assert!(!restarted_since(Some(&at(100)), Some(100), 0));
        assert!(!restarted_since(Some(&at(100)), Some(101), -1));
        // `docker restart` a minute after it was ready.
        assert!(restarted_since(Some(&at(160)), Some(100), 0));
        // The same, on an engine whose clock is an hour ahead, or behind.
        assert!(!restarted_since(Some(&at(3700)), Some(100), 3600));
        assert!(restarted_since(Some(&at(3760)), Some(100), 3600));
        assert!(restarted_since(Some(&at(60)), Some(100), -3600));
        // Never checked ready, or never started: nothing to compare.
        assert!(!restarted_since(Some(&at(160)), None, 0));
        assert!(!restarted_since(None, Some(100), 0));
    }

    #[test]
    fn following_tails_the_role_log() {
        assert_eq!(
            follow_command("c0ffee", 20).join(" "),
            format!("docker exec c0ffee tail -n 20 -F {ROLE_LOG}")
        );
    }
}
