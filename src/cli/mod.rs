//! Command-line surface: one file per subcommand, this file only dispatches and holds the options
//! every subcommand shares. Everything the CLI prints goes through [`output`].

mod base;
mod build;
mod cache;
mod cluster;
mod folder_arg;
mod headings;
mod heartbeat;
mod image;
mod image_boot;
mod launch;
mod launch_flags;
mod launch_qemu;
mod launch_resume;
mod launch_summary;
pub mod logging;
pub mod output;
mod plan;
mod progress;
mod qemu_flags;
mod recipes;
mod select;
mod signals;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};

use baker::cache::CacheDir;
use baker::recipe::Catalog;

pub use output::emit;

/// Reproducible, cached builds of Apache Mesos into tarballs, disk images and clusters.
#[derive(Debug, Parser)]
#[command(name = "baker", version, about, long_about = None, after_help = ENVIRONMENT)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// The options every subcommand takes, shown under [`headings::GLOBAL`] in each one's help.
#[derive(Debug, Args)]
#[command(next_help_heading = headings::GLOBAL)]
pub struct Global {
    /// More detail on stderr (-v: debug, -vv: trace, including cache-key material).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Print nothing but errors and what was asked for (a plan, a list, a log, an image id): no
    /// progress, notes, warnings or summaries, such as what `build`, `launch` or `destroy` made or
    /// removed; `status` answers by its exit code alone (and its JSON, with --json).
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// The cache root [default: ~/.cache/baker].
    #[arg(
        long,
        global = true,
        value_name = "DIR",
        env = "BAKER_CACHE_DIR",
        value_parser = folder_arg::folder
    )]
    pub cache_dir: Option<PathBuf>,
    /// The lock file of first-download sha256s of unpinned files; keep it beside your recipes under
    /// version control [default: $BAKER_LOCK, else baker.lock in the cache root].
    #[arg(
        long,
        global = true,
        value_name = "PATH",
        env = "BAKER_LOCK",
        value_parser = folder_arg::file
    )]
    pub lock: Option<PathBuf>,
    /// A directory of extra recipes (`<name>/<distro>.toml`); they replace embedded ones of the same name and distro.
    #[arg(
        long,
        global = true,
        value_name = "DIR",
        env = "BAKER_RECIPES_DIR",
        value_parser = folder_arg::existing_folder
    )]
    pub recipes_dir: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List every recipe with its distro, versions and source.
    Recipes(recipes::RecipesArgs),
    /// Print the resolved build plan of a recipe; nothing is run.
    Plan(plan::PlanArgs),
    /// Build a recipe in containers into a reproducible tarball with a manifest.
    Build(build::BuildArgs),
    /// Make bootable disk images (raw, ami, qcow2, vhd, gce) from a build; `image boot` boots one.
    Image(image::ImageArgs),
    /// Show and bound what the cache holds.
    #[command(subcommand)]
    Cache(cache::CacheCommand),
    /// Make base images locally when no registry can serve them (import a rootfs, or debootstrap one).
    #[command(subcommand)]
    Base(base::BaseCommand),
    /// Launch a cluster from a build, with preset master and slave roles, and wait until it is ready.
    Launch(launch::LaunchArgs),
    /// Show a cluster's nodes: role, address, provider id, ready or not; exits 3 when it is not ready.
    #[command(after_help = cluster::STATUS_EXIT)]
    Status(cluster::StatusArgs),
    /// Open a shell on a node of a cluster (the master by default), or run a command there.
    Login(cluster::LoginArgs),
    /// Show a node's role log (and, for a Mesos slave, its newest task's stderr).
    Logs(cluster::LogsArgs),
    /// Remove everything a cluster created; safe to repeat.
    Destroy(cluster::ClusterArg),
    /// List the clusters launched from this machine.
    Clusters(cluster::ClustersArgs),
}

