//! Which process owns a container, so that a baker killed with SIGKILL (which runs no cleanup) does
//! not leave its step container running forever. Every container baker creates carries its owner's
//! host name, pid and process start time (field 22 of `/proc/self/stat`, which tells a live owner from
//! a later process that reused its pid); [`Engine::remove_orphans`], run whenever baker connects,
//! removes the containers whose owner on this host is gone and reports each one.
//!
//! Written by hand: reading two fields of a `/proc` file is smaller than any crate for it.

use bollard::query_parameters::ListContainersOptions;

use super::janitor::force_remove;
use super::labels::OWNER_LABEL;
use super::{Engine, EngineError};
use crate::progress::{Event, Reporter};

/// The host the owning process runs on.
pub const HOST_LABEL: &str = "baker.owner.host";
/// The owning process's pid.
pub const PID_LABEL: &str = "baker.owner.pid";
/// The owning process's start time, in clock ticks since boot.
pub const START_LABEL: &str = "baker.owner.start";

/// This host's name, as the kernel knows it.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

/// The start time of process `pid` (field 22 of `/proc/<pid>/stat`); `None` when it is not running.
fn start_time(pid: &str) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    start_time_field(&stat)
}

/// Field 22 of a `stat` line; the command name (field 2) may hold spaces and parentheses, so fields
/// are counted from its closing parenthesis (field 3 is the first after it).
fn start_time_field(stat: &str) -> Option<String> {
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(22 - 3).map(str::to_owned)
}

/// The labels naming this process as a container's owner.
pub fn owner_labels() -> [(&'static str, String); 3] {
    let pid = std::process::id().to_string();
    let start = start_time(&pid).unwrap_or_default();
    [
        (HOST_LABEL, host_name()),
        (PID_LABEL, pid),
        (START_LABEL, start),
    ]
}

/// Blanks the owner labels in `labels`: for an image committed from an owned container, and for a
/// container meant to outlive its command (a cluster's node). Docker gives a container its image's
/// labels, so an image that kept its builder's pid would make every container later started from
/// it — by baker or by hand — look like an orphan of a process that is gone, for the next baker
/// command to remove.
pub fn disown(labels: &mut std::collections::HashMap<String, String>) {
    for key in [HOST_LABEL, PID_LABEL, START_LABEL] {
        labels.insert(key.to_owned(), String::new());
    }
}

/// Whether a container with these owner labels belongs to a process of this host that is gone.
fn owner_gone(host: &str, pid: &str, start: &str, this_host: &str) -> bool {
    host == this_host && start_time(pid).is_none_or(|now| now != start)
}

impl Engine {
    /// Removes baker's containers whose owning process on this host is gone (killed before it could
    /// clean up), reporting each; returns their names. Containers of live processes, and of other
    /// hosts sharing the engine, are left alone.
    pub async fn remove_orphans(
        &self,
        reporter: &dyn Reporter,
    ) -> Result<Vec<String>, EngineError> {
        let filters = [(
            "label".to_owned(),
            vec![format!("{OWNER_LABEL}=baker"), PID_LABEL.to_owned()],
        )];
        let containers = self
            .docker
            .list_containers(Some(ListContainersOptions {
                all: true,
                filters: Some(filters.into()),
                ..Default::default()
            }))
            .await
            .map_err(EngineError::during("listing baker's containers"))?;
        let this_host = host_name();
        let mut removed = Vec::new();
        for c in containers {
            let labels = c.labels.unwrap_or_default();
            let label = |k: &str| labels.get(k).map_or("", String::as_str);
            if !owner_gone(
                label(HOST_LABEL),
                label(PID_LABEL),
                label(START_LABEL),
                &this_host,
            ) {
                continue;
            }
            let id = c.id.unwrap_or_default();
            let name = c
                .names
                .and_then(|n| n.first().map(|n| n.trim_start_matches('/').to_owned()))
                .unwrap_or_else(|| id.clone());
            force_remove(&self.docker, &id).await;
            reporter.report(Event::Warning(format!(
                "removed container {name}: its baker process (pid {}) is gone",
                label(PID_LABEL)
            )));
            removed.push(name);
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_start_time_is_field_22_even_when_the_name_holds_parentheses() {
        let stat = "4242 (my (odd) cmd) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 200";
        assert_eq!(start_time_field(stat).as_deref(), Some("987654"));
        assert_eq!(start_time_field("garbage"), None);
    }

    #[test]
    fn only_gone_owners_of_this_host_are_orphans() {
        let [(_, host), (_, pid), (_, start)] = owner_labels();
        assert!(!start.is_empty(), "this process has a start time");
        assert!(
            !owner_gone(&host, &pid, &start, &host),
            "this process is alive"
        );
        assert!(
            owner_gone(&host, &pid, "1", &host),
            "pid reused by a later process"
        );
        assert!(owner_gone(&host, "999999999", &start, &host), "no such pid");
        assert!(
            !owner_gone("elsewhere", "999999999", &start, &host),
            "another host's"
        );
    }

    #[test]
    fn a_disowned_container_is_nobodys_orphan() {
        let mut labels: std::collections::HashMap<String, String> = owner_labels()
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        labels.insert(PID_LABEL.to_owned(), "999999999".to_owned());
        let get = |l: &std::collections::HashMap<String, String>, k: &str| l[k].clone();
        let here = host_name();
        assert!(owner_gone(
            &get(&labels, HOST_LABEL),
            &get(&labels, PID_LABEL),
            &get(&labels, START_LABEL),
            &here
        ));
        disown(&mut labels);
        assert!(!owner_gone(
            &get(&labels, HOST_LABEL),
            &get(&labels, PID_LABEL),
            &get(&labels, START_LABEL),
            &here
        ));
    }
}
