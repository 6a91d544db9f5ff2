//! The `ssh` provider: existing machines from an inventory (see [`super::inventory`]), reached with
//! the system's OpenSSH client (see [`super::ssh_shell`]) as root or through `sudo -n`. A machine
//! listed for several nodes runs them side by side, each in its own slot (its own directories, and
//! `{{self.slot}}` for the role's ports; see [`super::ssh_dirs`]). Before anything is made, every
//! machine must answer over SSH, have root, and run no other baker node. Placing a node installs
//! what the docker provider bakes into its node image — the recipe's runtime packages when
//! missing, the build's tarball unpacked at `/`, the role agent — once per machine, and starting
//! it writes its bundle and starts the agent detached, so it outlives the connection. `destroy`
//! stops the agent and what it started, and removes the bundle, the role's state and logs, never
//! another node's; the installed software stays (see [`super::ssh_destroy`]).

use std::collections::BTreeMap;
use std::path::PathBuf;

use futures_util::future::join_all;

use super::bundle::NodeBundle;
use super::error::LaunchError;
use super::inventory::{Host, parse_host, read_inventory};
use super::provider::{Provider, Removed};
use super::readiness::NodeShell;
use super::ssh_destroy::destroy as destroy_script;
use super::ssh_dirs::{NodeDirs, assign_slots, machine};
use super::ssh_repos::Repositories;
use super::ssh_scripts::{self as scripts, AS_ROOT, SshNode, address, tail};
use super::ssh_shell::SshTarget;
use super::state::{ClusterState, NodeState, StateDir};
use crate::image::assets::AGENT;
use crate::plan::Plan;

#[derive(Debug, thiserror::Error)]
pub enum SshError {
    #[error("cannot reach {host} over SSH: {why}")]
    Unreachable { host: String, why: String },
    #[error(
        "{host}: the SSH user is not root and `sudo -n` does not work there; log in as root (--ssh-user root) or allow it password-less sudo"
    )]
    NotRoot { host: String },
    #[error(
        "{host} runs baker node {node} already; `baker destroy` its cluster first, or list another machine"
    )]
    Busy { host: String, node: String },
    #[error("{step} on {host} failed (exit code {code}):\n{output}")]
    Step {
        host: String,
        step: String,
        code: i64,
        output: String,
    },
    #[error("cannot find the address of {host}: {why}")]
    Address { host: String, why: String },
}

/// Machines over SSH.
pub struct SshProvider {
    /// The machines of the launch's nodes, master first; empty when every node is placed already.
    pub hosts: Vec<Host>,
    /// The SSH user for hosts the inventory names without one (empty: the SSH config's).
    pub user: String,
    /// `--ssh-key`; `None`: the user's own identities and config.
    pub key: Option<PathBuf>,
    /// The build's tarball and its sha256, for placing nodes.
    pub tarball: Option<(PathBuf, String)>,
    /// The plan's package repositories, added to a machine that misses runtime packages.
    pub repositories: Option<Repositories>,
}

impl SshProvider {
    /// What a launch records in the state's resources, for `--resume`, `destroy` and the rest.
    pub fn resources(&self, inventory: &std::path::Path) -> BTreeMap<String, String> {
        let mut r = BTreeMap::from([
            ("inventory".to_owned(), inventory.display().to_string()),
            ("ssh-user".to_owned(), self.user.clone()),
        ]);
        if let Some(key) = &self.key {
            r.insert("ssh-key".into(), key.display().to_string());
        }
        if let Some((tarball, sha256)) = &self.tarball {
            r.insert("tarball".into(), tarball.display().to_string());
            r.insert("tarball-sha256".into(), sha256.clone());
        }
        r
    }

    /// The provider of a launched cluster, from its state: each node's machine is the one it was
    /// placed on; the inventory is read again only for a node that has none (a resumed launch
    /// places again a node that was never placed, or that stopped), so later commands do not need it.
    pub fn from_state(state: &ClusterState) -> Self {
        let get = |k: &str| state.resources.get(k).cloned();
        let listed = match get("inventory") {
            Some(path) => {
                let slaves = state.nodes.len().saturating_sub(1);
                read_inventory(std::path::Path::new(&path)).and_then(|i| i.assign(slaves))
            }
            None => Ok(Vec::new()),
        };
        let mut hosts = Vec::new();
        for (i, node) in state.nodes.iter().enumerate() {
            match node.provider_id.as_deref().map(parse_host) {
                Some(Ok(host)) => hosts.push(host),
                // Without the inventory, the nodes from here on have no machine: `place` says so,
                // and `destroy` has nothing to do on them.
                _ => match listed.as_ref().ok().and_then(|l| l.get(i)) {
                    Some(host) => hosts.push(host.clone()),
                    None => break,
                },
            }
        }
        Self {
            hosts,
            user: get("ssh-user").unwrap_or_default(),
            key: get("ssh-key").map(PathBuf::from),
            tarball: get("tarball")
                .zip(get("tarball-sha256"))
                .map(|(t, s)| (PathBuf::from(t), s)),
            // Set by whoever places nodes again (a resumed launch), from the launched plan.
            repositories: None,
        }
    }

