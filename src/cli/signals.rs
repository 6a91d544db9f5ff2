//! The signals that stop a run: Ctrl-C (SIGINT), SIGTERM and SIGHUP. The CLI hands [`interrupted`] to the
//! library as the cancellation of a long stage; the library cleans up and answers with its own
//! "interrupted" error, which the CLI turns into exit status 130, as shells expect.

use std::process::ExitCode;

/// The exit status of a run stopped by a signal, as shells report SIGINT (128 + 2).
pub const INTERRUPTED: u8 = 130;

/// Resolves on Ctrl-C, SIGTERM or SIGHUP. Handlers are installed when it is first polled; a signal that
/// cannot be watched never resolves it.
pub async fn interrupted() {
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
