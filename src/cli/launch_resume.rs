//! `baker launch NAME --resume`: finishes an interrupted launch with the provider, plan and nodes
//! its state directory recorded (the library's [`baker::launch::resume`]); other options are
//! ignored but `--publish-all` and `--keep-failed`.

use std::process::ExitCode;
use std::sync::Arc;

use baker::engine::Engine;
use baker::image::boot::kvm_memory::KvmMemory;
use baker::launch::LaunchError;
use baker::launch::docker::DockerProvider;
use baker::launch::provider::Provider;
use baker::launch::qemu_runner::QemuRunner;
use baker::launch::resume;
use baker::launch::ssh::SshProvider;
use baker::launch::ssh_repos::repositories;
use baker::launch::state::{ClusterState, StateDir};
use baker::plan::Plan;
use baker::progress::Reporter;

use super::Global;
use super::launch::{LaunchArgs, finish_launch, host_ip, states};
use super::launch_qemu;
use super::signals::interrupted;

/// `baker launch NAME --resume`: the cluster's own plan and provider, from its state directory.
pub(super) fn resume_launch(
    global: &Global,
    args: &LaunchArgs,
    runtime: &tokio::runtime::Runtime,
    reporter: Arc<dyn Reporter>,
) -> anyhow::Result<ExitCode> {
    let states = states();
    let state = states.load(&args.name)?;
    let plan = resume::launched_plan(&states, &args.name)?;
    let outcome = runtime.block_on(async {
        match state.provider.as_str() {
            "docker" => {
                let engine = Engine::connect(reporter.as_ref()).await?;
                let provider = DockerProvider {
                    engine: &engine,
                    image: state.resources.get("image").cloned().unwrap_or_default(),
                    host_ip: host_ip(args.publish_all),
                };
                resume_with(&provider, &states, &plan, args, reporter).await
            }
            "ssh" => {
                let mut provider = SshProvider::from_state(&state);
                provider.repositories = repositories(&plan, &global.cache());
                resume_with(&provider, &states, &plan, args, reporter).await
            }
            "qemu" => {
                let runner =
                    QemuRunner::choose(QemuRunner::recorded(&state), &global.cache(), &reporter)
                        .await?;
                let provider = launch_qemu::provider_of(&states, &state)
                    .remembering_kvm(KvmMemory::in_cache(&global.cache()))
                    .running_qemu(runner);
                resume_with(&provider, &states, &plan, args, reporter).await
            }
            other => Err(LaunchError::Input(format!(
                "cluster {} uses the {other} provider, which this baker cannot resume",
                args.name
            ))),
        }
    });
    finish_launch(global, outcome, &plan)
}

/// Finishes cluster `args.name`'s launch with its provider.
async fn resume_with<P: Provider>(
    provider: &P,
    states: &StateDir,
    plan: &Plan,
    args: &LaunchArgs,
    reporter: Arc<dyn Reporter>,
) -> Result<ClusterState, LaunchError> {
    let (name, keep) = (&args.name, args.keep_failed);
    resume::resume(provider, states, plan, name, keep, reporter, interrupted()).await
}
