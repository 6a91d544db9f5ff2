//! Where the library's log goes. By default only its warnings and errors reach stderr, and they read
//! like the rest of baker's output (`warning: …`, `error: …`), not like a trace (` WARN
//! baker::launch::qemu: …`): a user reading them wants what happened, not which module said so.
//! `--quiet` keeps only errors, as it promises. `-v`, `-vv` and `BAKER_LOG` (a filter such as
//! `baker=debug`, for finding where time goes) switch to tracing's own format, with each line's
//! level and module, and with `BAKER_LOG` the seconds since baker started. Either way a log line is
//! written above the progress bars, not through them.

use std::fmt;
use std::io;

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// Installs the log for this run of baker, from `-v`/`-q` and `BAKER_LOG`.
pub fn init(verbose: u8, quiet: bool) {
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_writer(|| StderrAboveBars)
        .with_ansi(ansi);
    if let Ok(filter) = EnvFilter::try_from_env("BAKER_LOG") {
        builder
            .with_env_filter(filter)
            .with_timer(tracing_subscriber::fmt::time::uptime())
            .init();
        return;
    }
    let level = match (verbose, quiet) {
        (0, true) => "error",
        (0, false) => "warn",
        (1, _) => "debug",
        _ => "trace",
    };
    let builder = builder.with_env_filter(EnvFilter::new(format!("baker={level}")));
    if verbose == 0 {
        builder.event_format(AsBakerSays).init();
    } else {
        builder.without_time().init();
    }
}

/// stderr, written with the progress bars lifted (the log writes each event in one piece).
struct StderrAboveBars;

impl io::Write for StderrAboveBars {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        super::output::write_stderr(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        io::stderr().flush()
    }
}

/// Writes an event as `warning: <message>` (or `error:`, `note:` …), the form of baker's own lines.
struct AsBakerSays;

impl<S, N> FormatEvent<S, N> for AsBakerSays
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let prefix = match *event.metadata().level() {
            Level::ERROR => "error",
            Level::WARN => "warning",
            Level::INFO => "note",
            Level::DEBUG | Level::TRACE => "debug",
        };
        write!(writer, "{prefix}: ")?;
        ctx.field_format().format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}
