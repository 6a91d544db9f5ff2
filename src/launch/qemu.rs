//! The `qemu` provider: every node a VM booted from a copy-on-write qcow2 overlay of the raw disk
//! that `baker image` made (the cluster keeps its own: [`super::qemu_disk`]), all of a cluster's
//! VMs on a switch that needs no root, the host reaching each over ports forwarded on 127.0.0.1
//! (see [`super::qemu_net`]; command lines and processes are [`super::qemu_vm`]). A VM gets its address before it boots, so it boots with its bundle in hand:
//! the bundle tar (with the VM's `network` entry, its `hostname`, and the cluster key as root's
//! `authorized_keys`) is its second disk, which the role agent reads. QEMU runs daemonized with a
//! pidfile (the node's provider id) and its console in a file, all in the cluster's state
//! directory, so the VMs outlive `baker launch` — on this host, or from baker's tools image where
//! the host has no QEMU ([`super::qemu_runner`]), which changes nothing else. KVM is used when
//! `/dev/kvm` opens and a guest under it prints its kernel's first line on its console within a
//! grace time; otherwise (or with `--accel tcg`, or when KVM failed that trial on this host
//! before: [`KvmMemory`]) software emulation. Starting a VM, what a failed start says of KVM, and
//! a forward's host port taken before QEMU binds it are in `qemu_boot.rs`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use tokio::sync::Mutex;

use super::bundle::NodeBundle;
use super::error::LaunchError;
use super::provider::{Provider, ROLE_LOG, Removed, role_log_script};
use super::qemu_disk::pin_disk;
use super::qemu_net::{
    MAX_NODES, SSH_PORT, Switch, free_ports, move_taken_forwards, network_entry, recorded_ports,
};
use super::qemu_process::{running_forwards, running_pid, stop, stop_all_under};
use super::qemu_runner::{QemuRunner, vm_dirs};
use super::qemu_vm::{Accel, VmFiles, VmShell, kvm_openable, overlay_args, write_private};
use super::ssh_known_hosts::{HostKeys, KNOWN_HOSTS, forget};
use super::ssh_shell::{SshTarget, ensure_cluster_key};
use super::state::{ClusterState, NodeState, StateDir};
use crate::image::boot::kvm_memory::KvmMemory;
use crate::plan::Plan;

/// The state's resource that names the raw disk the cluster's overlays are made over: the image's
/// until the first placement pins it, then the cluster's own copy ([`super::qemu_disk`]).
pub const DISK_RESOURCE: &str = "disk";
/// The state's resource that says whose QEMU runs the VMs ([`QemuRunner::name`]).
pub const QEMU_RESOURCE: &str = "qemu";

/// VMs on this host.
pub struct QemuProvider {
    /// The image's raw disk, pinned in the cluster's directory before any node's overlay is
    /// made over it ([`super::qemu_disk`]); on a resumed launch, that pinned disk.
    pub disk: PathBuf,
    /// The cluster's state directory (overlays, seeds, pidfiles, consoles, the key).
    pub dir: PathBuf,
    pub memory_mib: u32,
    /// Decided by the first VM that boots; the others follow.
    accel: Mutex<Option<Accel>>,
    /// Where a failed KVM trial is remembered (by default nowhere: every launch tries KVM).
    kvm_memory: KvmMemory,
    /// Where QEMU runs (by default on this host).
    runner: QemuRunner,
    /// The forwards (guest -> host port) of the nodes whose VM, started by this launch, listens
    /// on others than the state records, by node: [`Provider::started`] records them.
    moved: std::sync::Mutex<BTreeMap<String, BTreeMap<u16, u16>>>,
}

impl QemuProvider {
    /// `accel`: the accelerator every VM runs with; `None` puts KVM on trial with the first VM
    /// when `/dev/kvm` opens (software emulation when it does not).
    pub fn new(disk: PathBuf, dir: PathBuf, memory_mib: u32, accel: Option<Accel>) -> Self {
        let decided = accel.or_else(|| (!kvm_openable()).then_some(Accel::Tcg));
        QemuProvider {
            disk,
            dir,
            memory_mib,
            accel: Mutex::new(decided),
            kvm_memory: KvmMemory::default(),
            runner: QemuRunner::Host,
            moved: std::sync::Mutex::default(),
        }
    }

    /// Skips the KVM trial when one failed on this host before, and remembers a failed one.
    pub fn remembering_kvm(mut self, memory: KvmMemory) -> Self {
        self.kvm_memory = memory;
        self
    }

    /// Runs QEMU and qemu-img with `runner` (from the tools image where the host has none).
    pub fn running_qemu(mut self, runner: QemuRunner) -> Self {
        self.runner = runner;
        self
    }

    /// The directories QEMU reads and writes.
    fn dirs(&self) -> Vec<String> {
        vm_dirs(&self.dir, &self.disk)
    }

    fn switch(&self, state: &ClusterState) -> Switch {
        state
            .resources
            .get("switch")
            .zip(state.resources.get("subnet"))
            .and_then(|(e, s)| Switch::parse(e, s))
            .unwrap_or_else(|| Switch::for_cluster(&self.dir))
    }

