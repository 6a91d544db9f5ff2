//! The `ssh` provider: existing machines from an inventory (see [`super::inventory`]), reached with
//! the system's OpenSSH client (see [`super::ssh_shell`]) as root or through `sudo -n`. A machine
//! listed for several nodes runs them side by side, each in its own slot (its own directories, and
//! `{{self.slot}}` for the role's ports; see [`super::ssh_dirs`]). Every connection checks the
//! machine's host key ([`super::ssh_known_hosts`]). Before anything is made, every machine must
//! answer over SSH, have root, and run no other cluster's baker node ([`super::ssh_probe`]), and
//! a resumed launch checks again the machines it places nodes on. Placing a node installs
//! what the docker provider bakes into its node image — the recipe's runtime packages when
//! missing, the build's tarball unpacked at `/`, the role agent — once per machine, and starting
//! it writes its bundle and starts the agent detached, so it outlives the connection. `destroy`
//! stops the agent and what it started, and removes the bundle, the role's state and logs, never
//! another node's; the installed software stays (see [`super::ssh_destroy`]). The build's tarball
//! is kept in the cluster's directory, so that a resumed launch sends the same build
//! ([`super::ssh_tarball`]). Paths given relative are recorded absolute, for commands run from
//! another directory.

use std::net::IpAddr;
use std::path::PathBuf;

use futures_util::future::join_all;

use super::bundle::NodeBundle;
use super::error::LaunchError;
use super::inventory::{Host, parse_host};
use super::provider::{Provider, Removed};
use super::readiness::NodeShell;
use super::ssh_destroy::destroy as destroy_script;
use super::ssh_dirs::{NodeDirs, assign_slots, machine};
use super::ssh_known_hosts::HostKeys;
use super::ssh_probe::{Probed, address, peers, probe};
use super::ssh_repos::Repositories;
use super::ssh_scripts::{self as scripts, AS_ROOT, COMMAND_LIMIT, SshNode, tail};
use super::ssh_shell::{SshFailure, SshTarget};
use super::ssh_tarball::{Sendable, pin_for_launch};
use super::state::{ClusterState, NodeState, StateDir};
use crate::image::assets::AGENT;
use crate::plan::Plan;

#[derive(Debug, thiserror::Error)]
pub enum SshError {
    #[error("cannot reach {host} over SSH: {why}")]
    Unreachable { host: String, why: String },
    /// ssh refused the machine's host key; `why` names the machine and says what to do.
    #[error("{why}")]
    HostKey { host: String, why: String },
    #[error(
        "{host}: the SSH user is not root and `sudo -n` does not work there{said}; log in as root (--ssh-user root) or allow it password-less sudo"
    )]
    NotRoot { host: String, said: String },
    #[error(
        "{host}: sudo refuses to run without a terminal there (it said: {said}), as `Defaults requiretty` (CentOS 6's default) has it, and baker's SSH sessions have none; allow it for the SSH user with a sudoers drop-in holding `Defaults:{user} !requiretty` (e.g. /etc/sudoers.d/baker, mode 0440, checked with `visudo -cf`), or log in as root (--ssh-user root)"
    )]
    NeedsTty {
        host: String,
        user: String,
        said: String,
    },
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

impl SshError {
    /// ssh's own failure to reach `host`.
    pub fn ssh(host: String, failure: SshFailure) -> Self {
        match failure {
            SshFailure::HostKey(why) => Self::HostKey { host, why },
            SshFailure::Other(why) => Self::Unreachable { host, why },
        }
    }
}

/// Machines over SSH.
pub struct SshProvider {
    /// The machines of the launch's nodes, master first; empty when every node is placed already.
    pub hosts: Vec<Host>,
    /// The SSH user for hosts the inventory names without one (empty: the SSH config's).
    pub user: String,
    /// `--ssh-key`; `None`: the user's own identities and config.
    pub key: Option<PathBuf>,
    /// How the machines' host keys are checked.
    pub host_keys: HostKeys,
    /// The build's tarball and its sha256, for placing nodes.
    pub tarball: Option<(PathBuf, String)>,
    /// The plan's package repositories, added to a machine that misses runtime packages.
    pub repositories: Option<Repositories>,
    /// Why the cluster's inventory gave no machines for the nodes not placed yet, when it could not
    /// be read again (see [`SshProvider::from_state`]).
    pub inventory_error: Option<String>,
}

impl SshProvider {
    /// The shell of node `name` in `slot` on `host`'s machine (`name` empty: the machine's).
    fn node_at(&self, host: &Host, slot: usize, name: &str) -> SshNode {
        SshNode {
            dirs: NodeDirs::of_slot(slot),
            node: name.to_owned(),
            target: SshTarget {
                host: host.host.clone(),
                port: host.port,
                user: if host.user.is_empty() {
                    self.user.clone()
                } else {
                    host.user.clone()
                },
                key: self.key.clone(),
                host_keys: self.host_keys.clone(),
            },
        }
    }

