//! `baker image boot`: proves a disk image by booting it under QEMU — on the host when
//! `qemu-system-x86_64` (and, for UEFI, OVMF) is installed, else in the tools container — with BIOS
//! or UEFI firmware, with one NIC on QEMU's user-mode network, restricted so that nothing leaves it
//! (its DHCP server answers the image as a cloud's would), and the disk opened as a snapshot, so the
//! image file is never changed. The serial console is
//! streamed to a log file; the boot succeeds when the first-boot ready line appears. KVM is used
//! when `/dev/kvm` opens and the guest's kernel prints its first line within [`KVM_GRACE`] with no
//! KVM internal error from QEMU: on some hosts the device exists but guests never run, and on some
//! nested ones KVM runs the firmware and the boot loader, then stops the kernel with an emulation
//! failure (and QEMU keeps the paused guest). Otherwise QEMU runs again with software emulation.
//! A failed trial is remembered for this boot of the host ([`kvm_memory`]), so later boots go
//! straight to software emulation. `--accel kvm|tcg` picks one instead, with no trial.
//! On timeout the error carries the console's last 40 lines and a hint read from them.

mod console;
mod disk_kind;
pub mod kvm_memory;
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
pub use console::{AGENT_CANNOT_RUN, diagnose, strip_escapes};
use console::{NOTHING_TO_BOOT, failure};
pub use disk_kind::disk_format;
use kvm_memory::KvmMemory;
pub use ovmf::Ovmf;
pub use qemu::{Accel, QemuFrom, kvm_openable, on_path, qemu_args};
use qemu::{Runner, host_qemu};

/// How long a KVM guest may take to print its kernel's first line before KVM is taken to be
/// unusable: about two seconds where KVM works; on a host whose KVM traps everything GRUB took
/// 20 s to start and the kernel never printed, while software emulation boots to the ready line
/// in under 30 s.
pub const KVM_GRACE: Duration = Duration::from_secs(20);

/// The first line every Linux kernel prints on its console (`linux_banner`).
pub const KERNEL_BANNER: &str = "Linux version";

