//! Progress of long synchronous work, counted in bytes, as [`Event::Progress`] events: a first
//! event at 0, then about every 1 % or every GiB, whichever comes first (at least 16 MiB apart; a
//! 10 TiB sparse disk is hashed at about a GiB a second, so 1 % alone would be a minute of
//! silence), then the total (only that one when there is nothing to handle). Each count is also where the work, asked to [`Stop`], stops:
//! [`Meter::add`] answers [`Stopped`], which the work returns like any other error, removing what
//! it had half-written. Work that counts every few MiB stops a few MiB after being asked.

use super::{Event, Reporter};
use crate::stop::{Stop, Stopped};

pub struct Meter<'a> {
    reporter: &'a dyn Reporter,
    stop: &'a Stop,
    what: String,
    total: u64,
    done: u64,
    next: u64,
    step: u64,
}

impl<'a> Meter<'a> {
    /// A meter of `total` bytes; `what` names the work and its file for the progress line.
    pub fn new(reporter: &'a dyn Reporter, stop: &'a Stop, what: String, total: u64) -> Self {
        let step = (total / 100).clamp(16 << 20, 1 << 30);
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

    /// Counts `n` more bytes handled; an error when the work is asked to stop.
    pub fn add(&mut self, n: u64) -> Result<(), Stopped> {
        if self.stop.requested() {
            return Err(Stopped);
        }
        self.done = (self.done + n).min(self.total);
        if self.done >= self.next && self.done < self.total {
            self.next = self.done + self.step;
            self.report();
        }
        Ok(())
    }

    /// Reports the total: the work is done (its file committed, for work that writes one).
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::Recorder;

    fn done_figures(recorder: &Recorder) -> Vec<u64> {
        let events = recorder.0.lock().unwrap();
        events
            .iter()
            .map(|e| match e {
                Event::Progress { done, .. } => *done,
                other => panic!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn reports_zero_then_every_sixteen_mib_at_least_then_the_total() {
        let (recorder, stop) = (Recorder::default(), Stop::default());
        let mut meter = Meter::new(&recorder, &stop, "w".into(), 40 << 20);
        for _ in 0..40 {
            meter.add(1 << 20).unwrap();
        }
        meter.finish();
        assert_eq!(done_figures(&recorder), [0, 16 << 20, 32 << 20, 40 << 20]);
    }

    #[test]
    fn reports_every_gib_at_most_of_a_large_total() {
        let (recorder, stop) = (Recorder::default(), Stop::default());
        let mut meter = Meter::new(&recorder, &stop, "w".into(), 10 << 40);
        for _ in 0..3 {
            meter.add(1 << 30).unwrap();
        }
        assert_eq!(done_figures(&recorder), [0, 1 << 30, 2 << 30, 3 << 30]);
    }

    #[test]
    fn answers_stopped_once_asked() {
        let (recorder, stop) = (Recorder::default(), Stop::default());
        let mut meter = Meter::new(&recorder, &stop, "w".into(), 10);
        meter.add(1).unwrap();
        stop.request();
        assert!(meter.add(1).is_err());
    }
}
