//! `baker launch`. The library's [`baker::launch::run`] does the work; this file gets the build
//! (from `--from DIR`, or by building first), makes the chosen provider, turns Ctrl-C into the
//! launch's cancellation and prints where the cluster is. `--resume` is in `launch_resume.rs`, the
//! qemu provider's disk in `launch_qemu.rs`, the refusal of another provider's options in
//! `launch_flags.rs`, the commands on a launched cluster in `cluster.rs`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, ValueEnum};

use baker::image::boot::kvm_memory::KvmMemory;
use baker::launch::LaunchError;
use baker::launch::docker::launch_containers;
use baker::launch::inventory::read_inventory;
use baker::launch::members::slaves_to_launch;
use baker::launch::qemu_runner::QemuRunner;
use baker::launch::run::{self, LaunchRequest, check_request, check_size};
use baker::launch::ssh::SshProvider;
use baker::launch::ssh_repos::repositories;
use baker::launch::state::{ClusterState, StateDir};
use baker::plan::Plan;
use baker::progress::{Reporter, Silent};

use super::Global;
use super::build::{BuildFlags, build_output, build_stopped};
use super::headings;
use super::launch_flags::provider_name;
use super::launch_qemu;
use super::launch_summary;
use super::progress::TerminalReporter;
use super::qemu_flags::{AccelChoice, QemuChoice};
use super::select::Selection;
use super::signals::{interrupted, stopped};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProviderName {
    /// Nodes as containers on a network of their own (local, seconds).
    Docker,
    /// Nodes as VMs booted from copy-on-write overlays of the disk image (QEMU on this host).
    Qemu,
    /// Existing machines from an inventory (`--inventory`), over SSH; a host listed twice runs two nodes.
    Ssh,
}

/// `--out` of `baker launch`.
const OUT_HELP: &str = "Where the build's files go when it builds first [default: out]; \
`--provider qemu`: and the disk image it makes (with --from, into that build's folder unless --out \
names another), which replaces an image of another build there, removing its files";

/// `--no-cache` of `baker launch`.
const NO_CACHE_HELP: &str = "Run every build step even when the step cache has it; \
`--provider qemu`: and make the image's OS layer again";

#[derive(Debug, Args)]
#[command(
    mut_arg("out", |a| a.help(OUT_HELP)),
    mut_arg("no_cache", |a| a.help(NO_CACHE_HELP))
)]
pub struct LaunchArgs {
    /// The cluster's name: letters, digits and `-`, at most 40, starting with a letter.
    pub name: String,
    /// Where the nodes run. An option listed under another provider's heading below is refused
    /// rather than ignored.
    #[arg(long, value_enum, default_value = "docker")]
    pub provider: ProviderName,
    /// A build's output directory (plan.json and the tarball) instead of building first; its plan
    /// says the recipe, distro and version.
    #[arg(
        long,
        value_name = "DIR",
        conflicts_with_all = super::select::CHOSEN_BY_THE_BUILD,
        conflicts_with_all = super::select::ONLY_WHEN_BUILDING
    )]
    pub from: Option<PathBuf>,
    /// Nodes of the recipe's master role: 1, the only count baker supports (no recipe has a
    /// replicated master, such as several Mesos masters with ZooKeeper, yet).
    #[arg(long, default_value_t = 1)]
    pub masters: usize,
    /// Nodes of the recipe's slave role [default: 2, `--provider ssh`: every slave the inventory
    /// lists; none for a recipe without a slave role, such as hello].
    #[arg(long)]
    pub slaves: Option<usize>,
    /// Leave a cluster that failed its checks running, to look at it.
    #[arg(long)]
    pub keep_failed: bool,
    /// Once ready, run the recipe's smoke test (Mesos: the example framework; PostgreSQL: a row
    /// written on the primary and read on every standby).
    #[arg(long)]
    pub smoke: bool,
    /// Finish the interrupted launch of cluster NAME, or start its stopped nodes again, as its
    /// state says: recipe, build, provider, nodes and smoke test, a node made again published where
    /// the launch published the others. Of launch's own options only --keep-failed goes with it
    /// (and --publish-all, which the state already says, refused for a cluster launched without
    /// it or not on docker); the options that would change the cluster are refused.
    #[arg(
        long,
        conflicts_with_all = super::launch_resume::NEW_LAUNCH_ONLY,
        conflicts_with_all = super::select::CHOSEN_BY_THE_BUILD,
        conflicts_with_all = super::select::ONLY_WHEN_BUILDING
    )]
    pub resume: bool,
    #[command(flatten, next_help_heading = headings::BUILD_FIRST)]
    pub selection: Selection,
    #[command(flatten, next_help_heading = headings::BUILD_FIRST)]
    pub build: BuildFlags,
    /// A `baker image` output directory (image.json and its raw disk) to boot, instead of making
    /// the image first. Its build's plan is needed too: a plan.json beside the
    /// image (there when the image went into its build's folder), else --from BUILD_DIR (or the
    /// --distro and --recipe to plan it again).
    #[arg(long, value_name = "DIR", help_heading = headings::QEMU)]
    pub image: Option<PathBuf>,
    /// Each VM's memory in MiB.
    #[arg(
        long,
        value_name = "MIB",
        default_value_t = launch_qemu::DEFAULT_MEMORY_MIB,
        help_heading = headings::QEMU
    )]
    pub memory: u32,
    /// How QEMU runs the VMs (auto tries KVM on the first VM).
    #[arg(
        long,
        value_name = "ACCEL",
        env = "BAKER_QEMU_ACCEL",
        default_value = "auto",
        help_heading = headings::QEMU
    )]
    pub accel: AccelChoice,
    /// Whose QEMU runs the VMs.
    #[arg(
        long,
        value_name = "FROM",
        env = "BAKER_QEMU",
        default_value = "auto",
        help_heading = headings::QEMU
    )]
    pub qemu: QemuChoice,
    /// The machines, as a file of `master [USER@]HOST[:PORT]` and `slave [USER@]HOST[:PORT]`
    /// lines, or a Mesos deploy directory with `masters` and `slaves` files.
    #[arg(long, value_name = "PATH", help_heading = headings::SSH)]
    pub inventory: Option<PathBuf>,
    /// The SSH user for hosts the inventory names without one (default: what the SSH config
    /// says). Not root: commands go through `sudo -n`.
    #[arg(long, value_name = "USER", help_heading = headings::SSH)]
    pub ssh_user: Option<String>,
    /// The private key to log in with, and only it (default: the user's own identities, agent
    /// and SSH config).
    #[arg(long, value_name = "KEY", help_heading = headings::SSH)]
    pub ssh_key: Option<PathBuf>,
    /// Trust a machine's SSH host key that neither your known hosts nor the cluster's have, the
    /// first time baker sees it (OpenSSH's StrictHostKeyChecking=accept-new), keeping it in the
    /// cluster's own known hosts, which later commands check; without it such a key is refused. A
    /// changed key is refused either way.
    #[arg(long, help_heading = headings::SSH)]
    pub accept_new_host_keys: bool,
    /// Publish the roles' ports on every interface, not only 127.0.0.1.
    #[arg(long, help_heading = headings::DOCKER)]
    pub publish_all: bool,
}

