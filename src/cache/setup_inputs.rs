//! The files a plan's setup step places before its script runs — repository definitions written
//! inline in the plan, repository keys from the download cache (where the build locked them) — as
//! one tar to unpack at `/`. The image stage runs the setup step again from it when the step cache
//! lacks the build's committed step, and the `ssh` provider adds the same repositories to a machine
//! that misses runtime packages, so a node's packages come from where the build's came from (for
//! Mesos on CentOS 6: Subversion 1.8 from WANdisco, not the distro's 1.6).

use super::CacheDir;
use crate::plan::{Input, PlanStep};

/// A repository key the step needs that the download cache does not hold.
#[derive(Debug, thiserror::Error)]
#[error("{url} is not in the download cache ({path}); run `baker build` for this recipe first")]
pub struct MissingInput {
    pub url: String,
    pub path: std::path::PathBuf,
}

/// The tar of `step`'s inline and downloaded inputs, at their paths relative to `/`.
pub fn setup_inputs_tar(cache: &CacheDir, step: &PlanStep) -> Result<Vec<u8>, MissingInput> {
    let mut tar = tar::Builder::new(Vec::new());
    for input in &step.inputs {
        let (path, mode, bytes) = match input {
            Input::Inline {
                path,
                mode,
                content,
                ..
            } => (path, *mode, content.as_bytes().to_vec()),
            Input::Remote {
                path,
                url,
                sha256: Some(sha256),
                ..
            } => {
                let file = cache.download(sha256);
                let bytes = std::fs::read(&file).map_err(|_| MissingInput {
                    url: url.clone(),
                    path: file.clone(),
                })?;
                (path, 0o644, bytes)
            }
            _ => continue,
        };
        let mut h = tar::Header::new_gnu();
        h.set_size(bytes.len() as u64);
        h.set_mode(mode);
        h.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut h, path.trim_start_matches('/'), bytes.as_slice())
            .expect("appending to a tar in memory cannot fail");
    }
    Ok(tar
        .into_inner()
        .expect("finishing a tar in memory cannot fail"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{PlanOptions, StepKind, resolve};
    use crate::recipe::Catalog;

    /// The setup step of Mesos on CentOS 6, its repository keys locked to made-up digests.
    fn centos_setup() -> PlanStep {
        let catalog = Catalog::embedded().unwrap();
        let recipe = catalog.select(Some("mesos"), Some("centos6")).unwrap();
        let plan = resolve(&recipe, &PlanOptions::default()).unwrap();
        let mut step = plan
            .steps
            .into_iter()
            .find(|s| s.kind == StepKind::Setup)
            .unwrap();
        for (i, input) in step.inputs.iter_mut().enumerate() {
            if let Input::Remote { sha256, .. } = input {
                *sha256 = Some(format!("{i:064}"));
            }
        }
        step
    }

    #[test]
    fn repository_files_and_cached_keys_are_in_the_tar_and_a_missing_key_names_its_url() {
        let step = centos_setup();
        let dir = tempfile::tempdir().unwrap();
        let cache = CacheDir::new(dir.path());
        let err = setup_inputs_tar(&cache, &step).unwrap_err();
        assert!(err.to_string().contains("RPM-GPG-KEY"), "{err}");

        for input in &step.inputs {
            if let Input::Remote {
                sha256: Some(sha), ..
            } = input
            {
                let file = cache.download(sha);
                std::fs::create_dir_all(file.parent().unwrap()).unwrap();
                std::fs::write(file, b"key").unwrap();
            }
        }
        let tar = setup_inputs_tar(&cache, &step).unwrap();
        let names: Vec<String> = tar::Archive::new(tar.as_slice())
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        for wanted in [
            "etc/yum.repos.d/wandisco-svn.repo",
            "etc/yum.repos.d/CentOS-Base.repo",
            "etc/pki/rpm-gpg/RPM-GPG-KEY-WANdisco",
        ] {
            assert!(names.iter().any(|n| n == wanted), "{wanted}: {names:?}");
        }
    }
}
