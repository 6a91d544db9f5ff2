//! A local tree is sent as its digest saw it: a file edited after it was digested, or while it is
//! sent, stops the upload instead of reaching the step under the digest's key.

use std::io::Read;

use super::*;
use crate::source::tree::digest_tree;

fn entry_names_and_bodies(archive: Vec<u8>) -> Vec<(String, Vec<u8>)> {
    let mut archive = tar::Archive::new(archive.as_slice());
    let mut out = Vec::new();
    for e in archive.entries().unwrap() {
        let mut e = e.unwrap();
        let name = e.path().unwrap().display().to_string();
        let mut body = Vec::new();
        e.read_to_end(&mut body).unwrap();
        out.push((name, body));
    }
    out
}

#[test]
fn a_tree_as_digested_is_sent_whole() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.txt"), "A").unwrap();
    let tree = digest_tree(dir.path()).unwrap();
    let mut archive = UploadArchive::default();
    archive.tree("/baker/src", &tree).unwrap();
    let sent = entry_names_and_bodies(archive.finish().unwrap());
    assert_eq!(sent, [("baker/src/a.txt".to_owned(), b"A".to_vec())]);
}

#[test]
fn a_file_edited_after_its_digest_is_not_sent_under_it() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.txt"), "A").unwrap();
    let tree = digest_tree(dir.path()).unwrap();
    std::fs::write(dir.path().join("a.txt"), "B").unwrap();
    let err = UploadArchive::default()
        .tree("/baker/src", &tree)
        .unwrap_err();
    assert_eq!(ChangedWhileSent::in_error(&err), Some("a.txt"), "{err}");
}

#[test]
fn a_file_that_grows_or_shrinks_while_sent_stops_the_archive_at_its_header_size() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("log"), "0123").unwrap();
    let tree = digest_tree(dir.path()).unwrap();
    let entry = &tree.entries[0];

    // Opened at 4 bytes; 4 more were written before it was read to its end.
    let mut archive = UploadArchive::default();
    let grown = std::io::Cursor::new(b"01234567".to_vec());
    archive
        .file_as_digested("baker/src/log", grown, 4, entry, 0)
        .unwrap();
    let sent = entry_names_and_bodies(archive.finish().unwrap());
    assert_eq!(sent, [("baker/src/log".to_owned(), b"0123".to_vec())]);

    // Opened at 4 bytes, truncated to 2 before it was read: the header would promise too much.
    let mut archive = UploadArchive::default();
    let shrunk = std::io::Cursor::new(b"01".to_vec());
    let err = archive
        .file_as_digested("baker/src/log", shrunk, 4, entry, 0)
        .unwrap_err();
    assert_eq!(ChangedWhileSent::in_error(&err), Some("log"), "{err}");

    // Opened at 8 bytes after a rewrite: not the content digested.
    let mut archive = UploadArchive::default();
    let rewritten = std::io::Cursor::new(b"abcdefgh".to_vec());
    let err = archive
        .file_as_digested("baker/src/log", rewritten, 8, entry, 0)
        .unwrap_err();
    assert_eq!(ChangedWhileSent::in_error(&err), Some("log"), "{err}");
}
