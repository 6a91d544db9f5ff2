//! What baker places in a step's container before it starts, as one tar archive unpacked at `/`: the
//! step's script, and its inputs (repository files and keys, the source archive, or a local tree).
//! Runtime additions that never change a step's result stay out of the plan (and so out of keys):
//! compiler-cache statistics, and recording the source's date for reproducible output.

use std::io;
use std::path::Path;

use tar::{EntryType, Header};

use crate::layout::{EPOCH_FILE, META_DIR, SCRIPT_PATH, SOURCE_DIR, ccache_stats_file};
use crate::plan::{CacheMount, PlanStep, StepKind};
use crate::recipe::CacheKind;
use crate::source::tree::TreeDigest;

/// The script a step runs: the plan's command between baker's prologue and epilogue.
pub fn script(step: &PlanStep) -> String {
    let mut s = format!(
        "#!/bin/bash\n# baker step `{}`\nset -e -o pipefail\n",
        step.name
    );
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
    s
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

/// Builds the archive uploaded into a step's container.
pub struct UploadArchive {
    builder: tar::Builder<Vec<u8>>,
}

impl Default for UploadArchive {
    fn default() -> Self {
        Self {
            builder: tar::Builder::new(Vec::new()),
        }
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

impl UploadArchive {
    /// A file with the given bytes at an absolute container path.
    pub fn bytes(&mut self, path: &str, mode: u32, data: &[u8]) -> io::Result<()> {
        let mut h = header(EntryType::Regular, data.len() as u64, mode, 0);
        self.builder
            .append_data(&mut h, path.trim_start_matches('/'), data)
    }

    /// A host file at an absolute container path.
    pub fn file(&mut self, path: &str, mode: u32, host: &Path) -> io::Result<()> {
        let file = std::fs::File::open(host)?;
        let len = file.metadata()?.len();
        let mut h = header(EntryType::Regular, len, mode, 0);
        self.builder
            .append_data(&mut h, path.trim_start_matches('/'), file)
    }

    /// A local source tree under `dest`, entry by entry as its digest listed them (so what is keyed is
    /// what is sent), with their own modes and mtimes so `make` sees consistent times.
    pub fn tree(&mut self, dest: &str, tree: &TreeDigest) -> io::Result<()> {
        let dest = dest.trim_start_matches('/');
        for entry in &tree.entries {
            let host = tree.root.join(&entry.path);
            let meta = std::fs::symlink_metadata(&host)?;
            let mtime = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_secs());
            let name = format!("{dest}/{}", entry.path);
            if let Some(target) = entry.digest.strip_prefix("link:") {
                let mut h = header(EntryType::Symlink, 0, 0o777, mtime);
                self.builder.append_link(&mut h, &name, target)?;
            } else if entry.digest.is_empty() {
                let mut h = header(EntryType::Directory, 0, entry.mode, mtime);
                self.builder.append_data(&mut h, &name, io::empty())?;
            } else {
                let file = std::fs::File::open(&host)?;
                let mut h = header(EntryType::Regular, meta.len(), entry.mode, mtime);
                self.builder.append_data(&mut h, &name, file)?;
            }
        }
        Ok(())
    }

    pub fn finish(self) -> io::Result<Vec<u8>> {
        self.builder.into_inner()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

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
            key: String::new(),
        }
    }

    #[test]
    fn a_ccache_step_zeroes_and_records_statistics_around_its_command() {
        let s = script(&step(
            StepKind::Build,
            vec![CacheMount {
                cache: CacheKind::Ccache,
                target: "/baker/ccache".into(),
            }],
            None,
        ));
        let zero = s.find("ccache -z").unwrap();
        let run = s.find("make -j").unwrap();
        let stats = s.find("ccache-compile.txt").unwrap();
        assert!(zero < run && run < stats, "{s}");
        assert!(s.contains("SOURCE_DATE_EPOCH"));
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