    /// The shell of the node in `slot` on `host`'s machine.
    fn node_at(&self, host: &Host, slot: usize) -> SshNode {
        SshNode {
            dirs: NodeDirs::of_slot(slot),
            target: SshTarget {
                host: host.host.clone(),
                port: host.port,
                user: if host.user.is_empty() {
                    self.user.clone()
                } else {
                    host.user.clone()
                },
                key: self.key.clone(),
            },
        }
    }

    /// The machine a placed node is on (its provider id is the host as the inventory named it).
    pub(super) fn node(&self, node: &NodeState) -> Option<SshNode> {
        let host = parse_host(node.provider_id.as_deref()?).ok()?;
        Some(self.node_at(&host, node.slot))
    }

    /// Checks, before anything is made, that every machine answers over SSH, gives root and runs
    /// no baker node; the first that does not is the error.
    pub async fn check_hosts(&self) -> Result<(), SshError> {
        let probes = join_all(self.hosts.iter().map(|h| async move {
            (
                h,
                self.node_at(h, 0)
                    .target
                    .run_script(&scripts::probe())
                    .await,
            )
        }))
        .await;
        for (host, probe) in probes {
            let name = host.to_string();
            let out = match probe {
                Ok((0, out)) => out,
                Ok((code, out)) => {
                    let why = format!("the check exited with {code}: {}", tail(&out, 5));
                    return Err(SshError::Unreachable { host: name, why });
                }
                Err(why) => return Err(SshError::Unreachable { host: name, why }),
            };
            if out.lines().any(|l| l == "root=no") {
                return Err(SshError::NotRoot { host: name });
            }
            if let Some(node) = out.lines().find_map(|l| l.strip_prefix("node=")) {
                if !node.trim().is_empty() {
                    let node = node.trim().to_owned();
                    return Err(SshError::Busy { host: name, node });
                }
            }
        }
        Ok(())
    }

    /// Installs the runtime packages, the agent and the tarball on one machine; returns the address
    /// the other nodes reach it at.
    async fn install(&self, plan: &Plan, host: &Host) -> Result<String, LaunchError> {
        let node = self.node_at(host, 0);
        let (tarball, sha256) = self.tarball.clone().ok_or_else(|| {
            LaunchError::Input("placing a node over SSH needs the build's tarball".into())
        })?;
        let packages = plan
            .image
            .as_ref()
            .map(|i| i.runtime_packages.clone())
            .unwrap_or_default();
        let script = scripts::install(
            plan.base.package_manager,
            &packages,
            self.repositories.as_ref(),
            AGENT,
            &sha256,
        );
        let remote = format!("{AS_ROOT}bash -s");
        let out = node
            .step(
                "installing the runtime packages and the agent",
                &remote,
                script.as_bytes(),
            )
            .await?;
        if out.lines().any(|l| l == "tarball=missing") {
            let bytes = std::fs::read(&tarball).map_err(|source| LaunchError::Io {
                what: format!("reading {}", tarball.display()),
                source,
            })?;
            let what = format!("unpacking {} at /", tarball.display());
            node.step(&what, &scripts::unpack(&sha256), &bytes).await?;
        }
        Ok(address(&node).await?)
    }
}

impl Provider for SshProvider {
    type Shell<'s> = SshNode;

