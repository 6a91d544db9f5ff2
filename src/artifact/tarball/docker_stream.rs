//! A tar stream shaped like the one Docker's archive endpoint returns for `/baker/dest`: a
//! `dest/` prefix, uid 1000 and user names, names in directory-walk order, ustar prefix splits and
//! pax records for long names and link targets, and the first name of a hard-linked file stored
//! as the file with later names linking to it.

use std::io;

use tar::{EntryType, Header};

pub(super) const EPOCH: u64 = 1_700_000_000;
pub(super) const LINKED: &[u8] = b"one file, two names\n";

pub(super) enum Spec {
    Dir,
    File(&'static [u8]),
    /// Every `Linked` entry is a name of one hard-linked file.
    Linked,
    Symlink(String),
    Fifo,
}

pub(super) struct Source {
    name: String,
    spec: Spec,
    mode: u32,
    mtime: u64,
}

pub(super) fn long_dir() -> String {
    format!("usr/local/share/{}", "very-long-directory-name-".repeat(5))
}

/// 300+ bytes: too long even for a ustar prefix split, so Docker writes a pax `path`.
pub(super) fn very_long_file() -> String {
    format!("{}/{}", long_dir(), "x".repeat(200))
}

pub(super) fn tree() -> Vec<Source> {
    let e = |name: &str, spec, mode, mtime| Source {
        name: name.to_owned(),
        spec,
        mode,
        mtime,
    };
    vec![
        e(
            "usr/local/lib/zz-first-copy",
            Spec::Linked,
            0o644,
            EPOCH - 7,
        ),
        e(
            "usr/local/bin/mesos-master",
            Spec::File(b"\x7fELF..."),
            0o755,
            EPOCH + 1000,
        ),
        e("usr/", Spec::Dir, 0o755, EPOCH + 1),
        e("usr/local/bin/", Spec::Dir, 0o755, EPOCH - 100),
        e(
            "usr/local/bin/setuid-helper",
            Spec::File(b"suid"),
            0o4755,
            EPOCH - 500,
        ),
        e("usr/local/", Spec::Dir, 0o755, EPOCH + 99_999),
        e("usr/local/lib/", Spec::Dir, 0o755, 12),
        e(
            "usr/local/lib/libmesos-1.0.so",
            Spec::File(b"lib"),
            0o644,
            EPOCH - 500,
        ),
        e(
            "usr/local/lib/libmesos.so",
            Spec::Symlink("libmesos-1.0.so".into()),
            0o777,
            EPOCH,
        ),
        e("usr/local/lib/aa-link", Spec::Linked, 0o644, EPOCH - 7),
        e("usr/local/share/", Spec::Dir, 0o755, EPOCH + 3),
        e(&format!("{}/", long_dir()), Spec::Dir, 0o755, EPOCH + 3),
        e(
            &format!("{}/file.txt", long_dir()),
            Spec::File(b"long\n"),
            0o600,
            EPOCH + 3,
        ),
        e(&very_long_file(), Spec::File(b"longer\n"), 0o644, EPOCH + 3),
        e(
            "usr/local/share/far",
            Spec::Symlink(format!("../{}", "y/".repeat(70))),
            0o777,
            1,
        ),
        e("usr/local/var/", Spec::Dir, 0o1777, EPOCH + 3),
        e("usr/local/var/run.fifo", Spec::Fifo, 0o600, EPOCH + 3),
    ]
}

fn pax(builder: &mut tar::Builder<Vec<u8>>, key: &str, value: &str) {
    let body = |len: usize| format!("{len} {key}={value}\n");
    let mut len = body(0).len();
    while body(len).len() != len {
        len = body(len).len();
    }
    let mut header = Header::new_ustar();
    header.set_entry_type(EntryType::XHeader);
    header.set_size(len as u64);
    header.as_old_mut().name[..9].copy_from_slice(b"PaxHeader");
    header.set_cksum();
    builder.append(&header, body(len).as_bytes()).unwrap();
}

/// The stream Docker would send for `tree()` visited in `order`.
pub(super) fn docker_stream(order: &[usize]) -> Vec<u8> {
    let tree = tree();
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = Header::new_ustar();
    header.set_entry_type(EntryType::Directory);
    header.set_mode(0o755);
    header.set_mtime(EPOCH + 5);
    header.set_size(0);
    builder
        .append_data(&mut header, "dest/", io::empty())
        .unwrap();
    let mut first_linked: Option<String> = None;
    for source in order.iter().map(|i| &tree[*i]) {
        let name = format!("dest/{}", source.name);
        let mut header = Header::new_ustar();
        header.set_uid(1000);
        header.set_gid(1000);
        header.set_username("builder").unwrap();
        header.set_groupname("builder").unwrap();
        header.set_mode(source.mode);
        header.set_mtime(source.mtime);
        header.set_size(0);
        let mut data: &[u8] = b"";
        match &source.spec {
            Spec::Dir => header.set_entry_type(EntryType::Directory),
            Spec::File(bytes) => data = bytes,
            Spec::Linked => match &first_linked {
                None => (data, first_linked) = (LINKED, Some(name.clone())),
                Some(first) => {
                    header.set_entry_type(EntryType::Link);
                    header.set_link_name(first).unwrap();
                }
            },
            Spec::Symlink(target) => {
                header.set_entry_type(EntryType::Symlink);
                if target.len() > 100 {
                    pax(&mut builder, "linkpath", target);
                } else {
                    header.set_link_name(target).unwrap();
                }
            }
            Spec::Fifo => header.set_entry_type(EntryType::Fifo),
        }
        header.set_size(data.len() as u64);
        if header.set_path(&name).is_err() {
            pax(&mut builder, "path", &name);
            header
                .as_old_mut()
                .name
                .copy_from_slice(&name.as_bytes()[..100]);
        }
        header.set_cksum();
        builder.append(&header, data).unwrap();
    }
    builder.into_inner().unwrap()
}

pub(super) fn walk_order() -> Vec<usize> {
    (0..tree().len()).collect()
}

pub(super) fn reversed_order() -> Vec<usize> {
    (0..tree().len()).rev().collect()
}
