//! Containers are resources baker owns: each gets a unique name and `baker.*` labels, every one created
//! is tracked by a [`Janitor`], and it is removed on success, on failure and on Ctrl-C. Exit codes are
//! always checked by the caller.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use bollard::Docker;
use bollard::models::{ContainerConfig, ContainerCreateBody, HostConfig};
use bollard::query_parameters::{
    CommitContainerOptions, CreateContainerOptions, DownloadFromContainerOptions, LogsOptions,
    RemoveContainerOptions, UploadToContainerOptions, WaitContainerOptions,
};
use bytes::Bytes;
use futures_util::{Stream, StreamExt, TryStreamExt};

/// Label on everything baker creates; `BAKER_LABELS="k=v,…"` adds more (tests add `baker.test=1`).
pub const OWNER_LABEL: &str = "baker.owner";

pub fn labels(extra: &[(&str, &str)]) -> HashMap<String, String> {
    let mut labels: HashMap<String, String> = extra
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    labels.insert(OWNER_LABEL.into(), "baker".into());
    if let Ok(more) = std::env::var("BAKER_LABELS") {
        for pair in more.split(',').filter(|p| !p.trim().is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            labels.insert(k.trim().to_owned(), v.trim().to_owned());
        }
    }
    labels
}

/// Remembers every container this process created until it is removed, so that an interrupt can
/// remove whatever is still there.
#[derive(Clone, Default)]
pub struct Janitor {
    live: Arc<Mutex<HashSet<String>>>,
}

impl Janitor {
    fn track(&self, id: &str) {
        self.live
            .lock()
            .expect("janitor lock")
            .insert(id.to_owned());
    }

    fn forget(&self, id: &str) {
        self.live.lock().expect("janitor lock").remove(id);
    }

    /// Force-removes every container still tracked; used on Ctrl-C and on errors.
    pub async fn sweep(&self, docker: &Docker) {
        let ids: Vec<String> = self.live.lock().expect("janitor lock").drain().collect();
        for id in ids {
            let _ = docker
                .remove_container(
                    &id,
                    Some(RemoveContainerOptions {
                        force: true,
                        v: true,
                        ..Default::default()
                    }),
                )
                .await;
        }
    }
}

/// What a step container is made of.
pub struct ContainerSpec<'a> {
    pub name: String,
    pub image: &'a str,
    pub cmd: Vec<String>,
    pub workdir: &'a str,
    pub env: &'a BTreeMap<String, String>,
    /// `host_path:container_path` bind mounts.
    pub binds: Vec<String>,
    pub labels: HashMap<String, String>,
}

/// A created container; remove it with [`Container::remove`].
pub struct Container {
    pub id: String,
    docker: Docker,
    janitor: Janitor,
}

impl Container {
    pub async fn create(
        docker: &Docker,
        janitor: &Janitor,
        spec: ContainerSpec<'_>,
    ) -> Result<Self, bollard::errors::Error> {
        let body = ContainerCreateBody {
            image: Some(spec.image.to_owned()),
            cmd: Some(spec.cmd),
            working_dir: Some(spec.workdir.to_owned()),
            env: Some(spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
            labels: Some(spec.labels),
            host_config: Some(HostConfig {
                binds: Some(spec.binds),
                ..Default::default()
            }),
            ..Default::default()
        };
        let created = docker
            .create_container(
                Some(CreateContainerOptions {
                    name: Some(spec.name),
                    ..Default::default()
                }),
                body,
            )
            .await?;
        janitor.track(&created.id);
        Ok(Self {
            id: created.id,
            docker: docker.clone(),
            janitor: janitor.clone(),
        })
    }

    /// A container created elsewhere with options [`ContainerSpec`] does not offer (stdin, devices),
    /// tracked and removed like the others.
    pub fn adopt(docker: &Docker, janitor: &Janitor, id: String) -> Self {
        janitor.track(&id);
        Self {
            id,
            docker: docker.clone(),
            janitor: janitor.clone(),
        }
    }

    /// Unpacks a tar archive at `/` in the container (before or after it starts).
    pub async fn upload(&self, tar: Vec<u8>) -> Result<(), bollard::errors::Error> {
        self.docker
            .upload_to_container(
                &self.id,
                Some(UploadToContainerOptions {
                    path: "/".into(),
                    ..Default::default()
                }),
                bollard::body_full(Bytes::from(tar)),
            )
            .await
    }

    pub async fn start(&self) -> Result<(), bollard::errors::Error> {
        self.docker
            .start_container(
                &self.id,
                None::<bollard::query_parameters::StartContainerOptions>,
            )
            .await
    }

    /// stdout and stderr, interleaved, as they come.
    pub fn follow_output(
        &self,
    ) -> impl Stream<Item = Result<Bytes, bollard::errors::Error>> + use<> {
        self.docker
            .logs(
                &self.id,
                Some(LogsOptions {
                    follow: true,
                    stdout: true,
                    stderr: true,
                    ..Default::default()
                }),
            )
            .map_ok(|chunk| chunk.into_bytes())
    }

    /// Waits for the container to stop and returns its exit code.
    pub async fn wait(&self) -> Result<i64, bollard::errors::Error> {
        let mut stream = self.docker.wait_container(
            &self.id,
            Some(WaitContainerOptions {
                condition: "not-running".into(),
            }),
        );
        let mut code = 0;
        while let Some(item) = stream.next().await {
            match item {
                Ok(resp) => code = resp.status_code,
                // bollard reports a non-zero exit as an error carrying the code.
                Err(bollard::errors::Error::DockerContainerWaitError { code: c, .. }) => code = c,
                Err(e) => return Err(e),
            }
        }
        Ok(code)
    }

    /// Commits the container's filesystem as an image tagged `repo:tag`, keeping `env` as the image's
    /// environment (so one step's variables do not leak into the next) and returns the image id.
    pub async fn commit(
        &self,
        repo: &str,
        tag: &str,
        env: Vec<String>,
        labels: HashMap<String, String>,
    ) -> Result<String, bollard::errors::Error> {
        let response = self
            .docker
            .commit_container(
                CommitContainerOptions {
                    container: Some(self.id.clone()),
                    repo: Some(repo.to_owned()),
                    tag: Some(tag.to_owned()),
                    pause: false,
                    ..Default::default()
                },
                ContainerConfig {
                    env: Some(env),
                    labels: Some(labels),
                    cmd: Some(vec!["/bin/sh".into()]),
                    working_dir: Some("/".into()),
                    ..Default::default()
                },
            )
            .await?;
        Ok(response.id)
    }

    /// A tar stream of `path` inside the container.
    pub fn download(
        &self,
        path: &str,
    ) -> impl Stream<Item = Result<Bytes, bollard::errors::Error>> + use<> {
        self.docker.download_from_container(
            &self.id,
            Some(DownloadFromContainerOptions {
                path: path.to_owned(),
            }),
        )
    }

    pub async fn remove(self) {
        let _ = self
            .docker
            .remove_container(
                &self.id,
                Some(RemoveContainerOptions {
                    force: true,
                    v: true,
                    ..Default::default()
                }),
            )
            .await;
        self.janitor.forget(&self.id);
    }
}
