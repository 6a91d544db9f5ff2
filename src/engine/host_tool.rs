//! Programs baker needs on the host but the host lacks (QEMU and qemu-img, for `baker launch
//! --provider qemu` where only Docker is installed), run from baker's tools image as though they
//! were installed: in the host's network and process namespaces, as the invoking user (with the
//! group of each device it is given, such as `/dev/kvm`), with the host paths it reads and writes
//! bound at the same place. So what such a program makes belongs to the user, the ports it
//! listens on are the host's loopback, and the pid it writes to a pidfile is one the host can see
//! in `/proc` and signal — the callers treat it exactly as a program started on the host.
//! A program that runs to its end is the janitor's like any other container; one started as a
//! daemon outlives baker (disowned, not tracked), and the engine removes its container when the
//! program exits.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;

use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::StartContainerOptions;
use futures_util::StreamExt;

use super::container::device_mappings;
use super::janitor::force_remove;
use super::labels::labels;
use super::owner::{self, owner_labels};
use super::{Container, Engine, EngineError};

/// A host program to run from an image.
pub struct HostToolSpec<'a> {
    /// Unique among the engine's containers.
    pub name: String,
    pub image: &'a str,
    pub cmd: Vec<String>,
    /// Host directories, each bound at the same path (`DIR` read-write, or `DIR:ro`).
    pub dirs: Vec<String>,
    /// Host device nodes it may open (`/dev/kvm`).
    pub devices: &'a [&'a str],
    pub labels: &'a [(&'a str, &'a str)],
}

impl HostToolSpec<'_> {
    fn body(&self, labels: HashMap<String, String>, auto_remove: bool) -> ContainerCreateBody {
        // The device's group, so that the user may open it as on the host.
        let groups = self
            .devices
            .iter()
            .filter_map(|d| std::fs::metadata(d).ok())
            .map(|m| m.gid().to_string())
            .collect();
        let binds = self
            .dirs
            .iter()
            .map(|dir| match dir.strip_suffix(":ro") {
                Some(dir) => format!("{dir}:{dir}:ro"),
                None => format!("{dir}:{dir}"),
            })
            .collect();
        ContainerCreateBody {
            image: Some(self.image.to_owned()),
            cmd: Some(self.cmd.clone()),
            user: Some(format!(
                "{}:{}",
                rustix::process::getuid().as_raw(),
                rustix::process::getgid().as_raw()
            )),
            working_dir: Some("/".into()),
            labels: Some(labels),
            host_config: Some(HostConfig {
                binds: Some(binds),
                devices: Some(device_mappings(self.devices)),
                group_add: Some(groups),
                network_mode: Some("host".into()),
                pid_mode: Some("host".into()),
                auto_remove: Some(auto_remove),
                ..Default::default()
            }),
            ..Default::default()
        }
    }
}

impl Engine {
    /// Runs `spec` to its end: its exit code and its output.
    pub async fn run_host_tool(
        &self,
        spec: &HostToolSpec<'_>,
    ) -> Result<(i64, String), EngineError> {
        let mut all = labels(spec.labels);
        all.extend(owner_labels().map(|(k, v)| (k.to_owned(), v)));
        let id = self
            .create_named(&spec.name, spec.image, spec.body(all, false))
            .await?;
        let tool = Container::adopt(self, id, spec.name.clone());
        let result = async {
            tool.start().await?;
            let mut output = Vec::new();
            let mut stream = tool.follow_output();
            while let Some(chunk) = stream.next().await {
                output.extend_from_slice(&chunk?);
            }
            let code = tool.wait().await?;
            Ok((code, String::from_utf8_lossy(&output).into_owned()))
        }
        .await;
        tool.remove().await;
        result
    }

    /// Starts `spec` and leaves it running after baker exits; the engine removes its container
    /// when the program ends. Returns the container's id.
    pub async fn start_host_daemon(&self, spec: &HostToolSpec<'_>) -> Result<String, EngineError> {
        let mut all = labels(spec.labels);
        // It outlives the command that started it: no later command may take it for an orphan.
        owner::disown(&mut all);
        let id = self
            .create_named(&spec.name, spec.image, spec.body(all, true))
            .await?;
        if let Err(e) = self
            .docker
            .start_container(&id, None::<StartContainerOptions>)
            .await
        {
            force_remove(&self.docker, &id).await;
            return Err(EngineError::during(format!(
                "starting container {}",
                spec.name
            ))(e));
        }
        Ok(id)
    }

    /// Stops and removes a daemon [`Engine::start_host_daemon`] started; one that is gone already
    /// is no error.
    pub async fn remove_host_daemon(&self, id: &str) {
        force_remove(&self.docker, id).await;
    }
}
