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
//!
//! Not every engine can do this: a rootless one runs containers in a user and network namespace of
//! its own, a remote one (or Docker Desktop's VM) on another kernel, and a baker that itself runs in
//! a container does not see the host's network. [`Engine::unlike_host`] asks a container from the
//! image what it sees and says what differs, so callers refuse before they start anything rather
//! than leave a VM whose ports or pid baker cannot reach.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;

use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::StartContainerOptions;

use super::binds::host_mount;
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
        // At the same path inside; one holding a `:` as a mount (see `super::binds`).
        let (mut binds, mut mounts) = (Vec::new(), Vec::new());
        for dir in &self.dirs {
            let (dir, read_only) = match dir.strip_suffix(":ro") {
                Some(dir) => (dir, true),
                None => (dir.as_str(), false),
            };
            if dir.contains(':') {
                mounts.push(host_mount(dir, dir, read_only));
            } else {
                binds.push(format!("{dir}:{dir}{}", if read_only { ":ro" } else { "" }));
            }
        }
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
                mounts: Some(mounts),
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

/// What a host program must see as baker sees it: the same kernel (its boot id) and the same user,
/// network and process namespaces. Each with what it means when it differs.
const SAME_AS_BAKER: [(&str, &str); 4] = [
    (
        "/proc/sys/kernel/random/boot_id",
        "its containers run on another kernel (a remote engine, or one in a VM such as Docker Desktop's)",
    ),
    (
        "/proc/self/ns/user",
        "it maps users to other ids (a rootless engine), so what its programs write would not be yours",
    ),
    (
        "/proc/self/ns/net",
        "its host network is not baker's (a rootless engine, or baker itself in a container), so ports opened on 127.0.0.1 would not be baker's",
    ),
    (
        "/proc/self/ns/pid",
        "its host processes are not baker's, so baker could neither watch nor stop the programs it starts",
    ),
];

/// How `tool` (one line per [`SAME_AS_BAKER`] entry, as a program from the image saw them) differs
/// from `baker` (as baker sees them); `None` when it does not.
fn differences(baker: &[String], tool: &[String]) -> Option<String> {
    let unlike: Vec<&str> = SAME_AS_BAKER
        .iter()
        .enumerate()
        .filter(|(i, _)| baker.get(*i) != tool.get(*i))
        .map(|(_, (_, meaning))| *meaning)
        .collect();
    (!unlike.is_empty()).then(|| unlike.join("; "))
}

/// What baker sees, for [`differences`]: each entry's link target (a namespace), else its content
/// (the boot id) — as the container's `readlink P || cat P` prints them.
fn as_baker_sees() -> Vec<String> {
    SAME_AS_BAKER
        .iter()
        .map(|(path, _)| {
            std::fs::read_link(path)
                .map(|l| l.display().to_string())
                .or_else(|_| std::fs::read_to_string(path))
                .unwrap_or_default()
                .trim()
                .to_owned()
        })
        .collect()
}

impl Engine {
    /// Why programs from `image` would not run as host programs through this engine (see the module
    /// doc); `None` when they would.
    pub async fn unlike_host(
        &self,
        image: &str,
        name: String,
        labels: &[(&str, &str)],
    ) -> Result<Option<String>, EngineError> {
        let script: String = SAME_AS_BAKER
            .iter()
            .map(|(path, _)| format!("readlink {path} || cat {path}; "))
            .collect();
        let spec = HostToolSpec {
            name,
            image,
            cmd: vec!["sh".into(), "-c".into(), script],
            dirs: vec![],
            devices: &[],
            labels,
        };
        let (code, output) = self.run_host_tool(&spec).await?;
        if code != 0 {
            return Ok(Some(format!(
                "a container from {image} could not tell what it sees (exit code {code}): {}",
                output.trim()
            )));
        }
        let seen: Vec<String> = output.lines().map(|l| l.trim().to_owned()).collect();
        Ok(differences(&as_baker_sees(), &seen))
    }

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
        let result = tool.run_to_end().await;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(lines: [&str; 4]) -> Vec<String> {
        lines.iter().map(|s| (*s).to_owned()).collect()
    }

    const HOST: [&str; 4] = [
        "6f0c1e4a-1b2c-4d5e-8f90-0123456789ab",
        "user:[4026531837]",
        "net:[4026531840]",
        "pid:[4026531836]",
    ];

    #[test]
    fn a_program_that_sees_what_baker_sees_passes_for_a_host_program() {
        assert_eq!(differences(&seen(HOST), &seen(HOST)), None);
    }

    #[test]
    fn each_difference_says_what_it_would_break() {
        let mut rootless = HOST;
        rootless[1] = "user:[4026532201]";
        rootless[2] = "net:[4026532205]";
        let why = differences(&seen(HOST), &seen(rootless)).unwrap();
        assert!(
            why.starts_with("it maps users to other ids (a rootless engine)"),
            "{why}"
        );
        assert!(why.contains("; its host network is not baker's"), "{why}");
        assert!(
            !why.contains("kernel") && !why.contains("processes"),
            "{why}"
        );

        let mut remote = HOST;
        remote[0] = "0d1e2f30-0000-4000-8000-000000000000";
        let why = differences(&seen(HOST), &seen(remote)).unwrap();
        assert!(
            why.starts_with("its containers run on another kernel"),
            "{why}"
        );
    }

    #[test]
    fn a_program_that_printed_less_differs() {
        assert!(differences(&seen(HOST), &seen(HOST)[..2]).is_some());
    }

    #[test]
    fn baker_sees_its_own_kernel_and_namespaces() {
        let own = as_baker_sees();
        assert_eq!(own.len(), SAME_AS_BAKER.len());
        assert_eq!(own[0].len(), 36, "a boot id: {own:?}");
        assert!(
            own[1].starts_with("user:[") && own[3].starts_with("pid:["),
            "{own:?}"
        );
    }
}
