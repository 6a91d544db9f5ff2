//! Root filesystems into images through the engine's image-import API (`POST /images/create?fromSrc=-`,
//! what `docker import` does). A tarball file is streamed as it is (the engine unpacks gzip, bzip2, xz
//! and zstd itself); a directory tree is archived on the fly with numeric owners and sent as it is
//! written, so neither is ever held in memory or written to disk twice.

use std::collections::HashMap;
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use futures_util::{StreamExt, stream};
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;

use super::{BaseError, validate_tag};
use crate::engine::Engine;
use crate::engine::labels::BASE_LABEL;
use crate::progress::{Event, Reporter};

/// Host-specific paths of a bootstrapped tree that never go into an image: the engine provides
/// `/dev`, `/proc` and `/sys` at run time and bind-mounts its own `/etc/hostname` and
/// `/etc/resolv.conf` (debootstrap copies the host's).
pub const TREE_EXCLUDES: &[&str] = &[
    "dev/*",
    "proc/*",
    "sys/*",
    "etc/hostname",
    "etc/resolv.conf",
];

const CHUNK: usize = 256 * 1024;

/// What the new image is called and carries besides its files.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// `name[:tag]`; `latest` when no tag is given.
    pub tag: String,
    /// Labels besides `baker.base=1`.
    pub labels: Vec<(String, String)>,
    /// Further Dockerfile instructions the import supports (`CMD`, `ENV`, `WORKDIR`…).
    pub changes: Vec<String>,
}

impl ImportOptions {
    /// `baker.base=1`, then the labels asked for.
    fn all_labels(&self) -> Vec<(String, String)> {
        let mut labels = vec![(BASE_LABEL.0.to_owned(), BASE_LABEL.1.to_owned())];
        labels.extend(self.labels.iter().cloned());
        labels
    }
}

/// Imports a root filesystem tarball (plain or compressed) as `options.tag`; returns the image id.
pub async fn import_tarball(
    engine: &Engine,
    path: &Path,
    options: &ImportOptions,
    reporter: Arc<dyn Reporter>,
) -> Result<String, BaseError> {
    validate_tag(&options.tag)?;
    let read_err = |source| BaseError::ReadTarball {
        path: path.to_owned(),
        tag: options.tag.clone(),
        source,
    };
    let mut file = tokio::fs::File::open(path).await.map_err(read_err)?;
    let mut head = vec![0u8; 512];
    let mut filled = 0;
    while filled < head.len() {
        let n = file.read(&mut head[filled..]).await.map_err(read_err)?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    head.truncate(filled);
    if !looks_like_tar(&head) {
        return Err(BaseError::NotTar {
            path: path.to_owned(),
            tag: options.tag.clone(),
        });
    }
    let size = file.metadata().await.map_err(read_err)?.len();
    reporter.report(Event::Note(format!(
        "importing {} ({:.1} MiB) as {}",
        path.display(),
        size as f64 / 1048576.0,
        options.tag
    )));
    let first = stream::once(async move { Ok(Bytes::from(head)) });
    let rest = stream::unfold(file, |mut file| async move {
        let mut buf = vec![0u8; CHUNK];
        match file.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(Bytes::from(buf)), file))
            }
            Err(e) => Some((Err(e), file)),
        }
    });
    let origin = path.display().to_string();
    Ok(engine
        .import(
            first.chain(rest),
            &origin,
            &options.tag,
            &options.all_labels(),
            &options.changes,
        )
        .await?)
}

