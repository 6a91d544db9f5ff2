//! One launch of a cluster at a time, and no `destroy` under a running one. Two `launch --resume`
//! of one cluster would start its nodes twice and write its state over each other's; a `destroy`
//! during a launch would remove what that launch goes on using and making. And `status` on a
//! cluster whose launch has not finished must tell a launch still at work (in another shell) from
//! one that stopped, which only `--resume` finishes.
//!
//! A launch holds an exclusive `flock(2)` on `launch.lock` in the cluster's state directory from
//! the moment it claims the name until it exits; `--resume` and `destroy` hold it while they run.
//! The operating system releases it however the process ends, so a killed launch leaves nothing
//! stale, and `status` tells the two cases apart by trying the lock, shared, for an instant. It is
//! the cache's lock (see [`crate::cache::lock`]) applied to one cluster, and names its holders the
//! same way ([`lock_holders`]).

use std::fs::File;
use std::io;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use rustix::fs::{FlockOperation, flock};
use rustix::io::Errno;

use super::state::{StateDir, StateError};
use crate::cache::lock_holders::lock_holders;

/// The lock file in a cluster's state directory.
const LOCK_FILE: &str = "launch.lock";

/// How long `--resume` and `destroy` try a busy lock before they say a launch runs: a `status`
/// holds it for an instant, and every launch for far longer.
const STATUS_GRACE: Duration = Duration::from_secs(1);

/// Held while a launch, `--resume` or `destroy` works on a cluster; dropping it releases it.
#[derive(Debug)]
#[must_use = "the cluster is locked only while this lives"]
pub struct LaunchLock {
    _file: Option<File>,
}

/// Whether a launch of a cluster (or a `--resume`, or a `destroy`) runs now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LaunchActivity {
    /// A process holds the cluster's lock: `pid N (command line)` for each one `/proc` names.
    Running { holders: Vec<String> },
    /// None does: a launch that has not finished was stopped.
    Stopped,
}

impl StateDir {
    pub fn launch_lock_path(&self, name: &str) -> PathBuf {
        self.cluster_dir(name).join(LOCK_FILE)
    }

    /// Cluster `name`'s lock for a launch that claims the name now (its directory exists): `None`
    /// when another process holds it, which is claiming the same name at this moment.
    pub(super) fn claim_launch(&self, name: &str) -> io::Result<Option<LaunchLock>> {
        let file = open(&self.launch_lock_path(name))?;
        match flock(&file, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => Ok(Some(LaunchLock { _file: Some(file) })),
            Err(Errno::WOULDBLOCK) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Cluster `name`'s lock, for `--resume` or `destroy`; [`StateError::Busy`], naming the
    /// holders, while a launch of it runs. A cluster without a state directory has nothing to
    /// lock (and nothing to resume or destroy there).
    pub async fn lock_launch(&self, name: &str) -> Result<LaunchLock, StateError> {
        let path = self.launch_lock_path(name);
        let file = match open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(LaunchLock { _file: None }),
            Err(source) => return Err(StateError::Write { path, source }),
        };
        let tried = Instant::now();
        loop {
            match flock(&file, FlockOperation::NonBlockingLockExclusive) {
                Ok(()) => return Ok(LaunchLock { _file: Some(file) }),
                Err(Errno::WOULDBLOCK) if tried.elapsed() < STATUS_GRACE => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(Errno::WOULDBLOCK) => {
                    return Err(StateError::Busy {
                        name: name.to_owned(),
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
                holders: lock_holders(&path),
            },
            _ => LaunchActivity::Stopped,
        }
    }
}

/// The lock file at `path`, made if missing (its directory is not).
fn open(path: &std::path::Path) -> io::Result<File> {
    File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::launch::state::{ClusterState, Phase};

    fn cluster(states: &StateDir, name: &str) -> LaunchLock {
        let state = ClusterState::postgresql_example(name, "docker", Phase::Creating);
        states.create(&state, "secret").unwrap()
    }

    /// Whether cluster `name` is seen `Stopped` within 10 s. A dropped lock can outlive its drop
    /// for an instant: a child another test forks at that moment holds a copy of the descriptor
    /// until its `exec` closes it.
    fn stops(states: &StateDir, name: &str) -> bool {
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(10) {
            if states.launch_activity(name) == LaunchActivity::Stopped {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }

    #[tokio::test]
    async fn a_launch_holds_its_cluster_until_it_ends_and_status_tells_which() {
        let dir = tempfile::tempdir().unwrap();
        let states = StateDir::new(dir.path().to_owned());
        let launch = cluster(&states, "pg");
        assert!(matches!(
            states.launch_activity("pg"),
            LaunchActivity::Running { .. }
        ));
        let busy = states.lock_launch("pg").await.unwrap_err();
        assert!(matches!(&busy, StateError::Busy { name, .. } if name == "pg"));
        assert!(busy.to_string().contains("is being launched now"), "{busy}");
        drop(launch);
        assert!(stops(&states, "pg"));
        let resume = states.lock_launch("pg").await.unwrap();
        assert!(matches!(
            states.launch_activity("pg"),
            LaunchActivity::Running { .. }
        ));
        drop(resume);
        // Another cluster's lock is its own.
        let _other = cluster(&states, "pg2");
        assert!(stops(&states, "pg"));
    }

    #[tokio::test]
    async fn a_status_that_holds_the_lock_for_an_instant_does_not_make_a_resume_fail() {
        let dir = tempfile::tempdir().unwrap();
        let states = StateDir::new(dir.path().to_owned());
        drop(cluster(&states, "pg"));
        // What `launch_activity` does, held a little longer.
        let status = File::open(states.launch_lock_path("pg")).unwrap();
        flock(&status, FlockOperation::NonBlockingLockShared).unwrap();
        let released = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            drop(status);
        });
        drop(states.lock_launch("pg").await.unwrap());
        released.join().unwrap();
    }

    #[tokio::test]
    async fn a_cluster_without_a_directory_or_a_lock_file_is_not_being_launched() {
        let dir = tempfile::tempdir().unwrap();
        let states = StateDir::new(dir.path().to_owned());
        assert_eq!(states.launch_activity("none"), LaunchActivity::Stopped);
        drop(states.lock_launch("none").await.unwrap());
        assert!(!states.cluster_dir("none").exists(), "made no directory");
        // A cluster launched by a baker before the lock: no file until a resume makes one.
        drop(cluster(&states, "old"));
        std::fs::remove_file(states.launch_lock_path("old")).unwrap();
        assert_eq!(states.launch_activity("old"), LaunchActivity::Stopped);
        drop(states.lock_launch("old").await.unwrap());
    }
}
