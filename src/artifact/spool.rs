//! The container's tar stream, spooled to an anonymous file, indexed so it can be rewritten in
//! sorted order.
//!
//! Docker streams entries in directory-walk order, which depends on the filesystem, so the output
//! order has to be chosen after the last entry has arrived. Spooling the raw stream to an unnamed
//! temporary file (`O_TMPFILE`: nothing to clean up after a crash; the builder writes it while the
//! stream arrives, see `builder::meta`) and remembering, per entry, its
//! metadata and the offset of its data keeps memory proportional to the number of entries, not
//! their size, needs no privileges (unpacking to disk would need root for setuid bits, device
//! files and foreign owners, and would let the host filesystem touch modes and times), and copies
//! each file's bytes once in and once out.
//!
//! Indexing also makes hard links canonical: in each group of names for one file, the name that
//! sorts first carries the data and every other name links to it. Which name Docker happened to
//! see first (the one it stored as the file) therefore does not show in the output, and the target
//! of every hard link precedes it, as extractors require.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

use tar::{Archive, Entry, EntryType};

use super::ArtifactError;

const BLOCK: u64 = 512;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A regular file whose bytes are at `offset` in the spool file.
    File {
        offset: u64,
        size: u64,
    },
    Dir,
    Symlink(Vec<u8>),
    /// A hard link to another entry's (stripped) path.
    HardLink(Vec<u8>),
    Char {
        major: u32,
        minor: u32,
    },
    Block {
        major: u32,
        minor: u32,
    },
    Fifo,
}

#[derive(Debug, Clone)]
pub(crate) struct Item {
    /// Relative to the stripped prefix, `/`-separated, without `.`, empty or trailing components.
    pub path: Vec<u8>,
    pub kind: Kind,
    /// Permission bits including setuid, setgid and sticky.
    pub mode: u32,
    pub mtime: u64,
}

pub(crate) struct Spool {
    pub file: File,
    /// Sorted by path, bytewise; hard links follow their targets.
    pub items: Vec<Item>,
}

impl Spool {
    /// Indexes `file`, the container's tar stream spooled whole, stripping `strip_prefix`; `out`
    /// is the tarball it is for, named in errors.
    pub(crate) fn index(file: File, strip_prefix: &str, out: &Path) -> Result<Self, ArtifactError> {
        let read_err = |source| ArtifactError::ReadStream {
            out: out.to_owned(),
            source,
        };
        let bad = |entry: &[u8], reason: String| ArtifactError::BadEntry {
            out: out.to_owned(),
            entry: String::from_utf8_lossy(entry).into_owned(),
            reason,
        };
        let len = file.metadata().map_err(read_err)?.len();

        let prefix = components(strip_prefix.as_bytes());
        let mut items = Vec::new();
        let mut end = 0;
        (&file).seek(SeekFrom::Start(0)).map_err(read_err)?;
        let mut archive = Archive::new(&file);
        for entry in archive.entries_with_seek().map_err(read_err)? {
            let entry = entry.map_err(read_err)?;
            let (offset, size) = (entry.raw_file_position(), entry.size());
            if offset.checked_add(size).is_none_or(|e| e > len) {
                return Err(ArtifactError::Truncated {
                    out: out.to_owned(),
                });
            }
            end = offset + size.next_multiple_of(BLOCK);
            if let Some(item) = item_of(&entry, &prefix).map_err(|r| bad(&entry.path_bytes(), r))? {
                items.push(item);
            }
        }
        if !ends_with_marker(&file, end, len).map_err(read_err)? {
            return Err(ArtifactError::Truncated {
                out: out.to_owned(),
            });
        }
        let items = canonical(items).map_err(|(path, reason)| bad(&path, reason))?;
        Ok(Self { file, items })
    }
}

fn components(path: &[u8]) -> Vec<&[u8]> {
    path.split(|b| *b == b'/')
        .filter(|c| !c.is_empty() && *c != b".")
        .collect()
}

/// `raw` relative to `prefix`: `None` for the prefix directory itself.
fn relative(raw: &[u8], prefix: &[&[u8]]) -> Result<Option<Vec<u8>>, String> {
    let parts = components(raw);
    if raw.starts_with(b"/") || parts.contains(&&b".."[..]) {
        return Err("absolute paths and `..` are not allowed".into());
    }
    if !parts.starts_with(prefix) {
        let prefix = String::from_utf8_lossy(&prefix.join(&b'/')).into_owned();
        return Err(format!("not under `{prefix}/`"));
    }
    let rest = &parts[prefix.len()..];
    Ok((!rest.is_empty()).then(|| rest.join(&b'/')))
}