    fn key(&self) -> PathBuf {
        self.dir.join("id_ed25519")
    }

    fn moved_lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, BTreeMap<u16, u16>>> {
        self.moved
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Provider for QemuProvider {
    type Shell<'s>
        = VmShell
    where
        Self: 's;

    fn name(&self) -> &'static str {
        "qemu"
    }

    fn publishes_here(&self) -> bool {
        true
    }

    /// Makes the cluster's key and switch, and for every unplaced node an overlay, its forwarded
    /// ports and its address; the VMs boot in [`Provider::start`], with their bundles.
    async fn place(
        &self,
        plan: &Plan,
        state: &mut ClusterState,
        states: &StateDir,
    ) -> Result<(), LaunchError> {
        if state.nodes.len() > MAX_NODES {
            return Err(LaunchError::Input(format!(
                "the qemu provider puts at most {MAX_NODES} nodes on a cluster's switch"
            )));
        }
        ensure_cluster_key(&self.dir)?;
        let disk = pin_disk(&self.disk, &self.dir, plan).await?;
        let switch = self.switch(state);
        state.resources.insert("switch".into(), switch.endpoint());
        state
            .resources
            .insert("subnet".into(), switch.subnet_text());
        state
            .resources
            .insert(DISK_RESOURCE.into(), disk.display().to_string());
        state
            .resources
            .insert(QEMU_RESOURCE.into(), self.runner.name().into());
        move_taken_forwards(&mut state.nodes, |node| {
            running_pid(&VmFiles::of(&self.dir, &node.name).pidfile).is_none()
        })?;
        states.save(state)?;
        let todo: Vec<usize> = (0..state.nodes.len())
            .filter(|&i| state.nodes[i].address.is_empty())
            .collect();
        let guest_ports: Vec<Vec<u16>> = todo
            .iter()
            .map(|&i| {
                let mut ports = vec![SSH_PORT];
                if let Some(role) = plan.roles.get(&state.nodes[i].role) {
                    ports.extend(role.ports.iter().filter(|&&p| p != SSH_PORT));
                }
                ports
            })
            .collect();
        // All at once, so that no two forwards get the same host port, and none a port another
        // node (a VM that stopped) will listen on again.
        let count = guest_ports.iter().map(Vec::len).sum();
        let mut host_ports = free_ports(count, &recorded_ports(&state.nodes))?.into_iter();
        for (index, ports) in todo.into_iter().zip(guest_ports) {
            let files = VmFiles::of(&self.dir, &state.nodes[index].name);
            let _ = std::fs::remove_file(&files.overlay);
            // A fresh overlay boots with new host keys: the old ones are no longer the node's.
            forget(&self.dir.join(KNOWN_HOSTS), &state.nodes[index].name).map_err(|source| {
                LaunchError::Io {
                    what: format!("forgetting the host key of {}", state.nodes[index].name),
                    source,
                }
            })?;
            self.runner
                .run(
                    &overlay_args(&disk, &files.overlay),
                    &format!("making the overlay of {}", state.nodes[index].name),
                    &self.dirs(),
                )
                .await?;
            let node = &mut state.nodes[index];
            node.provider_id = Some(files.pidfile.display().to_string());
            node.published = ports.into_iter().zip(host_ports.by_ref()).collect();
            node.address = switch.address(index);
            states.save(state)?;
        }
        Ok(())
    }

    /// Writes the node's seed disk and boots its VM, unless it runs already.
    async fn start(
        &self,
        state: &ClusterState,
        index: usize,
        bundle: &NodeBundle,
    ) -> Result<(), LaunchError> {
        let node = &state.nodes[index];
        let files = VmFiles::of(&self.dir, &node.name);
        if running_pid(&files.pidfile).is_some() {
            // Its forwards may have moved in a launch stopped before it recorded them.
            let forwards = running_forwards(&files.pidfile);
            if let Some(forwards) = forwards.filter(|f| *f != node.published) {
                self.moved_lock().insert(node.name.clone(), forwards);
            }
            return Ok(());
        }
        let io = |what: String| move |source| LaunchError::Io { what, source };
        let public = self.key().with_extension("pub");
        let key = std::fs::read(&public).map_err(io(format!("reading {}", public.display())))?;
        let network = network_entry(&self.switch(state), index);
        let seed = bundle
            .to_tar_with(&[
                ("network", 0o644, network.as_bytes()),
                ("authorized_keys", 0o600, &key),
                ("hostname", 0o644, format!("{}\n", node.name).as_bytes()),
            ])
            .map_err(io(format!("packing the bundle of {}", node.name)))?;
        // The bundle's env holds the cluster's secret: readable by this user only.
        write_private(&files.seed, &seed)
            .map_err(io(format!("writing {}", files.seed.display())))?;

        let mut accel = self.accel.lock().await;
        match *accel {
            Some(decided) => {
                drop(accel);
                self.start_vm_of(state, index, decided).await
            }
            None => {
                // The first VM decides for all; the others wait for its verdict.
                *accel = Some(self.first_vm(state, index).await?);
                Ok(())
            }
        }
    }

    /// Records the forwards of the nodes whose VM listens on other host ports than the state said.
    async fn started(&self, state: &mut ClusterState) -> Result<(), LaunchError> {
        let moved = std::mem::take(&mut *self.moved_lock());
        for node in &mut state.nodes {
            if let Some(forwards) = moved.get(&node.name) {
                node.published.clone_from(forwards);
            }
        }
        Ok(())
    }

    /// The node with the forwards its VM listens on, when it runs.
    async fn located(&self, _state: &ClusterState, node: &NodeState) -> NodeState {
        let mut node = node.clone();
        if let Some(forwards) = running_forwards(&pidfile(&node)) {
            node.published = forwards;
        }
        node
    }

    fn shell(&self, node: &NodeState) -> VmShell {
        VmShell {
            ssh: ssh_target(node, &self.key()),
            pidfile: pidfile(node),
        }
    }

    fn login_command(&self, node: &NodeState, command: &[String]) -> Vec<String> {
        ssh_target(node, &self.key()).login_args(command)
    }

    fn follow_command(&self, node: &NodeState, lines: usize) -> Vec<String> {
        let mut command = ssh_target(node, &self.key()).ssh_args(false);
        command.push(format!("tail -n {lines} -F {ROLE_LOG}"));
        command
    }

    /// The role log over SSH; before SSH answers, the end of the VM's console.
    async fn role_log(&self, node: &NodeState, lines: usize) -> Vec<String> {
        let target = ssh_target(node, &self.key());
        if let Ok((_, out)) = target.run_script(&role_log_script(lines)).await {
            if !out.trim().is_empty() {
                return out.lines().map(str::to_owned).collect();
            }
        }
        let console = VmFiles::of_pidfile(&pidfile(node)).console;
        let text = std::fs::read(&console).unwrap_or_default();
        let text = crate::image::boot::strip_escapes(&String::from_utf8_lossy(&text));
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..]
            .iter()
            .map(|l| (*l).to_owned())
            .collect()
    }

