//! Tests of the reproducible tarball against streams shaped like Docker's archive endpoint (see
//! `docker_stream.rs`): same bytes however and wherever it runs, the promised header fields, a
//! gzip header without time or name, and nothing left behind when the stream is broken.

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::MetadataExt;

use flate2::read::GzDecoder;
use sha2::{Digest, Sha256};
use tar::{Archive, EntryType, Header};

use super::docker_stream::{
    EPOCH, LINKED, docker_stream, long_dir, reversed_order, tree, very_long_file, walk_order,
};
use super::*;
use crate::progress::{Event, Recorder, Silent};

/// `stream` in an anonymous file, as the builder spools a container's.
fn spooled(stream: &[u8]) -> fs::File {
    let mut file = tempfile::tempfile().unwrap();
    file.write_all(stream).unwrap();
    file
}

fn build(stream: &[u8], dir: &Path) -> ArtifactFile {
    fs::create_dir_all(dir).unwrap();
    write_reproducible(
        spooled(stream),
        "dest",
        EPOCH,
        &dir.join("mesos-1.0-debian-12.tar.gz"),
        &Silent,
        &Stop::default(),
    )
    .unwrap()
}

struct Out {
    name: String,
    kind: EntryType,
    mode: u32,
    mtime: u64,
    link: Option<String>,
    data: Vec<u8>,
}

fn read_back(path: &Path) -> Vec<Out> {
    let mut archive = Archive::new(GzDecoder::new(fs::File::open(path).unwrap()));
    let mut out = Vec::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let header = entry.header().clone();
        assert_eq!((header.uid().unwrap(), header.gid().unwrap()), (0, 0));
        assert_eq!(header.username_bytes(), Some(&b""[..]));
        assert_eq!(header.groupname_bytes(), Some(&b""[..]));
        let mut data = Vec::new();
        entry.read_to_end(&mut data).unwrap();
        out.push(Out {
            name: String::from_utf8(entry.path_bytes().into_owned()).unwrap(),
            kind: header.entry_type(),
            mode: header.mode().unwrap(),
            mtime: header.mtime().unwrap(),
            link: entry
                .link_name_bytes()
                .map(|l| String::from_utf8(l.into_owned()).unwrap()),
            data,
        });
    }
    out
}

#[test]
fn two_runs_into_different_directories_give_identical_bytes() {
    let stream = docker_stream(&walk_order());
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (first, second) = (build(&stream, a.path()), build(&stream, b.path()));
    assert_eq!(first.sha256, second.sha256);
    assert_eq!(
        fs::read(&first.path).unwrap(),
        fs::read(&second.path).unwrap()
    );
    assert_eq!(first.entries, tree().len());
    assert_eq!(first.bytes, fs::metadata(&first.path).unwrap().len());
}

#[test]
fn input_order_and_which_hard_link_name_docker_stored_do_not_change_the_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let walk = build(&docker_stream(&walk_order()), &dir.path().join("walk"));
    let reversed = build(&docker_stream(&reversed_order()), &dir.path().join("rev"));
    assert_eq!(walk.sha256, reversed.sha256);
}

#[test]
fn entries_are_sorted_stripped_owned_by_root_clamped_and_keep_modes_and_links() {
    let dir = tempfile::tempdir().unwrap();
    let out = read_back(&build(&docker_stream(&walk_order()), dir.path()).path);
    let names: Vec<&str> = out.iter().map(|o| o.name.trim_end_matches('/')).collect();
    assert!(
        names.windows(2).all(|w| w[0].as_bytes() < w[1].as_bytes()),
        "{names:#?}"
    );
    assert_eq!(names[0], "usr");
    assert!(
        names
            .iter()
            .all(|n| !n.starts_with("dest") && !n.starts_with("./"))
    );
    let find = |name: &str| {
        out.iter()
            .find(|o| o.name == name)
            .unwrap_or_else(|| panic!("{name}"))
    };

    assert!(out.iter().all(|o| o.mtime <= EPOCH));
    assert_eq!(find("usr/local/bin/mesos-master").mtime, EPOCH);
    assert_eq!(find("usr/local/lib/").mtime, 12);
    assert_eq!(find("usr/local/bin/mesos-master").mode, 0o755);
    assert_eq!(find("usr/local/bin/setuid-helper").mode, 0o4755);
    assert_eq!(find("usr/local/var/").mode, 0o1777);
    assert_eq!(find("usr/local/bin/").kind, EntryType::Directory);
    assert_eq!(find("usr/local/var/run.fifo").kind, EntryType::Fifo);

    let symlink = find("usr/local/lib/libmesos.so");
    assert_eq!(
        (symlink.kind, symlink.link.as_deref()),
        (EntryType::Symlink, Some("libmesos-1.0.so"))
    );
    let far = find("usr/local/share/far");
    assert_eq!(far.link, Some(format!("../{}", "y/".repeat(70))));
    // Docker stored zz-first-copy as the file; the first name in sort order carries the data.
    assert_eq!(
        (
            find("usr/local/lib/aa-link").kind,
            &find("usr/local/lib/aa-link").data[..]
        ),
        (EntryType::Regular, LINKED)
    );
    let link = find("usr/local/lib/zz-first-copy");
    assert_eq!(
        (link.kind, link.link.as_deref()),
        (EntryType::Link, Some("usr/local/lib/aa-link"))
    );
    assert_eq!(find(&format!("{}/file.txt", long_dir())).data, b"long\n");
    assert_eq!(find(&very_long_file()).data, b"longer\n");
}