fn item_of(entry: &Entry<'_, &File>, prefix: &[&[u8]]) -> Result<Option<Item>, String> {
    let header = entry.header();
    let entry_type = header.entry_type();
    if entry_type == EntryType::XGlobalHeader {
        return Ok(None);
    }
    let Some(path) = relative(&entry.path_bytes(), prefix)? else {
        return match entry_type {
            EntryType::Directory => Ok(None),
            _ => Err("the top of the tree must be a directory".into()),
        };
    };
    let link = || {
        entry
            .link_name_bytes()
            .map(|l| l.into_owned())
            .ok_or_else(|| "a link without a target".to_string())
    };
    let device = || -> Result<(u32, u32), String> {
        let major = header.device_major().map_err(|e| e.to_string())?;
        let minor = header.device_minor().map_err(|e| e.to_string())?;
        Ok((major.unwrap_or(0), minor.unwrap_or(0)))
    };
    let kind = match entry_type {
        EntryType::Regular | EntryType::Continuous => Kind::File {
            offset: entry.raw_file_position(),
            size: entry.size(),
        },
        EntryType::Directory => Kind::Dir,
        EntryType::Symlink => Kind::Symlink(link()?),
        EntryType::Link => {
            Kind::HardLink(relative(&link()?, prefix)?.ok_or("a hard link to the top directory")?)
        }
        EntryType::Char => device().map(|(major, minor)| Kind::Char { major, minor })?,
        EntryType::Block => device().map(|(major, minor)| Kind::Block { major, minor })?,
        EntryType::Fifo => Kind::Fifo,
        other => return Err(format!("unsupported entry type {other:?}")),
    };
    Ok(Some(Item {
        path,
        kind,
        mode: header.mode().map_err(|e| e.to_string())? & 0o7777,
        mtime: header.mtime().map_err(|e| e.to_string())?,
    }))
}

/// Whether the stream goes on, after the last entry ending at `end`, with the two zero blocks
/// that close every complete tar stream Docker sends.
fn ends_with_marker(file: &File, end: u64, len: u64) -> io::Result<bool> {
    if len < end + 2 * BLOCK {
        return Ok(false);
    }
    let mut marker = [0u8; 2 * BLOCK as usize];
    let mut file = file;
    file.seek(SeekFrom::Start(end))?;
    file.read_exact(&mut marker)?;
    Ok(marker.iter().all(|b| *b == 0))
}

/// Rejects duplicate paths, points every hard link at the first name (bytewise) of its file and
/// sorts by path. Errors name the offending path.
fn canonical(mut items: Vec<Item>) -> Result<Vec<Item>, (Vec<u8>, String)> {
    let mut by_path = HashMap::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        if by_path.insert(item.path.clone(), i).is_some() {
            return Err((item.path.clone(), "appears twice in the stream".into()));
        }
    }
    // The non-link entry each hard link resolves to, and the links that resolve to it.
    let mut groups: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for i in 0..items.len() {
        let mut j = i;
        for _ in 0..=items.len() {
            let Kind::HardLink(target) = &items[j].kind else {
                break;
            };
            j = *by_path.get(target).ok_or_else(|| {
                (
                    items[i].path.clone(),
                    "a hard link whose target is missing".to_string(),
                )
            })?;
        }
        match items[j].kind {
            Kind::HardLink(_) => return Err((items[i].path.clone(), "a hard link cycle".into())),
            _ if i == j => continue,
            Kind::Dir => return Err((items[i].path.clone(), "a hard link to a directory".into())),
            _ => groups.entry(j).or_default().push(i),
        }
    }
    for (root, links) in groups {
        let names = links.iter().copied().chain([root]);
        let leader = names
            .clone()
            .min_by(|a, b| items[*a].path.cmp(&items[*b].path));
        let leader = leader.expect("a group holds its root");
        let (kind, mode, mtime) = (
            items[root].kind.clone(),
            items[root].mode,
            items[root].mtime,
        );
        let leader_path = items[leader].path.clone();
        for k in names {
            items[k].kind = if k == leader {
                kind.clone()
            } else {
                Kind::HardLink(leader_path.clone())
            };
            (items[k].mode, items[k].mtime) = (mode, mtime);
        }
    }
    items.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(items)
}
