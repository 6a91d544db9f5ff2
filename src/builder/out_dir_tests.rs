//! The output set's tests: replaced whole, kept on failure, staged in place where `--out` cannot
//! be renamed, through a symbolic link, and no staging folder of a killed build left behind.

use super::*;

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn stage_set(target: &Path, tarball: &str) -> StagedOut {
    let staged = StagedOut::new(target).unwrap();
    let s = &staged.staging;
    write(&s.join(tarball), "tar");
    write(&s.join(format!("{tarball}.sha256")), "sum");
    let manifest = format!(r#"{{"artifact": {{"file_name": "{tarball}"}}}}"#);
    write(&s.join(MANIFEST_FILE), &manifest);
    write(&s.join(PLAN_FILE), "{}");
    write(&s.join("logs/01-x.log"), "log");
    staged
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn a_new_set_replaces_the_old_one_whole_and_keeps_foreign_files() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    stage_set(&out, "a-1.tar.gz").publish().unwrap();
    write(&out.join("NOTES.txt"), "mine");
    let staged = stage_set(&out, "a-2.tar.gz");
    assert_eq!(
        staged.published(&staged.staging.join("logs/01-x.log")),
        out.join("logs/01-x.log")
    );
    staged.publish().unwrap();
    assert_eq!(
        names(&out),
        [
            "NOTES.txt",
            "a-2.tar.gz",
            "a-2.tar.gz.sha256",
            "logs",
            "manifest.json",
            "plan.json"
        ]
    );
    assert_eq!(names(dir.path()), ["out"], "no staging directory is left");
}

#[test]
fn a_failed_build_leaves_the_previous_set_and_keeps_its_logs_aside() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    stage_set(&out, "a-1.tar.gz").publish().unwrap();
    let failed = stage_set(&out, "a-2.tar.gz");
    assert_eq!(failed.discard(), Some(dir.path().join("out.failed")));
    assert!(out.join("a-1.tar.gz").exists() && !out.join("a-2.tar.gz").exists());
    assert_eq!(names(&dir.path().join("out.failed")), ["logs"]);
    assert_eq!(names(dir.path()), ["out", "out.failed"]);
}

#[test]
fn an_out_that_cannot_be_renamed_is_staged_in_place_and_keeps_foreign_files() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    write(&out.join("NOTES.txt"), "mine");
    let in_place = |tarball: &str| {
        let staged = StagedOut::staged(&out, true).unwrap();
        assert!(staged.staging.starts_with(&out));
        write(&staged.staging.join(tarball), "tar");
        let manifest = format!(r#"{{"artifact": {{"file_name": "{tarball}"}}}}"#);
        write(&staged.staging.join(MANIFEST_FILE), &manifest);
        write(&staged.staging.join("logs/01-x.log"), "log");
        staged
    };
    in_place("a-1.tar.gz").publish().unwrap();
    in_place("a-2.tar.gz").publish().unwrap();
    assert_eq!(
        names(&out),
        ["NOTES.txt", "a-2.tar.gz", "logs", "manifest.json"]
    );
    assert_eq!(in_place("a-3.tar.gz").discard(), Some(out.join(".failed")));
    assert_eq!(
        names(&out),
        [
            ".failed",
            "NOTES.txt",
            "a-2.tar.gz",
            "logs",
            "manifest.json"
        ]
    );
    assert_eq!(names(dir.path()), ["out"], "nothing beside --out");
    in_place("a-4.tar.gz").publish().unwrap();
    assert!(
        !out.join(".failed").exists(),
        "a success forgets the failure"
    );
    let elsewhere = Some(dir.path().parent().unwrap());
    assert!(!cannot_be_renamed(&out, elsewhere));
    assert!(!cannot_be_renamed(&out, None));
    // The working directory, or a folder holding it (`--out .`, `--out ..`).
    std::fs::create_dir(out.join("src")).unwrap();
    assert!(cannot_be_renamed(&out, Some(&out)));
    assert!(cannot_be_renamed(&out, Some(&out.join("src"))));
    assert!(cannot_be_renamed(Path::new("/"), None));
    assert!(cannot_be_renamed(Path::new("/proc"), None));
}

