//! `baker launch NAME --resume`: finishes an interrupted launch with the provider, plan and nodes
//! its state directory recorded (the library's [`baker::launch::resume`]). Of the other options
//! only `--publish-all` (for a docker cluster launched with it, or before baker recorded it) and
//! `--keep-failed` apply; those that would change the cluster are refused
//! rather than ignored: by clap ([`NEW_LAUNCH_ONLY`], with [`explain_refusal`]'s tip saying why),
//! `--accel` and `--qemu` when on the command line ([`refuse_given_options`]), and `--slaves`
//! against the count the cluster was launched with.

use std::process::ExitCode;
use std::sync::Arc;

use baker::image::boot::kvm_memory::KvmMemory;
use baker::launch::LaunchError;
use baker::launch::docker::DockerProvider;
use baker::launch::docker_cluster::{connect_for, resumed_host_ip};
use baker::launch::provider::Provider;
use baker::launch::qemu_runner::QemuRunner;
use baker::launch::resume;
use baker::launch::ssh::SshProvider;
use baker::launch::ssh_repos::repositories;
use baker::launch::state::{ClusterState, StateDir};
use baker::plan::Plan;
use baker::progress::Reporter;
use baker::recipe::RoleKind;
use clap::ArgMatches;
use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::parser::ValueSource;

use super::Global;
use super::launch::{LaunchArgs, finish_launch};
use super::launch_flags::refuse_for_resumed;
use super::launch_qemu;
use super::signals::interrupted;

/// The options of a new launch, besides the selection and build flags, that `--resume` refuses
/// (clap's `conflicts_with_all`): it takes what they say from the cluster's state. `--slaves` is
/// checked in [`resume_launch`] instead, so that the refusal can give the cluster's count. Not
/// here: `--accel` and `--qemu`, which clap would then refuse whenever `$BAKER_QEMU_ACCEL` or
/// `$BAKER_QEMU` is set (the VMs started again run as the cluster's state recorded).
pub(super) const NEW_LAUNCH_ONLY: [&str; 12] = [
    "provider",
    "from",
    "masters",
    "image",
    "memory",
    "inventory",
    "ssh_user",
    "ssh_key",
    "accept_new_host_keys",
    "smoke",
    "out",
    "no_cache",
];

/// The options that `--resume` refuses only when they are on the command line: their variables
/// (`$BAKER_QEMU_ACCEL`, `$BAKER_QEMU`) may be set for every command, and clap's conflicts would
/// count those too. A resume starts the cluster's VMs as its state recorded.
const REFUSED_ON_THE_COMMAND_LINE: [&str; 2] = ["accel", "qemu"];

/// Clap's refusal, with its tip, of a [`REFUSED_ON_THE_COMMAND_LINE`] option given with
/// `launch --resume`, as clap refuses the [`NEW_LAUNCH_ONLY`] ones; `cli` is the parsed command.
pub(super) fn refuse_given_options(
    cli: &mut clap::Command,
    matches: &ArgMatches,
) -> Result<(), clap::Error> {
    let Some(("launch", launch)) = matches.subcommand() else {
        return Ok(());
    };
    let given = (REFUSED_ON_THE_COMMAND_LINE.into_iter())
        .find(|id| launch.value_source(id) == Some(ValueSource::CommandLine));
    let Some(given) = given.filter(|_| launch.get_flag("resume")) else {
        return Ok(());
    };
    let command = cli.find_subcommand_mut("launch").expect("baker launch");
    let arg = (command.get_arguments())
        .find(|arg| arg.get_id() == given)
        .map(ToString::to_string)
        .expect("an option of baker launch");
    let mut err = clap::Error::new(ErrorKind::ArgumentConflict).with_cmd(command);
    err.insert(ContextKind::InvalidArg, ContextValue::String(arg));
    err.insert(
        ContextKind::PriorArg,
        ContextValue::String("--resume".into()),
    );
    err.insert(
        ContextKind::Usage,
        ContextValue::StyledStr(command.render_usage()),
    );
    Err(err)
}

