//! How long-running library code tells the user what it is doing without drawing the terminal itself.
//! Stages send [`Event`]s to a [`Reporter`]; the CLI turns them into progress bars, `--quiet` and
//! `--json` drop them, and tests collect them.

use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A download began; `total` is the size when the server says it.
    DownloadStarted { url: String, total: Option<u64> },
    /// `bytes` received so far (including a resumed part).
    DownloadProgress { url: String, bytes: u64 },
    /// A download attempt failed and will be retried after `after`.
    DownloadRetry {
        url: String,
        attempt: u32,
        after: Duration,
        error: String,
    },
    /// A URL or mirror failed for good; the next one is tried.
    DownloadFailed { url: String, error: String },
    /// The file is ready: downloaded, found in a mirror directory, or already cached.
    DownloadFinished {
        url: String,
        bytes: u64,
        cached: bool,
    },
    /// Step `index` (from 1) of `total` starts running.
    StepStarted {
        index: usize,
        total: usize,
        name: String,
    },
    /// Step `index` was found in the step cache and will not run.
    StepCached {
        index: usize,
        total: usize,
        name: String,
    },
    /// A line of a running step's output.
    StepLog { name: String, line: String },
    /// Step `index` ran to completion.
    StepFinished {
        index: usize,
        total: usize,
        name: String,
        elapsed: Duration,
    },
    /// A long stage has handled `done` of `total` bytes (`what` says which stage and file); it
    /// reports 0 first and `total` last.
    Progress { what: String, done: u64, total: u64 },
    /// Anything else worth a line: base image pulled, artifact written…
    Note(String),
    /// Something the user should know that did not stop the work: a corrupt cache entry replaced, a
    /// source tree that changed while planned, an unverified download. Never printed by the library
    /// itself, so `--quiet` and `--json` stay quiet.
    Warning(String),
}

mod meter;

pub use meter::Meter;

pub trait Reporter: Send + Sync {
    fn report(&self, event: Event);
}

/// Reports nothing; for `--quiet`, `--json` and tests that do not look.
pub struct Silent;

impl Reporter for Silent {
    fn report(&self, _: Event) {}
}

/// Keeps every event; for tests that check what a stage reported.
#[derive(Default)]
pub struct Recorder(pub std::sync::Mutex<Vec<Event>>);

impl Reporter for Recorder {
    fn report(&self, event: Event) {
        self.0.lock().expect("recorder lock").push(event);
    }
}

#[cfg(test)]
impl Recorder {
    /// For tests of a wait: runs `take` on a task of its own with a recorder of its own, checks
    /// that it still waits 100 ms later, drops `held` (what it waits for) and returns what `take`
    /// returned, with the events it reported.
    pub async fn after_release<T, Fut>(
        held: impl Sized,
        take: impl FnOnce(std::sync::Arc<Recorder>) -> Fut,
    ) -> (T, Vec<Event>)
    where
        Fut: std::future::Future<Output = T> + Send + 'static,
        T: Send + 'static,
    {
        let recorder = std::sync::Arc::new(Recorder::default());
        let waiter = tokio::spawn(take(recorder.clone()));
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        assert!(!waiter.is_finished(), "it did not wait");
        drop(held);
        let taken = waiter.await.expect("the waiter panicked");
        let events = std::mem::take(&mut *recorder.0.lock().expect("recorder lock"));
        (taken, events)
    }
}
