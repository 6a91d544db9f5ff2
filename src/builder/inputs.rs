//! What baker places in a step's container before it starts, as one tar archive unpacked at `/`: the
//! step's script, and its inputs (repository files and keys, the source archive, or a local tree).
//! Runtime additions that never change a step's result stay out of the plan (and so out of keys):
//! compiler-cache statistics, and recording the source's date for reproducible output.
//!
//! A step's environment is exported by its script rather than set on the container: Docker's commit
//! merges the container's variables into the committed image's, so variables set on the container
//! would reach every later step and the step images (issue 7.4). The container keeps the image's
//! environment, which is the base image's, and the script alone adds the step's own.
//!
//! A local tree's files are sent as its digest saw them or not at all: each is sent at the size it
//! had when opened and hashed as it goes, and one that shrank, or whose bytes are not the ones the
//! digest (and so the step's key) was made from, stops the archive with [`ChangedWhileSent`]. A
//! file edited while baker sends it would otherwise be built, and cached, under another content's
//! key, or would make the archive's entry longer than its header says.

use std::collections::BTreeMap;
use std::io::{self, Read};
use std::path::Path;

use sha2::{Digest, Sha256};
use tar::{EntryType, Header};

use crate::layout::{EPOCH_FILE, META_DIR, SCRIPT_PATH, SOURCE_DIR, ccache_stats_file};
use crate::plan::{CacheMount, PlanStep, StepKind};
use crate::recipe::CacheKind;
use crate::source::tree::{TreeDigest, TreeEntry};

/// The script a step runs: `env` (the plan's environment for the step, plus `BAKER_JOBS`) exported,
/// then the plan's command between baker's prologue and epilogue. Fails on a value with a NUL byte,
/// which no environment can hold.
pub fn script(step: &PlanStep, env: &BTreeMap<String, String>) -> io::Result<String> {
    let mut s = format!(
        "#!/bin/bash\n# baker step `{}`\nset -e -o pipefail\n",
        step.name
    );
    for (name, value) in env {
        let quoted = shlex::try_quote(value).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "the value of {name} in step `{}` holds a NUL byte",
                    step.name
                ),
            )
        })?;
        s.push_str(&format!("export {name}={quoted}\n"));
    }
    if matches!(step.kind, StepKind::Build | StepKind::Install) {
        s.push_str(&format!(
            "if [ -f {EPOCH_FILE} ]; then export SOURCE_DATE_EPOCH=$(cat {EPOCH_FILE}); fi\n"
        ));
    }
    let ccache = uses(&step.caches, CacheKind::Ccache);
    if ccache {
        s.push_str("ccache -z >/dev/null 2>&1 || true\n");
    }
    s.push_str(&step.command);
    s.push('\n');
    if ccache {
        s.push_str(&format!(
            "mkdir -p {META_DIR}\n(ccache --print-stats 2>/dev/null || ccache -s) > {} 2>&1 || true\n",
            ccache_stats_file(&step.name)
        ));
    }
    if step.kind == StepKind::Source {
        s.push_str(&format!(
            "mkdir -p {META_DIR}\nif [ -n \"${{SOURCE_DATE_EPOCH:-}}\" ]; then echo \"$SOURCE_DATE_EPOCH\"; \
             else find {SOURCE_DIR} -type f -printf '%T@\\n' | sort -n | tail -n 1 | cut -d. -f1; fi > {EPOCH_FILE}\n"
        ));
    }
    Ok(s)
}

/// The container command that runs the script, under the recipe's wrapper if any.
pub fn command(step: &PlanStep) -> Vec<String> {
    match &step.wrap {
        Some(wrap) => vec![
            "/bin/sh".into(),
            "-c".into(),
            format!("{wrap} 'bash {SCRIPT_PATH}'"),
        ],
        None => vec!["bash".into(), SCRIPT_PATH.into()],
    }
}

fn uses(caches: &[CacheMount], kind: CacheKind) -> bool {
    caches.iter().any(|c| c.cache == kind)
}

/// Builds the archive uploaded into a step's container, in memory or into any writer (a stream to
/// the engine for a whole source tree).
pub struct UploadArchive<W: io::Write = Vec<u8>> {
    builder: tar::Builder<W>,
}