    async fn alive(&self, node: &NodeState) -> bool {
        running_pid(&pidfile(node)).is_some()
    }

    /// A VM by its QEMU's pid (`-` when none runs): its provider id is the pidfile's path.
    fn shown_id(&self, node: &NodeState) -> String {
        running_pid(&pidfile(node)).map_or("-".to_owned(), |pid| format!("pid {pid}"))
    }

    fn console_logs(&self) -> Option<PathBuf> {
        Some(VmFiles::of(&self.dir, "<node>").console)
    }

    /// Stops every VM whose pidfile is in the cluster's directory and removes the overlays,
    /// seeds and consoles; the state directory itself goes with the state. Counts the nodes
    /// whose VM or overlay it removed.
    async fn destroy(&self, state: &ClusterState) -> Result<Removed, LaunchError> {
        let mut names: Vec<String> = state.nodes.iter().map(|n| n.name.clone()).collect();
        if let Ok(entries) = std::fs::read_dir(&self.dir) {
            for entry in entries.flatten() {
                let file = entry.file_name().to_string_lossy().into_owned();
                if let Some(stem) = file.strip_suffix(".qcow2").or(file.strip_suffix(".pid")) {
                    names.push(stem.to_owned());
                }
            }
        }
        names.sort();
        names.dedup();
        let mut removed = 0;
        for name in names {
            let files = VmFiles::of(&self.dir, &name);
            // One per node: its VM and its overlay go together.
            let stopped = stop(&files.pidfile).await;
            if std::fs::remove_file(&files.overlay).is_ok() || stopped {
                removed += 1;
            }
            for file in [&files.seed, &files.pidfile, &files.console, &files.stderr] {
                let _ = std::fs::remove_file(file);
            }
        }
        // VMs whose files are gone (a state directory removed by hand) still name it.
        removed += stop_all_under(&self.dir).await;
        Ok(Removed {
            nodes: removed,
            networks: 0,
        })
    }
}

fn pidfile(node: &NodeState) -> PathBuf {
    PathBuf::from(node.provider_id.clone().unwrap_or_default())
}

/// Root on the node, through its forwarded SSH port, with the cluster's key; its host key is
/// recorded under the node's name beside the cluster's key at first sight, and checked after.
fn ssh_target(node: &NodeState, key: &Path) -> SshTarget {
    SshTarget {
        host: "127.0.0.1".into(),
        port: node.published.get(&SSH_PORT).copied().unwrap_or_default(),
        user: "root".into(),
        key: Some(key.to_owned()),
        host_keys: HostKeys::Recorded {
            known_hosts: key.with_file_name(KNOWN_HOSTS),
            alias: node.name.clone(),
        },
    }
}

#[path = "qemu_boot.rs"]
mod boot;

#[cfg(test)]
#[path = "qemu_tests.rs"]
mod tests;
