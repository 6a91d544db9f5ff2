//! Progress of one format writer, as [`Event::Progress`] events in bytes of the raw disk's data
//! handled: a first event at 0, then about every 1 % (at least 16 MiB apart), then the total
//! (only that one when there is nothing to handle).

use crate::progress::{Event, Reporter};

pub(super) struct Meter<'a> {
    reporter: &'a dyn Reporter,
    what: String,
    total: u64,
    done: u64,
    next: u64,
    step: u64,
}

impl<'a> Meter<'a> {
    pub fn new(reporter: &'a dyn Reporter, what: String, total: u64) -> Self {
        let step = (total / 100).max(16 << 20);
        let meter = Self {
            reporter,
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

    pub fn add(&mut self, n: u64) {
        self.done = (self.done + n).min(self.total);
        if self.done >= self.next && self.done < self.total {
            self.next = self.done + self.step;
            self.report();
        }
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
