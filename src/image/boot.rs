//! `baker image boot`: proves a disk image by booting it under QEMU — on the host when
//! `qemu-system-x86_64` is installed, else in the tools container — with no network (`-nic none`)
//! and the disk opened as a snapshot, so the image file is never changed. The serial console is
//! streamed to a log file; the boot succeeds when the first-boot ready line appears. KVM is used
//! when `/dev/kvm` opens and the guest actually prints something within a few seconds (here the
//! device exists but guests never run); otherwise QEMU runs again with software emulation. On
//! timeout the error carries the console's last 40 lines and a hint read from them.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bollard::Docker;
use bytes::Bytes;
use futures_util::StreamExt;
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;

use super::ImageError;
use super::assets::READY_LINE;
use super::engine_ops::{self, RunSpec};
use crate::build::Janitor;
use crate::build::container::Container;
use crate::cache::CacheDir;
use crate::progress::{Event, Reporter};

/// How long a KVM guest may stay silent before KVM is taken to be unusable.
const KVM_GRACE: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
pub struct BootOptions {
    pub image: PathBuf,
    pub timeout: Duration,
    /// Where the serial console goes.
    pub log: PathBuf,
    pub memory_mib: u32,
    /// For the tools image when QEMU runs in a container.
    pub cache: CacheDir,
}

#[derive(Debug, Clone)]
pub struct BootOutcome {
    /// From QEMU's start to the ready line.
    pub seconds: f64,
    pub accel: Accel,
    /// `host` or the tools image QEMU ran in.
    pub runner: String,
    pub log: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accel {
    Kvm,
    Tcg,
}

impl std::fmt::Display for Accel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Accel::Kvm => "kvm",
            Accel::Tcg => "tcg (software emulation)",
        })
    }
}

/// QEMU's name for the disk format, from the file name.
pub fn disk_format(image: &Path) -> Result<&'static str, ImageError> {
    let name = image.file_name().unwrap_or_default().to_string_lossy();
    if name.ends_with(".tar.gz") {
        return Err(ImageError::Boot(format!(
            "{} is a GCE archive: boot the raw disk it holds (tar -xzf it, then boot disk.raw)",
            image.display()
        )));
    }
    Ok(if name.ends_with(".qcow2") {
        "qcow2"
    } else if name.ends_with(".vhd") {
        "vpc"
    } else {
        "raw"
    })
}

/// The QEMU command line for `disk` (a path as QEMU sees it).
pub fn qemu_args(disk: &str, format: &str, accel: Accel, memory_mib: u32) -> Vec<String> {
    let (accel, cpu) = match accel {
        Accel::Kvm => ("kvm", "host"),
        Accel::Tcg => ("tcg", "max"),
    };
    [
        "qemu-system-x86_64",
        "-accel",
        accel,
        "-cpu",
        cpu,
        "-m",
        &memory_mib.to_string(),
        "-nographic",
        "-nic",
        "none",
        "-no-reboot",
        "-drive",
        &format!("file={disk},format={format},if=virtio,snapshot=on"),
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect()
}

/// Whether `/dev/kvm` is there and opens for reading and writing (it may still not run guests).
pub fn kvm_openable() -> bool {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .is_ok()
}

fn host_qemu() -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("qemu-system-x86_64"))
            .find(|p| p.is_file())
    })
}

