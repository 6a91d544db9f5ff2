//! The raw disk, made in the tools container without root on the host, loop devices, privileged
//! containers or `mount`. The disk script (`scripts/disk.sh`) works in a tree volume: the OS layer's
//! file system unpacked once (streamed to the script's stdin the first time) with its times clamped
//! to the epoch, kept per OS layer and epoch, and hard-linked into a fresh work tree for each disk,
//! which the script only ever changes by replacing files, never by writing into them. So a re-image
//! after a tarball change unpacks nothing. The build's tarball is bind-mounted read-only; `disk.raw`
//! appears in the bind-mounted work directory (in the output directory), the only host directory
//! touched and the only temporary space besides the outputs: the disk, sparse, which becomes the
//! `raw` output when one is asked for. One tree volume is kept per recipe, distro and
//! cache, labelled with the cache's identity, so that `baker cache clear` removes it and a cache never
//! removes or reuses another's (caches sharing an engine are independent). The
//! partition layout (MBR, or GPT with an EFI System Partition) comes computed from [`Layout`].
//! Before mkfs writes, the script checks that the output directory has room for the tree's blocks,
//! once for the disk and once more for each copy of its data the formats asked for make
//! ([`DataCopies`]; a vhd or ami copy shares the disk's blocks where the file system can, and then
//! costs nothing): a `--out` too small fails within seconds, saying how much each holds
//! ([`ImageError::NoRoom`]), rather than a minute into mkfs, or later in a writer, with ENOSPC.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use super::ImageError;
use super::assets::DISK_SCRIPT;
use super::format::DataCopies;
use super::key::DiskIds;
use super::layout::Layout;
use super::run::{self, RunSpec};
use crate::cache::CACHE_LABEL;
use crate::engine::Engine;
use crate::engine::labels::{IMAGE_PART_LABEL, tree_volume};
use crate::progress::{Event, Reporter};

/// What the disk is made of.
pub struct DiskJob<'a> {
    /// The recipe and distro the tree is of: an older tree volume of the same two is removed when
    /// this one is made, one of another distro of the recipe kept.
    pub recipe: &'a str,
    pub distro: &'a str,
    /// The identity of the cache the tree volume belongs to.
    pub cache_id: &'a str,
    pub tools_image: &'a str,
    pub os_image: &'a str,
    pub os_key: &'a str,
    /// The OS layer image's id: its tree volume is made from this image.
    pub os_id: &'a str,
    /// The build's tarball on the host.
    pub artifact: &'a Path,
    /// The archive of baker's files unpacked over the tree.
    pub overlay: Vec<u8>,
    /// A host directory for the container's `/work`; `disk.raw` appears in it.
    pub work_dir: &'a Path,
    pub ids: &'a DiskIds,
    pub layout: &'a Layout,
    pub size: u64,
    pub epoch: u64,
    pub mkfs_options: &'a [String],
    /// The copies of the disk's data the formats asked for make beside it, for the room check.
    pub copies: DataCopies,
    /// When `--size` gave `size`: the size baker would have picked, for the error that says the
    /// given one cannot hold the tree. `None` when baker picked `size` itself.
    pub picked_size: Option<u64>,
}

/// The disk script's exit code when the tree volume has no finished tree: none was fed, and no
/// other run was feeding it.
const TREE_MISSING: i64 = 75;
/// The disk script's exit code when the output directory has less room than the tree takes times
/// the disk and its copies, after a line `baker-no-room: <tree bytes> <free bytes> <shares 0|1>`.
const NO_ROOM: i64 = 76;
/// The disk script's exit code when the root partition of a `--size` cannot hold the tree, after a
/// line `baker-too-small: <tree bytes> <root partition bytes>` (the second for people reading the log).
const TOO_SMALL: i64 = 77;

