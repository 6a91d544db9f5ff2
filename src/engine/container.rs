//! One container baker runs: created with a unique name and baker's labels, tracked by the janitor,
//! given files (or a stream on its stdin), started, followed, waited for, committed, read from or
//! exported, and removed on success, on failure and on interrupt. Exit codes are returned for the caller to check.

use std::collections::BTreeMap;
use std::pin::Pin;

use bollard::models::{ContainerConfig, ContainerCreateBody, DeviceMapping, HostConfig};
use bollard::query_parameters::{
    AttachContainerOptions, CommitContainerOptions, CreateContainerOptions,
    DownloadFromContainerOptions, LogsOptions, StartContainerOptions, UploadToContainerOptions,
    WaitContainerOptions,
};
use bytes::Bytes;
use futures_util::{Stream, StreamExt, TryStreamExt};
use tokio::io::AsyncWrite;

use super::janitor::force_remove;
use super::labels::{BASE_LABEL, labels};
use super::owner::owner_labels;
use super::{Engine, EngineError};

/// What a container is made of.
pub struct ContainerSpec<'a> {
    /// Unique among the engine's containers.
    pub name: String,
    pub image: &'a str,
    pub cmd: Vec<String>,
    pub workdir: &'a str,
    pub env: &'a BTreeMap<String, String>,
    /// `host_path:container_path` bind mounts (see [`super::binds`]).
    pub binds: Vec<String>,
    /// Labels besides the owner label and `BAKER_LABELS`, which every container gets.
    pub labels: &'a [(&'a str, &'a str)],
}

/// What a container needs beyond [`ContainerSpec`]: stdin kept open for [`Container::attach`], host
/// device nodes (`/dev/kvm`). The default is neither.
#[derive(Debug, Default, Clone, Copy)]
pub struct ContainerExtras<'a> {
    pub stdin: bool,
    pub devices: &'a [&'a str],
}

/// A created container; remove it with [`Container::remove`] (or the engine's sweep does).
pub struct Container {
    pub id: String,
    /// The name it was created with, for messages.
    pub name: String,
    engine: Engine,
}

impl Engine {
    pub async fn create_container(
        &self,
        spec: ContainerSpec<'_>,
    ) -> Result<Container, EngineError> {
        self.create_container_with(spec, ContainerExtras::default())
            .await
    }

    pub async fn create_container_with(
        &self,
        spec: ContainerSpec<'_>,
        extras: ContainerExtras<'_>,
    ) -> Result<Container, EngineError> {
        let devices = device_mappings(extras.devices);
        let (binds, mounts) = super::binds::binds_and_mounts(spec.binds);
        let body = ContainerCreateBody {
            image: Some(spec.image.to_owned()),
            cmd: Some(spec.cmd),
            working_dir: Some(spec.workdir.to_owned()),
            env: Some(spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
            labels: Some({
                let mut all = labels(spec.labels);
                all.extend(owner_labels().map(|(k, v)| (k.to_owned(), v)));
                all
            }),
            open_stdin: Some(extras.stdin),
            stdin_once: Some(extras.stdin),
            attach_stdin: Some(extras.stdin),
            host_config: Some(HostConfig {
                binds,
                mounts,
                devices: Some(devices),
                ..Default::default()
            }),
            ..Default::default()
        };
        let id = self.create_named(&spec.name, spec.image, body).await?;
        Ok(Container::adopt(self, id, spec.name))
    }

    /// Creates container `name` from `body` (made from `image`); its id.
    pub(super) async fn create_named(
        &self,
        name: &str,
        image: &str,
        body: ContainerCreateBody,
    ) -> Result<String, EngineError> {
        let created = self
            .docker
            .create_container(
                Some(CreateContainerOptions {
                    name: Some(name.to_owned()),
                    ..Default::default()
                }),
                body,
            )
            .await
            .map_err(EngineError::during(format!(
                "creating container {name} from {image}"
            )))?;
        Ok(created.id)
    }
}

/// Host device nodes given to a container at the same path (`/dev/kvm`).
pub(super) fn device_mappings(devices: &[&str]) -> Vec<DeviceMapping> {
    devices
        .iter()
        .map(|d| DeviceMapping {
            path_on_host: Some((*d).to_owned()),
            path_in_container: Some((*d).to_owned()),
            cgroup_permissions: Some("rwm".into()),
        })
        .collect()
}

impl Container {
    /// A container created elsewhere in the engine, tracked by the janitor from now on.
    pub(super) fn adopt(engine: &Engine, id: String, name: String) -> Self {
        engine.janitor.track(&id);
        Container {
            id,
            name,
            engine: engine.clone(),
        }
    }

    fn during(&self, what: &str) -> impl FnOnce(bollard::errors::Error) -> EngineError + use<> {
        EngineError::during(format!("{what} container {}", self.name))
    }

    /// Unpacks a tar archive at `/` in the container (before or after it starts).
    pub async fn upload(&self, tar: Vec<u8>) -> Result<(), EngineError> {
        let body = futures_util::stream::once(async move { Ok(Bytes::from(tar)) });
        self.upload_stream(body).await
    }

