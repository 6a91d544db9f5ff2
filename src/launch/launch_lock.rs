//! One launch of a cluster at a time, and no `destroy` under a running one. Two `launch --resume`
//! of one cluster would start its nodes twice and write its state over each other's; a `destroy`
//! during a launch would remove what that launch goes on using and making. And `status` on a
//! cluster whose launch has not finished must tell a launch still at work (in another shell) from
//! one that stopped, which only `--resume` finishes.
//!
//! A launch holds an exclusive `flock(2)` on `.locks/<name>.lock` under the state root from the
//! moment it claims the name until it exits; `--resume` and `destroy` hold it while they run, and
//! each writes into it what it does ([`LaunchWork`]). The operating system releases it however the
//! process ends, so a killed launch leaves nothing stale, and `status` tells the two cases apart by
//! trying the lock, shared, for an instant. The lock file lies outside the cluster's directory and
//! is never removed: a `destroy` removes that directory while it holds the lock, and a process
//! waiting on a removed file would hold a lock no later one sees. It is the cache's lock (see
//! [`crate::cache::lock`]) applied to one cluster, and names its holders the same way
//! ([`lock_holders`]).

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rustix::fs::{FlockOperation, flock};
use rustix::io::Errno;

use super::state::{ClusterState, StateDir, StateError, check_name};
use crate::cache::lock_holders::lock_holders;

/// The folder of the lock files, under the state root.
const LOCKS: &str = ".locks";

/// How long a launch, `--resume` and `destroy` try a busy lock before they say the cluster is busy: a
/// `status` holds it for an instant, and every launch for far longer.
const STATUS_GRACE: Duration = Duration::from_secs(1);

/// Held while a launch, `--resume` or `destroy` works on a cluster; dropping it releases it.
#[derive(Debug)]
#[must_use = "the cluster is locked only while this lives"]
pub struct LaunchLock {
    _file: File,
}

/// What the process holding a cluster's lock does, as it wrote in the lock file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LaunchWork {
    Launch,
    Resume,
    Destroy,
}

impl LaunchWork {
    fn word(self) -> &'static str {
        match self {
            Self::Launch => "launch",
            Self::Resume => "resume",
            Self::Destroy => "destroy",
        }
    }

    fn read(file: &File) -> Option<Self> {
        let mut buf = [0u8; 16];
        let n = file.read_at(&mut buf, 0).ok()?;
        [Self::Launch, Self::Resume, Self::Destroy]
            .into_iter()
            .find(|work| work.word().as_bytes() == &buf[..n])
    }
}

/// Whether a launch of a cluster (or a `--resume`, or a `destroy`) runs now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LaunchActivity {
    /// A process holds the cluster's lock, doing `work` (`None` when it has not said yet), and
    /// `holders` are `pid N (command line)` for each one `/proc` names.
    Running {
        work: Option<LaunchWork>,
        holders: Vec<String>,
    },
    /// None does: a launch that has not finished was stopped.
    Stopped,
}

/// "its launch runs now (pid 4242 (baker launch pg2 --slaves 3))": what the process that holds a
/// cluster's lock does, and who it is.
pub fn at_work(work: &Option<LaunchWork>, holders: &[String]) -> String {
    let doing = match work {
        Some(LaunchWork::Launch) => "its launch runs now",
        Some(LaunchWork::Resume) => "a `launch --resume` of it runs now",
        Some(LaunchWork::Destroy) => "it is being destroyed now",
        None => "another baker works on it now",
    };
    if holders.is_empty() {
        doing.to_owned()
    } else {
        format!("{doing} ({})", holders.join(", "))
    }
}

impl StateDir {
    pub fn launch_lock_path(&self, name: &str) -> PathBuf {
        self.root().join(LOCKS).join(format!("{name}.lock"))
    }

    /// Reserves `name` for a new launch, before it builds or makes an image, which may take long:
    /// [`StateError::Busy`] while another launch (or a `destroy`, or a `--resume`) of the name
    /// runs, and [`StateError::Exists`] when a cluster has the name, so that a taken name fails at
    /// once and not after the build. The launch holds the lock until it exits; meanwhile `status`
    /// and `clusters` show the name as being launched ([`StateDir::preparing`]).
    pub fn reserve_launch(&self, name: &str) -> Result<LaunchLock, StateError> {
        let lock = self.lock_launch(name, LaunchWork::Launch)?;
        // Checked under the lock: a `destroy` of the name, which holds it, has finished.
        if self.has_state(name) {
            return Err(StateError::Exists {
                name: name.to_owned(),
                dir: self.cluster_dir(name),
            });
        }
        Ok(lock)
    }

