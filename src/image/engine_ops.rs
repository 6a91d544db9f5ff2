//! Every Docker engine call `baker image` makes, in one file, on top of the build's container
//! helpers ([`Container`], [`Janitor`], [`labels`]): inspecting images, running a script in a
//! container and streaming its output, streaming one image's file system into another container
//! (`export` piped into an archive upload, never held in memory or on disk), and the QEMU container
//! of `baker image boot`. Everything created carries baker's labels and is removed on success,
//! failure and Ctrl-C.

use std::collections::{BTreeMap, HashMap, VecDeque};

use bollard::Docker;
use bollard::models::{ContainerCreateBody, DeviceMapping, HostConfig};
use bollard::query_parameters::{
    CreateContainerOptions, RemoveContainerOptions, UploadToContainerOptions,
};
use futures_util::{Stream, StreamExt, TryStreamExt};

use super::ImageError;
use crate::build::Janitor;
use crate::build::container::{Container, ContainerSpec, labels};

/// What the engine knows of a local image.
#[derive(Debug, Clone)]
pub struct ImageInfo {
    pub id: String,
    pub labels: HashMap<String, String>,
    /// The size of its file system, all layers.
    pub size: u64,
    /// Its environment (`KEY=value`), kept by images committed from it.
    pub env: Vec<String>,
}

pub async fn inspect(docker: &Docker, reference: &str) -> Option<ImageInfo> {
    let found = docker.inspect_image(reference).await.ok()?;
    let config = found.config.unwrap_or_default();
    Some(ImageInfo {
        id: found.id.unwrap_or_default(),
        labels: config.labels.unwrap_or_default(),
        size: found.size.unwrap_or_default().max(0) as u64,
        env: config.env.unwrap_or_default(),
    })
}

/// What a container to run is made of.
pub struct RunSpec<'a> {
    pub name: String,
    pub image: &'a str,
    pub cmd: Vec<String>,
    pub env: BTreeMap<String, String>,
    pub binds: Vec<String>,
    pub labels: &'a [(&'a str, &'a str)],
}

/// A container that ran to its end, kept so that the caller can commit it; remove it when done.
pub struct Finished {
    pub container: Container,
    pub code: i64,
    /// Its last 40 lines of output.
    pub tail: String,
}

/// A container made from `spec`, not started yet.
pub async fn create(
    docker: &Docker,
    janitor: &Janitor,
    spec: &RunSpec<'_>,
) -> Result<Container, ImageError> {
    Container::create(
        docker,
        janitor,
        ContainerSpec {
            name: spec.name.clone(),
            image: spec.image,
            cmd: spec.cmd.clone(),
            workdir: "/",
            env: &spec.env,
            binds: spec.binds.clone(),
            labels: labels(spec.labels),
        },
    )
    .await
    .map_err(ImageError::docker(format!(
        "creating container {} from {}",
        spec.name, spec.image
    )))
}

/// Starts `container`, hands each line of its output to `on_line` and waits for its end.
pub async fn run_to_end(
    container: Container,
    what: &str,
    on_line: &mut (dyn FnMut(&str) + Send),
) -> Result<Finished, ImageError> {
    container
        .start()
        .await
        .map_err(ImageError::docker(format!("starting {what}")))?;
    let mut lines = Lines::default();
    let mut output = container.follow_output();
    while let Some(chunk) = output.next().await {
        let chunk = chunk.map_err(ImageError::docker(format!("reading the output of {what}")))?;
        lines.push(&chunk, on_line);
    }
    lines.flush(on_line);
    let code = container
        .wait()
        .await
        .map_err(ImageError::docker(format!("waiting for {what}")))?;
    Ok(Finished {
        container,
        code,
        tail: lines.tail(),
    })
}

/// Streams the file system of `image` into `dest` (an existing directory) of the created container
/// `into`: the engine's export of a never-started container, piped into an archive upload.
pub async fn copy_file_system(
    docker: &Docker,
    janitor: &Janitor,
    image: &str,
    into: &Container,
    dest: &str,
) -> Result<(), ImageError> {
    let source = create(
        docker,
        janitor,
        &RunSpec {
            name: unique_name("baker-image-export"),
            image,
            cmd: vec!["true".into()],
            env: BTreeMap::new(),
            binds: vec![],
            labels: &[("baker.image", "export")],
        },
    )
    .await?;
    let export = docker
        .export_container(&source.id)
        .map_err(std::io::Error::other);
    let result = docker
        .upload_to_container(
            &into.id,
            Some(UploadToContainerOptions {
                path: dest.to_owned(),
                ..Default::default()
            }),
            bollard::body_try_stream(export),
        )
        .await
        .map_err(ImageError::docker(format!(
            "streaming the file system of {image} into the tools container"
        )));
    source.remove().await;
    result
}

