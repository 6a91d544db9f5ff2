//! What a provider does for a launch, so that [`super::run`] drives one sequence on every provider:
//! place the nodes (after which each has the address the others reach it at), render every node's
//! bundle with all the addresses, start each node with its bundle, then wait for the roles' checks
//! through the provider's shell. Every provider chooses or learns each node's address before the node
//! runs (a container's on a subnet baker gives its network, a VM's on its switch, a machine's from the
//! inventory), so every node starts with its bundle in hand.

use super::bundle::NodeBundle;
use super::error::LaunchError;
use super::readiness::NodeShell;
use super::state::{ClusterState, NodeState, StateDir};
use crate::plan::Plan;
use crate::recipe::RoleKind;

/// A node the launch asks for: its name and role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WantedNode {
    pub name: String,
    pub role: String,
    pub kind: RoleKind,
}

impl WantedNode {
    /// The node's state before it is placed: no handle, no address.
    pub fn unplaced(&self) -> NodeState {
        NodeState {
            name: self.name.clone(),
            role: self.role.clone(),
            kind: self.kind,
            provider_id: None,
            address: String::new(),
            published: Default::default(),
            ready: false,
            ready_since: None,
            slot: 0,
        }
    }
}

pub trait Provider: Sync {
    /// A shell on one node, for readiness checks, smoke tests and logs.
    type Shell<'a>: NodeShell + Sync
    where
        Self: 'a;

    /// The name recorded in the cluster's state (`docker`, `qemu`, `ssh`).
    fn name(&self) -> &'static str;

    /// Whether the host ports a node's ports are published on are this host's, so that HTTP
    /// checks reach them on its loopback (see [`super::host_http`]): a local engine's and QEMU's
    /// are; a remote engine's are on its own host, and the `ssh` provider publishes none.
    fn publishes_here(&self) -> bool {
        false
    }

    /// Whether the slaves are started all at once (after the masters) or one after another. Where
    /// starting a node costs this machine's CPU (the local engine's container setup), starting
    /// them together slows the master's own setup, which every slave waits for.
    fn slaves_start_together(&self) -> bool {
        true
    }

    /// Creates what the cluster shares (a network, a switch) and places every node of `state`
    /// whose address is still empty (the plan says each role's ports), recording each resource and node in `state` and saving it as
    /// it goes, so that `destroy` finds whatever an interrupted launch made.
    fn place(
        &self,
        plan: &Plan,
        state: &mut ClusterState,
        states: &StateDir,
    ) -> impl Future<Output = Result<(), LaunchError>> + Send;

    /// Hands node `index` its bundle and starts its role. A resumed launch repeats it for every
    /// node: a node that runs already keeps the bundle it has (the agent takes only the first),
    /// and a node that was ready and stopped starts again over its own disk (its container, its
    /// VM's overlay, its machine), so that what its role wrote is still there.
    fn start(
        &self,
        state: &ClusterState,
        index: usize,
        bundle: &NodeBundle,
    ) -> impl Future<Output = Result<(), LaunchError>> + Send;

    /// Records in `state` what starting the nodes told the provider (a container's id and the host
    /// ports the engine picked); nothing for providers that knew it all when placing.
    fn started(
        &self,
        state: &mut ClusterState,
    ) -> impl Future<Output = Result<(), LaunchError>> + Send {
        let _ = state;
        async { Ok(()) }
    }

    fn shell<'a>(&'a self, node: &NodeState) -> Self::Shell<'a>;

    /// `baker login`'s command line: with no `command`, one that opens an interactive shell on the
    /// node; else one that runs `command` there (its words read by the node's shell, as `ssh HOST
    /// COMMAND` reads them) without a terminal, exiting with its exit code.
    fn login_command(&self, node: &NodeState, command: &[String]) -> Vec<String>;

    /// The command line that prints the last `lines` lines of the node's role log and follows it
    /// (`baker logs -f`).
    fn follow_command(&self, node: &NodeState, lines: usize) -> Vec<String>;

    /// The last `lines` lines of the node's role log (or of its console when there is none yet).
    fn role_log(&self, node: &NodeState, lines: usize) -> impl Future<Output = Vec<String>> + Send;

    /// Whether the node still runs.
    fn alive(&self, node: &NodeState) -> impl Future<Output = bool> + Send;

    /// Node `node` of cluster `state` as the provider finds it now. A launch interrupted between
    /// starting a node and recording what the start told it (a container's id and host ports)
    /// left the state without them: a provider that can find the node by its name fills them in.
    /// By default, the node as recorded.
    fn located(
        &self,
        state: &ClusterState,
        node: &NodeState,
    ) -> impl Future<Output = NodeState> + Send {
        let _ = state;
        let node = node.clone();
        async move { node }
    }

    /// The node's id as `status` shows it, by default its provider id whole (`-` when it has none).
    fn shown_id(&self, node: &NodeState) -> String {
        node.provider_id.clone().unwrap_or_else(|| "-".to_owned())
    }

    /// Where the nodes' serial consoles are written, with `<node>` for a node's name: for VMs,
    /// whose console tells what a node is doing before its role can be asked. None elsewhere.
    fn console_logs(&self) -> Option<std::path::PathBuf> {
        None
    }

    /// Removes everything cluster `state` made; safe to repeat and on a half-made cluster.
    /// Returns what it removed.
    fn destroy(
        &self,
        state: &ClusterState,
    ) -> impl Future<Output = Result<Removed, LaunchError>> + Send;
}