#[test]
fn an_out_holding_a_members_name_that_no_build_wrote_is_refused_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    write(&dir.path().join("logs/mine.log"), "mine");
    let refused = StagedOut::new(dir.path()).err().unwrap().to_string();
    assert!(refused.contains("holds logs"), "{refused}");
    assert_eq!(
        names(dir.path()),
        ["logs"],
        "nothing staged, nothing removed"
    );
    // Once a build's set is there, its members are its own.
    let out = dir.path().join("out");
    stage_set(&out, "a-1.tar.gz").publish().unwrap();
    assert!(StagedOut::new(&out).is_ok());
}

#[test]
fn out_naming_a_file_is_refused_naming_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("out");
    std::fs::write(&file, "").unwrap();
    let err = StagedOut::new(&file).err().unwrap().to_string();
    assert!(
        err.contains("(--out) exists and is not a directory"),
        "{err}"
    );
    assert!(err.contains(&file.display().to_string()), "{err}");
}

#[test]
fn a_symlinked_out_stays_a_link_and_the_set_goes_where_it_points() {
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("big-disk/out");
    std::fs::create_dir_all(&real).unwrap();
    let link = dir.path().join("out");
    // Relative, as `ln -s big-disk/out out` makes it.
    std::os::unix::fs::symlink("big-disk/out", &link).unwrap();
    for tarball in ["a-1.tar.gz", "a-2.tar.gz"] {
        let staged = stage_set(&link, tarball);
        assert!(staged.staging.starts_with(dir.path().join("big-disk")));
        assert_eq!(
            staged.published(&staged.staging.join("logs/01-x.log")),
            link.join("logs/01-x.log"),
            "paths are shown as the user named --out"
        );
        staged.publish().unwrap();
    }
    assert!(link.symlink_metadata().unwrap().file_type().is_symlink());
    assert_eq!(
        names(&real),
        [
            "a-2.tar.gz",
            "a-2.tar.gz.sha256",
            "logs",
            "manifest.json",
            "plan.json"
        ]
    );
    assert_eq!(names(&dir.path().join("big-disk")), ["out"]);
}

#[test]
fn the_staging_directory_of_a_killed_build_goes_and_a_running_builds_stays() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    // What a build killed outright leaves: its staging directory, which no process holds.
    let abandoned = dir.path().join(".out.k1LLed.staging");
    write(&abandoned.join("a-1.tar.gz"), "half a tarball");
    // Another `--out`'s is not this build's to remove.
    let others = dir.path().join(".out2.k1LLed.staging");
    std::fs::create_dir(&others).unwrap();
    let running = StagedOut::new(&out).unwrap();
    assert!(
        !abandoned.exists(),
        "the killed build's staging directory is removed"
    );
    assert!(others.exists());
    // A build of the same --out at the same time keeps the running one's.
    let second = StagedOut::new(&out).unwrap();
    assert!(running.staging.is_dir() && second.staging.is_dir());
    assert_ne!(running.staging, second.staging);
    drop(second.discard());
    drop(running.discard());
    assert_eq!(names(dir.path()), [".out2.k1LLed.staging"]);
}

/// A link to a folder not made yet (`ln -s /mnt/big/out out` before the first build): the folder is
/// made where it points, with the folders it is in, and the link stays.
#[test]
fn a_symlinked_out_whose_folder_is_not_made_yet_is_made_where_it_points() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("out");
    std::os::unix::fs::symlink(dir.path().join("big/disk/out"), &link).unwrap();
    StagedOut::prepare(&link).unwrap();
    assert!(dir.path().join("big/disk").is_dir());
    stage_set(&link, "a-1.tar.gz").publish().unwrap();
    assert!(link.symlink_metadata().unwrap().file_type().is_symlink());
    assert!(dir.path().join("big/disk/out/a-1.tar.gz").is_file());
    assert_eq!(link_followed(&link), dir.path().join("big/disk/out"));
}
