//! The VMs under the `qemu` provider: where each node's files live, the QEMU and `qemu-img` command
//! lines, starting a VM (daemonized, or in a container of its own, see [`super::qemu_runner`]) so
//! that it outlives `baker launch`, and the node's shell, SSH through its forwarded port, alive
//! while its QEMU runs ([`super::qemu_process`] finds that QEMU again).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::error::LaunchError;
use super::qemu_net::{SSH_PORT, Switch, mac};
use super::qemu_process::{running_pid, stop};
use super::qemu_runner::QemuRunner;
use super::readiness::NodeShell;
use super::ssh_shell::SshTarget;
pub use crate::image::boot::{Accel, kvm_openable};
use crate::image::boot::{KERNEL_BANNER, option_value};

/// Where one node's files live in the cluster's state directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmFiles {
    pub overlay: PathBuf,
    pub seed: PathBuf,
    pub pidfile: PathBuf,
    pub console: PathBuf,
    /// QEMU's errors, when it runs in the tools image.
    pub stderr: PathBuf,
}

impl VmFiles {
    pub fn of(dir: &Path, node: &str) -> Self {
        VmFiles {
            overlay: dir.join(format!("{node}.qcow2")),
            seed: dir.join(format!("{node}.seed")),
            pidfile: dir.join(format!("{node}.pid")),
            console: dir.join(format!("{node}.console.log")),
            stderr: dir.join(format!("{node}.qemu-errors")),
        }
    }

    /// The same files, from the pidfile (a node's provider id).
    pub fn of_pidfile(pidfile: &Path) -> Self {
        let dir = pidfile.parent().unwrap_or(Path::new("."));
        let name = pidfile.file_stem().unwrap_or_default().to_string_lossy();
        Self::of(dir, &name)
    }

    pub fn all(&self) -> [&Path; 5] {
        [
            &self.overlay,
            &self.seed,
            &self.pidfile,
            &self.console,
            &self.stderr,
        ]
    }
}

/// `qemu-img create`: a copy-on-write overlay of the image's raw disk.
pub fn overlay_args(raw: &Path, overlay: &Path) -> Vec<String> {
    vec![
        "qemu-img".into(),
        "create".into(),
        "-q".into(),
        "-f".into(),
        "qcow2".into(),
        "-F".into(),
        "raw".into(),
        "-b".into(),
        raw.display().to_string(),
        overlay.display().to_string(),
    ]
}

/// One VM to start.
#[derive(Debug, Clone)]
pub struct VmSpec<'a> {
    pub node: &'a str,
    pub index: usize,
    pub files: &'a VmFiles,
    pub switch: &'a Switch,
    /// Guest port -> host port on 127.0.0.1.
    pub forwards: &'a BTreeMap<u16, u16>,
    pub accel: Accel,
    pub memory_mib: u32,
}

