//! Running the image stage's containers on the engine (which owns every Docker call): a script run
//! to its end with its output as lines, a script fed an image's file system on its stdin (the
//! engine's export of a never-started container, never held in memory or on disk), and the QEMU
//! container of `baker image boot`. Everything created carries baker's labels and is removed on
//! success, failure and Ctrl-C (the engine's sweep).

use std::collections::BTreeMap;
use std::sync::Arc;

use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;

use super::ImageError;
use super::lines::Lines;
use crate::engine::labels::IMAGE_PART_LABEL;
use crate::engine::{Container, ContainerExtras, ContainerSpec, Engine};
use crate::progress::{Meter, Reporter};
use crate::stop::Stop;

/// What a container to run is made of.
pub struct RunSpec<'a> {
    pub name: String,
    pub image: &'a str,
    pub cmd: Vec<String>,
    pub env: BTreeMap<String, String>,
    pub binds: Vec<String>,
    pub labels: &'a [(&'a str, &'a str)],
}

impl RunSpec<'_> {
    fn container(&self) -> ContainerSpec<'_> {
        ContainerSpec {
            name: self.name.clone(),
            image: self.image,
            cmd: self.cmd.clone(),
            workdir: "/",
            env: &self.env,
            binds: self.binds.clone(),
            labels: self.labels,
        }
    }
}

/// A container name no other baker process uses.
pub fn unique_name(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("{prefix}-{}-{nanos}", std::process::id())
}

/// A container made from `spec`, not started yet.
pub async fn create(engine: &Engine, spec: &RunSpec<'_>) -> Result<Container, ImageError> {
    Ok(engine.create_container(spec.container()).await?)
}

/// A container that ran to its end, kept so that the caller can commit it; remove it when done.
pub struct Finished {
    pub container: Container,
    pub code: i64,
    /// Its last 40 lines of output.
    pub tail: String,
}

/// Starts `container`, hands each line of its output to `on_line` and waits for its end.
pub async fn run_to_end(
    container: Container,
    on_line: &mut (dyn FnMut(&str) + Send),
) -> Result<Finished, ImageError> {
    container.start().await?;
    let mut lines = Lines::default();
    let mut output = container.follow_output();
    while let Some(chunk) = output.next().await {
        lines.push(&chunk?, on_line);
    }
    lines.flush(on_line);
    let code = container.wait().await?;
    Ok(Finished {
        container,
        code,
        tail: lines.tail(),
    })
}

/// Runs `spec` with the file system of `source_image`, when given, on its stdin: the tar stream of
/// the engine's export of a never-started container, which the command unpacks itself (faster than
/// the engine's archive upload). Without a source its stdin is closed at once. Returns the exit
/// code and the last lines. The bytes fed are reported to `reporter` against the image's size, a
/// tree of gigabytes taking minutes to pass.
pub async fn run_fed(
    engine: &Engine,
    spec: &RunSpec<'_>,
    source_image: Option<&str>,
    on_line: &mut (dyn FnMut(&str) + Send),
    reporter: &Arc<dyn Reporter>,
) -> Result<(i64, String), ImageError> {
    let source = match source_image {
        Some(image) => {
            let container = create(
                engine,
                &RunSpec {
                    name: unique_name("baker-image-export"),
                    image,
                    cmd: vec!["true".into()],
                    env: BTreeMap::new(),
                    binds: vec![],
                    labels: &[(IMAGE_PART_LABEL, "export")],
                },
            )
            .await?;
            let fed = Fed {
                what: "unpacking the OS layer's tree".to_owned(),
                size: engine.image_info(image).await.map_or(0, |i| i.size),
                reporter: reporter.clone(),
            };
            Some((container, fed))
        }
        None => None,
    };
    let run = engine
        .create_container_with(
            spec.container(),
            ContainerExtras {
                stdin: true,
                ..Default::default()
            },
        )
        .await;
    let result = match &run {
        Ok(run) => feed_and_follow(run, source.as_ref(), on_line).await,
        Err(_) => Ok((0, String::new())),
    };
    if let Some((source, _)) = source {
        source.remove().await;
    }
    run?.remove().await;
    result
}

/// What a fed run reports of its feeding: the work's name, the bytes it comes to (about: the
/// image's size, which the export's tar headers exceed a little) and where to report it.
#[derive(Clone)]
struct Fed {
    what: String,
    size: u64,
    reporter: Arc<dyn Reporter>,
}

async fn feed_and_follow(
    run: &Container,
    source: Option<&(Container, Fed)>,
    on_line: &mut (dyn FnMut(&str) + Send),
) -> Result<(i64, String), ImageError> {
    let (mut output, mut input) = run.attach().await?;
    run.start().await?;
    let export = source.map(|(container, fed)| (container.export(), fed.clone()));
    let feeder = tokio::spawn(async move {
        if let Some((mut export, fed)) = export {
            // Stopping is the caller's: dropped, the run's containers go and this task with them.
            let never = Stop::default();
            let mut meter = Meter::new(fed.reporter.as_ref(), &never, fed.what, fed.size);
            let fed = async {
                while let Some(chunk) = export.next().await {
                    let chunk = chunk.map_err(|e| e.to_string())?;
                    input.write_all(&chunk).await.map_err(|e| e.to_string())?;
                    let _ = meter.add(chunk.len() as u64);
                }
                Ok::<_, String>(())
            }
            .await;
            // Ended either way: the progress line goes.
            meter.finish();
            fed?;
        }
        input.shutdown().await.map_err(|e| e.to_string())
    });
    let mut lines = Lines::default();
    while let Some(chunk) = output.next().await {
        lines.push(&chunk?, on_line);
    }
    lines.flush(on_line);
    let code = run.wait().await?;
    if code == 0 {
        if let Ok(Err(e)) = feeder.await {
            return Err(ImageError::Boot(format!(
                "streaming a file system into container {}: {e}",
                run.name
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
    engine: &Engine,
    spec: &RunSpec<'_>,
    devices: &[&str],
) -> Result<Container, ImageError> {
    let vm = engine
        .create_container_with(
            spec.container(),
            ContainerExtras {
                devices,
                ..Default::default()
            },
        )
        .await?;
    if let Err(e) = vm.start().await {
        vm.remove().await;
        return Err(e.into());
    }
    Ok(vm)
}