impl Default for UploadArchive {
    fn default() -> Self {
        Self::new(Vec::new())
    }
}

fn header(kind: EntryType, size: u64, mode: u32, mtime: u64) -> Header {
    let mut h = Header::new_gnu();
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(mode);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(mtime);
    h
}

impl<W: io::Write> UploadArchive<W> {
    pub fn new(out: W) -> Self {
        Self {
            builder: tar::Builder::new(out),
        }
    }

    /// A file with the given bytes at an absolute container path.
    pub fn bytes(&mut self, path: &str, mode: u32, data: &[u8]) -> io::Result<()> {
        let mut h = header(EntryType::Regular, data.len() as u64, mode, 0);
        self.builder
            .append_data(&mut h, path.trim_start_matches('/'), data)
    }

    /// A host file at an absolute container path, at the size it had when opened: a file that grew
    /// meanwhile would make the entry longer than its header says, and the archive unreadable.
    pub fn file(&mut self, path: &str, mode: u32, host: &Path) -> io::Result<()> {
        let file = std::fs::File::open(host)?;
        let len = file.metadata()?.len();
        let mut h = header(EntryType::Regular, len, mode, 0);
        let shown = host.display().to_string();
        let mut sent = Exact::new(file, len, &shown);
        self.builder
            .append_data(&mut h, path.trim_start_matches('/'), &mut sent)
    }

    /// A local source tree under `dest`, entry by entry as its digest listed them (so what is keyed is
    /// what is sent), with their own modes and mtimes so `make` sees consistent times.
    pub fn tree(&mut self, dest: &str, tree: &TreeDigest) -> io::Result<()> {
        for entry in &tree.entries {
            self.entry(dest, &tree.root, entry)?;
        }
        Ok(())
    }

    /// One entry of a local tree rooted at `root`, placed under `dest`.
    pub fn entry(&mut self, dest: &str, root: &Path, entry: &TreeEntry) -> io::Result<()> {
        let name = format!("{}/{}", dest.trim_start_matches('/'), entry.path);
        let mtime = entry.mtime;
        if let Some(target) = entry.digest.strip_prefix("link:") {
            let mut h = header(EntryType::Symlink, 0, 0o777, mtime);
            self.builder.append_link(&mut h, &name, target)
        } else if entry.digest.is_empty() {
            let mut h = header(EntryType::Directory, 0, entry.mode, mtime);
            self.builder.append_data(&mut h, &name, io::empty())
        } else {
            let file = std::fs::File::open(root.join(&entry.path))?;
            let len = file.metadata()?.len();
            self.file_as_digested(&name, file, len, entry, mtime)
        }
    }

    /// `len` bytes of `content`, the file of `entry`, which must be the bytes its digest was made from.
    fn file_as_digested(
        &mut self,
        name: &str,
        content: impl Read,
        len: u64,
        entry: &TreeEntry,
        mtime: u64,
    ) -> io::Result<()> {
        let mut h = header(EntryType::Regular, len, entry.mode, mtime);
        let mut sent = Exact::new(content, len, &entry.path);
        self.builder.append_data(&mut h, name, &mut sent)?;
        if hex::encode(sent.hasher.finalize()) != entry.digest {
            return Err(ChangedWhileSent::error(&entry.path));
        }
        Ok(())
    }

    pub fn finish(self) -> io::Result<W> {
        self.builder.into_inner()
    }
}

/// A file of a tree (or a host file) that is not what was read before: it changed while baker
/// digested or sent it. Carried inside an [`io::Error`]; see [`ChangedWhileSent::in_error`].
#[derive(Debug, thiserror::Error)]
#[error("{path} changed while it was being sent")]
pub struct ChangedWhileSent {
    /// The file, relative to its tree's root.
    pub path: String,
}

impl ChangedWhileSent {
    fn error(path: &str) -> io::Error {
        io::Error::other(Self {
            path: path.to_owned(),
        })
    }

    /// The changed file's path when `e` says a file changed while it was sent.
    pub fn in_error(e: &io::Error) -> Option<&str> {
        let inner = e.get_ref()?.downcast_ref::<Self>()?;
        Some(&inner.path)
    }
}

