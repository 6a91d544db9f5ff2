//! The disk a qemu cluster's VMs boot: the image's raw disk, kept in the cluster's own directory.
//! Every node's overlay names its backing disk by path, and `baker image` replaces the disk in its
//! output directory whenever the build or the image layer changes; a node placed again later (a
//! VM that died, restarted by `launch --resume`) would then boot another image than its peers, or
//! none if the directory was removed. So the first placement pins the disk: a hard link beside
//! the overlays (free, and the image's next disk is a new file, never this one rewritten), or a
//! sparse copy when the state directory is on another file system. The pinned disk goes with the
//! cluster's directory at `destroy`. Before any of that, an image given by the user is checked
//! against the plan the nodes are launched from, since each node's role comes from the plan and
//! its software from the image: [`given_image`] picks that plan and checks it.

use std::io;
use std::path::{Path, PathBuf};

use super::error::LaunchError;
use crate::atomic_file::{commit, partial_file};
use crate::image::ImageManifest;
use crate::image::format::sparse::Disk;
use crate::plan::{PLAN_FILE, Plan, read_plan};

/// The pinned disk's name in the cluster's directory.
const CLUSTER_DISK: &str = "disk.raw";

/// Whether the pinned disk was linked or had to be copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pinned {
    /// It was pinned before (a resumed launch).
    Already,
    Linked,
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
/// it), with a warning when it had to be copied.
pub fn pin_disk(disk: &Path, dir: &Path) -> Result<PathBuf, LaunchError> {
    let (pinned, how) = pin(disk, dir).map_err(|source| LaunchError::Io {
        what: format!(
            "keeping {} in the cluster's directory {}",
            disk.display(),
            dir.display()
        ),
        source,
    })?;
    if how == Pinned::Copied {
        tracing::warn!(
            "{} is on another file system than the cluster's directory {}: its VMs boot a copy of it there (hard-linked, it would take no space)",
            disk.display(),
            dir.display()
        );
    }
    Ok(pinned)
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

fn pin(disk: &Path, dir: &Path) -> io::Result<(PathBuf, Pinned)> {
    let pinned = dir.join(CLUSTER_DISK);
    if pinned.is_file() {
        return Ok((pinned, Pinned::Already));
    }
    if std::fs::hard_link(disk, &pinned).is_ok() {
        return Ok((pinned, Pinned::Linked));
    }
    copy_disk(disk, &pinned)?;
    Ok((pinned, Pinned::Copied))
}

/// A sparse copy of `disk` at `to`, which appears only when complete.
fn copy_disk(disk: &Path, to: &Path) -> io::Result<()> {
    let partial = partial_file(to)?;
    Disk::open(disk)?.copy_sparse(partial.as_file())?;
    commit(partial, to)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    fn plan_of(recipe: &str) -> Plan {
        crate::plan::embedded_plan(recipe, "debian12")
    }

    #[test]
    fn an_image_of_another_build_is_refused_naming_the_image_s_recipe_and_the_plan_s() {
        let dir = Path::new("/images/hello");
        // The sample image.json is of postgresql 15.18 for debian-12.
        let mut image = crate::image::manifest::sample();
        let hello = plan_of("hello");
        let err = check_image_plan(dir, &image, &hello, "/builds/hello/plan.json").unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "the image in /images/hello was made from postgresql 15.18 for debian-12, but the \
                 plan (/builds/hello/plan.json) is of hello {} for debian-12; give the build the \
                 image came from (--from BUILD_DIR), or make the image again from this plan's \
                 build (`baker image --from BUILD_DIR`)",
                hello.version
            )
        );
        let postgresql = plan_of("postgresql");
        let err = check_image_plan(dir, &image, &postgresql, "p").unwrap_err();
        assert!(
            err.to_string().contains(&format!(
                "was made from another build of postgresql {} for debian-12 than the plan (p):",
                postgresql.version
            )),
            "{err}"
        );
        image.plan_key.clone_from(&postgresql.install_step().key);
        assert!(check_image_plan(dir, &image, &postgresql, "p").is_ok());
    }

    #[test]
    fn the_disk_is_linked_once_and_outlives_the_image_it_came_from() {
        let dir = tempfile::tempdir().unwrap();
        let (image, cluster) = (dir.path().join("out"), dir.path().join("cluster"));
        std::fs::create_dir_all(&image).unwrap();
        std::fs::create_dir_all(&cluster).unwrap();
        let disk = image.join("pg.raw");
        std::fs::write(&disk, b"first image").unwrap();
        let (pinned, how) = pin(&disk, &cluster).unwrap();
        assert_eq!(
            (pinned.clone(), how),
            (cluster.join("disk.raw"), Pinned::Linked)
        );
        let inode = |p: &Path| std::fs::metadata(p).unwrap().ino();
        assert_eq!(inode(&pinned), inode(&disk));
        // `baker image` puts its next disk in place by a rename: the cluster keeps the first.
        let next = image.join(".pg.raw.partial");
        std::fs::write(&next, b"second image").unwrap();
        std::fs::rename(&next, &disk).unwrap();
        assert_eq!(
            pin(&disk, &cluster).unwrap(),
            (pinned.clone(), Pinned::Already)
        );
        assert_eq!(pin(&pinned, &cluster).unwrap().1, Pinned::Already);
        std::fs::remove_dir_all(&image).unwrap();
        assert_eq!(std::fs::read(&pinned).unwrap(), b"first image");
    }

    #[test]
    fn a_disk_that_cannot_be_linked_is_copied_whole() {
        let dir = tempfile::tempdir().unwrap();
        let disk = dir.path().join("pg.raw");
        let file = std::fs::File::create(&disk).unwrap();
        file.set_len(8 << 20).unwrap();
        std::os::unix::fs::FileExt::write_all_at(&file, b"boot", 1 << 20).unwrap();
        let to = dir.path().join("copy.raw");
        copy_disk(&disk, &to).unwrap();
        assert_eq!(std::fs::read(&to).unwrap(), std::fs::read(&disk).unwrap());
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 2, "no partial file left: {names:?}");
    }

    #[test]
    fn a_disk_on_another_file_system_is_copied() {
        // /dev/shm is a tmpfs on Linux; where the temporary directory is one too, a link works.
        let Ok(other) = tempfile::tempdir_in("/dev/shm") else {
            return;
        };
        let cluster = tempfile::tempdir().unwrap();
        let disk = other.path().join("pg.raw");
        std::fs::write(&disk, b"image").unwrap();
        let dev = |p: &Path| std::fs::metadata(p).unwrap().dev();
        let expected = if dev(other.path()) == dev(cluster.path()) {
            Pinned::Linked
        } else {
            Pinned::Copied
        };
        let (pinned, how) = pin(&disk, cluster.path()).unwrap();
        assert_eq!(how, expected);
        assert_eq!(std::fs::read(pinned).unwrap(), b"image");
    }
}