/// Runs the disk script; returns the path of `disk.raw` in the work directory.
pub async fn make_disk(
    engine: &Engine,
    job: DiskJob<'_>,
    reporter: &Arc<dyn Reporter>,
) -> Result<PathBuf, ImageError> {
    let work = job
        .work_dir
        .canonicalize()
        .map_err(ImageError::io("resolving the work directory", job.work_dir))?;
    let artifact = job
        .artifact
        .canonicalize()
        .map_err(ImageError::io("resolving the tarball", job.artifact))?;
    for (name, bytes) in [
        ("overlay.tar", job.overlay.as_slice()),
        ("disk.sh", DISK_SCRIPT.as_bytes()),
    ] {
        let path = work.join(name);
        std::fs::write(&path, bytes).map_err(ImageError::io("writing", &path))?;
    }
    let owner = {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(&work).map_err(ImageError::io("reading", &work))?;
        format!("{}:{}", meta.uid(), meta.gid())
    };
    let mut env = BTreeMap::from([
        ("EPOCH".to_owned(), job.epoch.to_string()),
        ("FS_UUID".to_owned(), job.ids.fs_uuid.clone()),
        ("HASH_SEED".to_owned(), job.ids.hash_seed.clone()),
        ("SIZE".to_owned(), job.size.to_string()),
        ("OWNER".to_owned(), owner),
        ("MKFS_OPTIONS".to_owned(), job.mkfs_options.join(" ")),
        ("COPIES".to_owned(), job.copies.written.len().to_string()),
        (
            "SHAREABLE_COPIES".to_owned(),
            job.copies.shareable.len().to_string(),
        ),
    ]);
    env.extend(job.layout.env(job.ids));
    let volume = tree_volume(job.os_key, job.os_id, job.epoch, job.cache_id);
    let mine = [
        ("baker.tree-of", job.recipe),
        ("baker.tree-distro", job.distro),
        (CACHE_LABEL, job.cache_id),
    ];
    let spec = RunSpec {
        name: String::new(),
        image: job.tools_image,
        cmd: vec!["bash".into(), "/work/disk.sh".into()],
        env,
        binds: vec![
            format!("{}:/work", work.display()),
            format!("{}:/in/artifact.tar.gz:ro", artifact.display()),
            format!("{volume}:/cache"),
        ],
        labels: &[(IMAGE_PART_LABEL, "disk")],
    };
    let (mut code, mut tail) = (0, String::new());
    for attempt in 0..3 {
        let fresh = !engine.has_volume(&volume).await;
        if fresh {
            engine.remove_volumes_labelled(&mine, &volume).await;
            // Trees an older baker made, labelled without their distro, are replaced too.
            let older = [mine[0], mine[2]];
            let lacking = engine.volumes_lacking(&older, mine[1].0).await;
            for name in lacking.unwrap_or_default() {
                engine.remove_volume(&name).await;
            }
            engine
                .create_volume(
                    &volume,
                    &[(IMAGE_PART_LABEL, "tree"), mine[0], mine[1], mine[2]],
                )
                .await?;
        }
        let feed = fresh.then_some(job.os_image);
        (code, tail) = run_script(engine, &spec, feed, reporter).await?;
        if code == TREE_MISSING && attempt < 2 {
            // Another run that made the volume may have been about to feed it: it holds the
            // feeding lock by now, and the script run again waits for it. Still no tree, and an
            // earlier run stopped while unpacking: the volume goes, and the tree is made again.
            if attempt == 1 {
                engine.remove_volume(&volume).await;
            }
            continue;
        }
        break;
    }
    if let Some((tree, free, shares)) = (code == NO_ROOM).then(|| no_room(&tail)).flatten() {
        let DataCopies {
            mut written,
            shareable,
        } = job.copies;
        if !shares {
            written.extend(shareable);
        }
        written.sort();
        return Err(ImageError::NoRoom {
            dir: job.work_dir.parent().unwrap_or(job.work_dir).to_owned(),
            tree,
            copies: written,
            free,
        });
    }
    let too_small = (code == TOO_SMALL).then(|| too_small(&tail)).flatten();
    if let (Some(tree), Some(picked)) = (too_small, job.picked_size) {
        return Err(ImageError::TooSmall {
            size: job.size,
            tree,
            picked,
        });
    }
    if code != 0 {
        return Err(ImageError::Failed {
            what: format!("making the disk in {} (scripts/disk.sh)", job.tools_image),
            code,
            tail,
        });
    }
    for name in ["overlay.tar", "disk.sh"] {
        let _ = std::fs::remove_file(work.join(name));
    }
    Ok(work.join("disk.raw"))
}

/// The tree's bytes, the output directory's free bytes and whether its file system shares blocks
/// between files, from the disk script's last lines when it found no room for the disk.
fn no_room(tail: &str) -> Option<(u64, u64, bool)> {
    match figures(tail, "baker-no-room: ")?.as_slice() {
        [tree, free, shares] => Some((*tree, *free, *shares == 1)),
        _ => None,
    }
}

/// The tree's bytes, from the disk script's last lines when the disk's size cannot hold the tree.
fn too_small(tail: &str) -> Option<u64> {
    figures(tail, "baker-too-small: ")?.first().copied()
}

/// The numbers on the disk script's last line that starts with `marker`.
fn figures(tail: &str, marker: &str) -> Option<Vec<u64>> {
    let line = tail.lines().rev().find_map(|l| l.split_once(marker))?.1;
    line.split_whitespace().map(|f| f.parse().ok()).collect()
}

/// One run of the disk script, its phases reported as they end.
async fn run_script(
    engine: &Engine,
    spec: &RunSpec<'_>,
    feed: Option<&str>,
    reporter: &Arc<dyn Reporter>,
) -> Result<(i64, String), ImageError> {
    let mut phase_started = Instant::now();
    let mut phase: Option<String> = None;
    let mut on_line = |line: &str| {
        if let Some(next) = line.strip_prefix("baker-phase: ") {
            if let Some(done) = phase.replace(next.to_owned()) {
                reporter.report(Event::Note(format!(
                    "  {done}: {:.1}s",
                    phase_started.elapsed().as_secs_f64()
                )));
            }
            phase_started = Instant::now();
        }
        reporter.report(Event::StepLog {
            name: "disk".into(),
            line: line.to_owned(),
        });
    };
    let mut env = spec.env.clone();
    env.insert("FEED".into(), if feed.is_some() { "1" } else { "0" }.into());
    let spec = RunSpec {
        name: run::unique_name("baker-image-disk"),
        image: spec.image,
        cmd: spec.cmd.clone(),
        env,
        binds: spec.binds.clone(),
        labels: spec.labels,
    };
    run::run_fed(engine, &spec, feed, &mut on_line, reporter).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_room_the_disk_lacks_is_read_from_the_script_s_last_lines() {
        let tail =
            "  | baker-phase: clamp\n  | tree: 812 bytes\n  | baker-no-room: 851443712 314572800 0";
        assert_eq!(no_room(tail), Some((851_443_712, 314_572_800, false)));
        let shares = "  | baker-no-room: 851443712 314572800 1\n";
        assert_eq!(no_room(shares), Some((851_443_712, 314_572_800, true)));
        assert_eq!(no_room("mkfs.ext4: No space left on device\n"), None);
        let small = "  | __populate_fs: Could not allocate block\n  | baker-too-small: 362659840 99614720\n";
        assert_eq!(too_small(small), Some(362_659_840));
        assert_eq!(too_small(tail), None);
    }
}