/// Reads exactly `len` bytes of `inner`, hashing them: an end before them is an error naming the
/// file (it shrank), and bytes after them are never read (it grew), so the entry matches its header.
struct Exact<'p, R> {
    inner: io::Take<R>,
    hasher: Sha256,
    path: &'p str,
}

impl<'p, R: Read> Exact<'p, R> {
    fn new(inner: R, len: u64, path: &'p str) -> Self {
        Self {
            inner: inner.take(len),
            hasher: Sha256::new(),
            path,
        }
    }
}

impl<R: Read> Read for Exact<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let n = self.inner.read(buf)?;
        if n == 0 && self.inner.limit() > 0 {
            return Err(ChangedWhileSent::error(self.path));
        }
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

#[cfg(test)]
#[path = "inputs_tests.rs"]
mod upload_tests;

#[cfg(test)]
mod tests {
    use super::*;

    fn step(kind: StepKind, caches: Vec<CacheMount>, wrap: Option<&str>) -> PlanStep {
        PlanStep {
            name: "compile".into(),
            kind,
            command: "make -j ${BAKER_JOBS}".into(),
            wrap: wrap.map(str::to_owned),
            workdir: "/baker/src".into(),
            env: BTreeMap::new(),
            caches,
            inputs: vec![],
            source_inputs: vec![],
            key: String::new(),
            timeout_seconds: None,
        }
    }

    #[test]
    fn a_ccache_step_zeroes_and_records_statistics_around_its_command() {
        let s = script(
            &step(
                StepKind::Build,
                vec![CacheMount {
                    cache: CacheKind::Ccache,
                    target: "/baker/ccache".into(),
                }],
                None,
            ),
            &BTreeMap::new(),
        )
        .unwrap();
        let zero = s.find("ccache -z").unwrap();
        let run = s.find("make -j").unwrap();
        let stats = s.find("ccache-compile.txt").unwrap();
        assert!(zero < run && run < stats, "{s}");
        assert!(s.contains("SOURCE_DATE_EPOCH"));
    }

    #[test]
    fn the_step_environment_is_exported_by_the_script_quoted() {
        let env = BTreeMap::from([
            ("BAKER_JOBS".to_owned(), "2".to_owned()),
            ("CFLAGS".to_owned(), "-O2 -g 'x' $HOME".to_owned()),
        ]);
        let s = script(&step(StepKind::Build, vec![], None), &env).unwrap();
        assert!(s.contains("export BAKER_JOBS=2\n"), "{s}");
        let exports: String = s.lines().filter(|l| l.starts_with("export C")).collect();
        let shell = std::process::Command::new("bash")
            .args(["-c", &format!("{exports}; printf %s \"$CFLAGS\"")])
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&shell.stdout), env["CFLAGS"], "{s}");
        assert!(s.find("export").unwrap() < s.find("make -j").unwrap());
        let nul = BTreeMap::from([("X".to_owned(), "a\0b".to_owned())]);
        let err = script(&step(StepKind::Build, vec![], None), &nul).unwrap_err();
        assert!(err.to_string().contains("X in step `compile`"), "{err}");
    }

    #[test]
    fn a_wrapped_step_runs_its_script_under_the_wrapper() {
        let cmd = command(&step(
            StepKind::Build,
            vec![],
            Some("scl enable devtoolset-2"),
        ));
        assert_eq!(cmd[2], "scl enable devtoolset-2 'bash /baker/run/step.sh'");
        assert_eq!(
            command(&step(StepKind::Build, vec![], None)),
            ["bash", SCRIPT_PATH]
        );
    }

    #[test]
    fn the_upload_archive_holds_files_at_their_paths() {
        let mut a = UploadArchive::default();
        a.bytes("/etc/yum.repos.d/x.repo", 0o644, b"[x]\n").unwrap();
        let bytes = a.finish().unwrap();
        let mut archive = tar::Archive::new(bytes.as_slice());
        let names: Vec<String> = archive
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        assert_eq!(names, ["etc/yum.repos.d/x.repo"]);
    }
}
