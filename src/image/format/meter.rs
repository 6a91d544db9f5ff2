//! Progress of one format writer, as [`Event::Progress`] events in bytes of the raw disk's data
//! handled: a first event at 0, then about every 1 % (at least 16 MiB apart), then the total
//! (only that one when there is nothing to handle). Each step is also where a writer asked to
//! [`Stop`] stops: [`Meter::add`] answers [`FormatError::Stopped`], which the writer returns like
//! any other error, removing its partial file. Writers report every few MiB, so they stop a few
//! MiB after being asked (an fsync already under way still finishes).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::FormatError;
use crate::progress::{Event, Reporter};

/// Asks running format writers to stop (`baker image` interrupted): shared by whoever may ask and
/// the writers' meters.
#[derive(Debug, Clone, Default)]
pub struct Stop(Arc<AtomicBool>);

impl Stop {
    pub fn request(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    pub fn requested(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

pub(super) struct Meter<'a> {
    reporter: &'a dyn Reporter,
    stop: &'a Stop,
    what: String,
    total: u64,
    done: u64,
    next: u64,
    step: u64,
}

impl<'a> Meter<'a> {
    pub fn new(reporter: &'a dyn Reporter, stop: &'a Stop, what: String, total: u64) -> Self {
        let step = (total / 100).max(16 << 20);
        let meter = Self {
            reporter,
            stop,
            what,
            total,
            done: 0,
            next: step,
            step,
        };
        if total > 0 {
            meter.report();
        }
        meter
    }

    /// Counts `n` more bytes handled; an error when the writer is asked to stop.
    pub fn add(&mut self, n: u64) -> Result<(), FormatError> {
        if self.stop.requested() {
            return Err(FormatError::Stopped);
        }
        self.done = (self.done + n).min(self.total);
        if self.done >= self.next && self.done < self.total {
            self.next = self.done + self.step;
            self.report();
        }
        Ok(())
    }

    pub fn finish(mut self) {
        self.done = self.total;
        self.report();
    }

    fn report(&self) {
        self.reporter.report(Event::Progress {
            what: self.what.clone(),
            done: self.done,
            total: self.total,
        });
    }
}
