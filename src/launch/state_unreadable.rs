//! What a command on a cluster says of a `state.json` it cannot read (another baker's format, or a
//! broken file): no command of this baker can act on the cluster through it, so the error says
//! what can — the baker that launched it, or removing by hand what the cluster left (for a docker
//! cluster, the `docker` commands that list its containers and network) and then its directory.
//! `clusters` lists such a cluster with the short form ([`StateError::listed`]).

use std::path::Path;

use super::docker::CLUSTER_LABEL;
use super::state::{STATE_FORMAT, StateError, check_name};

/// Why the state file at `path` cannot be used (`message`: what was wrong with it), and what to do.
pub(super) fn unreadable(path: &Path, message: &str) -> String {
    let dir = path.parent().unwrap_or(path);
    let name = dir.file_name().map_or_else(
        || "NAME".to_owned(),
        |name| name.to_string_lossy().into_owned(),
    );
    let shown = dir.display().to_string();
    let quoted = shlex::try_quote(&shown).map_or_else(|_| shown.clone(), |q| q.into_owned());
    let label = format!("label={CLUSTER_LABEL}={name}");
    // A cluster's name needs no quoting; a directory of another name may.
    let label = match check_name(&name) {
        Ok(()) => label,
        Err(_) => shlex::try_quote(&label).map_or(label.clone(), |q| q.into_owned()),
    };
    format!(
        "{}; this baker cannot act on cluster {name} through it: destroy the cluster with the \
         baker that launched it, or remove what the cluster left by hand (for a docker cluster, \
         `docker ps -a --filter {label}` lists its containers and `docker network ls --filter \
         {label}` its network; a qemu cluster's VMs are QEMU processes whose command lines name \
         {shown}; an ssh cluster's nodes are on the machines of its inventory), then its state \
         directory (`rm -r {quoted}`)",
        short(path, message)
    )
}

/// The first part of [`unreadable`]: which file, and what is wrong with it.
fn short(path: &Path, message: &str) -> String {
    format!(
        "{} is not a cluster state file of format {STATE_FORMAT}: {message}",
        path.display()
    )
}

impl StateError {
    /// This error as `clusters` lists it beside the readable clusters: an unreadable state file
    /// without what to do about it, which `status` or `destroy` of the cluster says.
    pub fn listed(&self) -> String {
        match self {
            StateError::Parse { path, message } => short(path, message),
            other => other.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreadable_state_says_how_to_remove_the_cluster_and_its_directory() {
        let path = Path::new("/states/pg/state.json");
        let said = unreadable(path, "it has format 2");
        assert!(
            said.starts_with(
                "/states/pg/state.json is not a cluster state file of format 1: it has format 2; \
                 this baker cannot act on cluster pg through it: destroy the cluster with the \
                 baker that launched it"
            ),
            "{said}"
        );
        for told in [
            "`docker ps -a --filter label=baker.cluster=pg` lists its containers",
            "`docker network ls --filter label=baker.cluster=pg` its network",
            "(`rm -r /states/pg`)",
        ] {
            assert!(said.contains(told), "{told} in {said}");
        }
        let listed = StateError::Parse {
            path: path.to_owned(),
            message: "it has format 2".into(),
        };
        assert_eq!(
            listed.listed(),
            "/states/pg/state.json is not a cluster state file of format 1: it has format 2"
        );
    }
}
