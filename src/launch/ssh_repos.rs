//! The package repositories a machine of the `ssh` provider needs: a runtime package may exist only
//! where the build's came from (Mesos on CentOS 6 links Subversion 1.8 from WANdisco; the distro
//! has 1.6), so a machine that misses runtime packages gets the plan's repository definitions and
//! keys first, exactly as the build's setup step wrote them. Only what configures the package
//! manager is taken — files under its own directories, and the keys with their import commands —
//! never the setup step's other files (e.g. the build's Maven settings in `/root/.m2`), which are
//! the build's business, not a machine's.

use crate::cache::CacheDir;
use crate::cache::setup_inputs::setup_inputs_tar;
use crate::plan::{Input, Plan, StepKind};
use crate::recipe::PackageManager;

/// Repository files and keys (a tar to unpack at `/`) and the commands that import the keys; or,
/// when a key is not in this host's download cache (a build made elsewhere), why not — which fails
/// the install only on a machine that needs the repositories.
#[derive(Debug, Clone)]
pub enum Repositories {
    Ready { tar: Vec<u8>, import: Vec<String> },
    Unavailable(String),
}

/// Whether `path` configures `manager`'s repositories or keys.
fn configures(manager: PackageManager, path: &str) -> bool {
    let dirs: &[&str] = match manager {
        PackageManager::Yum => &["/etc/yum.repos.d/", "/etc/pki/rpm-gpg/"],
        PackageManager::Apt => &["/etc/apt/", "/usr/share/keyrings/"],
    };
    dirs.iter().any(|d| path.starts_with(d))
}

/// The repositories of `plan`'s setup step, with keys from `cache`; `None` when it has none.
pub fn repositories(plan: &Plan, cache: &CacheDir) -> Option<Repositories> {
    let manager = plan.base.package_manager;
    let mut setup = plan
        .steps
        .iter()
        .find(|s| s.kind == StepKind::Setup)
        .cloned()?;
    setup.inputs.retain(|input| match input {
        Input::Inline { path, .. } | Input::Remote { path, .. } => configures(manager, path),
        Input::Source { .. } => false,
    });
    if setup.inputs.is_empty() {
        return None;
    }
    let import = setup
        .inputs
        .iter()
        .filter_map(|input| match input {
            Input::Remote { then, .. } => then.clone(),
            _ => None,
        })
        .collect();
    Some(match setup_inputs_tar(cache, &setup) {
        Ok(tar) => Repositories::Ready { tar, import },
        Err(missing) => Repositories::Unavailable(missing.to_string()),
    })
}

impl Repositories {
    /// Shell lines (run as root) that unpack the files at `/` and import the keys, or fail saying
    /// why they cannot.
    pub fn script(&self) -> String {
        use base64::Engine as _;
        let (tar, import) = match self {
            Self::Ready { tar, import } => (tar, import),
            Self::Unavailable(why) => {
                return format!(
                    "echo {} >&2\nexit 1\n",
                    shlex::try_quote(&format!(
                        "runtime packages are missing and the build's repositories cannot be added: {why}"
                    ))
                    .expect("no NUL in an error text")
                );
            }
        };
        let encoded = base64::engine::general_purpose::STANDARD.encode(tar);
        let lines: Vec<&str> = encoded
            .as_bytes()
            .chunks(76)
            .map(|c| std::str::from_utf8(c).expect("base64 is ASCII"))
            .collect();
        let mut script = format!(
            "echo \"adding the build's repositories\"\n\
             base64 -d <<'BAKER_REPOS_END' | tar -xf - -C / --no-overwrite-dir\n{}\nBAKER_REPOS_END\n",
            lines.join("\n")
        );
        for command in import {
            script.push_str(&format!("(cd / && {command}) </dev/null\n"));
        }
        script
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{PlanOptions, resolve};
    use crate::recipe::Catalog;

    fn plan(recipe: &str, distro: &str) -> Plan {
        let catalog = Catalog::embedded().unwrap();
        resolve(
            &catalog.select(Some(recipe), Some(distro)).unwrap(),
            &PlanOptions::default(),
        )
        .unwrap()
    }

    /// Unpacks what `script` would unpack at `/` under `root` instead, with the host's tools.
    fn unpacked_under(script: &str, root: &std::path::Path) -> Vec<String> {
        let script = script.replace("-C / ", &format!("-C {} ", root.display()));
        let script: String = script
            .lines()
            .filter(|l| !l.starts_with("(cd / &&"))
            .map(|l| format!("{l}\n"))
            .collect();
        let out = std::process::Command::new("bash")
            .arg("-ec")
            .arg(&script)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut found = Vec::new();
        for entry in walk(root) {
            found.push(entry.strip_prefix(root).unwrap().display().to_string());
        }
        found.sort();
        found
    }

    fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
        out
    }

