//! Watching one boot's serial console: each attempt's output copied into the console log and read
//! line by line for the ready line, the firmware finding nothing to boot, and KVM failing the
//! guest. Apart from [`super::boot`], which decides what to do next, because one boot may take two
//! attempts — KVM on trial, then software emulation — and both belong in the same log: the log is
//! created once ([`ConsoleLog`]), and a second attempt goes on after a line saying why it was made,
//! so the trial's console, often the only account of why KVM failed, is not written over. Each
//! attempt gets the whole `--timeout` from its own start.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::mpsc;

use super::super::ImageError;
use super::super::assets::READY_LINE;
use super::console::{NOTHING_TO_BOOT, strip_escapes};
use super::{Accel, KERNEL_BANNER, KVM_GRACE};
use crate::progress::{Event, Reporter};

/// What QEMU prints when KVM stops a guest it cannot run; the guest then stays paused.
pub(super) const KVM_FAILURE: &str = "KVM internal error";

/// How the line that separates a KVM trial's console from the retry's begins: a failed boot's
/// diagnosis reads only what follows the last one.
pub(super) const RETRY_MARK: &str = "===== baker: ";

/// The console log of one `baker image boot`, created when it starts.
pub(super) struct ConsoleLog {
    file: File,
    path: PathBuf,
}

impl ConsoleLog {
    pub(super) fn create(path: &Path) -> Result<Self, ImageError> {
        let file = File::create(path).map_err(ImageError::io("creating", path))?;
        Ok(Self {
            file,
            path: path.to_owned(),
        })
    }

    /// Says in the log, after the KVM trial's console, that the boot starts again under software
    /// emulation, and `why`.
    pub(super) fn retried(&mut self, why: &str) -> Result<(), ImageError> {
        let line = format!(
            "\n{RETRY_MARK}KVM's trial failed ({why}); the boot starts again under software \
             emulation =====\n"
        );
        self.write(line.as_bytes())
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), ImageError> {
        self.file
            .write_all(bytes)
            .and_then(|()| self.file.flush())
            .map_err(ImageError::io("writing", &self.path))
    }
}

pub(super) enum Watched {
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

/// Copies the console to the log and looks for the ready line, for at most `timeout` from now.
pub(super) async fn watch(
    output: &mut mpsc::Receiver<Bytes>,
    log: &mut ConsoleLog,
    timeout: Duration,
    accel: Accel,
    trial: bool,
    reporter: &Arc<dyn Reporter>,
) -> Result<Watched, ImageError> {
    let started = Instant::now();
    let deadline = started + timeout;
    // KVM on trial stays so until the kernel has printed.
    let mut on_trial = trial;
    let mut line = Vec::new();
    loop {
        // KVM's grace ends a trial only when it ends before the boot's timeout: a `--timeout`
        // shorter than the grace is the boot's, and says nothing of KVM.
        let stalls = on_trial && started + KVM_GRACE < deadline;
        let until = if stalls {
            started + KVM_GRACE
        } else {
            deadline
        };
        let chunk = match tokio::time::timeout_at(until.into(), output.recv()).await {
            Ok(Some(chunk)) => chunk,
            Ok(None) => return Ok(Watched::Ended),
            Err(_) if stalls => return Ok(Watched::KvmStalled),
            Err(_) => return Ok(Watched::TimedOut),
        };
        log.write(&chunk)?;
        for b in chunk.iter() {
            if *b == b'\n' {
                let text = strip_escapes(&String::from_utf8_lossy(&line));
                line.clear();
                if text.contains(READY_LINE) {
                    return Ok(Watched::Ready);
                }
                if NOTHING_TO_BOOT.iter().any(|n| text.contains(n)) {
                    return Ok(Watched::NothingToBoot);
                }
                if accel == Accel::Kvm && text.contains(KVM_FAILURE) {
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
#[path = "watch_tests.rs"]
mod tests;
