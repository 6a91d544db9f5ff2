//! The disk a qemu cluster's VMs boot: the image's raw disk, kept in the cluster's own directory.
//! Every node's overlay names its backing disk by path, and `baker image` replaces the disk in its
//! output directory whenever the build or the image layer changes; a node placed again later (a
//! VM that died, restarted by `launch --resume`) would then boot another image than its peers, or
//! none if the directory was removed. So the first placement pins the disk: a hard link beside
//! the overlays (free, and the image's next disk is a new file, never this one rewritten), or a
//! sparse copy when it cannot be linked (another file system; a disk of another user where
//! `fs.protected_hardlinks` is on). The copy runs on a blocking thread that stops when the launch
//! is (Ctrl-C), removing what it had copied. The pinned disk goes with the cluster's directory at
//! `destroy`. Before any of that, an image given by the user is checked
//! against the plan the nodes are launched from, since each node's role comes from the plan and
//! its software from the image: [`given_image`] picks that plan and checks it.

use std::io;
use std::path::{Path, PathBuf};

use super::error::LaunchError;
use crate::atomic_file::{commit, partial_file};
use crate::image::ImageManifest;
use crate::image::format::sparse::{Disk, block_runs, write_non_zero};
use crate::plan::{PLAN_FILE, Plan, read_plan};
use crate::stop::Stop;
use rustix::io::Errno;

/// The pinned disk's name in the cluster's directory.
const CLUSTER_DISK: &str = "disk.raw";

/// Whether the pinned disk was linked or had to be copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pinned {
    /// It was pinned before (a resumed launch).
    Already,
    Linked,
    /// Copied, because it could not be linked.
    Copied,
}

/// The plan an image given to `launch --image` is launched with, as the user chose it.
pub enum PlanForImage {
    /// The build the image was made from (`--from BUILD_DIR`): its `plan.json`.
    Build(PathBuf),
    /// A plan made now from the recipe the user named (`--distro`, `--recipe`).
    Planned(Box<Plan>),
    /// Neither: the `plan.json` that `baker image --from` left beside the image, if any.
    BesideTheImage,
}

/// The plan and the raw disk of the image in `dir`, refused when VMs cannot boot from it (see
/// [`ImageManifest::vm_disk`]), when no plan says what its nodes run, or when the plan is of
/// another build than the image (see [`check_image_plan`]).
pub fn given_image(dir: &Path, choice: PlanForImage) -> Result<(Plan, PathBuf), LaunchError> {
    let manifest = ImageManifest::read(&ImageManifest::path_in(dir))?;
    let disk = manifest.vm_disk(dir)?;
    let read = |path: PathBuf| -> Result<(Plan, String), LaunchError> {
        Ok((read_plan(&path)?, path.display().to_string()))
    };
    let beside = dir.join(PLAN_FILE);
    let (plan, plan_from) = match choice {
        PlanForImage::Build(build_dir) => read(build_dir.join(PLAN_FILE))?,
        PlanForImage::Planned(plan) => (*plan, "planned now from --distro/--recipe".to_owned()),
        PlanForImage::BesideTheImage if beside.is_file() => read(beside)?,
        PlanForImage::BesideTheImage => {
            return Err(LaunchError::Input(format!(
                "the image in {} has no plan.json beside it: give the build it was made from \
                 with --from BUILD_DIR, or its recipe with --distro and --recipe (its image.json \
                 says {} {} for {})",
                dir.display(),
                manifest.recipe.name,
                manifest.recipe.version,
                manifest.recipe.distro
            )));
        }
    };
    check_image_plan(dir, &manifest, &plan, &plan_from)?;
    Ok((plan, disk))
}

/// The cluster's own copy of `disk` in `dir`, made now unless it exists (`disk` may already be
/// it), with a warning when it has to be copied. The work runs on a blocking thread, which a
/// dropped future (the launch interrupted) stops between two chunks of a copy, leaving no partial
/// file.
pub async fn pin_disk(disk: &Path, dir: &Path, plan: &Plan) -> Result<PathBuf, LaunchError> {
    if !dir.join(CLUSTER_DISK).is_file() {
        check_unpinned(disk, dir, plan)?;
    }
    let stop = Stop::default();
    let _stop_unless_done = stop.on_drop();
    let (from, to) = (disk.to_owned(), dir.to_owned());
    let pinned = tokio::task::spawn_blocking(move || pin(&from, &to, &stop))
        .await
        .expect("pinning a disk does not panic");
    let (pinned, _) = pinned.map_err(|source| LaunchError::Io {
        what: format!(
            "keeping {} in the cluster's directory {}",
            disk.display(),
            dir.display()
        ),
        source,
    })?;
    Ok(pinned)
}

