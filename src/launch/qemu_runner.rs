//! Where a qemu cluster's QEMU and `qemu-img` run: on the host when both are installed, else from
//! baker's tools image (the one `baker image` bakes, which holds both), so that a host with only
//! Docker can run VM clusters too. From the tools image they run as host programs
//! ([`HostToolSpec`]: the host's network and pids, the user's files), so everything else the
//! provider does — the pidfile, the forwarded ports on 127.0.0.1, the loopback switch, `alive`,
//! `destroy` — is the same either way. The container of a VM is a daemon that outlives `baker
//! launch` and disappears when its QEMU exits; QEMU's errors go to a file beside its console.
//! That needs an engine whose containers can share the host's users, network and processes
//! (Docker as root on this machine, the default); [`QemuRunner::choose`] checks it before it starts
//! anything and refuses a rootless or remote engine, saying why.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::error::LaunchError;
use super::qemu::QEMU_RESOURCE;
use super::qemu_process::running_pid;
use super::qemu_vm::{VmFiles, run};
use super::state::ClusterState;
use crate::cache::CacheDir;
use crate::engine::{Engine, HostToolSpec};
use crate::image::boot::{QemuFrom, on_path};
use crate::image::ensure_tools;
use crate::image::run::unique_name;
use crate::progress::Reporter;

/// The label on a VM's container, with the cluster's name.
pub const VM_LABEL: &str = "baker.vm";

/// How to install QEMU where it is missing.
const INSTALL_QEMU: &str = "Debian: apt-get install qemu-system-x86 qemu-utils";

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

    /// Where QEMU runs, as `from` says: the host's when it has QEMU and qemu-img (`auto`, `host`),
    /// else the tools image's, baked now when it is not there yet, once the engine is known to run
    /// it as a host program.
    pub async fn choose(
        from: QemuFrom,
        cache: &CacheDir,
        reporter: &Arc<dyn Reporter>,
    ) -> Result<QemuRunner, LaunchError> {
        let on_host = QemuRunner::host_has_qemu();
        match from {
            QemuFrom::Host if !on_host => Err(LaunchError::Input(format!(
                "--qemu host: the qemu provider needs qemu-system-x86_64 and qemu-img on this host's PATH ({INSTALL_QEMU}); without --qemu, baker runs them from its tools image"
            ))),
            QemuFrom::Host => Ok(QemuRunner::Host),
            QemuFrom::Auto if on_host => Ok(QemuRunner::Host),
            QemuFrom::Auto | QemuFrom::Tools => {
                let engine = Engine::connect(reporter.as_ref()).await?;
                let image = ensure_tools(&engine, cache, reporter).await?;
                let probe = unique_name("baker-qemu-probe");
                if let Some(why) = engine
                    .unlike_host(&image, probe, &[(VM_LABEL, "tool")])
                    .await?
                {
                    let (asked, instead) = match from {
                        QemuFrom::Tools => ("--qemu tools: ", "Use the host's QEMU (--qemu host)"),
                        _ => ("this host has no QEMU, and ", "Use the host's QEMU"),
                    };
                    return Err(LaunchError::Input(format!(
                        "{asked}the Docker engine cannot run the QEMU of {image} as a host program: {why}. {instead}, installed where missing ({INSTALL_QEMU}), or run Docker as root on this machine"
                    )));
                }
                Ok(QemuRunner::Tools { engine, image })
            }
        }
    }

    /// Where the QEMU of cluster `state` ran, for `--resume`; where its state does not say (a
    /// launch by an older baker stopped before it placed a VM), where baker would choose now.
    pub fn recorded(state: &ClusterState) -> QemuFrom {
        match state.resources.get(QEMU_RESOURCE).map(String::as_str) {
            Some("tools") => QemuFrom::Tools,
            Some("host") => QemuFrom::Host,
            _ => QemuFrom::Auto,
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
    if let Some(parent) = disk.parent().filter(|p| !p.starts_with(state_dir)) {
        dirs.push(format!("{}:ro", parent.display()));
    }
    dirs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_resume_runs_the_qemu_the_launch_recorded_else_the_one_baker_would_choose() {
        let mut state = ClusterState::empty("q", "qemu");
        // An older baker's launch stopped before its first VM recorded none.
        assert_eq!(QemuRunner::recorded(&state), QemuFrom::Auto);
        for (name, from) in [("tools", QemuFrom::Tools), ("host", QemuFrom::Host)] {
            state.resources.insert(QEMU_RESOURCE.into(), name.into());
            assert_eq!(QemuRunner::recorded(&state), from);
        }
    }

    #[test]
    fn a_clusters_qemu_writes_its_state_directory_and_only_reads_the_disks() {
        assert_eq!(
            vm_dirs(Path::new("/s/pg"), Path::new("/img/out/pg.raw")),
            ["/s/pg", "/img/out:ro"]
        );
        // A resumed cluster's disk is pinned in its own directory, which is mounted already.
        assert_eq!(
            vm_dirs(Path::new("/s/pg"), Path::new("/s/pg/disk.raw")),
            ["/s/pg"]
        );
    }
}
