//! `baker destroy`: removes what a cluster made, through the provider it was launched with, or, for a
//! cluster whose launch died before writing its state, by what carries its name (VMs by their
//! command lines, containers and networks by their label); then says what it removed.

use std::process::ExitCode;

use baker::engine::Engine;
use baker::launch::launch_lock::LaunchWork;
use baker::launch::provider::Removed;
use baker::launch::run;
use baker::launch::ssh::SshProvider;
use baker::launch::state::{ClusterState, StateDir};
use baker::progress::Event;

use super::super::Global;
use super::super::launch::states;
use super::super::launch_qemu;
use super::super::output::emit_line;
use super::{ClusterArg, docker_provider};

pub fn destroy(global: &Global, args: &ClusterArg) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Runtime::new()?;
    let states = states()?;
    let state = run::state_or_empty(&states, &args.name, "docker")?;
    if state.recipe.is_empty() {
        return destroy_unrecorded(global, &runtime, &states, &state);
    }
    let removed = runtime.block_on(async {
        with_provider!(global, state, |provider| anyhow::Ok(
            run::destroy(&provider, &states, &state).await?
        ))
    })?;
    if !global.quiet {
        let n = removed.nodes;
        let what = match (state.provider.as_str(), n == 1) {
            ("qemu", true) => format!("{n} VM removed, with its overlay"),
            ("qemu", false) => format!("{n} VMs removed, with their overlays"),
            // Nodes, not machines: a machine may run several of the cluster's nodes.
            ("ssh", true) => format!("{n} node cleaned (the installed software stays)"),
            ("ssh", false) => format!("{n} nodes cleaned (the installed software stays)"),
            _ => format!("{} removed", containers_and_networks(removed)),
        };
        emit_line(&format!("destroyed {}: {what}", args.name))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `destroy` of a cluster without a state: its launch died before writing one, or its directory
/// was removed by hand. Its VMs are found by their command lines, which name the cluster's
/// directory, and its containers and networks by their label, where a Docker engine answers.
fn destroy_unrecorded(
    global: &Global,
    runtime: &tokio::runtime::Runtime,
    states: &StateDir,
    state: &ClusterState,
) -> anyhow::Result<ExitCode> {
    let reporter = super::super::launch::reporter(global.quiet);
    let (vms, containers) = runtime.block_on(async {
        // One lock for both: no launch of the name starts between them.
        let held = states.lock_launch(&state.name, LaunchWork::Destroy)?;
        let qemu = launch_qemu::provider_of(states, state);
        let vms = run::destroy_locked(&qemu, states, state, &held).await?;
        let containers = match Engine::connect(reporter.as_ref()).await {
            Ok(engine) => {
                let docker = docker_provider(&engine, state).await?;
                run::destroy_locked(&docker, states, state, &held).await?
            }
            Err(e) => {
                reporter.report(Event::Warning(format!(
                    "not looking for containers of {}: {e}",
                    state.name
                )));
                Removed::default()
            }
        };
        anyhow::Ok((vms, containers))
    })?;
    if !global.quiet {
        let name = &state.name;
        emit_line(&match (vms.nodes, containers.nothing()) {
            // Nothing carried the cluster's directory or label: a repeated destroy.
            (0, true) => format!("no cluster {name} is left: nothing to remove"),
            (0, false) => format!(
                "destroyed {name}: {} removed",
                containers_and_networks(containers)
            ),
            (n, true) => format!(
                "destroyed {name}, which had no state: {} stopped",
                vms_count(n)
            ),
            (n, false) => format!(
                "destroyed {name}, which had no state: {} stopped, {} removed",
                vms_count(n),
                containers_and_networks(containers)
            ),
        })?;
    }
    Ok(ExitCode::SUCCESS)
}

/// "1 VM", "2 VMs".
fn vms_count(n: usize) -> String {
    counted(n, "VM")
}

/// "3 containers and 1 network", "2 containers".
fn containers_and_networks(removed: Removed) -> String {
    let containers = counted(removed.nodes, "container");
    match removed.networks {
        0 => containers,
        n => format!("{containers} and {}", counted(n, "network")),
    }
}

/// "1 thing", "2 things".
fn counted(n: usize, thing: &str) -> String {
    format!("{n} {thing}{}", if n == 1 { "" } else { "s" })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn containers_and_networks_are_counted_apart() {
        let removed = |nodes, networks| containers_and_networks(Removed { nodes, networks });
        assert_eq!(removed(3, 1), "3 containers and 1 network");
        assert_eq!(removed(1, 2), "1 container and 2 networks");
        assert_eq!(removed(2, 0), "2 containers");
    }
}
