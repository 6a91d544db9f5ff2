//! Every Docker engine call `baker image` makes, in one file, on top of the build's container
//! helpers ([`Container`], [`Janitor`], [`labels`]): inspecting images, running a script in a
//! container and streaming its output, feeding one image's file system to a command in another
//! container (the engine's `export` piped into its stdin, never held in memory or on disk), and
//! the QEMU container of `baker image boot`. Everything created carries baker's labels and is removed on success,
//! failure and Ctrl-C.

use std::collections::{BTreeMap, HashMap};

pub use bollard::Docker;
/// The engine's error, as the other image modules name it.
pub use bollard::errors::Error as EngineCallError;
use bollard::models::{ContainerCreateBody, DeviceMapping, HostConfig, VolumeCreateOptions};
use bollard::query_parameters::{
    AttachContainerOptions, CreateContainerOptions, ListVolumesOptions, RemoveVolumeOptions,
};
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;

use super::ImageError;
use super::lines::Lines;
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

/// Whether the engine has the volume `name`.
pub async fn volume_exists(docker: &Docker, name: &str) -> bool {
    docker.inspect_volume(name).await.is_ok()
}

/// Creates the volume `name` with baker's labels and `extra` ones.
pub async fn create_volume(
    docker: &Docker,
    name: &str,
    extra: &[(&str, &str)],
) -> Result<(), ImageError> {
    docker
        .create_volume(VolumeCreateOptions {
            name: Some(name.to_owned()),
            labels: Some(labels(extra)),
            ..Default::default()
        })
        .await
        .map(|_| ())
        .map_err(ImageError::docker(format!("creating the volume {name}")))
}

/// Removes the volumes labelled `label=value` except `keep`; a volume in use stays.
pub async fn remove_volumes(docker: &Docker, label: &str, value: &str, keep: &str) {
    let filters = HashMap::from([("label".to_owned(), vec![format!("{label}={value}")])]);
    let Ok(list) = docker
        .list_volumes(Some(ListVolumesOptions {
            filters: Some(filters),
        }))
        .await
    else {
        return;
    };
    for volume in list.volumes.unwrap_or_default() {
        if volume.name != keep {
            let _ = docker
                .remove_volume(&volume.name, None::<RemoveVolumeOptions>)
                .await;
        }
    }
}

/// Uploads a tar archive into a container, unpacked at `/`.
pub async fn upload(container: &Container, tar: Vec<u8>, what: &str) -> Result<(), ImageError> {
    container
        .upload(tar)
        .await
        .map_err(ImageError::docker(format!("uploading {what}")))
}

/// Creates a container from `body`, for options [`ContainerSpec`] does not offer (stdin, devices).
async fn create_raw(
    docker: &Docker,
    janitor: &Janitor,
    name: &str,
    body: ContainerCreateBody,
) -> Result<Container, ImageError> {
    let created = docker
        .create_container(
            Some(CreateContainerOptions {
                name: Some(name.to_owned()),
                ..Default::default()
            }),
            body,
        )
        .await
        .map_err(ImageError::docker(format!("creating container {name}")))?;
    Ok(Container::adopt(docker, janitor, created.id))
}

