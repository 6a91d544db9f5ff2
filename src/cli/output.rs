//! The one way the CLI writes to the terminal. Results go to stdout through [`emit`], where a closed
//! pipe (`baker plan | head -1`) ends the output quietly: the reader has what it wanted, so that is
//! not an error and never a panic, as `println!` would make it. Progress, warnings and errors go to
//! stderr through [`say`], which ignores a stderr that is gone, since there is nowhere left to say so.

use std::io::{self, Write};

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

/// Writes `line` and a newline to stderr.
pub fn say(line: &str) {
    let mut err = io::stderr().lock();
    let _ = writeln!(err, "{line}").and_then(|()| err.flush());
}