    /// Unpacks a tar archive read from `tar` as it comes, so that it is never whole in memory.
    pub async fn upload_stream(
        &self,
        tar: impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static,
    ) -> Result<(), EngineError> {
        self.engine
            .docker
            .upload_to_container(
                &self.id,
                Some(UploadToContainerOptions {
                    path: "/".into(),
                    ..Default::default()
                }),
                bollard::body_try_stream(tar),
            )
            .await
            .map_err(self.during("uploading files into"))
    }

    pub async fn start(&self) -> Result<(), EngineError> {
        self.engine
            .docker
            .start_container(&self.id, None::<StartContainerOptions>)
            .await
            .map_err(self.during("starting"))
    }

    /// stdout and stderr, interleaved, as they come.
    pub fn follow_output(&self) -> impl Stream<Item = Result<Bytes, EngineError>> + use<> {
        let during = format!("reading the output of container {}", self.name);
        self.engine
            .docker
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
            .map_err(move |source| EngineError::Call {
                during: during.clone(),
                source,
            })
    }

    /// Starts the container and waits for it to stop: its exit code and all it printed.
    pub async fn run_to_end(&self) -> Result<(i64, String), EngineError> {
        self.start().await?;
        let mut output = Vec::new();
        let mut stream = self.follow_output();
        while let Some(chunk) = stream.next().await {
            output.extend_from_slice(&chunk?);
        }
        let code = self.wait().await?;
        Ok((code, String::from_utf8_lossy(&output).into_owned()))
    }

    /// Waits for the container to stop and returns its exit code.
    pub async fn wait(&self) -> Result<i64, EngineError> {
        let mut stream = self.engine.docker.wait_container(
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
                Err(e) => return Err(self.during("waiting for")(e)),
            }
        }
        Ok(code)
    }

    /// Commits the container's filesystem as an image tagged `repo:tag`, keeping `env` as the image's
    /// environment (so one step's variables do not leak into the next), with baker's labels plus
    /// `extra_labels`; returns the image id.
    pub async fn commit(
        &self,
        repo: &str,
        tag: &str,
        env: Vec<String>,
        extra_labels: &[(&str, &str)],
    ) -> Result<String, EngineError> {
        let response = self
            .engine
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
                    labels: Some({
                        // The image must not carry this container's owner: see `owner::disown`.
                        let mut all = labels(extra_labels);
                        super::owner::disown(&mut all);
                        // Nor pass for a base image, whose label it inherits from its base.
                        all.insert(BASE_LABEL.0.to_owned(), String::new());
                        all
                    }),
                    cmd: Some(vec!["/bin/sh".into()]),
                    working_dir: Some("/".into()),
                    ..Default::default()
                },
            )
            .await
            .map_err(self.during(&format!("committing {repo}:{tag} from")))?;
        Ok(response.id)
    }

    /// Attaches to the container's stdin (made with [`ContainerExtras::stdin`]), stdout and stderr,
    /// before it starts: its output as it comes, and a writer whose shutdown closes its stdin.
    pub async fn attach(
        &self,
    ) -> Result<
        (
            impl Stream<Item = Result<Bytes, EngineError>> + use<>,
            Pin<Box<dyn AsyncWrite + Send>>,
        ),
        EngineError,
    > {
        let attached = self
            .engine
            .docker
            .attach_container(
                &self.id,
                Some(AttachContainerOptions {
                    stdin: true,
                    stdout: true,
                    stderr: true,
                    stream: true,
                    ..Default::default()
                }),
            )
            .await
            .map_err(self.during("attaching to"))?;
        let during = format!("reading the output of container {}", self.name);
        let output = attached.output.map(move |item| {
            item.map(|chunk| chunk.into_bytes())
                .map_err(EngineError::during(during.clone()))
        });
        Ok((output, attached.input))
    }

    /// The container's whole file system as a tar stream (`docker export`); it need not have run.
    pub fn export(&self) -> impl Stream<Item = Result<Bytes, EngineError>> + use<> {
        let during = format!("exporting container {}", self.name);
        self.engine
            .docker
            .export_container(&self.id)
            .map_err(move |source| EngineError::Call {
                during: during.clone(),
                source,
            })
    }

    /// A tar stream of `path` inside the container.
    pub fn download(&self, path: &str) -> impl Stream<Item = Result<Bytes, EngineError>> + use<> {
        let during = format!("reading {path} from container {}", self.name);
        self.engine
            .docker
            .download_from_container(
                &self.id,
                Some(DownloadFromContainerOptions {
                    path: path.to_owned(),
                }),
            )
            .map_err(move |source| EngineError::Call {
                during: during.clone(),
                source,
            })
    }

    /// Removes the container (stopping it if it runs); best effort, since it may be gone already.
    pub async fn remove(self) {
        force_remove(&self.engine.docker, &self.id).await;
        self.engine.janitor.forget(&self.id);
    }

    /// Starts removing the container without waiting for it; the engine's sweep at the end of the
    /// stage ([`Engine::run_until`]) waits for the removal.
    pub fn remove_in_background(self) {
        self.engine
            .janitor
            .remove_in_background(&self.engine.docker, self.id);
    }
}
