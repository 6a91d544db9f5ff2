//! Where a qemu cluster's QEMU and `qemu-img` run: on the host when both are installed, else from
//! baker's tools image (the one `baker image` bakes, which holds both), so that a host with only
//! Docker can run VM clusters too. From the tools image they run as host programs
//! ([`HostToolSpec`]: the host's network and pids, the user's files), so everything else the
//! provider does — the pidfile, the forwarded ports on 127.0.0.1, the loopback switch, `alive`,
//! `destroy` — is the same either way. The container of a VM is a daemon that outlives `baker
//! launch` and disappears when its QEMU exits; QEMU's errors go to a file beside its console.
//! This needs an engine whose containers see the host's users as they are (Docker as root, the
//! default): a rootless engine maps the user to another id, and the VM's files would not be the
//! user's.

use std::path::Path;
use std::time::Duration;

use super::error::LaunchError;
use super::qemu_vm::{VmFiles, run, running_pid};
use crate::engine::{Engine, HostToolSpec};
use crate::image::boot::on_path;
use crate::image::run::unique_name;

/// The label on a VM's container, with the cluster's name.
pub const VM_LABEL: &str = "baker.vm";

/// How long a VM's container may take to start its QEMU.
const START_GRACE: Duration = Duration::from_secs(60);

/// Where QEMU runs.
#[derive(Clone)]
pub enum QemuRunner {
    /// The host's `qemu-system-x86_64` and `qemu-img`.
    Host,
    /// The tools image `image`, through `engine`.
    Tools { engine: Engine, image: String },
}

impl QemuRunner {
    /// `host` or `tools`, as a cluster's state records it.
    pub fn name(&self) -> &'static str {
        match self {
            QemuRunner::Host => "host",
            QemuRunner::Tools { .. } => "tools",
        }
    }

    /// Whether QEMU and qemu-img are both on this host's PATH.
    pub fn host_has_qemu() -> bool {
        ["qemu-system-x86_64", "qemu-img"]
            .iter()
            .all(|tool| on_path(tool).is_some())
    }

    /// Runs `args` (`qemu-img …`) to its end; `dirs` are the host directories it reads and writes.
    pub async fn run(
        &self,
        args: &[String],
        what: &str,
        dirs: &[String],
    ) -> Result<(), LaunchError> {
        let QemuRunner::Tools { engine, image } = self else {
            return run(args, what).await;
        };
        let spec = HostToolSpec {
            name: unique_name("baker-qemu-img"),
            image,
            cmd: args.to_vec(),
            dirs: dirs.to_vec(),
            devices: &[],
            labels: &[(VM_LABEL, "tool")],
        };
        let (code, output) = engine.run_host_tool(&spec).await?;
        if code == 0 {
            return Ok(());
        }
        Err(LaunchError::Input(format!(
            "{what}: `{}` failed in {image} (exit code {code}): {}",
            args.join(" "),
            output.trim()
        )))
    }

    /// Starts the VM of `args` (a foreground QEMU command line with a pidfile) detached — on the
    /// host with `-daemonize`, else as a container of its own — and returns once QEMU runs; `dirs`
    /// as for [`QemuRunner::run`]; `kvm` gives it `/dev/kvm`.
    pub async fn start(
        &self,
        args: &[String],
        files: &VmFiles,
        what: &str,
        dirs: &[String],
        kvm: bool,
    ) -> Result<(), LaunchError> {
        let QemuRunner::Tools { engine, image } = self else {
            let mut daemonized = args.to_vec();
            daemonized.push("-daemonize".into());
            return run(&daemonized, what).await;
        };
        // In the foreground: the container lives as long as QEMU.
        let mut cmd: Vec<String> = ["sh", "-c", "exec \"$@\" 2>\"$0\""]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        cmd.push(files.stderr.display().to_string());
        cmd.extend_from_slice(args);
        let node = files
            .pidfile
            .file_stem()
            .unwrap_or_default()
            .to_string_lossy();
        let _ = std::fs::remove_file(&files.stderr);
        let id = engine
            .start_host_daemon(&HostToolSpec {
                name: unique_name(&format!("baker-vm-{node}")),
                image,
                cmd,
                dirs: dirs.to_vec(),
                devices: if kvm { &["/dev/kvm"] } else { &[] },
                labels: &[(VM_LABEL, &node)],
            })
            .await?;
        let since = std::time::Instant::now();
        while since.elapsed() < START_GRACE {
            if running_pid(&files.pidfile).is_some() {
                return Ok(());
            }
            if !engine.is_running(&id).await {
                // Gone already (removed at its end), or stopped: its errors are in the file.
                tokio::time::sleep(Duration::from_millis(200)).await;
                if running_pid(&files.pidfile).is_some() {
                    return Ok(());
                }
                let errors = std::fs::read_to_string(&files.stderr).unwrap_or_default();
                return Err(LaunchError::Input(format!(
                    "{what}: QEMU in {image} exited at once: {}",
                    errors.trim()
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        engine.remove_host_daemon(&id).await;
        Err(LaunchError::Input(format!(
            "{what}: QEMU in {image} wrote no pidfile ({}) within {}s",
            files.pidfile.display(),
            START_GRACE.as_secs()
        )))
    }
}

/// The directories a cluster's QEMU reads and writes: its state directory and, read-only, the
/// directory of the raw disk its overlays are made over.
pub fn vm_dirs(state_dir: &Path, disk: &Path) -> Vec<String> {
    let mut dirs = vec![state_dir.display().to_string()];
    if let Some(parent) = disk.parent() {
        dirs.push(format!("{}:ro", parent.display()));
    }
    dirs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clusters_qemu_writes_its_state_directory_and_only_reads_the_disks() {
        assert_eq!(
            vm_dirs(Path::new("/s/pg"), Path::new("/img/out/pg.raw")),
            ["/s/pg", "/img/out:ro"]
        );
    }
}
