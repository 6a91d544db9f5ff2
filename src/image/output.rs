//! Where the finished raw disk becomes the requested output files, through the format writers of
//! [`super::format`]: each reads the disk's data extents only and writes `<stem>.<extension>` with
//! its `.sha256`. Reproducible inputs of the writers (the VHD footer's time and id) come from the
//! plan's epoch and the image key.

use std::path::Path;

use super::format::{self, DiskFile, Options, Unfinished, Written};
use crate::progress::Reporter;
use crate::stop::Stop;

pub use super::format::Format;

/// The file name of `format` for images named `stem`.
pub fn file_name(stem: &str, format: Format) -> String {
    format!("{stem}.{}", format.extension())
}

/// Writes the raw disk at `raw` as each format, to `out_dir/<stem>.<extension>` with its
/// `.sha256`; `raw`, `ami` and `vhd` are written in one pass that reads and hashes the disk once.
/// The writers stop when `stop` is requested.
/// With [`DiskFile::Take`] (`raw` is baker's own disk in `out_dir`) the `raw` or `ami` file is
/// that disk, renamed. When a writer fails, the files the others finished stay (see
/// [`Unfinished`]).
pub fn write_formats(
    formats: &[Format],
    (raw, disk_file): (&Path, DiskFile),
    (out_dir, stem): (&Path, &str),
    epoch: u64,
    image_key: &str,
    stop: Stop,
    reporter: &dyn Reporter,
) -> Result<Vec<Written>, Unfinished> {
    let options = Options {
        stop,
        ..Options::new(epoch, image_key.as_bytes())
    };
    let jobs: Vec<_> = formats
        .iter()
        .map(|&f| (f, out_dir.join(file_name(stem, f))))
        .collect();
    format::write_all(raw, disk_file, &jobs, &options, reporter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_format_takes_the_build_tarball_s_name() {
        assert_eq!(file_name("pg", Format::Gce), "pg.gce.tar.gz");
        // The build's tarball, `<stem>.tar.gz`, may be in the same --out: no format takes its name.
        for format in Format::ALL {
            let name = file_name("pg", format);
            assert!(
                name != "pg.tar.gz" && name != "pg.tar.gz.sha256",
                "{format}"
            );
        }
    }
}