/// Why [`NEW_LAUNCH_ONLY`] and the others are refused with `--resume`, as a tip under clap's error,
/// for cluster `name`.
fn resume_tip(name: &str) -> String {
    format!(
        "--resume finishes the launch its cluster's state recorded (recipe, build, provider, \
         nodes, smoke test); to launch the cluster otherwise, `baker destroy {name}` and launch it \
         again"
    )
}

/// `err` with [`resume_tip`] when it is clap's refusal of an option given with `--resume`, naming
/// the cluster the command line (`lenient`: read past its errors) names.
pub(super) fn explain_refusal(
    mut err: clap::Error,
    lenient: Option<&clap::ArgMatches>,
) -> clap::Error {
    let names_resume = |kind| match err.get(kind) {
        Some(ContextValue::String(arg)) => arg == "--resume",
        Some(ContextValue::Strings(args)) => args.iter().any(|arg| arg == "--resume"),
        _ => false,
    };
    if err.kind() == ErrorKind::ArgumentConflict
        && (names_resume(ContextKind::InvalidArg) || names_resume(ContextKind::PriorArg))
    {
        let name = lenient
            .and_then(launched_name)
            .unwrap_or_else(|| "NAME".to_owned());
        err.insert(
            ContextKind::Suggested,
            ContextValue::StyledStrs(vec![resume_tip(&name).into()]),
        );
    }
    err
}

/// The cluster `baker launch NAME` names on a command line read past its errors.
fn launched_name(matches: &clap::ArgMatches) -> Option<String> {
    let (_, launch) = matches.subcommand().filter(|(cmd, _)| *cmd == "launch")?;
    launch.get_one::<String>("name").cloned()
}

/// `baker launch NAME --resume`: the cluster's own plan and provider, from its state directory.
pub(super) fn resume_launch(
    global: &Global,
    args: &LaunchArgs,
    states: &StateDir,
    runtime: &tokio::runtime::Runtime,
    reporter: Arc<dyn Reporter>,
) -> anyhow::Result<ExitCode> {
    let state = states.load_or_busy(&args.name)?;
    if let Some(asked) = args.slaves {
        anyhow::bail!(slaves_refusal(&state, asked));
    }
    if let Some(why) = refuse_for_resumed(&state.name, &state.provider, args.publish_all) {
        anyhow::bail!(why);
    }
    let plan = resume::launched_plan(states, &args.name)?;
    let outcome = runtime.block_on(async {
        match state.provider.as_str() {
            "docker" => {
                let dir = states.cluster_dir(&state.name);
                let engine = connect_for(&state, &dir, reporter.as_ref()).await?;
                let mut provider = DockerProvider::for_cluster(&engine, &state, &dir).await?;
                // Where its launch published the ports, so that a node made again is there too.
                provider.host_ip = resumed_host_ip(&state, args.publish_all)?;
                resume_with(&provider, states, &plan, args, reporter).await
            }
            "ssh" => {
                let mut provider =
                    SshProvider::from_state(&state, &states.cluster_dir(&state.name));
                provider.repositories = repositories(&plan, &global.cache());
                resume_with(&provider, states, &plan, args, reporter).await
            }
            "qemu" => {
                let runner =
                    QemuRunner::choose(QemuRunner::recorded(&state), &global.cache(), &reporter)
                        .await?;
                let provider = launch_qemu::provider_of(states, &state)
                    .remembering_kvm(KvmMemory::in_cache(&global.cache()))
                    .running_qemu(runner);
                resume_with(&provider, states, &plan, args, reporter).await
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

/// Why `--slaves ASKED` is refused with `--resume` of cluster `state`.
fn slaves_refusal(state: &ClusterState, asked: usize) -> String {
    let name = &state.name;
    let has = (state.nodes.iter())
        .filter(|node| node.kind == RoleKind::Slave)
        .count();
    let planned = format!(
        "cluster {name} was launched with {has} slave{}",
        if has == 1 { "" } else { "s" }
    );
    if asked == has {
        format!("--slaves is not used with --resume: {planned}, which it keeps; leave --slaves out")
    } else {
        format!(
            "--slaves cannot change a cluster on --resume: {planned}, and --resume finishes that \
             launch; to run {asked}, `baker destroy {name}` and launch it again with --slaves {asked}"
        )
    }
}
