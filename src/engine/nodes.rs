//! Long-running containers that are cluster nodes (`baker launch --provider docker`), and the
//! network they share. Unlike build containers they outlive the command that made them, so they
//! are not given to the janitor: the cluster's state file names them, and `destroy` (or a failed
//! launch's rollback) finds them by the labels they carry ([`super::labelled`]) and removes them.

use std::collections::{BTreeMap, HashMap};

use bollard::models::{
    ContainerCreateBody, EndpointIpamConfig, EndpointSettings, HostConfig, Ipam, IpamConfig,
    NetworkCreateRequest, NetworkingConfig, PortBinding,
};
use bollard::query_parameters::{
    CreateContainerOptions, InspectContainerOptions, LogsOptions, StartContainerOptions,
};
use bytes::Bytes;
use futures_util::StreamExt;

use super::janitor::force_remove;
use super::labels::labels;
use super::owner;
use super::{Engine, EngineError};

/// A node container.
pub struct NodeSpec<'a> {
    pub name: &'a str,
    pub image: &'a str,
    pub network: &'a str,
    pub cmd: Vec<String>,
    pub env: &'a BTreeMap<String, String>,
    pub labels: &'a [(&'a str, &'a str)],
    /// Container ports published on the host, each at `host_ip:<any free port>`.
    pub publish: &'a [u16],
    /// `127.0.0.1` unless the user asked to publish on every interface.
    pub host_ip: &'a str,
    /// The node's address on `network`.
    pub address: &'a str,
    /// A tar unpacked at `/` before the container starts (the node's bundle).
    pub files: Vec<u8>,
}

/// What a command run in a node printed and how it ended.
#[derive(Debug, Clone)]
pub struct ExecOutput {
    pub exit_code: i64,
    /// Standard output and standard error, interleaved.
    pub output: String,
}

impl Engine {
    /// Creates a bridge network carrying `labels` on `subnet` (CIDR), so that its members' addresses
    /// can be chosen before they start. `Ok(false)` when the subnet overlaps another network's.
    pub async fn create_network(
        &self,
        name: &str,
        subnet: &str,
        extra: &[(&str, &str)],
    ) -> Result<bool, EngineError> {
        let created = self
            .docker
            .create_network(NetworkCreateRequest {
                name: name.to_owned(),
                driver: Some("bridge".into()),
                labels: Some(labels(extra)),
                ipam: Some(Ipam {
                    config: Some(vec![IpamConfig {
                        subnet: Some(subnet.to_owned()),
                        ..Default::default()
                    }]),
                    ..Default::default()
                }),
                ..Default::default()
            })
            .await;
        match created {
            Ok(_) => Ok(true),
            Err(bollard::errors::Error::DockerResponseServerError { message, .. })
                if message.contains("overlap") =>
            {
                Ok(false)
            }
            Err(e) => Err(EngineError::during(format!(
                "creating network {name} on {subnet}"
            ))(e)),
        }
    }

    /// Removes a network; one that is already gone is not an error.
    pub async fn remove_network(&self, name: &str) -> Result<(), EngineError> {
        match self.docker.remove_network(name).await {
            Ok(()) => Ok(()),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(()),
            Err(e) => Err(EngineError::during(format!("removing network {name}"))(e)),
        }
    }

