//! The tests of a qemu cluster's disk: the image checked against the plan, and the disk pinned
//! (linked, or copied with a note that says why, and a copy that stops when asked).

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
    let stop = Stop::default();
    let (pinned, how) = pin(&disk, &cluster, &stop).unwrap();
    assert_eq!((&pinned, how), (&cluster.join("disk.raw"), Pinned::Linked));
    let inode = |p: &Path| std::fs::metadata(p).unwrap().ino();
    assert_eq!(inode(&pinned), inode(&disk));
    // `baker image` puts its next disk in place by a rename: the cluster keeps the first.
    let next = image.join(".pg.raw.partial");
    std::fs::write(&next, b"second image").unwrap();
    std::fs::rename(&next, &disk).unwrap();
    assert_eq!(
        pin(&disk, &cluster, &stop).unwrap(),
        (pinned.clone(), Pinned::Already)
    );
    assert_eq!(pin(&pinned, &cluster, &stop).unwrap().1, Pinned::Already);
    std::fs::remove_dir_all(&image).unwrap();
    assert_eq!(std::fs::read(&pinned).unwrap(), b"first image");
}

/// A disk of 8 MiB with data at 1 MiB in `dir`.
fn sparse_disk(dir: &Path) -> PathBuf {
    let disk = dir.join("pg.raw");
    let file = std::fs::File::create(&disk).unwrap();
    file.set_len(8 << 20).unwrap();
    std::os::unix::fs::FileExt::write_all_at(&file, b"boot", 1 << 20).unwrap();
    disk
}

fn names_in(dir: &Path) -> Vec<std::ffi::OsString> {
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    names
}

#[test]
fn a_disk_that_cannot_be_linked_is_copied_whole() {
    let dir = tempfile::tempdir().unwrap();
    let disk = sparse_disk(dir.path());
    let to = dir.path().join("copy.raw");
    copy_disk(&disk, &to, &Stop::default()).unwrap();
    assert_eq!(std::fs::read(&to).unwrap(), std::fs::read(&disk).unwrap());
    assert_eq!(
        names_in(dir.path()),
        ["copy.raw", "pg.raw"],
        "no partial file left"
    );
}

#[test]
fn a_copy_asked_to_stop_leaves_no_partial_file() {
    let dir = tempfile::tempdir().unwrap();
    let disk = sparse_disk(dir.path());
    let stop = Stop::default();
    stop.request();
    let err = copy_disk(&disk, &dir.path().join("copy.raw"), &stop).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::Interrupted);
    assert_eq!(names_in(dir.path()), ["pg.raw"]);
}

/// `pin_disk`, which runs [`pin`] on a blocking thread: the disk is linked in, and a missing one
/// is named. (That a dropped `pin_disk` stops its copy rests on `Stop::on_drop`, whose guard asks
/// the copy to stop, and on the copy's stop, tested above.)
#[tokio::test]
async fn pin_disk_keeps_the_disk_in_the_cluster_s_directory_and_names_a_missing_one() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = dir.path().join("cluster");
    std::fs::create_dir_all(&cluster).unwrap();
    let disk = sparse_disk(dir.path());
    let plan = plan_of("hello");
    let pinned = pin_disk(&disk, &cluster, &plan).await.unwrap();
    assert_eq!(pinned, cluster.join("disk.raw"));
    let err = pin_disk(
        &dir.path().join("none.raw"),
        &dir.path().join("gone"),
        &plan,
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(err.starts_with("keeping "), "{err}");
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
    let (pinned, how) = pin(&disk, cluster.path(), &Stop::default()).unwrap();
    assert_eq!(how, expected);
    assert_eq!(std::fs::read(pinned).unwrap(), b"image");
}

#[test]
fn the_copy_note_says_another_file_system_only_when_the_link_said_so() {
    let (disk, dir) = (Path::new("/img/pg.raw"), Path::new("/st/pg"));
    let of = |errno: Errno| {
        copy_note(
            disk,
            dir,
            &io::Error::from_raw_os_error(errno.raw_os_error()),
        )
    };
    assert_eq!(
        of(Errno::XDEV),
        "/img/pg.raw is on another file system than the cluster's directory /st/pg: its VMs boot \
         a copy of it there, made now (hard-linked, it would take no space)"
    );
    let protected = of(Errno::PERM);
    assert!(
        protected.starts_with(
            "/img/pg.raw cannot be hard-linked into the cluster's directory /st/pg (Operation not \
             permitted (os error 1); with fs.protected_hardlinks"
        ),
        "{protected}"
    );
    assert!(!protected.contains("file system than"), "{protected}");
    let other = of(Errno::MLINK);
    assert!(other.contains("(Too many links (os error 31))"), "{other}");
    assert!(!other.contains("file system than"), "{other}");
}

/// A launch stopped before its first placement pins the disk when it is resumed: the disk its
/// state recorded, unless that names none (an older baker's) or is now of another build.
#[test]
fn a_disk_pinned_late_is_refused_when_the_state_names_none_or_its_image_changed() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = dir.path().join("pg");
    let hello = plan_of("hello");
    let err = check_unpinned(Path::new(""), &cluster, &hello).unwrap_err();
    assert!(
        err.to_string().ends_with(
            "names no disk image for the cluster's VMs (its launch stopped before recording \
             one); `baker destroy pg` and launch it again"
        ),
        "{err}"
    );
    // No image.json beside the disk (a disk the user gave that way): nothing to check against.
    assert!(check_unpinned(&dir.path().join("pg.raw"), &cluster, &hello).is_ok());
    // The sample image.json is of postgresql.
    let image = crate::image::manifest::sample();
    image.write(dir.path()).unwrap();
    let err = check_unpinned(&dir.path().join("pg.raw"), &cluster, &hello).unwrap_err();
    assert!(
        err.to_string()
            .contains("is of another build now than the one cluster pg was launched from"),
        "{err}"
    );
    let mut same = hello.clone();
    same.steps
        .last_mut()
        .unwrap()
        .key
        .clone_from(&image.plan_key);
    assert!(check_unpinned(&dir.path().join("pg.raw"), &cluster, &same).is_ok());
}
