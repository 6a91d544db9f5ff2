//! Remembers that KVM failed its trial on this host, so that the next `baker image boot` or qemu
//! launch goes straight to software emulation instead of spending [`super::KVM_GRACE`] on a trial
//! whose outcome is already known. On a host whose `/dev/kvm` opens but cannot run a guest's
//! kernel (seen on nested hosts), every boot otherwise pays that time again.
//!
//! The verdict is one small JSON file in the cache root ([`crate::cache::CacheDir::kvm_verdict`]).
//! It holds for as long as the host keeps running the same boot of the same kernel
//! (`/proc/sys/kernel/random/boot_id` and `osrelease`), and at most [`MAX_AGE`]: a reboot, a new
//! kernel or a week forgets it, and so do `baker cache clear`, a boot that ran under KVM, and
//! deleting the file. `--accel kvm` always tries KVM. Writing it is best effort: a cache that
//! cannot be written costs the trial, never the boot.

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::cache::CacheDir;

/// How long a failed trial is trusted, even without a reboot.
pub const MAX_AGE: Duration = Duration::from_secs(7 * 24 * 3600);

/// Which run of which kernel a verdict was reached on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostBoot {
    pub boot_id: String,
    pub kernel: String,
}

impl HostBoot {
    /// This host's, from `/proc`; `None` where it cannot be read (then nothing is remembered).
    pub fn current() -> Option<Self> {
        let read = |path: &str| {
            std::fs::read_to_string(path)
                .ok()
                .map(|text| text.trim().to_owned())
                .filter(|text| !text.is_empty())
        };
        Some(HostBoot {
            boot_id: read("/proc/sys/kernel/random/boot_id")?,
            kernel: read("/proc/sys/kernel/osrelease")?,
        })
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Verdict {
    #[serde(flatten)]
    host: HostBoot,
    /// Seconds since the Unix epoch.
    failed_at: u64,
    why: String,
}

/// The remembered verdict on this host's KVM, and what baker tells the user of it: image boots
/// and qemu launches share both.
#[derive(Debug, Clone, Default)]
pub struct KvmMemory {
    /// `None`: nothing is remembered (every run puts KVM on trial).
    path: Option<PathBuf>,
}

impl KvmMemory {
    pub fn in_cache(cache: &CacheDir) -> Self {
        KvmMemory {
            path: Some(cache.kvm_verdict()),
        }
    }

    /// When KVM failed its trial on this host during this boot of its kernel and within
    /// [`MAX_AGE`], the note saying so and that software emulation is used without a trial.
    pub fn skip_note(&self) -> Option<String> {
        self.skip_note_on(&HostBoot::current()?, SystemTime::now())
    }

    fn skip_note_on(&self, host: &HostBoot, now: SystemTime) -> Option<String> {
        let path = self.path.as_ref()?;
        let text = std::fs::read(path).ok()?;
        let verdict: Verdict = serde_json::from_slice(&text).ok()?;
        let age = seconds(now).checked_sub(verdict.failed_at)?;
        (verdict.host == *host && age <= MAX_AGE.as_secs()).then(|| {
            format!(
                "KVM failed its trial on this host {} ago ({}; remembered in {}): using software emulation (`--accel kvm` tries KVM again)",
                ago(age),
                verdict.why,
                path.display()
            )
        })
    }

    /// Remembers that KVM failed its trial on this host, and `why`; returns the note saying so.
    pub fn trial_failed(&self, why: &str) -> String {
        if let Some(host) = HostBoot::current() {
            self.record_failure_on(host, why, SystemTime::now());
        }
        format!(
            "KVM did not run the guest ({why}): /dev/kvm opens but does not work here; using software emulation (`--accel tcg` skips this trial; remembered until this host reboots, for at most a week)"
        )
    }

    fn record_failure_on(&self, host: HostBoot, why: &str, now: SystemTime) {
        let Some(path) = &self.path else { return };
        let verdict = Verdict {
            host,
            failed_at: seconds(now),
            why: why.to_owned(),
        };
        let written = path
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| {
                let partial = path.with_extension("json.partial");
                let json = serde_json::to_vec_pretty(&verdict).expect("a verdict serializes");
                std::fs::write(&partial, json)?;
                std::fs::rename(&partial, path)
            });
        if let Err(error) = written {
            tracing::debug!(
                "not remembering KVM's failure in {}: {error}",
                path.display()
            );
        }
    }

    /// Forgets a failure: KVM just ran a guest here.
    pub fn forget(&self) {
        if let Some(path) = &self.path {
            let _ = std::fs::remove_file(path);
        }
    }
}

fn seconds(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn ago(seconds: u64) -> String {
    match seconds {
        0..60 => format!("{seconds} s"),
        60..7200 => format!("{} min", seconds / 60),
        7200..172800 => format!("{} h", seconds / 3600),
        _ => format!("{} days", seconds / 86400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(boot_id: &str, kernel: &str) -> HostBoot {
        HostBoot {
            boot_id: boot_id.into(),
            kernel: kernel.into(),
        }
    }

    fn memory() -> (tempfile::TempDir, KvmMemory) {
        let dir = tempfile::tempdir().unwrap();
        let memory = KvmMemory::in_cache(&CacheDir::new(dir.path().join("cache")));
        (dir, memory)
    }

    #[test]
    fn a_failure_is_remembered_for_the_same_boot_of_the_same_kernel() {
        let (_dir, memory) = memory();
        let here = host("b1", "6.1.0");
        let then = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        assert_eq!(memory.skip_note_on(&here, then), None);
        memory.record_failure_on(here.clone(), "QEMU reported a KVM internal error", then);
        let known = memory
            .skip_note_on(&here, then + Duration::from_secs(180))
            .unwrap();
        assert!(
            known.starts_with("KVM failed its trial on this host 3 min ago (QEMU reported a KVM internal error; remembered in "),
            "{known}"
        );
        assert!(known.ends_with("using software emulation (`--accel kvm` tries KVM again)"));
        // Another boot, another kernel: the trial runs again.
        assert_eq!(memory.skip_note_on(&host("b2", "6.1.0"), then), None);
        assert_eq!(memory.skip_note_on(&host("b1", "6.12.0"), then), None);
    }

    #[test]
    fn a_failure_is_forgotten_after_a_week_or_when_kvm_ran() {
        let (_dir, memory) = memory();
        let here = host("b1", "6.1.0");
        let then = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        memory.record_failure_on(here.clone(), "why", then);
        assert!(memory.skip_note_on(&here, then + MAX_AGE).is_some());
        let later = then + MAX_AGE + Duration::from_secs(1);
        assert_eq!(memory.skip_note_on(&here, later), None);
        memory.forget();
        assert_eq!(memory.skip_note_on(&here, then), None);
        memory.forget();
    }

    #[test]
    fn without_a_cache_nothing_is_remembered() {
        let memory = KvmMemory::default();
        let here = host("b1", "6.1.0");
        let then = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        memory.record_failure_on(here.clone(), "why", then);
        assert_eq!(memory.skip_note_on(&here, then), None);
        memory.forget();
    }

    #[test]
    fn a_damaged_verdict_means_no_verdict() {
        let (_dir, memory) = memory();
        std::fs::create_dir_all(memory.path.as_ref().unwrap().parent().unwrap()).unwrap();
        std::fs::write(memory.path.as_ref().unwrap(), "{not json").unwrap();
        let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        assert_eq!(memory.skip_note_on(&host("b1", "6.1.0"), now), None);
    }

    #[test]
    fn this_host_has_a_boot_id_and_a_kernel() {
        let here = HostBoot::current().expect("/proc is mounted");
        assert_eq!(here.boot_id.len(), 36, "{here:?}");
        assert!(!here.kernel.is_empty());
    }
}