/// Boots `opts.image` until the ready line, the timeout, or QEMU's end.
pub async fn boot(
    docker: Option<&Docker>,
    janitor: &Janitor,
    opts: &BootOptions,
    reporter: Arc<dyn Reporter>,
) -> Result<BootOutcome, ImageError> {
    let format = disk_format(&opts.image)?;
    let image = opts
        .image
        .canonicalize()
        .map_err(ImageError::io("opening the image", &opts.image))?;
    let runner = match host_qemu() {
        Some(_) => Runner::Host,
        None => {
            let docker = docker.ok_or_else(|| {
                ImageError::Boot(
                    "no qemu-system-x86_64 on this host and no Docker engine to run it in".into(),
                )
            })?;
            let tools = super::tools::ensure_tools(docker, janitor, &opts.cache, &reporter).await?;
            Runner::Container {
                docker: docker.clone(),
                tools,
            }
        }
    };
    let deadline = Instant::now() + opts.timeout;
    let mut accel = if kvm_openable() {
        Accel::Kvm
    } else {
        Accel::Tcg
    };
    loop {
        reporter.report(Event::Note(format!(
            "booting {} under QEMU ({accel}, {}); console: {}",
            opts.image.display(),
            runner.name(),
            opts.log.display()
        )));
        let started = Instant::now();
        let mut vm = runner
            .start(janitor, &image, format, accel, opts.memory_mib)
            .await?;
        let result = watch(&mut vm.output, &opts.log, deadline, accel, &reporter).await;
        vm.stop().await;
        let watched = result?;
        match watched {
            Watched::Ready => {
                return Ok(BootOutcome {
                    seconds: started.elapsed().as_secs_f64(),
                    accel,
                    runner: runner.name(),
                    log: opts.log.clone(),
                });
            }
            Watched::Silent | Watched::Ended if accel == Accel::Kvm => {
                reporter.report(Event::Note(format!(
                    "KVM did not run the guest (QEMU {}): /dev/kvm opens but does not work here; using software emulation",
                    if matches!(watched, Watched::Ended) { "stopped" } else { "printed nothing" }
                )));
                accel = Accel::Tcg;
            }
            Watched::Ended => {
                return Err(failure(
                    opts,
                    &format!("QEMU stopped before `{READY_LINE}` appeared"),
                ));
            }
            Watched::Silent | Watched::TimedOut => {
                return Err(failure(opts, &result_reason(opts)));
            }
        }
    }
}

fn result_reason(opts: &BootOptions) -> String {
    format!(
        "no `{READY_LINE}` on the console of {} within {}s",
        opts.image.display(),
        opts.timeout.as_secs()
    )
}

/// The boot error: what did not happen, the console's last 40 lines, and a hint.
fn failure(opts: &BootOptions, reason: &str) -> ImageError {
    let text = std::fs::read(&opts.log).unwrap_or_default();
    let text = strip_escapes(&String::from_utf8_lossy(&text));
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let tail = lines[lines.len().saturating_sub(40)..]
        .iter()
        .map(|l| format!("  | {l}"))
        .collect::<Vec<_>>()
        .join("\n");
    let hint = diagnose(&lines)
        .map(|h| format!("\nhint: {h}"))
        .unwrap_or_default();
    ImageError::Boot(format!(
        "{reason}; the console's last lines:\n{tail}\nfull console log: {}{hint}",
        opts.log.display()
    ))
}

/// What the console says went wrong, when it says it in a known way.
pub fn diagnose(lines: &[&str]) -> Option<&'static str> {
    let has = |needles: &[&str]| lines.iter().any(|l| needles.iter().any(|n| l.contains(n)));
    if has(&["EXT4-fs", "ext4"]) && has(&["unsupported", "couldn't mount"]) {
        return Some(
            "the kernel cannot mount the root file system: its ext4 features are too new for it; set the recipe's mkfs_options (e.g. `-O ^metadata_csum,^64bit,^orphan_file,^metadata_csum_seed` for 2014 kernels)",
        );
    }
    if has(&[
        "Gave up waiting for root",
        "does not exist.  Dropping to a shell",
        "VFS: Cannot open root device",
        "Unable to mount root fs",
        "Could not find the root",
    ]) {
        return Some(
            "no root device: the initramfs lacks the disk (virtio_blk) or file-system (ext4) driver; make sure the kernel package builds an initramfs with them (MODULES=most on Debian, dracut's default elsewhere)",
        );
    }
    if has(&["Kernel panic"]) {
        return Some(
            "kernel panic: when it names the root file system, the mkfs features are too new for this kernel (set the recipe's mkfs_options); otherwise read the lines above it",
        );
    }
    if has(&["grub rescue>", "error: file `", "error: unknown filesystem"]) {
        return Some(
            "GRUB could not read its files from the root partition: the file system or its features are unknown to GRUB's core image",
        );
    }
    if lines.is_empty() {
        return Some(
            "the console stayed empty: QEMU or the firmware did not start (see the log), or the guest does not write to ttyS0",
        );
    }
    None
}