    /// [`StateDir::load`], but a name that a launch running now has reserved and made no cluster
    /// of yet (it builds, or makes its image) is [`StateError::Busy`], naming the launch, rather
    /// than unknown: `--resume`, `login` and `logs` say to wait for it.
    pub fn load_or_busy(&self, name: &str) -> Result<ClusterState, StateError> {
        match self.load(name) {
            Err(unknown @ StateError::Unknown { .. }) => match self.launch_activity(name) {
                LaunchActivity::Running { work, holders } => Err(StateError::Busy {
                    name: name.to_owned(),
                    work,
                    holders,
                }),
                LaunchActivity::Stopped => Err(unknown),
            },
            loaded => loaded,
        }
    }

    /// The names a launch running now has reserved and not made a cluster of yet (it builds, or
    /// makes its image, first): `clusters` shows them.
    pub fn preparing(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(self.root().join(LOCKS)) else {
            return Vec::new();
        };
        let mut names: Vec<String> = (entries.filter_map(Result::ok))
            .filter_map(|e| {
                let file = e.file_name().into_string().ok()?;
                Some(file.strip_suffix(".lock")?.to_owned())
            })
            .filter(|name| check_name(name).is_ok() && !self.has_state(name))
            .collect();
        names.sort();
        names.retain(|name| {
            matches!(
                self.launch_activity(name),
                LaunchActivity::Running {
                    work: Some(LaunchWork::Launch),
                    ..
                }
            )
        });
        names
    }

    /// Cluster `name`'s lock, for `work`; [`StateError::Busy`], naming what holds it, while a
    /// launch, `--resume` or `destroy` of the cluster runs. A `status` holds it for an instant, so a
    /// busy lock is tried again for [`STATUS_GRACE`] (the caller waits that long at most).
    pub fn lock_launch(&self, name: &str, work: LaunchWork) -> Result<LaunchLock, StateError> {
        check_name(name)?;
        let path = self.launch_lock_path(name);
        let file = open(&path).map_err(|source| StateError::Write {
            path: path.clone(),
            source,
        })?;
        let tried = Instant::now();
        loop {
            match flock(&file, FlockOperation::NonBlockingLockExclusive) {
                Ok(()) => return Ok(taken(file, work)),
                Err(Errno::WOULDBLOCK) if tried.elapsed() < STATUS_GRACE => {
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(Errno::WOULDBLOCK) => {
                    return Err(StateError::Busy {
                        name: name.to_owned(),
                        work: LaunchWork::read(&file),
                        holders: lock_holders(&path),
                    });
                }
                Err(e) => {
                    return Err(StateError::Write {
                        path,
                        source: e.into(),
                    });
                }
            }
        }
    }

    /// Whether a launch, `--resume` or `destroy` of cluster `name` runs now. Taking the lock shared
    /// for an instant tells it wherever that process runs; `/proc` names it where it can.
    pub fn launch_activity(&self, name: &str) -> LaunchActivity {
        let path = self.launch_lock_path(name);
        // Opened read-only and never made: a cluster launched before baker had this lock has none.
        let Ok(file) = File::open(&path) else {
            return LaunchActivity::Stopped;
        };
        match flock(&file, FlockOperation::NonBlockingLockShared) {
            Err(Errno::WOULDBLOCK) => LaunchActivity::Running {
                work: LaunchWork::read(&file),
                holders: lock_holders(&path),
            },
            _ => LaunchActivity::Stopped,
        }
    }
}

/// The lock file at `path`, made if missing, with its folder.
fn open(path: &Path) -> io::Result<File> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    File::options()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(path)
}

/// The lock on `file`, just taken, which now says it is held for `work` (best effort: the lock
/// holds without the word).
fn taken(file: File, work: LaunchWork) -> LaunchLock {
    let _ = file
        .set_len(0)
        .and_then(|()| file.write_all_at(work.word().as_bytes(), 0));
    LaunchLock { _file: file }
}

#[cfg(test)]
#[path = "launch_lock_tests.rs"]
mod tests;