/// Refuses to pin `disk` for the cluster in `dir`, launched from `plan`, when its launch recorded
/// no disk (one by an older baker, stopped before its first placement), or when the image there
/// is now of another build (made again into its folder before a launch stopped that early was
/// resumed).
fn check_unpinned(disk: &Path, dir: &Path, plan: &Plan) -> Result<(), LaunchError> {
    let cluster = dir.file_name().unwrap_or_default().to_string_lossy();
    let again = format!("`baker destroy {cluster}` and launch it again");
    if disk.as_os_str().is_empty() {
        return Err(LaunchError::Input(format!(
            "the state in {} names no disk image for the cluster's VMs (its launch stopped before \
             recording one); {again}",
            dir.display()
        )));
    }
    let image_dir = disk.parent().unwrap_or(Path::new("."));
    let made_from = ImageManifest::read(&ImageManifest::path_in(image_dir)).map(|m| m.plan_key);
    match made_from {
        Ok(key) if key != plan.install_step().key => Err(LaunchError::Input(format!(
            "the image in {} is of another build now than the one cluster {cluster} was \
             launched from (it was made again since); {again}",
            image_dir.display()
        ))),
        _ => Ok(()),
    }
}

/// What to say when `disk` is copied into the cluster's directory `dir` because hard-linking it
/// there failed with `link_error`: another file system only when that is what the error says.
fn copy_note(disk: &Path, dir: &Path, link_error: &io::Error) -> String {
    let (disk, dir) = (disk.display(), dir.display());
    let why = match link_error.raw_os_error().map(Errno::from_raw_os_error) {
        Some(Errno::XDEV) => {
            format!("{disk} is on another file system than the cluster's directory {dir}")
        }
        Some(Errno::PERM) => format!(
            "{disk} cannot be hard-linked into the cluster's directory {dir} ({link_error}; with \
             fs.protected_hardlinks on, a user may link only a file it owns or can read and write)"
        ),
        _ => format!(
            "{disk} cannot be hard-linked into the cluster's directory {dir} ({link_error})"
        ),
    };
    format!(
        "{why}: its VMs boot a copy of it there, made now (hard-linked, it would take no space)"
    )
}

/// Refuses the image in `dir` (its `image.json` is `image`) when it was made from another build
/// than `plan`, which `plan_from` says where it came from (`BUILD/plan.json`, say), naming what
/// each was made from.
fn check_image_plan(
    dir: &Path,
    image: &ImageManifest,
    plan: &Plan,
    plan_from: &str,
) -> Result<(), LaunchError> {
    if plan.install_step().key == image.plan_key {
        return Ok(());
    }
    let made = &image.recipe;
    let made_of = format!("{} {} for {}", made.name, made.version, made.distro);
    let plan_of = format!(
        "{} {} for {}",
        plan.recipe.name, plan.version, plan.recipe.distro
    );
    let what = if made_of == plan_of {
        format!(
            "was made from another build of {made_of} than the plan ({plan_from}): the recipe, \
             the source or a step changed between them"
        )
    } else {
        format!("was made from {made_of}, but the plan ({plan_from}) is of {plan_of}")
    };
    Err(LaunchError::Input(format!(
        "the image in {} {what}; give the build the image came from (--from BUILD_DIR), or make \
         the image again from this plan's build (`baker image --from BUILD_DIR`)",
        dir.display()
    )))
}

/// Pins `disk` in `dir` (see [`pin_disk`]), a copy stopping when `stop` is requested.
fn pin(disk: &Path, dir: &Path, stop: &Stop) -> io::Result<(PathBuf, Pinned)> {
    let pinned = dir.join(CLUSTER_DISK);
    if pinned.is_file() {
        return Ok((pinned, Pinned::Already));
    }
    let link_error = match std::fs::hard_link(disk, &pinned) {
        Ok(()) => return Ok((pinned, Pinned::Linked)),
        // No disk to copy either (an image removed before a resumed launch pinned it).
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(e),
        Err(e) => e,
    };
    tracing::warn!("{}", copy_note(disk, dir, &link_error));
    copy_disk(disk, &pinned, stop)?;
    Ok((pinned, Pinned::Copied))
}

/// A sparse copy of `disk` at `to`, which appears only when complete: only the data extents are
/// read, and of those only the blocks that are not all zeros are written. Gives up between two
/// chunks when `stop` is requested (an `Interrupted` error), removing the partial file.
fn copy_disk(disk: &Path, to: &Path, stop: &Stop) -> io::Result<()> {
    let partial = partial_file(to)?;
    let disk = Disk::open(disk)?;
    let file = partial.as_file();
    file.set_len(disk.size)?;
    let mut buf = vec![0u8; 1 << 20];
    for extent in disk.extents() {
        let extent = extent?;
        let mut at = extent.offset;
        while at < extent.end() {
            if stop.requested() {
                return Err(io::ErrorKind::Interrupted.into());
            }
            let n = (extent.end() - at).min(buf.len() as u64) as usize;
            disk.read_at(&mut buf[..n], at)?;
            write_non_zero(file, &buf[..n], at, &block_runs(&buf[..n], at))?;
            at += n as u64;
        }
    }
    commit(partial, to)
}

#[cfg(test)]
#[path = "qemu_disk_tests.rs"]
mod tests;