    /// Creates a node container at its address, puts its files in, and starts it; returns its id.
    pub async fn run_node(&self, spec: NodeSpec<'_>) -> Result<String, EngineError> {
        let mut exposed = HashMap::new();
        let mut bindings = HashMap::new();
        for port in spec.publish {
            exposed.insert(format!("{port}/tcp"), HashMap::new());
            bindings.insert(
                format!("{port}/tcp"),
                Some(vec![PortBinding {
                    host_ip: Some(spec.host_ip.to_owned()),
                    host_port: Some(String::new()),
                }]),
            );
        }
        let body = ContainerCreateBody {
            image: Some(spec.image.to_owned()),
            cmd: Some(spec.cmd),
            hostname: Some(spec.name.to_owned()),
            env: Some(spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
            labels: Some({
                let mut all = labels(spec.labels);
                // A node outlives the command that started it: no later command may take it for
                // an orphan of a process that is gone.
                owner::disown(&mut all);
                all
            }),
            exposed_ports: Some(exposed),
            host_config: Some(HostConfig {
                network_mode: Some(spec.network.to_owned()),
                port_bindings: Some(bindings),
                init: Some(true),
                ..Default::default()
            }),
            networking_config: Some(NetworkingConfig {
                endpoints_config: Some(HashMap::from([(
                    spec.network.to_owned(),
                    EndpointSettings {
                        ipam_config: Some(EndpointIpamConfig {
                            ipv4_address: Some(spec.address.to_owned()),
                            ..Default::default()
                        }),
                        ..Default::default()
                    },
                )])),
            }),
            ..Default::default()
        };
        let during = || EngineError::during(format!("starting node container {}", spec.name));
        let created = self
            .docker
            .create_container(
                Some(CreateContainerOptions {
                    name: Some(spec.name.to_owned()),
                    ..Default::default()
                }),
                body,
            )
            .await
            .map_err(during())?;
        if !spec.files.is_empty() {
            if let Err(e) = self.upload_to(&created.id, "/", spec.files).await {
                force_remove(&self.docker, &created.id).await;
                return Err(e);
            }
        }
        if let Err(e) = self
            .docker
            .start_container(&created.id, None::<StartContainerOptions>)
            .await
        {
            force_remove(&self.docker, &created.id).await;
            return Err(during()(e));
        }
        Ok(created.id)
    }

    /// A node's address on `network` and its published ports (container port -> host port).
    pub async fn node_address(
        &self,
        id: &str,
        network: &str,
    ) -> Result<(String, BTreeMap<u16, u16>), EngineError> {
        let info = self
            .docker
            .inspect_container(id, None::<InspectContainerOptions>)
            .await
            .map_err(EngineError::during(format!("inspecting container {id}")))?;
        let settings = info.network_settings.unwrap_or_default();
        let ip = settings
            .networks
            .as_ref()
            .and_then(|n| n.get(network))
            .and_then(|e| e.ip_address.clone())
            .unwrap_or_default();
        let mut published = BTreeMap::new();
        for (port, binding) in settings.ports.unwrap_or_default() {
            let container_port = port.split('/').next().and_then(|p| p.parse().ok());
            let host_port = binding
                .unwrap_or_default()
                .iter()
                .find_map(|b| b.host_port.as_deref().and_then(|p| p.parse().ok()));
            if let (Some(c), Some(h)) = (container_port, host_port) {
                published.insert(c, h);
            }
        }
        Ok((ip, published))
    }

    /// The id of the container named (or with the id) `name`.
    pub async fn container_id(&self, name: &str) -> Result<String, EngineError> {
        self.docker
            .inspect_container(name, None::<InspectContainerOptions>)
            .await
            .map_err(EngineError::during(format!("inspecting container {name}")))?
            .id
            .ok_or_else(|| {
                EngineError::during(format!("inspecting container {name}"))(
                    bollard::errors::Error::DockerResponseServerError {
                        status_code: 500,
                        message: "the engine gave no id".into(),
                    },
                )
            })
    }

    /// Whether a container exists and runs.
    pub async fn is_running(&self, id: &str) -> bool {
        self.docker
            .inspect_container(id, None::<InspectContainerOptions>)
            .await
            .ok()
            .and_then(|i| i.state)
            .and_then(|s| s.running)
            .unwrap_or(false)
    }

    /// Runs `cmd` in a running container (as `user`, root when `None`) and collects its output.
    pub async fn exec(
        &self,
        id: &str,
        cmd: &[&str],
        user: Option<&str>,
    ) -> Result<ExecOutput, EngineError> {
        use bollard::exec::{CreateExecOptions, StartExecResults};
        let during =
            || EngineError::during(format!("running `{}` in container {id}", cmd.join(" ")));
        let exec = self
            .docker
            .create_exec(
                id,
                CreateExecOptions {
                    cmd: Some(cmd.iter().map(|s| (*s).to_owned()).collect()),
                    user: user.map(str::to_owned),
                    attach_stdout: Some(true),
                    attach_stderr: Some(true),
                    ..Default::default()
                },
            )
            .await
            .map_err(during())?;
        let mut output = String::new();
        if let StartExecResults::Attached {
            output: mut stream, ..
        } = self
            .docker
            .start_exec(&exec.id, None)
            .await
            .map_err(during())?
        {
            while let Some(chunk) = stream.next().await {
                output.push_str(&String::from_utf8_lossy(
                    &chunk.map_err(during())?.into_bytes(),
                ));
            }
        }
        let inspect = self.docker.inspect_exec(&exec.id).await.map_err(during())?;
        Ok(ExecOutput {
            exit_code: inspect.exit_code.unwrap_or(-1),
            output,
        })
    }

    /// Unpacks a tar at `path` in a container, running or not.
    pub async fn upload_to(&self, id: &str, path: &str, tar: Vec<u8>) -> Result<(), EngineError> {
        self.docker
            .upload_to_container(
                id,
                Some(bollard::query_parameters::UploadToContainerOptions {
                    path: path.to_owned(),
                    ..Default::default()
                }),
                bollard::body_full(Bytes::from(tar)),
            )
            .await
            .map_err(EngineError::during(format!(
                "copying files into container {id}"
            )))
    }

    /// The last `tail` lines a container printed.
    pub async fn container_logs(&self, id: &str, tail: usize) -> Result<String, EngineError> {
        let mut stream = self.docker.logs(
            id,
            Some(LogsOptions {
                stdout: true,
                stderr: true,
                tail: tail.to_string(),
                ..Default::default()
            }),
        );
        let mut text = String::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(EngineError::during(format!("reading the log of {id}")))?;
            text.push_str(&String::from_utf8_lossy(&chunk.into_bytes()));
        }
        Ok(text)
    }

    /// Starts a node container that stopped, with everything it held (its files, its address; the
    /// engine picks its published ports again).
    pub async fn restart_node(&self, name: &str) -> Result<(), EngineError> {
        self.docker
            .start_container(name, None::<StartContainerOptions>)
            .await
            .map_err(EngineError::during(format!(
                "starting node container {name} again"
            )))
    }

    /// Removes a container whatever its state; best effort.
    pub async fn remove_node(&self, id: &str) {
        force_remove(&self.docker, id).await;
    }
}