/// The QEMU command line of one node, in the foreground (its runner daemonizes it): overlay as
/// `vda`, seed as `vdb`, the user-mode NIC with its forwards, the switch NIC, the serial console
/// to a file, the pidfile.
pub fn qemu_args(vm: &VmSpec<'_>) -> Vec<String> {
    let (accel, cpu) = match vm.accel {
        Accel::Kvm => ("kvm", "host"),
        Accel::Tcg => ("tcg", "max"),
    };
    // SSH goes to the user-mode NIC's address (sshd listens on every address, and the agent sets
    // the switch's only once it runs); a role's port to the node's address on the switch, which
    // the role may bind alone (Mesos' `--ip={{self.ip}}`). QEMU delivers either through the
    // user-mode NIC, which the guest answers for any of its addresses.
    let switch_address = vm.switch.address(vm.index);
    let forwards: String = vm
        .forwards
        .iter()
        .map(|(guest, host)| {
            let to = if *guest == SSH_PORT {
                ""
            } else {
                &switch_address
            };
            format!(",hostfwd=tcp:127.0.0.1:{host}-{to}:{guest}")
        })
        .collect();
    let path = |p: &Path| p.display().to_string();
    [
        "qemu-system-x86_64",
        "-name",
        vm.node,
        "-accel",
        accel,
        "-cpu",
        cpu,
        "-smp",
        "1",
        "-m",
        &vm.memory_mib.to_string(),
        "-display",
        "none",
        "-monitor",
        "none",
        "-serial",
        &format!("file:{}", path(&vm.files.console)),
        "-pidfile",
        &path(&vm.files.pidfile),
        "-drive",
        &format!(
            "file={},format=qcow2,if=virtio",
            option_value(&path(&vm.files.overlay))
        ),
        "-drive",
        &format!(
            "file={},format=raw,if=virtio,readonly=on",
            option_value(&path(&vm.files.seed))
        ),
        "-netdev",
        &format!("user,id=host{forwards}"),
        "-device",
        &format!("virtio-net-pci,netdev=host,mac={}", mac(0, vm.index)),
        "-netdev",
        &format!(
            "socket,id=switch,mcast={},localaddr=127.0.0.1",
            vm.switch.endpoint()
        ),
        "-device",
        &format!("virtio-net-pci,netdev=switch,mac={}", mac(1, vm.index)),
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect()
}

/// Runs a command to its end; its output in the error when it fails.
pub async fn run(args: &[String], what: &str) -> Result<(), LaunchError> {
    let out = tokio::process::Command::new(&args[0])
        .args(&args[1..])
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .map_err(|source| LaunchError::Io {
            what: format!(
                "{what}: running {} (install QEMU: qemu-system-x86, qemu-utils)",
                args[0]
            ),
            source,
        })?;
    if out.status.success() {
        return Ok(());
    }
    Err(LaunchError::Input(format!(
        "{what}: `{}` failed ({}): {}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    )))
}

/// Starts a VM with `args` (QEMU's command line) through `runner`, which detaches it; `kvm` when
/// it runs under KVM. Returns once QEMU runs, or with what QEMU said when it did not start.
pub async fn start_vm(
    runner: &QemuRunner,
    args: &[String],
    files: &VmFiles,
    what: &str,
    dirs: &[String],
    kvm: bool,
) -> Result<(), LaunchError> {
    let _ = std::fs::remove_file(&files.console);
    runner.start(args, files, what, dirs, kvm).await
}

/// What the console of a VM that has just started showed of its guest's kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernel {
    /// Its first line, within the grace time.
    Printed,
    /// Nothing within the grace time, while QEMU ran (the VM is stopped now). On some nested hosts
    /// KVM runs the firmware and the boot loader, then stops the kernel.
    Silent,
    /// Nothing before QEMU ended.
    Ended,
}

/// Watches the console in `files` of the VM that has just started for its kernel's first line,
/// for at most `grace`; a VM whose kernel did not print by then is stopped.
pub async fn watch_kernel(files: &VmFiles, grace: Duration) -> Kernel {
    let printed = || {
        let console = std::fs::read(&files.console).unwrap_or_default();
        String::from_utf8_lossy(&console).contains(KERNEL_BANNER)
    };
    let since = std::time::Instant::now();
    while since.elapsed() < grace {
        if printed() {
            return Kernel::Printed;
        }
        if running_pid(&files.pidfile).is_none() {
            // Its console is complete now.
            return if printed() {
                Kernel::Printed
            } else {
                Kernel::Ended
            };
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    stop(&files.pidfile).await;
    Kernel::Silent
}

/// The forwards (guest port -> host port) of the QEMU command line `args`, as [`qemu_args`] wrote
/// them; `None` when it has no user-mode NIC of baker's.
pub fn forwards_in(args: &[String]) -> Option<BTreeMap<u16, u16>> {
    let netdev = args.iter().find_map(|a| a.strip_prefix("user,id=host"))?;
    let forwards = netdev
        .split(',')
        .filter_map(|option| option.strip_prefix("hostfwd=tcp:127.0.0.1:"))
        .filter_map(|rule| {
            // `HOST-:GUEST` or `HOST-ADDRESS:GUEST`.
            let (host, to) = rule.split_once('-')?;
            let (_, guest) = to.rsplit_once(':')?;
            Some((guest.parse().ok()?, host.parse().ok()?))
        })
        .collect();
    Some(forwards)
}

/// A node reached over SSH through its forwarded port; alive while its QEMU runs.
pub struct VmShell {
    pub ssh: SshTarget,
    pub pidfile: PathBuf,
}

impl NodeShell for VmShell {
    async fn run(&self, script: &str) -> Result<(i64, String), String> {
        self.ssh.run_script(script).await
    }

    async fn alive(&self) -> bool {
        running_pid(&self.pidfile).is_some()
    }
}

/// Writes `data` to `path`, readable by this user only.
pub fn write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?
        .write_all(data)
}

#[cfg(test)]
#[path = "qemu_vm_tests.rs"]
mod tests;
