//! Without a terminal (a CI log, `nohup`), a running step has no spinner: the log would show
//! `running` and then nothing until `done`, for most of an hour on a Mesos compile. [`Heartbeat`]
//! says now and then that the step still runs, for how long, and its last log line, so a reader of
//! the log can tell a slow step from a hung one: with its last log line while it prints, and with
//! how long it has been silent while it does not (a ticker asks [`Heartbeat::on_silence`]). Long
//! byte-counted work (hashing and compressing a disk image) is said with how far it got and about
//! how long it has left ([`Heartbeat::on_progress`]), each piece at its own pace, so that the `gce`
//! archive compressed beside the `raw` disk being hashed is said as often as the disk.

use std::collections::HashMap;

use baker::byte_size::human;
use std::time::{Duration, Instant};

/// How often at most a running step is reported in a log.
pub const EVERY: Duration = Duration::from_secs(30);

pub struct Heartbeat {
    label: String,
    started: Instant,
    last_said: Instant,
    last_output: Instant,
    /// Each piece of byte-counted work, by its name.
    counted: HashMap<String, Counted>,
}

/// One piece of byte-counted work: when it reported its start, and when it was last said.
struct Counted {
    since: Instant,
    said: Instant,
}

impl Heartbeat {
    /// For the step printed as `label` (`[3/5] compile`), started at `now`.
    pub fn new(label: String, now: Instant) -> Self {
        Self {
            label,
            started: now,
            last_said: now,
            last_output: now,
            counted: HashMap::new(),
        }
    }

    /// The line to print at `now` for byte-counted work `what` that has handled `done` of `total`
    /// bytes (0 when it starts), as [`Heartbeat::on_line`] would print a log line: how far it got
    /// and, from its pace so far, about how long it has left.
    pub fn on_progress(
        &mut self,
        what: &str,
        done: u64,
        total: u64,
        now: Instant,
    ) -> Option<String> {
        if done == 0 {
            // A start, or the same work started again: its pace is counted from now.
            let started = Counted {
                since: now,
                said: now,
            };
            self.counted.insert(what.to_owned(), started);
            return None;
        }
        let work = (self.counted.entry(what.to_owned())).or_insert(Counted {
            since: self.started,
            said: self.started,
        });
        self.last_output = now;
        if total == 0 || now.duration_since(work.said) < EVERY {
            return None;
        }
        work.said = now;
        self.last_said = now;
        let elapsed = now.duration_since(work.since).as_secs_f64();
        let left =
            Duration::from_secs_f64(elapsed * (total - done.min(total)) as f64 / done as f64);
        // The figures first: a long path in `what` is what gets shortened.
        Some(self.still_running(
            now,
            &format!(
                "{:.1}% ({} of {}), about {} left: {what}",
                done as f64 * 100.0 / total as f64,
                human(done),
                human(total),
                minutes(left)
            ),
        ))
    }

    /// The line to print for the step's output `line` at `now`, when [`EVERY`] has passed since the
    /// step started or was last reported.
    pub fn on_line(&mut self, line: &str, now: Instant) -> Option<String> {
        self.last_output = now;
        if now.duration_since(self.last_said) < EVERY {
            return None;
        }
        self.last_said = now;
        Some(self.still_running(now, line))
    }

    /// `[3/5] compile: still running (1m35s): LINE`, the line shortened.
    fn still_running(&self, now: Instant, line: &str) -> String {
        format!(
            "{}: still running ({}): {}",
            self.label,
            minutes(now.duration_since(self.started)),
            shortened(line.trim())
        )
    }

    /// The line to print at `now` when the step has printed nothing for [`EVERY`] and nothing was
    /// said of it for as long.
    pub fn on_silence(&mut self, now: Instant) -> Option<String> {
        let quiet = now.duration_since(self.last_output);
        if quiet < EVERY || now.duration_since(self.last_said) < EVERY {
            return None;
        }
        self.last_said = now;
        Some(format!(
            "{}: still running ({}), no output for {}",
            self.label,
            minutes(now.duration_since(self.started)),
            minutes(quiet)
        ))
    }
}

/// `1m05s`, or `1h52m07s` from an hour on.
fn minutes(d: Duration) -> String {
    let secs = d.as_secs();
    match secs / 3600 {
        0 => format!("{}m{:02}s", secs / 60, secs % 60),
        hours => format!("{hours}h{:02}m{:02}s", secs % 3600 / 60, secs % 60),
    }
}