/// Archives the directory `dir` (numeric owners, sorted, hard links kept, [`TREE_EXCLUDES`] left out)
/// straight into an import as `options.tag`; returns the image id.
pub async fn import_tree(
    engine: &Engine,
    dir: &Path,
    options: &ImportOptions,
    reporter: Arc<dyn Reporter>,
) -> Result<String, BaseError> {
    validate_tag(&options.tag)?;
    reporter.report(Event::Note(format!(
        "importing the tree {} as {}",
        dir.display(),
        options.tag
    )));
    let (tx, mut rx) = mpsc::channel::<io::Result<Bytes>>(8);
    let root = dir.to_owned();
    let writer = tokio::task::spawn_blocking(move || {
        let mut out = ChannelWriter {
            tx: tx.clone(),
            buf: Vec::with_capacity(CHUNK),
        };
        let result = write_tree(&root, &mut out).and_then(|()| out.flush());
        if let Err(e) = &result {
            // Abort the request body so the engine does not make an image of half a tree.
            let _ = tx.blocking_send(Err(io::Error::new(e.kind(), e.to_string())));
        }
        result
    });
    let chunks = stream::poll_fn(move |cx| rx.poll_recv(cx));
    let origin = dir.display().to_string();
    let imported = engine
        .import(
            chunks,
            &origin,
            &options.tag,
            &options.all_labels(),
            &options.changes,
        )
        .await
        .map_err(BaseError::from);
    let archived = writer
        .await
        .unwrap_or_else(|join| Err(io::Error::other(join.to_string())));
    match (archived, imported) {
        (Err(source), _) if source.kind() != io::ErrorKind::BrokenPipe => Err(BaseError::Archive {
            dir: dir.to_owned(),
            tag: options.tag.clone(),
            source,
        }),
        (_, imported) => imported,
    }
}

/// True for a tar header or the magic of a compression the engine unpacks.
fn looks_like_tar(head: &[u8]) -> bool {
    const MAGICS: &[&[u8]] = &[
        &[0x1f, 0x8b],                         // gzip
        b"BZh",                                // bzip2
        &[0xfd, b'7', b'z', b'X', b'Z', 0x00], // xz
        &[0x28, 0xb5, 0x2f, 0xfd],             // zstd
    ];
    MAGICS.iter().any(|m| head.starts_with(m))
        || head.get(257..262) == Some(b"ustar")
        || (head.len() == 512 && head.iter().all(|&b| b == 0))
}

/// Sends what the tar builder writes to the import, in chunks.
struct ChannelWriter {
    tx: mpsc::Sender<io::Result<Bytes>>,
    buf: Vec<u8>,
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.flush()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx.blocking_send(Ok(chunk)).map_err(|_| {
            io::Error::new(
                io::ErrorKind::BrokenPipe,
                "the engine stopped reading the import",
            )
        })
    }
}

/// Writes `root` as a tar stream: entries sorted by name, owners as numbers, modes and times kept,
/// symlinks as symlinks, hard links as links to the first name seen, sockets skipped.
pub fn write_tree(root: &Path, out: &mut dyn Write) -> io::Result<()> {
    let mut builder = tar::Builder::new(out);
    let mut seen = HashMap::new();
    append_children(&mut builder, root, Path::new(""), &mut seen)?;
    builder.finish()
}

fn excluded(rel: &Path) -> bool {
    let rel = rel.to_string_lossy();
    TREE_EXCLUDES
        .iter()
        .any(|pattern| match pattern.strip_suffix("/*") {
            Some(dir) => rel
                .strip_prefix(dir)
                .is_some_and(|rest| rest.starts_with('/')),
            None => rel == *pattern,
        })
}

