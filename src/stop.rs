//! Stopping synchronous work that an async command started on a blocking thread.
//!
//! Compressing a tarball or writing disk formats takes seconds to minutes of CPU, so baker runs it
//! with `spawn_blocking` while the runtime watches for Ctrl-C. Dropping the future that waits for
//! such a thread does not stop it, and the runtime waits for every blocking thread before the
//! process exits, so an interrupted command would go on until the work was done. A [`Stop`] is the
//! request the thread checks between chunks of its work; [`Stop::on_drop`] makes the request when
//! the waiting future is dropped. The work then ends a chunk later and removes what it had
//! half-written, as on any other error.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Asks work running on another thread to stop: shared by whoever may ask and the work itself.
#[derive(Debug, Clone, Default)]
pub struct Stop(Arc<AtomicBool>);

impl Stop {
    pub fn request(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    pub fn requested(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    /// A guard that requests this stop when dropped: held by the future that waits for the work,
    /// it asks the work to stop when that future is dropped (after the work finished, harmlessly).
    pub fn on_drop(&self) -> StopOnDrop {
        StopOnDrop(self.clone())
    }
}

/// See [`Stop::on_drop`].
#[must_use = "the stop is requested when this guard is dropped"]
pub struct StopOnDrop(Stop);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.request();
    }
}

/// The answer of work that stopped because it was asked to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("stopped as asked")]
pub struct Stopped;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dropping_the_guard_requests_the_stop_for_every_clone() {
        let stop = Stop::default();
        let seen_by_the_work = stop.clone();
        let guard = stop.on_drop();
        assert!(!seen_by_the_work.requested());
        drop(guard);
        assert!(seen_by_the_work.requested());
    }
}