/// The first 160 characters of a log line (compiler command lines run to thousands).
fn shortened(line: &str) -> String {
    const MAX: usize = 160;
    match line.char_indices().nth(MAX) {
        Some((end, _)) => format!("{}…", &line[..end]),
        None => line.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn says_the_step_still_runs_at_most_every_thirty_seconds_with_its_last_line() {
        let t0 = Instant::now();
        let mut beat = Heartbeat::new("[3/5] compile".into(), t0);
        assert_eq!(
            beat.on_line("cc -c a.c", t0 + Duration::from_secs(29)),
            None
        );
        assert_eq!(
            beat.on_line("  cc -c b.c ", t0 + Duration::from_secs(95))
                .as_deref(),
            Some("[3/5] compile: still running (1m35s): cc -c b.c")
        );
        assert_eq!(
            beat.on_line("cc -c c.c", t0 + Duration::from_secs(120)),
            None
        );
        let long = "x".repeat(500);
        let said = beat.on_line(&long, t0 + Duration::from_secs(126)).unwrap();
        assert!(said.ends_with(&format!("{}…", "x".repeat(160))), "{said}");
    }

    #[test]
    fn long_counted_work_is_said_with_how_far_it_got_and_about_how_long_it_has_left() {
        let t0 = Instant::now();
        let at = |s| t0 + Duration::from_secs(s);
        let mut beat = Heartbeat::new("[4/4] formats".into(), t0);
        let what = "hashing x.raw";
        assert_eq!(beat.on_progress(what, 0, 10 << 40, at(1)), None);
        assert_eq!(
            beat.on_progress(what, 1 << 40, 10 << 40, at(20)),
            None,
            "within 30 s"
        );
        assert_eq!(
            beat.on_progress(what, 2 << 40, 10 << 40, at(61)).as_deref(),
            Some(
                "[4/4] formats: still running (1m01s): 20.0% (2.0 TiB of 10.0 TiB), about 4m00s \
                 left: hashing x.raw"
            )
        );
    }

    #[test]
    fn pieces_of_counted_work_running_together_are_each_said_at_their_own_pace() {
        let t0 = Instant::now();
        let at = |s| t0 + Duration::from_secs(s);
        let mut beat = Heartbeat::new("[4/4] formats".into(), t0);
        assert_eq!(beat.on_progress("hashing x.raw", 0, 100, at(0)), None);
        assert_eq!(
            beat.on_progress("compressing x.gce.tar.gz", 0, 100, at(0)),
            None
        );
        let hashed = beat.on_progress("hashing x.raw", 40, 100, at(31)).unwrap();
        assert!(hashed.ends_with("40.0% (40 B of 100 B), about 0m46s left: hashing x.raw"));
        // The disk was just said; the archive beside it is said too, not held back for 30 s.
        let compressed = beat.on_progress("compressing x.gce.tar.gz", 20, 100, at(32));
        assert!(compressed.unwrap().contains("20.0% (20 B of 100 B)"));
        assert_eq!(beat.on_progress("hashing x.raw", 50, 100, at(40)), None);
        // Progress is output: the step is not said to be silent.
        assert_eq!(beat.on_silence(at(63)), None);
    }

    #[test]
    fn durations_are_said_in_minutes_then_hours() {
        assert_eq!(minutes(Duration::from_secs(65)), "1m05s");
        assert_eq!(minutes(Duration::from_secs(6727)), "1h52m07s");
    }

    #[test]
    fn a_silent_step_is_said_to_run_with_how_long_it_has_been_silent() {
        let t0 = Instant::now();
        let at = |s| t0 + Duration::from_secs(s);
        let mut beat = Heartbeat::new("[3/5] link".into(), t0);
        assert_eq!(beat.on_silence(at(29)), None);
        assert_eq!(
            beat.on_silence(at(31)).as_deref(),
            Some("[3/5] link: still running (0m31s), no output for 0m31s")
        );
        assert_eq!(beat.on_silence(at(40)), None);
        // Output resets the silence, and a line said for it counts as said.
        assert!(beat.on_line("ld -o mesos", at(62)).is_some());
        assert_eq!(beat.on_silence(at(80)), None);
        assert_eq!(
            beat.on_silence(at(95)).as_deref(),
            Some("[3/5] link: still running (1m35s), no output for 0m33s")
        );
    }
}