/// Where the clusters' states are kept; an empty `$BAKER_STATE_DIR` is refused.
pub(super) fn states() -> anyhow::Result<StateDir> {
    Ok(StateDir::new(StateDir::default_root()?))
}

/// Where the library's progress, notes and warnings go: the terminal, or nowhere with `-q`.
pub(super) fn reporter(quiet: bool) -> Arc<dyn Reporter> {
    if quiet {
        Arc::new(Silent)
    } else {
        Arc::new(TerminalReporter::new())
    }
}

pub fn launch(global: &Global, args: &LaunchArgs) -> anyhow::Result<ExitCode> {
    // A state root refused fails before any work.
    let states = states()?;
    let reporter = reporter(global.quiet);
    let runtime = tokio::runtime::Runtime::new()?;
    if args.resume {
        return super::launch_resume::resume_launch(global, args, &states, &runtime, reporter);
    }
    if args.provider == ProviderName::Qemu {
        return launch_qemu(global, args, &states, &runtime, reporter);
    }
    if args.from.is_some() && (args.build.out.is_some() || args.build.no_cache) {
        // Refused rather than ignored, as --from refuses the options that steer a build.
        anyhow::bail!(
            "--out and --no-cache are not used with --from and --provider {}: the build is in --from \
             and the nodes make no files there; leave them out (with --provider qemu they say where the \
             disk image goes, and that its OS layer is made again)",
            provider_name(args.provider)
        );
    }
    let mut request = launch_request(args);
    // A name in use fails now, not after the build; held, it shows in `status` meanwhile.
    let reserved = states.reserve_launch(&args.name)?;
    let mut ssh = None;
    if args.from.is_none() {
        // Bad input fails, and the machines are checked, before the build, which may take long.
        fit_request(&mut request, args, &args.selection.plan(global)?)?;
        if args.provider == ProviderName::Ssh {
            ssh = Some(runtime.block_on(ssh_provider(args, request.slaves, &states))?);
        }
    }
    let Some(built) = build_output(
        global,
        args.from.as_deref(),
        &args.build,
        &args.selection,
        &runtime,
        reporter.clone(),
        None,
    )?
    else {
        return Ok(build_stopped());
    };
    fit_request(&mut request, args, &built.plan)?;
    if args.provider == ProviderName::Ssh && ssh.is_none() {
        ssh = Some(runtime.block_on(ssh_provider(args, request.slaves, &states))?);
    }
    if let Some(mut provider) = ssh {
        let plan = &built.plan;
        provider.tarball = Some((built.artifact.clone(), built.artifact_sha256.clone()));
        provider.repositories = repositories(plan, &global.cache());
        let inventory = args.inventory.clone().unwrap_or_default();
        request.resources = provider.resources(&inventory);
        let outcome = runtime.block_on(run::launch(
            &provider,
            &states,
            plan,
            &request,
            &reserved,
            reporter,
            interrupted(),
        ));
        return finish_launch(global, outcome, plan);
    }
    let host_ip = host_ip(args.publish_all);
    let outcome = runtime.block_on(launch_containers(
        &global.cache(),
        &states,
        &built,
        request,
        &reserved,
        host_ip,
        reporter,
        interrupted(),
    ));
    finish_launch(global, outcome, &built.plan)
}

