//! The signals that stop a run: Ctrl-C (SIGINT), SIGTERM and SIGHUP. The CLI hands [`interrupted`]
//! to the library as the cancellation of a long stage; the library cleans up and answers with its
//! own "interrupted" error, which the CLI turns into exit status 130, as shells expect.
//!
//! Once a handler is installed the signal no longer ends the process, so a signal that arrives
//! while no stage listens (between a launch's build and its launch, say) would be lost, and the run
//! would go on. The first [`interrupted`] therefore starts one listener for the whole process,
//! which latches: every later [`interrupted`] resolves at once for a signal received before it.

use std::process::ExitCode;
use std::sync::OnceLock;

use tokio::sync::watch;

/// The exit status of a run stopped by a signal, as shells report SIGINT (128 + 2).
pub const INTERRUPTED: u8 = 130;

/// The process's latch of [`first_signal`]; see the module doc.
static RECEIVED: OnceLock<Latch> = OnceLock::new();

/// Resolves on Ctrl-C, SIGTERM or SIGHUP, or at once when one has been received since the first
/// `interrupted` was polled (when the handlers were installed). A signal that cannot be watched
/// never resolves it.
pub async fn interrupted() {
    RECEIVED
        .get_or_init(|| Latch::new(first_signal()))
        .wait()
        .await;
}

/// Remembers that `trigger` resolved, for every wait that starts after it as for those before.
struct Latch(watch::Sender<bool>);

impl Latch {
    /// Starts waiting for `trigger` on the runtime, at once.
    fn new(trigger: impl Future<Output = ()> + Send + 'static) -> Self {
        let (set, _) = watch::channel(false);
        let latch = set.clone();
        tokio::spawn(async move {
            trigger.await;
            latch.send_replace(true);
        });
        Latch(set)
    }

    /// Resolves once `trigger` has.
    async fn wait(&self) {
        // Fails only when every sender is dropped, and `self` holds one.
        let _ = self.0.subscribe().wait_for(|&set| set).await;
    }
}

/// Resolves on the first Ctrl-C, SIGTERM or SIGHUP.
async fn first_signal() {
    use std::future::pending;
    use tokio::signal::unix::{SignalKind, signal};
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            pending::<()>().await;
        }
    };
    let other = |kind| async move {
        let received = match signal(kind) {
            Ok(mut s) => s.recv().await.is_some(),
            Err(_) => false,
        };
        if !received {
            pending::<()>().await;
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = other(SignalKind::terminate()) => {},
        // The terminal closed (an SSH session dropped): stop and clean up as for Ctrl-C, rather
        // than die leaving containers running and work folders behind.
        () = other(SignalKind::hangup()) => {},
    }
}

/// Says why the run stopped and gives the status for it.
pub fn stopped(message: &str) -> ExitCode {
    super::output::say(message);
    ExitCode::from(INTERRUPTED)
}

#[cfg(test)]
mod tests {
    use super::Latch;
    use std::time::Duration;
    use tokio::time::timeout;

    #[tokio::test]
    async fn a_signal_received_while_no_stage_listens_stops_the_next_one_at_once() {
        let (signal, received) = tokio::sync::oneshot::channel::<()>();
        let latch = Latch::new(async {
            let _ = received.await;
        });
        let short = Duration::from_millis(50);
        assert!(timeout(short, latch.wait()).await.is_err(), "no signal yet");
        // Sent while nothing waits, as between a launch's build and its launch.
        signal.send(()).unwrap();
        tokio::task::yield_now().await;
        let long = Duration::from_secs(5);
        timeout(long, latch.wait())
            .await
            .expect("the next wait ends");
        timeout(long, latch.wait())
            .await
            .expect("and every later one");
    }
}
