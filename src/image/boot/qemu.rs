//! The QEMU side of `baker image boot`: the command line, where QEMU runs (on the host when it is
//! installed, else in the tools container) and how its console output reaches the boot watcher.
//! Under UEFI it loads OVMF ([`super::ovmf`]).

use std::path::{Path, PathBuf};

use bytes::Bytes;
use futures_util::StreamExt;
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;

use super::super::ImageError;
use super::super::run::{self, RunSpec};
use super::ovmf::{self, Ovmf};
use crate::engine::Container;
use crate::engine::Engine;
use crate::engine::labels::IMAGE_PART_LABEL;

/// How QEMU runs the guest's CPU.
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

impl Accel {
    /// `kvm` or `tcg`, as `--accel` takes them; `None` for anything else.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "kvm" => Some(Accel::Kvm),
            "tcg" => Some(Accel::Tcg),
            _ => None,
        }
    }
}

/// Where QEMU comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum QemuFrom {
    /// The host's when it is installed (with OVMF, for UEFI), else the tools image's.
    #[default]
    Auto,
    /// The host's only.
    Host,
    /// The tools image's, even where the host has its own.
    Tools,
}

/// `text` as the value of a QEMU option (`file=…`): any `,` in it doubled, QEMU's escape for a
/// comma inside a value, where a single one would end the value and start another option.
pub fn option_value(text: &str) -> String {
    text.replace(',', ",,")
}

/// The QEMU command line for `disk` (a path as QEMU sees it; see [`option_value`]).
/// With `ovmf` the guest starts in UEFI firmware, else in SeaBIOS.
pub fn qemu_args(
    disk: &str,
    format: &str,
    accel: Accel,
    memory_mib: u32,
    ovmf: Option<&Ovmf>,
) -> Vec<String> {
    let (accel, cpu) = match accel {
        Accel::Kvm => ("kvm", "host"),
        Accel::Tcg => ("tcg", "max"),
    };
    let mut args: Vec<String> = [
        "qemu-system-x86_64",
        "-accel",
        accel,
        "-cpu",
        cpu,
        "-m",
        &memory_mib.to_string(),
        "-nographic",
        "-no-reboot",
        "-drive",
        &format!(
            "file={},format={format},if=none,id=disk,snapshot=on",
            option_value(disk)
        ),
        "-device",
        "virtio-blk-pci,drive=disk,bootindex=0",
        // One NIC, as on a cloud: QEMU's user-mode network answers the image's DHCP (an image whose
        // network start waits for its first NIC would otherwise wait at every boot), and
        // `restrict=on` lets nothing out of it. No option ROM and the disk first in the boot
        // order, so no firmware tries to boot from the network.
        "-netdev",
        "user,id=nic,restrict=on",
        "-device",
        "virtio-net-pci,netdev=nic,romfile=",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    if let Some(ovmf) = ovmf {
        args.extend(ovmf.qemu_args());
    }
    args
}

/// Whether `/dev/kvm` is there and opens for reading and writing (it may still not run guests).
pub fn kvm_openable() -> bool {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .is_ok()
}

pub(super) fn host_qemu() -> Option<PathBuf> {
    on_path("qemu-system-x86_64")
}

/// `program` on this host's PATH.
pub fn on_path(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(program))
            .find(|p| p.is_file())
    })
}

pub(super) enum Runner {
    Host,
    Container { engine: Engine, tools: String },
}

/// A running QEMU: its console output, and how to stop it.
pub(super) struct Running {
    pub(super) output: mpsc::Receiver<Bytes>,
    stop: Stop,
    /// The host copy of OVMF's variable store, removed with it.
    _vars: Option<tempfile::TempDir>,
}

enum Stop {
    Host(tokio::process::Child),
    Container(Container),
}

impl Running {
    pub(super) async fn stop(self) {
        match self.stop {
            Stop::Host(mut child) => {
                let _ = child.kill().await;
            }
            Stop::Container(vm) => vm.remove().await,
        }
    }
}

impl Runner {
    pub(super) fn name(&self) -> String {
        match self {
            Runner::Host => "on the host".into(),
            Runner::Container { tools, .. } => format!("in {tools}"),
        }
    }

    pub(super) async fn start(
        &self,
        image: &Path,
        format: &str,
        accel: Accel,
        memory_mib: u32,
        uefi: bool,
    ) -> Result<Running, ImageError> {
        let (tx, rx) = mpsc::channel(64);
        match self {
            Runner::Host => {
                let (vars, ovmf) = if uefi {
                    let (dir, ovmf) = Ovmf::host_copy()?;
                    (Some(dir), Some(ovmf))
                } else {
                    (None, None)
                };
                let args = qemu_args(
                    &image.display().to_string(),
                    format,
                    accel,
                    memory_mib,
                    ovmf.as_ref(),
                );
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
                    _vars: vars,
                })
            }
            Runner::Container { engine, tools } => {
                let dir = image.parent().unwrap_or(Path::new("/"));
                let name = image.file_name().unwrap_or_default().to_string_lossy();
                let ovmf = uefi.then(Ovmf::in_container);
                let mut args = qemu_args(
                    &format!("/disk/{name}"),
                    format,
                    accel,
                    memory_mib,
                    ovmf.as_ref(),
                );
                if uefi {
                    args = ovmf::with_vars_copied(args);
                }
                let devices: &[&str] = if accel == Accel::Kvm {
                    &["/dev/kvm"]
                } else {
                    &[]
                };
                let vm = run::start_vm(
                    engine,
                    &RunSpec {
                        name: run::unique_name("baker-image-boot"),
                        image: tools,
                        cmd: args,
                        env: Default::default(),
                        // A folder holding a `:` is mounted all the same: see `crate::engine`'s binds.
                        binds: vec![format!("{}:/disk:ro", dir.display())],
                        labels: &[(IMAGE_PART_LABEL, "boot")],
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
                    _vars: None,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qemu_boots_the_disk_as_a_snapshot_with_one_nic_that_reaches_nothing() {
        let args = qemu_args("/disk/pg.raw", "raw", Accel::Tcg, 1024, None).join(" ");
        assert_eq!(
            args,
            "qemu-system-x86_64 -accel tcg -cpu max -m 1024 -nographic -no-reboot \
             -drive file=/disk/pg.raw,format=raw,if=none,id=disk,snapshot=on \
             -device virtio-blk-pci,drive=disk,bootindex=0 \
             -netdev user,id=nic,restrict=on -device virtio-net-pci,netdev=nic,romfile="
        );
        // A comma in the path is doubled, or QEMU would read the rest as options.
        assert!(
            qemu_args("/srv/a,b/pg,1.raw", "raw", Accel::Tcg, 1024, None)
                .join(" ")
                .contains(" file=/srv/a,,b/pg,,1.raw,format=raw,if=none,")
        );
        assert!(
            qemu_args("d", "raw", Accel::Kvm, 512, None)
                .join(" ")
                .contains("-accel kvm -cpu host -m 512")
        );
    }
}
