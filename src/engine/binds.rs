//! Host folders and files in a container. baker names each bind as the engine's `Binds` take it —
//! `source:target`, or `source:target:ro` — which cannot name a host path holding a `:` (a folder
//! named for a date and time, say): the engine would cut the path there. Such a bind goes as a
//! `Mounts` entry instead, which names source and target apart. Every target is baker's own and
//! holds no `:`, so a bind is read from its right. The others stay binds, which, unlike a mount,
//! make a missing host folder.

use bollard::models::{Mount, MountTypeEnum};

/// `binds` as the engine's host config takes them: those it can read as binds, and mounts for the
/// rest (see the module doc).
pub(super) fn binds_and_mounts(binds: Vec<String>) -> (Option<Vec<String>>, Option<Vec<Mount>>) {
    let (plain, with_colon): (Vec<String>, Vec<String>) =
        (binds.into_iter()).partition(|bind| !source_target_read_only(bind).0.contains(':'));
    let mounts: Vec<Mount> = (with_colon.iter())
        .map(|bind| {
            let (source, target, read_only) = source_target_read_only(bind);
            host_mount(source, target, read_only)
        })
        .collect();
    (Some(plain), (!mounts.is_empty()).then_some(mounts))
}

/// Host path `source` at `target` in the container.
pub(super) fn host_mount(source: &str, target: &str, read_only: bool) -> Mount {
    Mount {
        source: Some(source.to_owned()),
        target: Some(target.to_owned()),
        typ: Some(MountTypeEnum::BIND),
        read_only: Some(read_only),
        ..Default::default()
    }
}

/// A bind's host path (or volume), its path in the container, and whether it is read-only.
fn source_target_read_only(bind: &str) -> (&str, &str, bool) {
    let (rest, read_only) = match bind.strip_suffix(":ro") {
        Some(rest) => (rest, true),
        None => (bind.strip_suffix(":rw").unwrap_or(bind), false),
    };
    match rest.rsplit_once(':') {
        Some((source, target)) => (source, target, read_only),
        None => (rest, rest, read_only),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_path_with_a_colon_becomes_a_mount_and_the_others_stay_binds() {
        let (binds, mounts) = binds_and_mounts(vec![
            "/work/2026-12-07T10:00/out:/work".into(),
            "/cache/pkgs:/var/cache/apt/archives".into(),
            "/in/a:b.tar.gz:/in/artifact.tar.gz:ro".into(),
            "baker-tree-0123:/cache".into(),
        ]);
        assert_eq!(
            binds.unwrap(),
            [
                "/cache/pkgs:/var/cache/apt/archives",
                "baker-tree-0123:/cache"
            ]
        );
        assert_eq!(
            mounts.unwrap(),
            [
                host_mount("/work/2026-12-07T10:00/out", "/work", false),
                host_mount("/in/a:b.tar.gz", "/in/artifact.tar.gz", true),
            ]
        );
        let (binds, mounts) = binds_and_mounts(vec!["/a:/b:ro".into()]);
        assert_eq!(
            (binds.unwrap(), mounts),
            (vec!["/a:/b:ro".to_owned()], None)
        );
    }
}