/// What a destroy removed: the nodes (containers, VMs with their overlays, or machines' slots) and
/// the networks made for the cluster alone.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Removed {
    pub nodes: usize,
    pub networks: usize,
}

impl Removed {
    pub fn nothing(self) -> bool {
        self == Self::default()
    }
}

/// The role agent's path in every image.
pub const AGENT_PATH: &str = "/usr/lib/baker/baker-agent";

/// The tail of the agent's role log, as a shell command.
pub fn role_log_script(lines: usize) -> String {
    format!("tail -n {lines} {ROLE_LOG} 2>/dev/null")
}

/// The agent's role log on a node that runs one role.
pub const ROLE_LOG: &str = "/var/log/baker/role.log";

/// For a Mesos slave, the newest task sandbox's stderr, as a shell command (prints nothing elsewhere):
/// under the `--work_dir` of the role's command in `bundle_dir` (a second slave on a machine has
/// its own), else `/var/lib/mesos`.
pub fn failed_task_script(bundle_dir: &str) -> String {
    format!(
        "w=$(grep -o -- '--work_dir=[^ ]*' {bundle_dir}/command.sh 2>/dev/null | head -n 1 | cut -d= -f2); \
         f=$(ls -t ${{w:-/var/lib/mesos}}/slaves/*/frameworks/*/executors/*/runs/latest/stderr 2>/dev/null | head -n 1); \
         [ -n \"$f\" ] && {{ echo \"== $f\"; tail -n 40 \"$f\"; }}; true"
    )
}

/// Starts every node of `state` with its bundle. Masters start first and the slaves after them
/// (together, unless the provider says otherwise): every slave waits for a master, so the master's
/// own setup (e.g. initdb) should not queue behind the slaves' starts on the provider (container
/// creation, VM spawn, SSH).
pub async fn start_nodes<P: Provider>(
    provider: &P,
    state: &ClusterState,
    bundles: &[NodeBundle],
) -> Result<(), LaunchError> {
    let (masters, slaves): (Vec<usize>, Vec<usize>) =
        (0..bundles.len()).partition(|&i| state.nodes[i].kind == RoleKind::Master);
    let start = |i: usize| provider.start(state, i, &bundles[i]);
    futures_util::future::try_join_all(masters.iter().map(|&i| start(i))).await?;
    if provider.slaves_start_together() {
        futures_util::future::try_join_all(slaves.iter().map(|&i| start(i))).await?;
    } else {
        for i in slaves {
            start(i).await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A second slave's failed task is found under its own `--work_dir`, read from its bundle.
    #[test]
    fn the_failed_task_is_looked_for_in_the_nodes_own_work_dir() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().display().to_string();
        let bundle = format!("{root}/role-1");
        let run = format!("{root}/mesos-1/slaves/s/frameworks/f/executors/e/runs/latest");
        std::fs::create_dir_all(&bundle).unwrap();
        std::fs::create_dir_all(&run).unwrap();
        let command = format!("exec mesos-slave --port=5052 --work_dir={root}/mesos-1 --x=y\n");
        std::fs::write(format!("{bundle}/command.sh"), command).unwrap();
        std::fs::write(format!("{run}/stderr"), "task failed: no such file\n").unwrap();
        let out = std::process::Command::new("bash")
            .args(["-c", &failed_task_script(&bundle)])
            .output()
            .unwrap();
        let out = String::from_utf8_lossy(&out.stdout);
        assert!(out.starts_with(&format!("== {run}/stderr")), "{out}");
        assert!(out.contains("task failed: no such file"), "{out}");
    }
}
