//! `baker image boot`: proves a disk image by booting it under QEMU — on the host when
//! `qemu-system-x86_64` (and, for UEFI, OVMF) is installed, else in the tools container — with BIOS
//! or UEFI firmware, with no network (`-nic none`)
//! and the disk opened as a snapshot, so the image file is never changed. The serial console is
//! streamed to a log file; the boot succeeds when the first-boot ready line appears. KVM is used
//! when `/dev/kvm` opens and the guest actually prints something within a few seconds (here the
//! device exists but guests never run); otherwise QEMU runs again with software emulation. On
//! timeout the error carries the console's last 40 lines and a hint read from them.

mod console;
mod ovmf;
mod qemu;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::mpsc;

use super::ImageError;
use super::assets::READY_LINE;
use crate::cache::CacheDir;
use crate::engine::Engine;
use crate::progress::{Event, Reporter};

use crate::recipe::Firmware;
use console::failure;
pub use console::{diagnose, strip_escapes};
pub use ovmf::Ovmf;
pub use qemu::{Accel, disk_format, kvm_openable, qemu_args};
use qemu::{Runner, host_qemu};

/// How long a KVM guest may stay silent before KVM is taken to be unusable.
const KVM_GRACE: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
pub struct BootOptions {
    pub image: PathBuf,
    pub timeout: Duration,
    /// Where the serial console goes.
    pub log: PathBuf,
    pub memory_mib: u32,
    /// SeaBIOS, or OVMF for UEFI.
    pub firmware: Firmware,
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

/// Boots `opts.image` until the ready line, the timeout, or QEMU's end.
pub async fn boot(
    engine: Option<&Engine>,
    opts: &BootOptions,
    reporter: Arc<dyn Reporter>,
) -> Result<BootOutcome, ImageError> {
    let format = disk_format(&opts.image)?;
    let image = opts
        .image
        .canonicalize()
        .map_err(ImageError::io("opening the image", &opts.image))?;
    let uefi = opts.firmware == Firmware::Uefi;
    let runner = match host_qemu() {
        Some(_) if !uefi || ovmf::on_host() => Runner::Host,
        _ => {
            let engine = engine.ok_or_else(|| {
                ImageError::Boot(
                    "no qemu-system-x86_64 on this host and no Docker engine to run it in".into(),
                )
            })?;
            let tools = super::tools::ensure_tools(engine, &opts.cache, &reporter).await?;
            Runner::Container {
                engine: engine.clone(),
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
            "booting {} under QEMU ({accel}, {}, {}); console: {}",
            opts.image.display(),
            if uefi { "UEFI firmware (OVMF)" } else { "BIOS" },
            runner.name(),
            opts.log.display()
        )));
        let started = Instant::now();
        let mut vm = runner
            .start(&image, format, accel, opts.memory_mib, uefi)
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