    /// The machine a placed node is on (its provider id is the host as the inventory named it).
    pub(super) fn node(&self, node: &NodeState) -> Option<SshNode> {
        let host = parse_host(node.provider_id.as_deref()?).ok()?;
        Some(self.node_at(&host, node.slot, &node.name))
    }

    /// Checks, before anything is made, that every machine answers over SSH, gives root and runs
    /// no baker node; the first that does not is the error.
    pub async fn check_hosts(&self) -> Result<(), SshError> {
        let hosts: Vec<&Host> = self.hosts.iter().collect();
        self.check_machines(&hosts, &[]).await
    }

    /// Checks that every machine of `hosts` answers over SSH, gives root and runs no baker node
    /// but the cluster's own (`ours`).
    async fn check_machines(&self, hosts: &[&Host], ours: &[String]) -> Result<(), SshError> {
        self.host_keys.make_cluster_dir();
        let script = probe();
        let probes = join_all(hosts.iter().map(|h| {
            let target = self.node_at(h, 0, "").target;
            let script = script.as_bytes();
            async move { (h, target.run_remote("bash -s", script, COMMAND_LIMIT).await) }
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
                Err(failure) => return Err(SshError::ssh(name, failure)),
            };
            Probed::parse(&out).check(&name, ours)?;
        }
        Ok(())
    }

    /// Installs the runtime packages, the agent and the tarball on one machine; returns the address
    /// the other nodes reach it at (`peers`: theirs, as far as known).
    async fn install(
        &self,
        plan: &Plan,
        host: &Host,
        tarball: Option<&Sendable>,
        peers: &[IpAddr],
    ) -> Result<String, LaunchError> {
        let node = self.node_at(host, 0, "");
        let tarball = tarball.ok_or_else(|| {
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
            tarball.sha256(),
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
            let (file, path) = tarball.open().await?;
            let what = format!("unpacking {} at /", path.display());
            let unpack = scripts::unpack(tarball.sha256());
            node.step(&what, &unpack, file).await?;
        }
        Ok(address(&node, peers).await?)
    }
}

impl Provider for SshProvider {
    type Shell<'s> = SshNode;

    fn name(&self) -> &'static str {
        "ssh"
    }

    /// Checks the machines of the nodes to place (again, on a resumed launch: they may run
    /// another cluster's node by now), records each node's machine (so that `destroy` reaches
    /// whatever was started) and pins the build's tarball in the cluster's directory (off the
    /// runtime: a copy takes a while), then installs every machine in parallel; a node gets its
    /// address once its machine is ready.
    async fn place(
        &self,
        plan: &Plan,
        state: &mut ClusterState,
        states: &StateDir,
    ) -> Result<(), LaunchError> {
        let mut todo = Vec::new();
        for (i, node) in state.nodes.iter().enumerate() {
            if !node.address.is_empty() {
                continue;
            }
            let host = match node.provider_id.as_deref().map(parse_host) {
                Some(Ok(host)) => host,
                _ => match self.hosts.get(i) {
                    Some(host) => host.clone(),
                    None => return Err(self.no_machine(&node.name, state)),
                },
            };
            todo.push((i, host));
        }
        if todo.is_empty() {
            return Ok(());
        }
        // A machine listed for several nodes is checked and installed once; each of its nodes
        // gets its address.
        let mut machines: Vec<&Host> = Vec::new();
        for (_, host) in &todo {
            if !machines.iter().any(|m| machine(m) == machine(host)) {
                machines.push(host);
            }
        }
        let ours: Vec<String> = state.nodes.iter().map(|n| n.name.clone()).collect();
        self.check_machines(&machines, &ours).await?;
        for (i, host) in &todo {
            state.nodes[*i].provider_id = Some(host.to_string());
        }
        let placing: Vec<usize> = todo.iter().map(|(i, _)| *i).collect();
        assign_slots(&mut state.nodes, &placing);
        let dir = states.cluster_dir(&state.name);
        let tarball = match &self.tarball {
            Some((path, sha256)) => {
                Some(pin_for_launch(path, sha256, &dir, &mut state.resources).await)
            }
            None => None,
        };
        states.save(state)?;
        let peers = peers(state, &machines).await;
        let installed =
            join_all((machines.iter()).map(|h| self.install(plan, h, tarball.as_ref(), &peers)))
                .await;
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
                &scripts::start(&shell.dirs, &node.name),
                &tar[..],
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
            self.node_at(&host, node.slot, &node.name)
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
            Some(shell) => {
                let script = scripts::alive(&shell.dirs, &node.name);
                matches!(shell.run(&script).await, Ok((0, _)))
            }
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
                (shell.target.host.clone(), shell.run_as_root(&script).await)
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
                Err(failure) => return Err(SshError::ssh(host, failure).into()),
            }
        }
        Ok(Removed {
            nodes: removed,
            networks: 0,
        })
    }
}