fn body(spec: &RunSpec<'_>) -> ContainerCreateBody {
    ContainerCreateBody {
        image: Some(spec.image.to_owned()),
        cmd: Some(spec.cmd.clone()),
        env: Some(spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
        labels: Some(labels(spec.labels)),
        host_config: Some(HostConfig {
            binds: Some(spec.binds.clone()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Runs `spec` with the file system of `source_image`, when given, on its stdin: the tar stream of
/// the engine's export of a never-started container, which the command unpacks itself (faster than
/// the engine's archive upload). Without a source its stdin is closed at once. Returns the exit
/// code and the last lines.
pub async fn run_fed(
    docker: &Docker,
    janitor: &Janitor,
    spec: &RunSpec<'_>,
    source_image: Option<&str>,
    on_line: &mut (dyn FnMut(&str) + Send),
) -> Result<(i64, String), ImageError> {
    let source = match source_image {
        Some(image) => Some(export_source(docker, janitor, image).await?),
        None => None,
    };
    let run = create_raw(
        docker,
        janitor,
        &spec.name,
        ContainerCreateBody {
            open_stdin: Some(true),
            stdin_once: Some(true),
            attach_stdin: Some(true),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            ..body(spec)
        },
    )
    .await;
    let result = match &run {
        Ok(run) => {
            feed_and_follow(
                docker,
                run,
                source.as_ref().map(|s| s.id.as_str()),
                spec,
                on_line,
            )
            .await
        }
        Err(_) => Ok((0, String::new())),
    };
    if let Some(source) = source {
        source.remove().await;
    }
    let run = run?;
    run.remove().await;
    result
}

/// A never-started container of `image`, whose export is the image's file system.
async fn export_source(
    docker: &Docker,
    janitor: &Janitor,
    image: &str,
) -> Result<Container, ImageError> {
    create(
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
    .await
}

async fn feed_and_follow(
    docker: &Docker,
    run: &Container,
    source_id: Option<&str>,
    spec: &RunSpec<'_>,
    on_line: &mut (dyn FnMut(&str) + Send),
) -> Result<(i64, String), ImageError> {
    let what = format!("{} ({})", spec.name, spec.image);
    let attached = docker
        .attach_container(
            &run.id,
            Some(AttachContainerOptions {
                stdin: true,
                stdout: true,
                stderr: true,
                stream: true,
                ..Default::default()
            }),
        )
        .await
        .map_err(ImageError::docker(format!("attaching to {what}")))?;
    run.start()
        .await
        .map_err(ImageError::docker(format!("starting {what}")))?;
    let mut input = attached.input;
    let export = source_id.map(|id| docker.export_container(id));
    let feeder = tokio::spawn(async move {
        if let Some(mut export) = export {
            while let Some(chunk) = export.next().await {
                let chunk = chunk.map_err(|e| e.to_string())?;
                input.write_all(&chunk).await.map_err(|e| e.to_string())?;
            }
        }
        input.shutdown().await.map_err(|e| e.to_string())
    });
    let mut lines = Lines::default();
    let mut output = attached.output;
    while let Some(chunk) = output.next().await {
        let chunk = chunk.map_err(ImageError::docker(format!("reading the output of {what}")))?;
        lines.push(&chunk.into_bytes(), on_line);
    }
    lines.flush(on_line);
    let code = run
        .wait()
        .await
        .map_err(ImageError::docker(format!("waiting for {what}")))?;
    if code == 0 {
        if let Ok(Err(e)) = feeder.await {
            return Err(ImageError::Boot(format!(
                "streaming the file system of {} into {what}: {e}",
                spec.image
            )));
        }
    } else {
        feeder.abort();
    }
    Ok((code, lines.tail()))
}

/// Starts the QEMU container of `baker image boot`: its console is its stdout; `devices` are host
/// device nodes given to it (`/dev/kvm`).
pub async fn start_vm(
    docker: &Docker,
    janitor: &Janitor,
    spec: &RunSpec<'_>,
    devices: &[&str],
) -> Result<Container, ImageError> {
    let mut body = body(spec);
    if let Some(host) = body.host_config.as_mut() {
        host.devices = Some(
            devices
                .iter()
                .map(|d| DeviceMapping {
                    path_on_host: Some((*d).to_owned()),
                    path_in_container: Some((*d).to_owned()),
                    cgroup_permissions: Some("rwm".into()),
                })
                .collect(),
        );
    }
    let vm = create_raw(docker, janitor, &spec.name, body).await?;
    if let Err(e) = vm.start().await {
        vm.remove().await;
        return Err(ImageError::docker("starting the QEMU container")(e));
    }
    Ok(vm)
}

/// A container name no other baker process uses.
pub fn unique_name(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("{prefix}-{}-{nanos}", std::process::id())
}
