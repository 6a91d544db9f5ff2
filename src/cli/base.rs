//! `baker base`: make base images on this machine when no registry can serve them — import a root
//! filesystem tarball, or debootstrap Debian/Ubuntu and import the result. Progress goes to stderr
//! (none with `--quiet`), the image id to stdout. Ctrl-C or SIGTERM drops the work, which stops
//! debootstrap and removes its working directory, and exits with status 130.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Args, Subcommand, ValueEnum};

use baker::base::{self, BootstrapSpec, ImportOptions, Variant};
use baker::engine::Engine;
use baker::progress::{Event, Reporter, Silent};

use super::Global;
use super::output::{emit_line, say};
use super::signals::{interrupted, stopped};

const BOOTSTRAP_LONG: &str = "\
Run debootstrap on this host into a temporary directory, stream the tree into the engine's image \
import (labelled baker.base=1, CMD bash), and remove the directory, also on failure.

Needs root and debootstrap (`apt-get install debootstrap`). The working directory is made under \
$TMPDIR (default /tmp), which must allow exec and device nodes (not noexec or nodev).

Debian (debian12, bookworm): --mirror defaults to the Debian archive in this machine's apt \
configuration (/etc/apt/sources.list and sources.list.d), read at run time; the image's apt uses the \
same mirror. The Release file is verified with /usr/share/keyrings/debian-archive-keyring.gpg.

Ubuntu (ubuntu14.04, trusty): --mirror is required (an archive serving trusty). Verification needs \
/usr/share/keyrings/ubuntu-archive-keyring.gpg (`apt-get install ubuntu-keyring`) or --keyring FILE; \
--no-check-gpg skips it, with a warning: anyone on the path can then change the packages.

CentOS has no debootstrap. Where a registry is reachable: `docker pull centos:6.6`. Otherwise, on a \
CentOS/RHEL host with vault.centos.org repositories:
  yum --installroot=/tmp/root --releasever=6 install yum centos-release
  tar -C /tmp/root -c . > root.tar
  baker base import root.tar --tag centos:6.6";

#[derive(Debug, Subcommand)]
pub enum BaseCommand {
    /// Import a root filesystem tarball (plain or gzip/bzip2/xz) as an image; prints its id.
    Import(ImportArgs),
    /// Debootstrap Debian or Ubuntu on this host and import it as an image; prints its id.
    #[command(long_about = BOOTSTRAP_LONG)]
    Bootstrap(BootstrapArgs),
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The root filesystem: a tar archive of `/`, compressed or not.
    #[arg(value_name = "ROOTFS.tar[.gz]")]
    pub rootfs: PathBuf,
    #[command(flatten)]
    pub image: ImageArgs,
}

#[derive(Debug, Args)]
pub struct BootstrapArgs {
    /// debian12 (bookworm) or ubuntu14.04 (trusty); CentOS: see --help.
    #[arg(long)]
    pub distro: String,
    /// The archive to bootstrap from [default for Debian: this machine's apt mirror].
    #[arg(long, value_name = "URL")]
    pub mirror: Option<String>,
    /// The debootstrap variant.
    #[arg(long, value_enum, default_value_t = VariantArg::Minbase)]
    pub variant: VariantArg,
    /// Extra packages, comma-separated or repeated.
    #[arg(long, value_name = "PKGS", value_delimiter = ',')]
    pub include: Vec<String>,
    /// The keyring that verifies the archive [default: the distro's archive keyring].
    #[arg(long, value_name = "FILE")]
    pub keyring: Option<PathBuf>,
    /// Do not verify the archive's signature at all (loudly warned; last resort).
    #[arg(long)]
    pub no_check_gpg: bool,
    #[command(flatten)]
    pub image: ImageArgs,
}

/// What both subcommands share: the image's name and labels.
#[derive(Debug, Args)]
pub struct ImageArgs {
    /// The image to create, `NAME[:TAG]` (e.g. debian:bookworm).
    #[arg(long, value_name = "TAG")]
    pub tag: String,
    /// An extra label KEY=VALUE (repeatable); baker.base=1 is always set.
    #[arg(long = "label", value_name = "KEY=VALUE")]
    pub labels: Vec<String>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum VariantArg {
    Minbase,
    Buildd,
}

impl ImageArgs {
    fn labels(&self) -> anyhow::Result<Vec<(String, String)>> {
        Ok(self
            .labels
            .iter()
            .map(|l| base::parse_label(l))
            .collect::<Result<_, _>>()?)
    }
}

/// Prints notes and warnings to stderr, one line each, prefixed so they stand apart from other output.
struct Notes;

impl Reporter for Notes {
    fn report(&self, event: Event) {
        match event {
            Event::Note(line) => say(&format!("base| {line}")),
            Event::Warning(line) => say(&format!("base| warning: {line}")),
            _ => {}
        }
    }
}

pub fn run(global: &Global, cmd: BaseCommand) -> anyhow::Result<ExitCode> {
    let reporter: Arc<dyn Reporter> = if global.quiet {
        Arc::new(Silent)
    } else {
        Arc::new(Notes)
    };
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let work = async {
        match cmd {
            BaseCommand::Import(args) => import(args, reporter).await,
            BaseCommand::Bootstrap(args) => bootstrap(args, reporter).await,
        }
    };
    // Dropping `work` on a signal kills debootstrap and removes its working directory.
    let id = runtime.block_on(async {
        tokio::select! {
            id = work => id.map(Some),
            () = interrupted() => Ok(None),
        }
    })?;
    let Some(id) = id else {
        return Ok(stopped("interrupted (nothing was left behind)"));
    };
    emit_line(&id)?;
    Ok(ExitCode::SUCCESS)
}

async fn import(args: ImportArgs, reporter: Arc<dyn Reporter>) -> anyhow::Result<String> {
    let options = ImportOptions {
        tag: args.image.tag.clone(),
        labels: args.image.labels()?,
        changes: Vec::new(),
    };
    base::validate_tag(&options.tag)?;
    let engine = Engine::connect(reporter.as_ref()).await?;
    Ok(base::import_tarball(&engine, &args.rootfs, &options, reporter).await?)
}

async fn bootstrap(args: BootstrapArgs, reporter: Arc<dyn Reporter>) -> anyhow::Result<String> {
    let spec = BootstrapSpec {
        distro: args.distro,
        mirror: args.mirror,
        tag: args.image.tag.clone(),
        variant: match args.variant {
            VariantArg::Minbase => Variant::Minbase,
            VariantArg::Buildd => Variant::Buildd,
        },
        include: args.include,
        keyring: args.keyring,
        no_check_gpg: args.no_check_gpg,
        labels: args.image.labels()?,
    };
    let plan = spec.prepare()?;
    let engine = Engine::connect(reporter.as_ref()).await?;
    Ok(plan.run(&engine, reporter).await?)
}
