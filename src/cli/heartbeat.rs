//! Without a terminal (a CI log, `nohup`), a running step has no spinner: the log would show
//! `running` and then nothing until `done`, for most of an hour on a Mesos compile. [`Heartbeat`]
//! says now and then that the step still runs, for how long, and its last log line, so a reader of
//! the log can tell a slow step from a hung one. It is driven by the step's own output: a step that
//! prints nothing adds no line.

use std::time::{Duration, Instant};

/// How often at most a running step is reported in a log.
pub const EVERY: Duration = Duration::from_secs(30);

pub struct Heartbeat {
    label: String,
    started: Instant,
    last_said: Instant,
}

impl Heartbeat {
    /// For the step printed as `label` (`[3/5] compile`), started at `now`.
    pub fn new(label: String, now: Instant) -> Self {
        Self {
            label,
            started: now,
            last_said: now,
        }
    }

    /// The line to print for the step's output `line` at `now`, when [`EVERY`] has passed since the
    /// step started or was last reported.
    pub fn on_line(&mut self, line: &str, now: Instant) -> Option<String> {
        if now.duration_since(self.last_said) < EVERY {
            return None;
        }
        self.last_said = now;
        let secs = now.duration_since(self.started).as_secs();
        Some(format!(
            "{}: still running ({}m{:02}s): {}",
            self.label,
            secs / 60,
            secs % 60,
            shortened(line.trim())
        ))
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
}
