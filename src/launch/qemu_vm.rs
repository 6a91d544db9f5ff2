//! The VMs under the `qemu` provider: where each node's files live, the QEMU and `qemu-img` command
//! lines, starting a VM (daemonized, or in a container of its own, see [`super::qemu_runner`]) so
//! that it outlives `baker launch`, and the node's shell, SSH through its forwarded port, alive
//! while its QEMU runs ([`super::qemu_process`] finds that QEMU again).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::error::LaunchError;
use super::qemu_net::{Switch, mac};
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
    let forwards: String = vm
        .forwards
        .iter()
        .map(|(guest, host)| format!(",hostfwd=tcp:127.0.0.1:{host}-:{guest}"))
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
/// it runs under KVM. With a `grace` (KVM on trial), whether QEMU started and the guest's kernel
/// printed its first line on the console within it (on some nested hosts KVM runs the firmware
/// and the boot loader, then stops the kernel); a VM whose kernel did not print is stopped.
pub async fn start_vm(
    runner: &QemuRunner,
    args: &[String],
    files: &VmFiles,
    what: &str,
    dirs: &[String],
    kvm: bool,
    grace: Option<Duration>,
) -> Result<bool, LaunchError> {
    let _ = std::fs::remove_file(&files.console);
    let started = runner.start(args, files, what, dirs, kvm).await;
    let Some(grace) = grace else {
        return started.map(|()| true);
    };
    if started.is_err() {
        // QEMU refused KVM (here: a CPU feature the host's KVM will not set).
        return Ok(false);
    }
    let since = std::time::Instant::now();
    while since.elapsed() < grace {
        let console = std::fs::read(&files.console).unwrap_or_default();
        if String::from_utf8_lossy(&console).contains(KERNEL_BANNER) {
            return Ok(true);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    stop(&files.pidfile).await;
    Ok(false)
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
mod tests {
    use super::*;

    #[test]
    fn the_vm_boots_its_overlay_and_seed_with_forwards_on_loopback_and_the_switch() {
        let switch = Switch {
            group: std::net::Ipv4Addr::new(239, 1, 2, 3),
            port: 23456,
            subnet: [77, 5],
        };
        let files = VmFiles::of(Path::new("/st/pg"), "pg-primary");
        let forwards = BTreeMap::from([(22, 40022), (5432, 45432)]);
        let args = qemu_args(&VmSpec {
            node: "pg-primary",
            index: 0,
            files: &files,
            switch: &switch,
            forwards: &forwards,
            accel: Accel::Tcg,
            memory_mib: 768,
        })
        .join(" ");
        for part in [
            "-accel tcg -cpu max -smp 1 -m 768",
            "-serial file:/st/pg/pg-primary.console.log -pidfile /st/pg/pg-primary.pid",
            "-drive file=/st/pg/pg-primary.qcow2,format=qcow2,if=virtio -drive file=/st/pg/pg-primary.seed,format=raw,if=virtio,readonly=on",
            "-netdev user,id=host,hostfwd=tcp:127.0.0.1:40022-:22,hostfwd=tcp:127.0.0.1:45432-:5432",
            "-device virtio-net-pci,netdev=host,mac=52:54:00:00:00:00",
            "-netdev socket,id=switch,mcast=239.1.2.3:23456,localaddr=127.0.0.1",
            "-device virtio-net-pci,netdev=switch,mac=52:54:00:01:00:00",
        ] {
            assert!(args.contains(part), "{part} not in {args}");
        }
        assert_eq!(VmFiles::of_pidfile(&files.pidfile), files);
        // A comma in the state directory is doubled in a drive's file=, or QEMU cuts it there.
        let files = VmFiles::of(Path::new("/st,1/pg"), "pg-primary");
        let args = qemu_args(&VmSpec {
            files: &files,
            node: "pg-primary",
            index: 0,
            switch: &switch,
            forwards: &forwards,
            accel: Accel::Tcg,
            memory_mib: 768,
        })
        .join(" ");
        assert!(
            args.contains("-drive file=/st,,1/pg/pg-primary.qcow2,format=qcow2,"),
            "{args}"
        );
    }

    #[test]
    fn overlays_are_qcow2_over_the_raw_disk() {
        assert_eq!(
            overlay_args(Path::new("/img/pg.raw"), Path::new("/st/n.qcow2")).join(" "),
            "qemu-img create -q -f qcow2 -F raw -b /img/pg.raw /st/n.qcow2"
        );
    }

    #[test]
    fn a_missing_pidfile_or_a_pid_that_is_not_the_vms_is_no_vm() {
        assert_eq!(running_pid(Path::new("/nonexistent/x.pid")), None);
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("n.pid");
        // Our own pid is a live process, but not a QEMU of this pidfile.
        std::fs::write(&pidfile, std::process::id().to_string()).unwrap();
        assert_eq!(running_pid(&pidfile), None);
    }

    #[test]
    fn seeds_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let seed = dir.path().join("n.seed");
        write_private(&seed, b"x").unwrap();
        let mode = std::fs::metadata(&seed).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