    #[test]
    fn centos_machines_get_the_yum_repositories_and_keys_only() {
        let mut plan = plan("mesos", "centos6");
        // Lock the keys to digests whose files are in a made-up download cache.
        let dir = tempfile::tempdir().unwrap();
        let cache = CacheDir::new(dir.path().join("cache"));
        for (i, input) in plan
            .steps
            .iter_mut()
            .flat_map(|s| &mut s.inputs)
            .enumerate()
        {
            if let Input::Remote { sha256, .. } = input {
                let sha = format!("{i:064}");
                let file = cache.download(&sha);
                std::fs::create_dir_all(file.parent().unwrap()).unwrap();
                std::fs::write(file, b"-----BEGIN PGP PUBLIC KEY BLOCK-----\n").unwrap();
                *sha256 = Some(sha);
            }
        }
        let repos = repositories(&plan, &cache).unwrap();
        let Repositories::Ready { import, .. } = &repos else {
            panic!("{repos:?}")
        };
        assert!(
            import.iter().any(|c| c.contains("rpm --import")),
            "{import:?}"
        );
        let root = dir.path().join("root");
        std::fs::create_dir(&root).unwrap();
        let files = unpacked_under(&repos.script(), &root);
        assert!(
            files.contains(&"etc/yum.repos.d/wandisco-svn.repo".to_owned()),
            "{files:?}"
        );
        assert!(
            files.contains(&"etc/pki/rpm-gpg/RPM-GPG-KEY-WANdisco".to_owned()),
            "{files:?}"
        );
        assert!(files.iter().all(|f| !f.contains(".m2")), "{files:?}");
        let wandisco =
            std::fs::read_to_string(root.join("etc/yum.repos.d/wandisco-svn.repo")).unwrap();
        assert!(wandisco.contains("svn-1.8"), "{wandisco}");
    }

    #[test]
    fn a_plan_whose_setup_writes_no_repository_adds_none() {
        // Mesos on Ubuntu 14.04 writes only the build's Maven settings; PostgreSQL has no setup.
        let cache = CacheDir::new(tempfile::tempdir().unwrap().path());
        assert!(repositories(&plan("mesos", "ubuntu14"), &cache).is_none());
        assert!(repositories(&plan("postgresql", "debian12"), &cache).is_none());
    }

    #[test]
    fn keys_missing_from_the_cache_fail_only_a_machine_that_needs_them() {
        let mut plan = plan("mesos", "centos6");
        for input in plan.steps.iter_mut().flat_map(|s| &mut s.inputs) {
            if let Input::Remote { sha256, .. } = input {
                *sha256 = Some("ab".repeat(32));
            }
        }
        let cache = CacheDir::new(tempfile::tempdir().unwrap().path());
        let repos = repositories(&plan, &cache).unwrap();
        assert!(matches!(repos, Repositories::Unavailable(_)), "{repos:?}");
        let out = std::process::Command::new("bash")
            .arg("-c")
            .arg(repos.script())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("run `baker build` for this recipe first"),
            "{err}"
        );
    }
}
