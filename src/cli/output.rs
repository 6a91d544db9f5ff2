//! The one way the CLI writes to the terminal. Results go to stdout through [`emit`], where a closed
//! pipe (`baker plan | head -1`) ends the output quietly: the reader has what it wanted, so that is
//! not an error and never a panic, as `println!` would make it. Progress, warnings and errors go to
//! stderr through [`say`], which ignores a stderr that is gone, since there is nowhere left to say so.
//! The progress bars drawn on stderr are one set for the whole run ([`bars`]), so that a line written
//! while they are drawn goes above them instead of tearing them.

use std::io::{self, Write};
use std::sync::OnceLock;

use indicatif::MultiProgress;

/// Writes `text` to stdout as it is.
pub fn emit(text: &str) -> io::Result<()> {
    let mut out = io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => Err(e),
        _ => Ok(()),
    }
}

/// Writes `line` and a newline to stdout.
pub fn emit_line(line: &str) -> io::Result<()> {
    emit(&format!("{line}\n"))
}

/// Writes `line` and a newline to stderr, above any progress bars.
pub fn say(line: &str) {
    let _ = write_stderr(format!("{line}\n").as_bytes());
}

/// Writes `bytes` to stderr with the progress bars lifted while it does.
pub fn write_stderr(bytes: &[u8]) -> io::Result<()> {
    bars().suspend(|| {
        let mut err = io::stderr().lock();
        err.write_all(bytes).and_then(|()| err.flush())
    })
}

/// The progress bars of this run, drawn on stderr (hidden when it is not a terminal).
pub fn bars() -> &'static MultiProgress {
    static BARS: OnceLock<MultiProgress> = OnceLock::new();
    BARS.get_or_init(MultiProgress::new)
}