    fn name(&self) -> &'static str {
        "ssh"
    }

    /// Records each node's machine first (so that `destroy` reaches whatever was started), then
    /// installs every machine in parallel; a node gets its address once its machine is ready.
    async fn place(
        &self,
        plan: &Plan,
        state: &mut ClusterState,
        states: &StateDir,
    ) -> Result<(), LaunchError> {
        let inventory = state
            .resources
            .get("inventory")
            .cloned()
            .unwrap_or_default();
        let mut todo = Vec::new();
        for (i, node) in state.nodes.iter_mut().enumerate() {
            if !node.address.is_empty() {
                continue;
            }
            let host = match node.provider_id.as_deref().map(parse_host) {
                Some(Ok(host)) => host,
                _ => self.hosts.get(i).cloned().ok_or_else(|| {
                    LaunchError::Input(format!(
                        "no machine for node {}: the cluster's inventory (`{}`) does not list it",
                        node.name, inventory
                    ))
                })?,
            };
            node.provider_id = Some(host.to_string());
            todo.push((i, host));
        }
        let placing: Vec<usize> = todo.iter().map(|(i, _)| *i).collect();
        assign_slots(&mut state.nodes, &placing);
        states.save(state)?;
        // A machine listed for several nodes is installed once; each of its nodes gets its address.
        let mut machines: Vec<&Host> = Vec::new();
        for (_, host) in &todo {
            if !machines.iter().any(|m| machine(m) == machine(host)) {
                machines.push(host);
            }
        }
        let installed = join_all(machines.iter().map(|h| self.install(plan, h))).await;
        let mut first_error = None;
        for (installed_on, result) in machines.iter().zip(installed) {
            match result {
                Ok(address) => {
                    for (i, host) in &todo {
                        if machine(host) == machine(installed_on) {
                            state.nodes[*i].address.clone_from(&address);
                        }
                    }
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        states.save(state)?;
        first_error.map_or(Ok(()), Err)
    }

    async fn start(
        &self,
        state: &ClusterState,
        index: usize,
        bundle: &NodeBundle,
    ) -> Result<(), LaunchError> {
        let node = &state.nodes[index];
        let shell = self
            .node(node)
            .ok_or_else(|| LaunchError::Input(format!("node {} has no machine", node.name)))?;
        let tar = bundle.to_tar().map_err(|source| LaunchError::Io {
            what: format!("packing the bundle of {}", node.name),
            source,
        })?;
        shell
            .step(
                "starting the role agent",
                &scripts::start(&shell.dirs),
                &tar,
            )
            .await?;
        Ok(())
    }

    fn shell(&self, node: &NodeState) -> SshNode {
        self.node(node).unwrap_or_else(|| {
            let host = Host {
                user: String::new(),
                host: node.address.clone(),
                port: 22,
            };
            self.node_at(&host, node.slot)
        })
    }

    fn login_command(&self, node: &NodeState, command: &[String]) -> Vec<String> {
        self.shell(node).target.login_args(command)
    }

    fn follow_command(&self, node: &NodeState, lines: usize) -> Vec<String> {
        let shell = self.shell(node);
        let mut command = shell.target.ssh_args(false);
        command.push(format!("tail -n {lines} -F {}", shell.dirs.role_log()));
        command
    }

    async fn role_log(&self, node: &NodeState, lines: usize) -> Vec<String> {
        let shell = self.shell(node);
        match shell.run(&scripts::role_log(&shell.dirs, lines)).await {
            Ok((_, out)) => out.lines().map(str::to_owned).collect(),
            Err(why) => vec![format!("(cannot read the log: {why})")],
        }
    }

    /// Whether the agent runs, as far as can be told now: an unreachable machine is not.
    async fn alive(&self, node: &NodeState) -> bool {
        match self.node(node) {
            Some(shell) => matches!(shell.run(&scripts::alive(&shell.dirs)).await, Ok((0, _))),
            None => false,
        }
    }

    /// Cleans each node's slot on the machine it was placed on; a slot that now holds another node
    /// is left alone, a machine that cannot be reached fails the destroy (the state stays, to try
    /// again). Nodes sharing a machine never touch each other's directories.
    async fn destroy(&self, state: &ClusterState) -> Result<Removed, LaunchError> {
        let cleaned = join_all(state.nodes.iter().filter_map(|node| {
            let shell = self.node(node)?;
            Some(async move {
                let script = destroy_script(&node.name, &shell.dirs);
                (shell.target.host.clone(), shell.run(&script).await)
            })
        }))
        .await;
        let mut removed = 0;
        for (host, result) in cleaned {
            match result {
                Ok((0, _)) => removed += 1,
                Ok((3, _)) => {}
                Ok((code, output)) => {
                    let step = "stopping and removing the node".to_owned();
                    let output = tail(&output, 20);
                    return Err(SshError::Step {
                        host,
                        step,
                        code,
                        output,
                    }
                    .into());
                }
                Err(why) => return Err(SshError::Unreachable { host, why }.into()),
            }
        }
        Ok(Removed {
            nodes: removed,
            networks: 0,
        })
    }
}