/// What QEMU prints when KVM stops a guest it cannot run; the guest then stays paused.
const KVM_FAILURE: &str = "KVM internal error";

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
    /// `None`: KVM on trial when `/dev/kvm` opens, else software emulation. `Some`: that one,
    /// with no trial and no fallback.
    pub accel: Option<Accel>,
    /// The host's QEMU or the tools image's.
    pub qemu: QemuFrom,
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
    let runner = match (opts.qemu, host_qemu()) {
        (QemuFrom::Host, None) => {
            return Err(ImageError::Boot(
                "--qemu host: no qemu-system-x86_64 on this host's PATH (install QEMU, or leave the choice to baker, which runs it from its tools image)".into(),
            ));
        }
        (QemuFrom::Host, Some(_)) => Runner::Host,
        (QemuFrom::Auto, Some(_)) if !uefi || ovmf::on_host() => Runner::Host,
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
    let mut accel = opts.accel.unwrap_or(if kvm_openable() {
        Accel::Kvm
    } else {
        Accel::Tcg
    });
    // KVM chosen by baker, not by the user, is on trial, unless it failed one on this host before.
    let mut trial = opts.accel.is_none() && accel == Accel::Kvm;
    let memory = KvmMemory::in_cache(&opts.cache);
    if let Some(note) = trial.then(|| memory.skip_note()).flatten() {
        reporter.report(Event::Warning(note));
        accel = Accel::Tcg;
        trial = false;
    }
    let kept = keep_previous_log(&opts.log).unwrap_or_else(|e| {
        reporter.report(Event::Warning(format!(
            "cannot keep the last boot's console log {} ({e}); this boot writes over it",
            opts.log.display()
        )));
        None
    });
    loop {
        reporter.report(Event::Note(format!(
            "booting {} under QEMU ({accel}, {}, {}); console: {}{}",
            opts.image.display(),
            if uefi { "UEFI firmware (OVMF)" } else { "BIOS" },
            runner.name(),
            opts.log.display(),
            kept.as_ref()
                .map(|previous| format!(" (the last boot's is now {})", previous.display()))
                .unwrap_or_default()
        )));
        let started = Instant::now();
        let mut vm = runner
            .start(&image, format, accel, opts.memory_mib, uefi)
            .await?;
        let result = watch(&mut vm.output, &opts.log, deadline, accel, trial, &reporter).await;
        vm.stop().await;
        let watched = result?;
        match watched {
            Watched::Ready => {
                if accel == Accel::Kvm {
                    memory.forget();
                }
                return Ok(BootOutcome {
                    seconds: started.elapsed().as_secs_f64(),
                    accel,
                    runner: runner.name(),
                    log: opts.log.clone(),
                });
            }
            Watched::KvmStalled | Watched::KvmFailed | Watched::Ended if trial => {
                let why = match watched {
                    Watched::Ended => "QEMU stopped".to_owned(),
                    Watched::KvmFailed => format!("QEMU reported a {KVM_FAILURE}"),
                    _ => format!(
                        "the guest's kernel printed nothing within {}s",
                        KVM_GRACE.as_secs()
                    ),
                };
                reporter.report(Event::Warning(memory.trial_failed(&why)));
                accel = Accel::Tcg;
                trial = false;
            }
            Watched::KvmFailed => {
                return Err(failure(
                    opts,
                    &format!(
                        "QEMU reported a {KVM_FAILURE}: KVM cannot run this guest here (`--accel tcg` uses software emulation)"
                    ),
                    None,
                ));
            }
            Watched::Ended => {
                return Err(failure(
                    opts,
                    &format!("QEMU stopped before `{READY_LINE}` appeared"),
                    None,
                ));
            }
            Watched::KvmStalled | Watched::TimedOut => {
                let hint = console::still_booting(accel);
                return Err(failure(opts, &result_reason(opts), Some(hint)));
            }
            Watched::NothingToBoot => {
                return Err(failure(
                    opts,
                    &format!(
                        "the firmware found nothing to boot on {}",
                        opts.image.display()
                    ),
                    None,
                ));
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
    /// No kernel line on the console within [`KVM_GRACE`] (only watched while KVM is on trial).
    KvmStalled,
    /// QEMU said KVM could not run the guest (only watched under KVM).
    KvmFailed,
    TimedOut,
    /// QEMU ended before the ready line.
    Ended,
    /// The firmware said the disk holds no boot loader: waiting longer changes nothing.
    NothingToBoot,
}

/// Keeps the console log a boot before this one left at `log`, as `log.1` (replacing the one
/// before it), so that booting an image again does not lose the log of the boot that failed:
/// where it went, or `None` when there was none. Only a regular file is kept: `--log /dev/stdout`
/// stays where it is.
fn keep_previous_log(log: &Path) -> std::io::Result<Option<PathBuf>> {
    match std::fs::symlink_metadata(log) {
        Ok(meta) if meta.is_file() => {}
        Ok(_) => return Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    }
    let previous = PathBuf::from(format!("{}.1", log.display()));
    std::fs::rename(log, &previous)?;
    Ok(Some(previous))
}

/// Copies the console to the log and looks for the ready line.
async fn watch(
    output: &mut mpsc::Receiver<Bytes>,
    log: &Path,
    deadline: Instant,
    accel: Accel,
    trial: bool,
    reporter: &Arc<dyn Reporter>,
) -> Result<Watched, ImageError> {
    let mut file = std::fs::File::create(log).map_err(ImageError::io("creating", log))?;
    let started = Instant::now();
    // KVM on trial stays so until the kernel has printed.
    let mut on_trial = trial;
    let mut line = Vec::new();
    loop {
        let mut until = deadline;
        if on_trial {
            until = until.min(started + KVM_GRACE);
        }
        let chunk = match tokio::time::timeout_at(until.into(), output.recv()).await {
            Ok(Some(chunk)) => chunk,
            Ok(None) => return Ok(Watched::Ended),
            Err(_) if on_trial => return Ok(Watched::KvmStalled),
            Err(_) => return Ok(Watched::TimedOut),
        };
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
                if NOTHING_TO_BOOT.iter().any(|n| text.contains(n)) {
                    file.flush().map_err(ImageError::io("writing", log))?;
                    return Ok(Watched::NothingToBoot);
                }
                if accel == Accel::Kvm && text.contains(KVM_FAILURE) {
                    file.flush().map_err(ImageError::io("writing", log))?;
                    return Ok(Watched::KvmFailed);
                }
                on_trial &= !text.contains(KERNEL_BANNER);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::Silent;

    #[test]
    fn a_boot_keeps_the_last_boots_console_log_beside_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("disk.raw.console.log");
        assert_eq!(keep_previous_log(&log).unwrap(), None);
        std::fs::write(&log, "first boot").unwrap();
        let kept = keep_previous_log(&log).unwrap().unwrap();
        assert_eq!(kept, dir.path().join("disk.raw.console.log.1"));
        assert_eq!(std::fs::read_to_string(&kept).unwrap(), "first boot");
        assert!(!log.exists());
        std::fs::write(&log, "second boot").unwrap();
        keep_previous_log(&log).unwrap();
        assert_eq!(std::fs::read_to_string(&kept).unwrap(), "second boot");
        // A log that is not a file is left alone.
        assert_eq!(keep_previous_log(Path::new("/dev/null")).unwrap(), None);
        let link = dir.path().join("to-null");
        std::os::unix::fs::symlink("/dev/null", &link).unwrap();
        assert_eq!(keep_previous_log(&link).unwrap(), None);
        assert!(link.exists());
    }

    /// What [`watch`] makes of a console that prints `chunks`, then ends.
    async fn watched(accel: Accel, chunks: &[&str]) -> Watched {
        let trial = accel == Accel::Kvm;
        let dir = tempfile::tempdir().unwrap();
        let (tx, mut rx) = mpsc::channel(chunks.len().max(1));
        for chunk in chunks {
            tx.send(Bytes::from(chunk.to_string())).await.unwrap();
        }
        drop(tx);
        let reporter: Arc<dyn Reporter> = Arc::new(Silent);
        let deadline = Instant::now() + Duration::from_secs(5);
        let log = dir.path().join("console.log");
        watch(&mut rx, &log, deadline, accel, trial, &reporter)
            .await
            .unwrap()
    }

    /// As a nested host's KVM printed it: the firmware and GRUB ran, the kernel did not.
    const KVM_STOPPED_THE_KERNEL: [&str; 2] = [
        "SeaBIOS (version 1.16.2)\r\nBooting from Hard Disk...\r\nGRUB loading...\r\n",
        "KVM internal error. Suberror: 1\r\nextra data[0]: 0x0000000000000001\r\nemulation failure\r\n",
    ];

    #[tokio::test]
    async fn a_kvm_internal_error_ends_the_kvm_trial_at_once() {
        assert!(matches!(
            watched(Accel::Kvm, &KVM_STOPPED_THE_KERNEL).await,
            Watched::KvmFailed
        ));
        // Under software emulation the line is not QEMU's verdict on KVM: the watch goes on.
        assert!(matches!(
            watched(Accel::Tcg, &KVM_STOPPED_THE_KERNEL).await,
            Watched::Ended
        ));
    }

    #[tokio::test]
    async fn a_firmware_with_nothing_to_boot_ends_the_watch_at_once() {
        // The console stays open after SeaBIOS's line, as QEMU's does: the watch ends on the line.
        let (tx, mut rx) = mpsc::channel(1);
        tx.send(Bytes::from(
            "SeaBIOS (version 1.16.2)\r\nBooting from Hard Disk...\r\nBoot failed: not a bootable disk\r\n\r\nNo bootable device.  Retrying in 60 seconds.\r\n",
        ))
        .await
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let reporter: Arc<dyn Reporter> = Arc::new(Silent);
        let deadline = Instant::now() + Duration::from_secs(30);
        let log = dir.path().join("console.log");
        let started = Instant::now();
        let watched = watch(&mut rx, &log, deadline, Accel::Tcg, false, &reporter).await;
        assert!(matches!(watched.unwrap(), Watched::NothingToBoot));
        assert!(started.elapsed() < Duration::from_secs(5));
        drop(tx);
    }

    #[tokio::test]
    async fn the_ready_line_ends_the_watch() {
        let chunks = [
            "[    0.000000] Linux version 6.1.0-50-cloud-amd64\r\n",
            "baker-ready: first boot finished\r\n",
        ];
        assert!(matches!(watched(Accel::Kvm, &chunks).await, Watched::Ready));
    }
}