fn append_children(
    builder: &mut tar::Builder<&mut dyn Write>,
    root: &Path,
    rel_dir: &Path,
    seen: &mut HashMap<(u64, u64), PathBuf>,
) -> io::Result<()> {
    let mut names: Vec<_> = fs::read_dir(root.join(rel_dir))?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<io::Result<_>>()?;
    names.sort();
    for name in names {
        let rel = rel_dir.join(&name);
        if excluded(&rel) {
            continue;
        }
        let full = root.join(&rel);
        let meta = fs::symlink_metadata(&full)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", full.display())))?;
        let kind = meta.file_type();
        let mut header = tar::Header::new_gnu();
        header.set_metadata_in_mode(&meta, tar::HeaderMode::Complete);
        header.set_mode(meta.mode() & 0o7777);
        header.set_size(0);
        if kind.is_dir() {
            header.set_entry_type(tar::EntryType::Directory);
            builder.append_data(&mut header, &rel, io::empty())?;
            append_children(builder, root, &rel, seen)?;
        } else if kind.is_symlink() {
            header.set_entry_type(tar::EntryType::Symlink);
            builder.append_link(&mut header, &rel, fs::read_link(&full)?)?;
        } else if kind.is_file() {
            if meta.nlink() > 1 {
                if let Some(first) = seen.get(&(meta.dev(), meta.ino())) {
                    header.set_entry_type(tar::EntryType::Link);
                    builder.append_link(&mut header, &rel, first)?;
                    continue;
                }
                seen.insert((meta.dev(), meta.ino()), rel.clone());
            }
            let file = fs::File::open(&full)?;
            header.set_entry_type(tar::EntryType::Regular);
            header.set_size(meta.len());
            // `take` guards against a file that grows while it is read.
            builder.append_data(&mut header, &rel, file.take(meta.len()))?;
        } else if kind.is_char_device() || kind.is_block_device() || kind.is_fifo() {
            header.set_entry_type(if kind.is_char_device() {
                tar::EntryType::Char
            } else if kind.is_block_device() {
                tar::EntryType::Block
            } else {
                tar::EntryType::Fifo
            });
            let dev = meta.rdev();
            header.set_device_major((((dev >> 32) & 0xffff_f000) | ((dev >> 8) & 0xfff)) as u32)?;
            header.set_device_minor((((dev >> 12) & 0xffff_ff00) | (dev & 0xff)) as u32)?;
            builder.append_data(&mut header, &rel, io::empty())?;
        }
        // Sockets cannot be archived and mean nothing in an image.
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(archive: &[u8]) -> Vec<(String, tar::EntryType, String)> {
        let mut ar = tar::Archive::new(archive);
        ar.entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let link = e
                    .link_name()
                    .unwrap()
                    .map(|l| l.display().to_string())
                    .unwrap_or_default();
                (
                    e.path().unwrap().display().to_string(),
                    e.header().entry_type(),
                    link,
                )
            })
            .collect()
    }

    #[test]
    fn a_tree_is_archived_sorted_with_links_and_without_host_files() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for d in ["etc", "dev", "proc", "usr/bin"] {
            fs::create_dir_all(root.join(d)).unwrap();
        }
        fs::write(root.join("etc/hostname"), "buildhost\n").unwrap();
        fs::write(root.join("etc/os-release"), "ID=debian\n").unwrap();
        fs::write(root.join("dev/null-ish"), "").unwrap();
        fs::write(root.join("usr/bin/b"), "#!/bin/sh\n").unwrap();
        fs::hard_link(root.join("usr/bin/b"), root.join("usr/bin/a")).unwrap();
        std::os::unix::fs::symlink("usr/bin", root.join("bin")).unwrap();

        let mut out = Vec::new();
        write_tree(root, &mut out).unwrap();
        let got = entries(&out);
        let names: Vec<&str> = got.iter().map(|(n, _, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "bin",
                "dev",
                "etc",
                "etc/os-release",
                "proc",
                "usr",
                "usr/bin",
                "usr/bin/a",
                "usr/bin/b"
            ]
        );
        assert_eq!(got[0].1, tar::EntryType::Symlink);
        assert_eq!(got[0].2, "usr/bin");
        assert_eq!(got[7].1, tar::EntryType::Regular);
        assert_eq!(got[8].1, tar::EntryType::Link);
        assert_eq!(got[8].2, "usr/bin/a");
    }

    #[test]
    fn tarballs_are_recognised_by_their_first_bytes() {
        assert!(looks_like_tar(&[0x1f, 0x8b, 8, 0]));
        assert!(looks_like_tar(b"BZh91AY"));
        let mut header = vec![0u8; 512];
        header[257..262].copy_from_slice(b"ustar");
        header[0] = b'a';
        assert!(looks_like_tar(&header));
        assert!(!looks_like_tar(b"PK\x03\x04 a zip file"));
        assert!(!looks_like_tar(b""));
    }

    #[test]
    fn every_import_carries_the_base_label_first() {
        let options = ImportOptions {
            tag: "debian:bookworm".into(),
            labels: vec![("baker.test".into(), "1".into())],
            changes: vec!["CMD [\"bash\"]".into()],
        };
        assert_eq!(
            options.all_labels(),
            [
                ("baker.base".to_owned(), "1".to_owned()),
                ("baker.test".to_owned(), "1".to_owned())
            ]
        );
    }
}
