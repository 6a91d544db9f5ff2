//! `baker image boot`: proves a disk image by booting it under QEMU — on the host when
//! `qemu-system-x86_64` (and, for UEFI, OVMF) is installed, else in the tools container — with BIOS
//! or UEFI firmware, with one NIC on QEMU's user-mode network, restricted so that nothing leaves it
//! (its DHCP server answers the image as a cloud's would), and the disk opened as a snapshot, so the
//! image file is never changed. The serial console is
//! streamed to a log file; the boot succeeds when the first-boot ready line appears. KVM is used
//! when `/dev/kvm` opens and the guest's kernel prints its first line within [`KVM_GRACE`] with no
//! KVM internal error from QEMU: on some hosts the device exists but guests never run, and on some
//! nested ones KVM runs the firmware and the boot loader, then stops the kernel with an emulation
//! failure (and QEMU keeps the paused guest). Otherwise QEMU runs again with software emulation,
//! with the whole timeout again, its console appended to the trial's in the same log
//! (see `watch.rs`).
//! A failed trial is remembered for this boot of the host ([`kvm_memory`]), so later boots go
//! straight to software emulation; a QEMU that merely stopped during the trial counts against KVM
//! only once the same image boots without it (it may have stopped for another reason). `--accel kvm|tcg` picks one instead, with no trial.
//! On timeout the error carries the console's last 40 lines and a hint read from them.

mod console;
mod disk_kind;
pub mod kvm_memory;
mod ovmf;
mod qemu;
mod watch;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::ImageError;
use super::assets::READY_LINE;
use crate::cache::CacheDir;
use crate::engine::Engine;
use crate::progress::{Event, Reporter};

use crate::recipe::Firmware;
use console::failure;
pub use console::{AGENT_CANNOT_RUN, diagnose, strip_escapes};
pub use disk_kind::disk_format;
use kvm_memory::KvmMemory;
pub use ovmf::Ovmf;
pub use qemu::{Accel, QemuFrom, kvm_openable, on_path, option_value, qemu_args};
use qemu::{Runner, host_qemu};
use watch::{ConsoleLog, KVM_FAILURE, Watched, watch};

/// How long a KVM guest may take to print its kernel's first line before KVM is taken to be
/// unusable: about two seconds where KVM works; on a host whose KVM traps everything GRUB took
/// 20 s to start and the kernel never printed, while software emulation boots to the ready line
/// in under 30 s.
pub const KVM_GRACE: Duration = Duration::from_secs(20);

/// The first line every Linux kernel prints on its console (`linux_banner`).
pub const KERNEL_BANNER: &str = "Linux version";

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
    let mut accel = opts.accel.unwrap_or(if kvm_openable() {
        Accel::Kvm
    } else {
        Accel::Tcg
    });
    // KVM chosen by baker, not by the user, is on trial, unless it failed one on this host before.
    let mut trial = opts.accel.is_none() && accel == Accel::Kvm;
    // A QEMU that stopped during the trial: KVM's fault only if the same boot works without it
    // (it may have stopped for another reason, which software emulation meets too).
    let mut stopped_under_kvm: Option<String> = None;
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
    // One log for every attempt: a retry goes on after the KVM trial's console.
    let mut log = ConsoleLog::create(&opts.log)?;
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
        // Each attempt has the whole timeout: the retry's failure says "within {timeout}s".
        let result = watch(
            &mut vm.output,
            &mut log,
            opts.timeout,
            accel,
            trial,
            &reporter,
        )
        .await;
        vm.stop().await;
        let watched = result?;
        match watched {
            Watched::Ready => {
                if accel == Accel::Kvm {
                    memory.forget();
                }
                if let Some(why) = stopped_under_kvm.take() {
                    reporter.report(Event::Warning(memory.trial_failed(&why)));
                }
                return Ok(BootOutcome {
                    seconds: started.elapsed().as_secs_f64(),
                    accel,
                    runner: runner.name(),
                    log: opts.log.clone(),
                });
            }
            Watched::Ended if trial => {
                let why = "QEMU stopped under KVM".to_owned();
                log.retried(&why)?;
                reporter.report(Event::Warning(format!(
                    "{why}; trying software emulation (KVM is remembered as failing only if the \
                     image boots without it)"
                )));
                stopped_under_kvm = Some(why);
                accel = Accel::Tcg;
                trial = false;
            }
            Watched::KvmStalled | Watched::KvmFailed if trial => {
                let why = match watched {
                    Watched::KvmFailed => format!("QEMU reported a {KVM_FAILURE}"),
                    _ => format!(
                        "the guest's kernel printed nothing within {}s",
                        KVM_GRACE.as_secs()
                    ),
                };
                log.retried(&why)?;
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
