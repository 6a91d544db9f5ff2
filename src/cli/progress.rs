//! Draws the library's progress events on the terminal: a spinner for the running step with its
//! elapsed time and last log line, a byte bar for downloads, a byte bar for each long job running
//! (several at once: `baker image` writes the GCE archive while it writes the other formats), and
//! one line per finished step. When stderr is not a terminal (CI logs), it prints plain lines, and
//! a running step's [`Heartbeat`].

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use baker::progress::{Event, Reporter};

use super::heartbeat::Heartbeat;
use super::output::{bars, say};

pub struct TerminalReporter {
    /// Draws every bar below, one line each.
    bars: MultiProgress,
    /// The running step's spinner, or a download's bar.
    bar: Mutex<Option<ProgressBar>>,
    /// The byte bars of the long jobs running, by what they do.
    jobs: Mutex<HashMap<String, ProgressBar>>,
    /// The running step's name and heartbeat, when not on a terminal; a ticker thread reads it too.
    heartbeat: Arc<Mutex<Option<(String, Heartbeat)>>>,
    interactive: bool,
}

impl TerminalReporter {
    pub fn new() -> Self {
        let interactive = std::io::stderr().is_terminal();
        let heartbeat = Arc::new(Mutex::new(None));
        if !interactive {
            tick_silent_steps(Arc::downgrade(&heartbeat));
        }
        Self {
            bars: bars().clone(),
            bar: Mutex::new(None),
            jobs: Mutex::new(HashMap::new()),
            heartbeat,
            interactive,
        }
    }

    fn replace(&self, bar: Option<ProgressBar>) {
        let mut slot = self.bar.lock().expect("progress lock");
        if let Some(old) = slot.take() {
            old.finish_and_clear();
            self.bars.remove(&old);
        }
        *slot = bar.map(|bar| self.bars.add(bar));
    }

    fn with_bar(&self, f: impl FnOnce(&ProgressBar)) {
        if let Some(bar) = self.bar.lock().expect("progress lock").as_ref() {
            f(bar);
        }
    }

    fn line(&self, text: &str) {
        if self.interactive {
            let _ = self.bars.println(text);
        } else {
            say(text);
        }
    }
}

/// How often the ticker looks whether the running step has been silent long enough to be said to run.
const TICK: Duration = Duration::from_secs(5);

/// Says, every [`heartbeat::EVERY`](super::heartbeat::EVERY) or so, that a running step that prints
/// nothing still runs; ends with the reporter.
fn tick_silent_steps(heartbeat: Weak<Mutex<Option<(String, Heartbeat)>>>) {
    std::thread::spawn(move || {
        loop {
            std::thread::sleep(TICK);
            let Some(heartbeat) = heartbeat.upgrade() else {
                return;
            };
            let mut running = heartbeat.lock().expect("progress lock");
            if let Some(line) =
                (running.as_mut()).and_then(|(_, beat)| beat.on_silence(Instant::now()))
            {
                say(&line);
            }
        }
    });
}

impl TerminalReporter {
    /// A byte bar for a long stage; in logs, plain lines when it starts and ends, and how far it got
    /// with the running step's heartbeat.
    fn progress(&self, what: String, done: u64, total: u64) {
        if !self.interactive && done < total {
            if let Some((_, beat)) = self.heartbeat.lock().expect("progress lock").as_mut() {
                beat.on_progress(&what, done, total, Instant::now())
                    .inspect(|l| say(l));
            }
        }
        let mut jobs = self.jobs.lock().expect("progress lock");
        if done >= total {
            if let Some(bar) = jobs.remove(&what) {
                bar.finish_and_clear();
                self.bars.remove(&bar);
            }
            drop(jobs);
            self.line(&format!("{what}: done"));
        } else if done == 0 {
            if self.interactive {
                let bar = ProgressBar::new(total).with_style(
                    ProgressStyle::with_template(
                        "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
                    )
                    .expect("valid template"),
                );
                bar.set_message(what.clone());
                jobs.insert(what, self.bars.add(bar));
            } else {
                drop(jobs);
                self.line(&format!("{what}: started"));
            }
        } else if let Some(bar) = jobs.get(&what) {
            bar.set_position(done);
        }
    }
}

impl Reporter for TerminalReporter {
    fn report(&self, event: Event) {
        match event {
            Event::StepCached { index, total, name } => {
                self.line(&format!("[{index}/{total}] {name}: cached"))
            }
            Event::StepStarted { index, total, name } => {
                if self.interactive {
                    let bar = ProgressBar::new_spinner().with_style(
                        ProgressStyle::with_template(
                            "{spinner} [{prefix}] {elapsed:>4} {wide_msg}",
                        )
                        .expect("valid template"),
                    );
                    bar.set_prefix(format!("{index}/{total} {name}"));
                    bar.enable_steady_tick(Duration::from_millis(120));
                    self.replace(Some(bar));
                } else {
                    let label = format!("[{index}/{total}] {name}");
                    say(&format!("{label}: running"));
                    *self.heartbeat.lock().expect("progress lock") =
                        Some((name, Heartbeat::new(label, Instant::now())));
                }
            }
            Event::StepLog { name, line } => {
                if self.interactive {
                    self.with_bar(|b| b.set_message(line));
                } else if let Some((step, beat)) =
                    self.heartbeat.lock().expect("progress lock").as_mut()
                {
                    if *step == name {
                        beat.on_line(&line, Instant::now()).inspect(|l| say(l));
                    }
                }
            }
            Event::StepFinished {
                index,
                total,
                name,
                elapsed,
            } => {
                self.replace(None);
                self.heartbeat.lock().expect("progress lock").take();
                say(&format!(
                    "[{index}/{total}] {name}: done in {:.1}s",
                    elapsed.as_secs_f64()
                ));
            }
            Event::DownloadStarted { url, total } => {
                if self.interactive {
                    let bar = match total {
                        Some(n) => ProgressBar::new(n).with_style(
                            ProgressStyle::with_template(
                                "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
                            )
                            .expect("valid template"),
                        ),
                        None => ProgressBar::new_spinner(),
                    };
                    bar.set_message(format!("downloading {url}"));
                    self.replace(Some(bar));
                } else {
                    say(&format!("downloading {url}"));
                }
            }
            Event::DownloadProgress { bytes, .. } => self.with_bar(|b| b.set_position(bytes)),
            Event::DownloadRetry {
                url,
                attempt,
                after,
                error,
            } => {
                self.line(&format!(
                    "retrying {url} in {:.1}s (attempt {attempt}): {error}",
                    after.as_secs_f64()
                ));
            }
            Event::DownloadFailed { url, error } => {
                self.line(&format!("could not use {url}: {error}"))
            }
            Event::DownloadFinished { url, bytes, cached } => {
                self.replace(None);
                if !cached {
                    say(&format!("fetched {url} ({bytes} bytes)"));
                }
            }
            Event::Progress { what, done, total } => self.progress(what, done, total),
            Event::Note(text) => self.line(&text),
            Event::Warning(text) => self.line(&format!("warning: {text}")),
        }
    }
}
