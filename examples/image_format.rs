//! Runs one of baker's image format writers on a raw disk file, for benchmarks and by hand:
//!
//! ```text
//! cargo run --release --example image_format -- FORMAT RAW OUT
//! ```
//!
//! FORMAT is raw, ami, vhd, qcow2 or gce, or several of them separated by commas: then OUT is a
//! stem and each goes to `OUT.<extension>` (`OUT.raw`, `OUT.ami.raw`, `OUT.vhd`…), written in one
//! run as `baker image` writes them (raw, ami and vhd in one pass that reads and hashes the disk once).
//! `SOURCE_DATE_EPOCH` (default 0) gives the VHD timestamp
//! and the GCE entry's time; `BAKER_DISK_SEED` (default the raw file's name) the VHD's id;
//! `BAKER_THREADS` the compressing threads (default all cores). Prints the format, the sha256,
//! the size and the path, tab-separated; progress goes to stderr.

use std::path::PathBuf;

use anyhow::{Context, bail};
use baker::image::format::{DiskFile, Format, Options, write_all};
use baker::progress::{Event, Reporter};

struct Stderr;

impl Reporter for Stderr {
    fn report(&self, event: Event) {
        if let Event::Progress { what, done, total } = event {
            if done == 0 || done == total {
                eprintln!("{what}: {done}/{total}");
            }
        }
    }
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [format, raw, out] = &args[..] else {
        bail!("usage: image_format FORMAT RAW OUT (FORMAT: raw, ami, vhd, qcow2, gce)");
    };
    let formats = format
        .split(',')
        .map(str::parse)
        .collect::<Result<Vec<Format>, _>>()?;
    let raw = PathBuf::from(raw);
    let jobs: Vec<(Format, PathBuf)> = match &formats[..] {
        [one] => vec![(*one, PathBuf::from(out))],
        many => many
            .iter()
            .map(|f| (*f, PathBuf::from(format!("{out}.{}", f.extension()))))
            .collect(),
    };
    let epoch = match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) => v.parse().context("SOURCE_DATE_EPOCH is not a number")?,
        Err(_) => 0,
    };
    let seed = std::env::var("BAKER_DISK_SEED")
        .unwrap_or_else(|_| raw.file_name().unwrap_or_default().to_string_lossy().into());
    let mut options = Options::new(epoch, seed.as_bytes());
    if let Ok(threads) = std::env::var("BAKER_THREADS") {
        options.threads = threads.parse().context("BAKER_THREADS is not a number")?;
    }
    let written = write_all(&raw, DiskFile::Keep, &jobs, &options, &Stderr)
        .map_err(|u| u.error)
        .with_context(|| format!("writing {} as {format}", raw.display()))?;
    for w in written {
        println!(
            "{}\t{}\t{}\t{}",
            w.format,
            w.sha256,
            w.bytes,
            w.path.display()
        );
    }
    Ok(())
}