/// `baker launch --provider qemu`: the image's raw disk (made first when not given), then VMs.
fn launch_qemu(
    global: &Global,
    args: &LaunchArgs,
    states: &StateDir,
    runtime: &tokio::runtime::Runtime,
    reporter: Arc<dyn Reporter>,
) -> anyhow::Result<ExitCode> {
    // A wrong image given with --image is refused as the input it is, before baker looks for QEMU
    // or an engine; QEMU is then found before the build and the image that make the disk, which
    // may take long.
    let given = (args.image.as_deref())
        .map(|dir| launch_qemu::given_image(global, args, dir))
        .transpose()?;
    if given.is_none() {
        // The image made first needs a local engine, which a remote one is refused as now.
        baker::image::ImageError::unless_local_engine()?;
    }
    let runner = runtime.block_on(QemuRunner::choose(
        args.qemu.from(),
        &global.cache(),
        &reporter,
    ))?;
    let mut request = launch_request(args);
    // A name in use fails now, not after the build and the image.
    let reserved = states.reserve_launch(&args.name)?;
    if args.from.is_none() && args.image.is_none() {
        // Bad input fails before the build and the image, which may take long.
        fit_request(&mut request, args, &args.selection.plan(global)?)?;
    }
    let Some((plan, disk)) =
        launch_qemu::plan_and_disk(global, args, given, runtime, reporter.clone())?
    else {
        return Ok(build_stopped());
    };
    fit_request(&mut request, args, &plan)?;
    request.resources = launch_qemu::resources(args, &disk, &runner);
    let provider = baker::launch::qemu::QemuProvider::new(
        disk,
        states.cluster_dir(&args.name),
        args.memory,
        args.accel.accel(),
    )
    .remembering_kvm(KvmMemory::in_cache(&global.cache()))
    .running_qemu(runner);
    let outcome = runtime.block_on(run::launch(
        &provider,
        states,
        &plan,
        &request,
        &reserved,
        reporter,
        interrupted(),
    ));
    finish_launch(global, outcome, &plan)
}

/// What `args` ask the library to launch (the provider adds its resources; [`fit_request`] the
/// slaves' default once the plan is known).
fn launch_request(args: &LaunchArgs) -> LaunchRequest {
    LaunchRequest {
        name: args.name.clone(),
        masters: args.masters,
        slaves: args.slaves.unwrap_or(0),
        keep_failed: args.keep_failed,
        smoke: args.smoke,
        resources: Default::default(),
        timings: Default::default(),
    }
}

/// Gives `request` the slaves `--slaves` asks for, or their default for `plan`, and checks it
/// against `plan`.
fn fit_request(request: &mut LaunchRequest, args: &LaunchArgs, plan: &Plan) -> anyhow::Result<()> {
    // An unreadable inventory is reported by `ssh_provider`.
    let listed = match (args.provider, &args.inventory) {
        (ProviderName::Ssh, Some(path)) => read_inventory(path).ok().map(|i| i.slaves.len()),
        _ => None,
    };
    request.slaves = slaves_to_launch(plan, args.slaves, listed);
    check_request(plan, request)?;
    Ok(check_size(provider_name(args.provider), request)?)
}

/// The `ssh` provider for a new launch: its inventory read, the master and the first `slaves`
/// slaves taken and every one of them checked; the cluster's known hosts in its directory.
async fn ssh_provider(
    args: &LaunchArgs,
    slaves: usize,
    states: &StateDir,
) -> anyhow::Result<SshProvider> {
    let Some(path) = &args.inventory else {
        anyhow::bail!(
            "--provider ssh needs --inventory PATH (a file of `master HOST` / `slave HOST` lines, or a Mesos deploy directory with `masters` and `slaves` files)"
        );
    };
    let provider = SshProvider::new(
        read_inventory(path)?.assign(slaves)?,
        args.ssh_user.clone().unwrap_or_default(),
        args.ssh_key.as_deref(),
        &states.cluster_dir(&args.name),
        args.accept_new_host_keys,
    );
    provider.check_hosts().await?;
    Ok(provider)
}

pub(super) fn host_ip(publish_all: bool) -> &'static str {
    if publish_all { "0.0.0.0" } else { "127.0.0.1" }
}

pub(super) fn finish_launch(
    global: &Global,
    outcome: Result<ClusterState, LaunchError>,
    plan: &Plan,
) -> anyhow::Result<ExitCode> {
    match outcome {
        Ok(state) => {
            if !global.quiet {
                launch_summary::print_cluster(&state, plan)?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e @ (LaunchError::Interrupted(_) | LaunchError::InterruptedEarly(_))) => {
            Ok(stopped(&e.to_string()))
        }
        Err(e) => Err(e.into()),
    }
}