/// Removes terminal escape sequences (colours, cursor moves) from console text.
pub fn strip_escapes(text: &str) -> String {
    let escapes = regex::Regex::new(r"\x1b(\[[0-9;?]*[A-Za-z]|[()][0-9A-Za-z]|[c78=>DEHM])")
        .expect("valid regex");
    escapes.replace_all(text, "").replace('\r', "")
}

enum Watched {
    Ready,
    /// Nothing at all on the console within [`KVM_GRACE`] (only watched under KVM).
    Silent,
    TimedOut,
    /// QEMU ended before the ready line.
    Ended,
}

/// Copies the console to the log and looks for the ready line.
async fn watch(
    output: &mut mpsc::Receiver<Bytes>,
    log: &Path,
    deadline: Instant,
    accel: Accel,
    reporter: &Arc<dyn Reporter>,
) -> Result<Watched, ImageError> {
    let mut file = std::fs::File::create(log).map_err(ImageError::io("creating", log))?;
    let started = Instant::now();
    let mut seen_any = false;
    let mut line = Vec::new();
    loop {
        let mut until = deadline;
        if accel == Accel::Kvm && !seen_any {
            until = until.min(started + KVM_GRACE);
        }
        let chunk = match tokio::time::timeout_at(until.into(), output.recv()).await {
            Ok(Some(chunk)) => chunk,
            Ok(None) => return Ok(Watched::Ended),
            Err(_) if !seen_any && accel == Accel::Kvm => return Ok(Watched::Silent),
            Err(_) => return Ok(Watched::TimedOut),
        };
        seen_any |= !chunk.is_empty();
        file.write_all(&chunk)
            .map_err(ImageError::io("writing", log))?;
        for b in chunk.iter() {
            if *b == b'\n' {
                let text = strip_escapes(&String::from_utf8_lossy(&line));
                line.clear();
                if text.contains(READY_LINE) {
                    file.flush().map_err(ImageError::io("writing", log))?;
                    return Ok(Watched::Ready);
                }
                if !text.trim().is_empty() {
                    reporter.report(Event::StepLog {
                        name: "boot".into(),
                        line: text.trim().to_owned(),
                    });
                }
            } else {
                line.push(*b);
            }
        }
    }
}

enum Runner {
    Host,
    Container { docker: Docker, tools: String },
}

/// A running QEMU: its console output, and how to stop it.
struct Running {
    output: mpsc::Receiver<Bytes>,
    stop: Stop,
}

enum Stop {
    Host(tokio::process::Child),
    Container(Container),
}

impl Running {
    async fn stop(self) {
        match self.stop {
            Stop::Host(mut child) => {
                let _ = child.kill().await;
            }
            Stop::Container(vm) => vm.remove().await,
        }
    }
}

impl Runner {
    fn name(&self) -> String {
        match self {
            Runner::Host => "on the host".into(),
            Runner::Container { tools, .. } => format!("in {tools}"),
        }
    }

