//! Removing what build containers wrote as root into the host's cache. A step runs as root in its
//! container, so the files it leaves in a bind-mounted cache (ccache's directories, Maven's
//! repository, apt's `partial` folder) belong to root on the host, and a user who runs baker
//! without root (in the `docker` group) cannot remove them: `baker cache clear` and `prune` would
//! fail with "permission denied". The engine can: [`Engine::remove_as_root`] runs `rm -rf` on them
//! in a short-lived container as root, from a base image baker made (every build has one), with no
//! network and only the paths' parent directories mounted. Rather than this, the steps could hand
//! their files back to the user as they end, but that misses whatever an interrupted step wrote.

use std::path::{Path, PathBuf};

use bollard::models::{ContainerCreateBody, HostConfig};

use super::labels::{BASE_LABEL, labels};
use super::owner::owner_labels;
use super::{Container, Engine, EngineError};

/// Why [`Engine::remove_as_root`] could not remove something.
#[derive(Debug, thiserror::Error)]
pub enum RootRemovalError {
    #[error(
        "no base image baker made is in the engine to remove them with (`baker base` makes one); remove them as root: sudo rm -rf {}",
        list(.0)
    )]
    NoImage(Vec<PathBuf>),
    #[error("the engine could not remove them: {0}")]
    Engine(#[from] EngineError),
    #[error("`rm -rf` as root exited with {code}: {output}")]
    Failed { code: i64, output: String },
}

fn list(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(" ")
}

impl Engine {
    /// Removes `paths` (absolute; files or directories) as root, from a container (see the module).
    pub async fn remove_as_root(&self, paths: &[PathBuf]) -> Result<(), RootRemovalError> {
        if paths.is_empty() {
            return Ok(());
        }
        let Some(image) = self.a_base_image().await? else {
            return Err(RootRemovalError::NoImage(paths.to_vec()));
        };
        let (binds, targets) = mounts(paths);
        let (binds, mounts) = super::binds::binds_and_mounts(binds);
        let mut cmd = vec!["rm".to_owned(), "-rf".to_owned(), "--".to_owned()];
        cmd.extend(targets);
        let mut all = labels(&[("baker.tool", "remove-as-root")]);
        all.extend(owner_labels().map(|(k, v)| (k.to_owned(), v)));
        let name = format!("baker-remove-as-root-{}", std::process::id());
        let body = ContainerCreateBody {
            image: Some(image.clone()),
            cmd: Some(cmd),
            user: Some("0:0".into()),
            labels: Some(all),
            network_disabled: Some(true),
            host_config: Some(HostConfig {
                binds,
                mounts,
                network_mode: Some("none".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let id = self.create_named(&name, &image, body).await?;
        let remover = Container::adopt(self, id, name);
        let result = remover.run_to_end().await;
        remover.remove().await;
        match result? {
            (0, _) => Ok(()),
            (code, output) => Err(RootRemovalError::Failed {
                code,
                output: output.trim().to_owned(),
            }),
        }
    }

    /// A base image baker made (labelled [`BASE_LABEL`]), if the engine has one.
    async fn a_base_image(&self) -> Result<Option<String>, EngineError> {
        let label = format!("{}={}", BASE_LABEL.0, BASE_LABEL.1);
        let mut tags = self.tags_labelled(vec![label]).await?;
        tags.sort();
        Ok(tags.into_iter().next())
    }
}

/// The bind mounts (each path's parent, once, at `/remove/<n>`) and the paths as the container sees
/// them.
fn mounts(paths: &[PathBuf]) -> (Vec<String>, Vec<String>) {
    let mut parents: Vec<&Path> = Vec::new();
    let mut targets = Vec::new();
    for path in paths {
        let parent = path.parent().unwrap_or(Path::new("/"));
        let n = match parents.iter().position(|p| *p == parent) {
            Some(n) => n,
            None => {
                parents.push(parent);
                parents.len() - 1
            }
        };
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        targets.push(format!("/remove/{n}/{name}"));
    }
    let binds = parents
        .iter()
        .enumerate()
        .map(|(n, p)| format!("{}:/remove/{n}", p.display()))
        .collect();
    (binds, targets)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_parent_is_mounted_once_and_each_path_named_under_its_mount() {
        let (binds, targets) = mounts(&[
            PathBuf::from("/home/u/.cache/baker/ccache/hello-debian-12"),
            PathBuf::from("/home/u/.cache/baker/ccache/postgresql-debian-12"),
            PathBuf::from("/home/u/.cache/baker/packages/debian-12/partial"),
        ]);
        assert_eq!(
            binds,
            [
                "/home/u/.cache/baker/ccache:/remove/0",
                "/home/u/.cache/baker/packages/debian-12:/remove/1"
            ]
        );
        assert_eq!(
            targets,
            [
                "/remove/0/hello-debian-12",
                "/remove/0/postgresql-debian-12",
                "/remove/1/partial"
            ]
        );
    }
}