#[test]
fn the_tarball_extracts_with_hard_links_and_long_names_intact() {
    let dir = tempfile::tempdir().unwrap();
    let tarball = build(&docker_stream(&reversed_order()), dir.path());
    let root = dir.path().join("x");
    Archive::new(GzDecoder::new(fs::File::open(&tarball.path).unwrap()))
        .unpack(&root)
        .unwrap();
    let (a, b) = (
        root.join("usr/local/lib/aa-link"),
        root.join("usr/local/lib/zz-first-copy"),
    );
    assert_eq!(fs::read(&b).unwrap(), LINKED);
    assert_eq!(
        fs::metadata(&a).unwrap().ino(),
        fs::metadata(&b).unwrap().ino()
    );
    assert_eq!(fs::read(root.join(very_long_file())).unwrap(), b"longer\n");
}

#[test]
fn gzip_header_has_no_time_no_name_and_a_fixed_os_byte() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = fs::read(build(&docker_stream(&walk_order()), dir.path()).path).unwrap();
    assert_eq!(bytes[..3], [0x1f, 0x8b, 8]);
    assert_eq!(bytes[3] & 0x08, 0, "no FNAME");
    assert_eq!(bytes[3], 0, "no extra, name, comment or header crc");
    assert_eq!(bytes[4..8], [0, 0, 0, 0], "mtime 0");
    assert_eq!(bytes[9], 3, "OS byte: Unix");
}

#[test]
fn the_sha256_file_is_in_sha256sum_format_and_matches() {
    let dir = tempfile::tempdir().unwrap();
    let stream = docker_stream(&walk_order());
    build(&stream, dir.path());
    let tarball = build(&stream, dir.path()); // overwriting an existing artifact
    let hex = hex::encode(Sha256::digest(fs::read(&tarball.path).unwrap()));
    assert_eq!(tarball.sha256, hex);
    let sums = fs::read_to_string(checksum_path(&tarball.path)).unwrap();
    assert_eq!(sums, format!("{hex}  mesos-1.0-debian-12.tar.gz\n"));
    assert_eq!(
        fs::read_dir(dir.path()).unwrap().count(),
        2,
        "no partial files left"
    );
}

#[test]
fn a_broken_stream_leaves_nothing_at_the_out_path() {
    let stream = docker_stream(&walk_order());
    let header_boundary = 512 * 3;
    let cases: [(&str, &[u8]); 3] = [
        ("cut inside a file", &stream[..512 * 4 + 4]),
        ("cut between entries", &stream[..header_boundary]),
        ("garbage", &[0x5a; 4096]),
    ];
    for (what, input) in cases {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("a.tar.gz");
        let err = write_reproducible(
            spooled(input),
            "dest",
            EPOCH,
            &out,
            &Silent,
            &Stop::default(),
        )
        .expect_err(what);
        assert!(err.to_string().contains("a.tar.gz"), "{what}: {err}");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0, "{what}");
    }
}

#[test]
fn entries_outside_the_prefix_are_rejected_by_name() {
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = Header::new_ustar();
    header.set_size(1);
    builder
        .append_data(&mut header, "etc/shadow", &b"x"[..])
        .unwrap();
    let stream = builder.into_inner().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("a.tar.gz");
    let err = write_reproducible(
        spooled(&stream),
        "dest",
        EPOCH,
        &out,
        &Silent,
        &Stop::default(),
    );
    let err = err.unwrap_err().to_string();
    assert!(
        err.contains("etc/shadow") && err.contains("not under `dest/`"),
        "{err}"
    );
}

#[test]
fn asked_to_stop_it_ends_leaving_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("a.tar.gz");
    let stop = Stop::default();
    stop.request();
    let input = spooled(&docker_stream(&walk_order()));
    let err = write_reproducible(input, "dest", EPOCH, &out, &Silent, &stop).unwrap_err();
    assert!(
        matches!(&err, ArtifactError::Stopped { out: o } if *o == out),
        "{err:?}"
    );
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn compressing_reports_progress_from_zero_to_the_whole_stream() {
    let stream = docker_stream(&walk_order());
    let dir = tempfile::tempdir().unwrap();
    let recorder = Recorder::default();
    let out = dir.path().join("a.tar.gz");
    write_reproducible(
        spooled(&stream),
        "dest",
        EPOCH,
        &out,
        &recorder,
        &Stop::default(),
    )
    .unwrap();
    let events = recorder.0.lock().unwrap();
    let seen: Vec<_> = events
        .iter()
        .map(|e| match e {
            Event::Progress { what, done, total } => (what.as_str(), *done, *total),
            other => panic!("{other:?}"),
        })
        .collect();
    let total = stream.len() as u64;
    assert_eq!(
        seen,
        [
            ("compressing a.tar.gz", 0, total),
            ("compressing a.tar.gz", total, total)
        ]
    );
}