    async fn start(
        &self,
        janitor: &Janitor,
        image: &Path,
        format: &str,
        accel: Accel,
        memory_mib: u32,
    ) -> Result<Running, ImageError> {
        let (tx, rx) = mpsc::channel(64);
        match self {
            Runner::Host => {
                let args = qemu_args(&image.display().to_string(), format, accel, memory_mib);
                let mut child = tokio::process::Command::new(&args[0])
                    .args(&args[1..])
                    .stdin(std::process::Stdio::null())
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .kill_on_drop(true)
                    .spawn()
                    .map_err(ImageError::io("starting", "qemu-system-x86_64"))?;
                for mut pipe in [
                    Box::new(child.stdout.take().expect("piped"))
                        as Box<dyn tokio::io::AsyncRead + Send + Unpin>,
                    Box::new(child.stderr.take().expect("piped")),
                ] {
                    let tx = tx.clone();
                    tokio::spawn(async move {
                        let mut buf = vec![0u8; 8192];
                        while let Ok(n) = pipe.read(&mut buf).await {
                            if n == 0 || tx.send(Bytes::copy_from_slice(&buf[..n])).await.is_err() {
                                break;
                            }
                        }
                    });
                }
                Ok(Running {
                    output: rx,
                    stop: Stop::Host(child),
                })
            }
            Runner::Container { docker, tools } => {
                let dir = image.parent().unwrap_or(Path::new("/"));
                let name = image.file_name().unwrap_or_default().to_string_lossy();
                let args = qemu_args(&format!("/disk/{name}"), format, accel, memory_mib);
                let devices: &[&str] = if accel == Accel::Kvm {
                    &["/dev/kvm"]
                } else {
                    &[]
                };
                let vm = engine_ops::start_vm(
                    docker,
                    janitor,
                    &RunSpec {
                        name: engine_ops::unique_name("baker-image-boot"),
                        image: tools,
                        cmd: args,
                        env: Default::default(),
                        binds: vec![format!("{}:/disk:ro", dir.display())],
                        labels: &[("baker.image", "boot")],
                    },
                    devices,
                )
                .await?;
                let mut stream = vm.follow_output();
                tokio::spawn(async move {
                    while let Some(Ok(chunk)) = stream.next().await {
                        if tx.send(chunk).await.is_err() {
                            break;
                        }
                    }
                });
                Ok(Running {
                    output: rx,
                    stop: Stop::Container(vm),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qemu_boots_the_disk_as_a_snapshot_without_network() {
        let args = qemu_args("/disk/pg.raw", "raw", Accel::Tcg, 1024).join(" ");
        assert_eq!(
            args,
            "qemu-system-x86_64 -accel tcg -cpu max -m 1024 -nographic -nic none -no-reboot \
             -drive file=/disk/pg.raw,format=raw,if=virtio,snapshot=on"
        );
        assert!(
            qemu_args("d", "raw", Accel::Kvm, 512)
                .join(" ")
                .contains("-accel kvm -cpu host -m 512")
        );
    }

    #[test]
    fn the_disk_format_comes_from_the_file_name() {
        assert_eq!(disk_format(Path::new("a/pg.raw")).unwrap(), "raw");
        assert_eq!(disk_format(Path::new("pg.ami.raw")).unwrap(), "raw");
        assert_eq!(disk_format(Path::new("pg.qcow2")).unwrap(), "qcow2");
        assert_eq!(disk_format(Path::new("pg.vhd")).unwrap(), "vpc");
        assert!(disk_format(Path::new("pg.tar.gz")).is_err());
    }

    #[test]
    fn a_missing_root_device_points_at_the_initramfs() {
        let lines = [
            "Begin: Running /scripts/local-premount ... done.",
            "Gave up waiting for root file system device.",
        ];
        assert!(diagnose(&lines).unwrap().contains("virtio_blk"));
    }

    #[test]
    fn a_panic_points_at_the_mkfs_features() {
        let lines = [
            "EXT4-fs (vda1): couldn't mount RDWR because of unsupported optional features (400)",
            "Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(253,1)",
        ];
        assert!(diagnose(&lines).unwrap().contains("mkfs_options"));
        assert!(
            diagnose(&["Kernel panic - not syncing: Attempted to kill init!"])
                .unwrap()
                .contains("mkfs features")
        );
        assert!(diagnose(&[]).unwrap().contains("console stayed empty"));
        assert!(diagnose(&["Welcome to Debian"]).is_none());
    }

    #[test]
    fn escapes_are_removed_from_console_text() {
        assert_eq!(
            strip_escapes("\x1b[0;32m  OK  \x1b[0m] Started\r"),
            "  OK  ] Started"
        );
        assert_eq!(strip_escapes("\x1bcSeaBIOS"), "SeaBIOS");
    }
}