/// Uploads a tar archive into a container, unpacked at `/`.
pub async fn upload(container: &Container, tar: Vec<u8>, what: &str) -> Result<(), ImageError> {
    container
        .upload(tar)
        .await
        .map_err(ImageError::docker(format!("uploading {what}")))
}

/// A running container for `baker image boot`: QEMU with its console on stdout. `devices` are
/// host device nodes given to it (`/dev/kvm`). The janitor removes it on Ctrl-C.
pub struct Vm {
    docker: Docker,
    janitor: Janitor,
    id: String,
}

impl Vm {
    pub async fn start(
        docker: &Docker,
        janitor: &Janitor,
        image: &str,
        cmd: Vec<String>,
        binds: Vec<String>,
        devices: &[&str],
    ) -> Result<Self, ImageError> {
        let body = ContainerCreateBody {
            image: Some(image.to_owned()),
            cmd: Some(cmd),
            labels: Some(labels(&[("baker.image", "boot")])),
            host_config: Some(HostConfig {
                binds: Some(binds),
                devices: Some(
                    devices
                        .iter()
                        .map(|d| DeviceMapping {
                            path_on_host: Some((*d).to_owned()),
                            path_in_container: Some((*d).to_owned()),
                            cgroup_permissions: Some("rwm".into()),
                        })
                        .collect(),
                ),
                ..Default::default()
            }),
            ..Default::default()
        };
        let created = docker
            .create_container(
                Some(CreateContainerOptions {
                    name: Some(unique_name("baker-image-boot")),
                    ..Default::default()
                }),
                body,
            )
            .await
            .map_err(ImageError::docker("creating the QEMU container"))?;
        janitor.track(&created.id);
        let vm = Self {
            docker: docker.clone(),
            janitor: janitor.clone(),
            id: created.id,
        };
        if let Err(e) = vm
            .docker
            .start_container(
                &vm.id,
                None::<bollard::query_parameters::StartContainerOptions>,
            )
            .await
        {
            vm.remove().await;
            return Err(ImageError::docker("starting the QEMU container")(e));
        }
        Ok(vm)
    }

    /// Its console output as it comes.
    pub fn output(
        &self,
    ) -> impl Stream<Item = Result<bytes::Bytes, bollard::errors::Error>> + use<> {
        self.docker
            .logs(
                &self.id,
                Some(bollard::query_parameters::LogsOptions {
                    follow: true,
                    stdout: true,
                    stderr: true,
                    ..Default::default()
                }),
            )
            .map_ok(|chunk| chunk.into_bytes())
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

/// A container name no other baker process uses.
pub fn unique_name(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("{prefix}-{}-{nanos}", std::process::id())
}

/// Splits a byte stream into lines and keeps the last 40.
#[derive(Default)]
struct Lines {
    partial: Vec<u8>,
    tail: VecDeque<String>,
}

impl Lines {
    fn push(&mut self, chunk: &[u8], on_line: &mut (dyn FnMut(&str) + Send)) {
        self.partial.extend_from_slice(chunk);
        while let Some(end) = self.partial.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=end).collect();
            self.line(String::from_utf8_lossy(&line).trim_end(), on_line);
        }
    }

    fn flush(&mut self, on_line: &mut (dyn FnMut(&str) + Send)) {
        if !self.partial.is_empty() {
            let line = String::from_utf8_lossy(&std::mem::take(&mut self.partial)).into_owned();
            self.line(line.trim_end(), on_line);
        }
    }

    fn line(&mut self, line: &str, on_line: &mut (dyn FnMut(&str) + Send)) {
        on_line(line);
        if self.tail.len() == 40 {
            self.tail.pop_front();
        }
        self.tail.push_back(line.to_owned());
    }

    fn tail(&self) -> String {
        self.tail
            .iter()
            .map(|l| format!("  | {l}"))
            .collect::<Vec<_>>()
            .join("\n")
    }
}