/// What baker reads from the environment besides the variables named at options (`[env: …]`).
const ENVIRONMENT: &str = "\
Environment, besides the variables named at options (here and in `baker COMMAND --help`):
  BAKER_STATE_DIR         where clusters' states are kept [default: baker/clusters in
                          $XDG_STATE_HOME, else ~/.local/state/baker/clusters]
  BAKER_MIRRORS           source mirrors tried before upstream, like --mirror (URLs or folders,
                          separated by spaces or commas)
  BAKER_RESPONSE_TIMEOUT  seconds a download server may take to start answering [default: 30]
  BAKER_ENGINE_TIMEOUT    whole seconds the Docker engine may take to answer the first calls
                          [default: 10]
  DOCKER_HOST             the Docker engine (unix://, tcp://, ssh://) [default: unix:///var/run/docker.sock]
  SOURCE_DATE_EPOCH       the epoch file times are clamped to [default: the source's newest file]
  BAKER_LABELS            labels added to what baker makes in the Docker engine (k=v,k=v)
  BAKER_TOOLS_BASE        the base of baker's tools image (mkfs, GRUB, QEMU) [default: debian:bookworm]
  BAKER_LOG               the log's filter in place of -v and -q (baker=debug, baker::image=trace),
                          with times";

/// The command line, parsed; on a mistake clap's error, which exits, with a tip where clap alone
/// would not say why (an option given with `launch --resume`), or the first mistake where clap
/// reports a later one (`image --size --format raw`); an option of another provider given to
/// `launch` is refused here too.
pub fn parse() -> Cli {
    let mut command = Cli::command();
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let parsed = (command.try_get_matches_from_mut(&args)).and_then(|matches| {
        launch_resume::refuse_given_options(&mut command, &matches)?;
        launch_flags::refuse_other_providers(&mut command, &matches)?;
        Cli::from_arg_matches(&matches).map_err(|err| err.format(&mut command))
    });
    parsed.unwrap_or_else(|err| {
        // What the command line says read past its errors, for the two explanations.
        let lenient = (command.clone().ignore_errors(true))
            .try_get_matches_from(&args)
            .ok();
        let err = match image::forgotten_size(&mut command, &args, lenient.as_ref()) {
            Some(size) if err.use_stderr() => size,
            _ => err,
        };
        launch_resume::explain_refusal(err, lenient.as_ref()).exit()
    })
}

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Recipes(args) => recipes::run(&cli.global, &args),
        Command::Plan(args) => plan::run(&cli.global, &args),
        Command::Build(args) => build::run(&cli.global, &args),
        Command::Image(args) => image::run(&cli.global, &args),
        Command::Cache(cmd) => cache::run(&cli.global, &cmd),
        Command::Base(cmd) => base::run(&cli.global, cmd),
        Command::Launch(args) => launch::launch(&cli.global, &args),
        Command::Status(args) => cluster::status(&cli.global, &args),
        Command::Login(args) => cluster::login(&cli.global, &args),
        Command::Logs(args) => cluster::logs(&cli.global, &args),
        Command::Destroy(args) => cluster::destroy(&cli.global, &args),
        Command::Clusters(args) => cluster::clusters(&cli.global, &args),
    }
}

impl Global {
    pub fn cache(&self) -> CacheDir {
        CacheDir::new(
            self.cache_dir
                .clone()
                .unwrap_or_else(CacheDir::default_root),
        )
    }

    /// The lock file read when planning and written when an unpinned file is first downloaded:
    /// `--lock`, else `$BAKER_LOCK`, else `<cache>/baker.lock`.
    pub fn lock_file(&self) -> PathBuf {
        self.lock
            .clone()
            .unwrap_or_else(|| self.cache().lock_file())
    }

    /// Embedded recipes plus the recipes directory, if one is set.
    pub fn catalog(&self) -> anyhow::Result<Catalog> {
        let mut catalog = Catalog::embedded()?;
        if let Some(dir) = &self.recipes_dir {
            catalog.add_dir(dir)?;
        }
        Ok(catalog)
    }
}
