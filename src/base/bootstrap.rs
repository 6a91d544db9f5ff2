//! Debian and Ubuntu base images from nothing but a package mirror: `debootstrap` builds a minimal
//! root filesystem in a temporary directory on the host, the tree is streamed into the engine's image
//! import, and the directory is removed whatever happens. This is how baker gets `debian:bookworm` on
//! a machine that reaches Debian's archive but no container registry.
//!
//! The host needs root and `debootstrap` (`apt-get install debootstrap`). Debian suites default to the
//! mirror in the machine's apt configuration ([`super::apt`]); Ubuntu needs `--mirror` and the
//! `ubuntu-keyring` package (or `--keyring FILE`; `--no-check-gpg` skips verification, loudly).
//! CentOS has no debootstrap: see [`super::CENTOS_HOWTO`].

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};

use super::import::{ImportOptions, import_tree};
use super::workdir::Workdir;
use super::{BaseError, CENTOS_HOWTO, apt, validate_tag};
use crate::engine::Engine;
use crate::progress::{Event, Reporter};
use crate::recipe::Distro;

/// What debootstrap installs: `minbase` (essential packages and apt) or `buildd` (plus build-essential).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Variant {
    #[default]
    Minbase,
    Buildd,
}

impl Variant {
    pub fn name(self) -> &'static str {
        match self {
            Variant::Minbase => "minbase",
            Variant::Buildd => "buildd",
        }
    }
}

/// The debootstrap suite of a distro and the keyring its archive is signed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Suite {
    pub name: &'static str,
    pub keyring: &'static str,
    /// The Debian package that ships `keyring`.
    pub keyring_package: &'static str,
    /// Whether the machine's apt configuration can supply the mirror.
    pub debian: bool,
    /// The archive components the image's sources.list names (`--components`; debootstrap's
    /// default is `main` alone). Ubuntu's are those of Docker Hub's image: trusty's Maven, which
    /// the Mesos recipe needs, is in universe.
    pub components: Option<&'static str>,
}

pub fn suite(distro: Distro) -> Result<Suite, BaseError> {
    match distro {
        Distro::Debian12 => Ok(Suite {
            name: "bookworm",
            keyring: "/usr/share/keyrings/debian-archive-keyring.gpg",
            keyring_package: "debian-archive-keyring",
            debian: true,
            components: None,
        }),
        Distro::Ubuntu1404 => Ok(Suite {
            name: "trusty",
            keyring: "/usr/share/keyrings/ubuntu-archive-keyring.gpg",
            keyring_package: "ubuntu-keyring",
            debian: false,
            components: Some("main,restricted,universe,multiverse"),
        }),
        Distro::Centos66 => Err(BaseError::Unsupported {
            distro: distro.to_string(),
            reason: CENTOS_HOWTO.to_owned(),
        }),
    }
}

/// `baker base bootstrap` as given, before any check.
#[derive(Debug, Clone, Default)]
pub struct BootstrapSpec {
    pub distro: String,
    pub mirror: Option<String>,
    pub tag: String,
    pub variant: Variant,
    pub include: Vec<String>,
    pub keyring: Option<PathBuf>,
    pub no_check_gpg: bool,
    pub labels: Vec<(String, String)>,
}

/// How the Release file is verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verify {
    Keyring(PathBuf),
    /// `--no-check-gpg`: nothing is verified.
    Unchecked,
}

/// A checked bootstrap, ready to run.
#[derive(Debug, Clone)]
pub struct Debootstrap {
    pub suite: Suite,
    pub mirror: String,
    pub variant: Variant,
    pub include: Vec<String>,
    pub verify: Verify,
    pub import: ImportOptions,
    pub program: PathBuf,
}

impl BootstrapSpec {
    /// Checks the arguments against `sources` (the machine's apt entries); touches nothing.
    pub fn validate(&self, sources: &[apt::AptSource]) -> Result<Debootstrap, BaseError> {
        let invalid = |what: String| Err(BaseError::Precondition { what });
        let Some(distro) = Distro::parse(&self.distro) else {
            return invalid(Distro::unknown(&self.distro));
        };
        let suite = suite(distro)?;
        validate_tag(&self.tag)?;
        let mirror = match (&self.mirror, suite.debian) {
            (Some(m), _) => m.trim().to_owned(),
            (None, true) => {
                apt::debian_mirror(sources, suite.name).ok_or_else(|| BaseError::Precondition {
                    what: format!(
                        "no Debian mirror for {} in this machine's apt configuration \
                     (/etc/apt/sources.list, /etc/apt/sources.list.d/); pass --mirror URL",
                        suite.name
                    ),
                })?
            }
            (None, false) => {
                return invalid(format!(
                    "{distro} needs --mirror URL (an Ubuntu archive serving {}); \
                     only Debian mirrors are taken from this machine's apt configuration",
                    suite.name
                ));
            }
        };
        if !["http://", "https://", "file:/"]
            .iter()
            .any(|p| mirror.starts_with(p))
        {
            return invalid(format!(
                "--mirror `{mirror}` must be an http://, https:// or file:/ URL"
            ));
        }
        if let Some(bad) = self.include.iter().find(|p| !valid_package_name(p)) {
            return invalid(format!("--include `{bad}` is not a Debian package name"));
        }
        if self.no_check_gpg && self.keyring.is_some() {
            return invalid(
                "--keyring and --no-check-gpg contradict each other; give one".to_owned(),
            );
        }
        let verify = if self.no_check_gpg {
            Verify::Unchecked
        } else {
            Verify::Keyring(self.keyring.clone().unwrap_or_else(|| suite.keyring.into()))
        };
        Ok(Debootstrap {
            suite,
            mirror,
            variant: self.variant,
            include: self.include.clone(),
            verify,
            import: ImportOptions {
                tag: self.tag.clone(),
                labels: self.labels.clone(),
                changes: vec![r#"CMD ["bash"]"#.to_owned()],
            },
            program: PathBuf::from("debootstrap"),
        })
    }

    /// [`validate`](Self::validate) against `/etc/apt`, then checks the host: root, debootstrap and
    /// the keyring, each with the command that provides it.
    pub fn prepare(&self) -> Result<Debootstrap, BaseError> {
        let mut plan = self.validate(&apt::read_sources(Path::new("/etc/apt")))?;
        let missing = |what: String| Err(BaseError::Precondition { what });
        if !is_root() {
            return missing(
                "debootstrap needs root (it creates device nodes, chroots and sets file owners); \
                 run `sudo baker base bootstrap …`"
                    .to_owned(),
            );
        }
        plan.program = match find_program("debootstrap") {
            Some(p) => p,
            None => {
                return missing(
                    "debootstrap is not installed: `apt-get install debootstrap`".to_owned(),
                );
            }
        };
        if let Verify::Keyring(keyring) = &plan.verify {
            if !keyring.is_file() {
                return missing(format!(
                    "the keyring {} that signs {} is missing: `apt-get install {}`, or pass --keyring FILE \
                     (or, unverified, --no-check-gpg)",
                    keyring.display(),
                    plan.suite.name,
                    plan.suite.keyring_package
                ));
            }
        }
        Ok(plan)
    }
}

/// Debian package names: lower-case alphanumerics and `+ - .`, at least two, starting alphanumeric.
fn valid_package_name(name: &str) -> bool {
    name.len() >= 2
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '+' | '-' | '.'))
}

fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    // /proc/self belongs to the effective user; without /proc, let debootstrap say it.
    std::fs::metadata("/proc/self").map_or(true, |m| m.uid() == 0)
}

/// `name` on PATH or in the sbin directories a non-root PATH often lacks.
fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/local/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

impl Debootstrap {
    /// The debootstrap command line for `target`.
    pub fn args(&self, target: &Path) -> Vec<String> {
        let mut args = vec![format!("--variant={}", self.variant.name())];
        if let Some(components) = self.suite.components {
            args.push(format!("--components={components}"));
        }
        if !self.include.is_empty() {
            args.push(format!("--include={}", self.include.join(",")));
        }
        match &self.verify {
            Verify::Keyring(k) => args.push(format!("--keyring={}", k.display())),
            Verify::Unchecked => args.push("--no-check-gpg".to_owned()),
        }
        args.push(self.suite.name.to_owned());
        args.push(target.display().to_string());
        args.push(self.mirror.clone());
        args
    }

    /// Bootstraps into a temporary directory, imports it as the image and removes the directory;
    /// returns the image id.
    pub async fn run(
        &self,
        engine: &Engine,
        reporter: Arc<dyn Reporter>,
    ) -> Result<String, BaseError> {
        if self.verify == Verify::Unchecked {
            reporter.report(Event::Warning(format!(
                "--no-check-gpg: the packages from {} are NOT verified; \
                 anyone between this machine and the mirror can change what goes into {}",
                self.mirror, self.import.tag
            )));
        }
        let workdir = Workdir::new(reporter.clone())?;
        let target = workdir.path.join("rootfs");
        std::fs::create_dir(&target).map_err(|source| BaseError::Workdir {
            dir: workdir.path.clone(),
            source,
        })?;
        self.debootstrap(&target, &workdir.path, reporter.clone())
            .await?;
        let started = Instant::now();
        let id = import_tree(engine, &target, &self.import, reporter.clone()).await?;
        reporter.report(Event::Note(format!(
            "imported {} as {} in {:.0?}",
            self.suite.name,
            self.import.tag,
            started.elapsed()
        )));
        let started = Instant::now();
        let dir = workdir.path.display().to_string();
        drop(workdir);
        reporter.report(Event::Note(format!(
            "removed {dir} in {:.0?}",
            started.elapsed()
        )));
        Ok(id)
    }

    async fn debootstrap(
        &self,
        target: &Path,
        workdir: &Path,
        reporter: Arc<dyn Reporter>,
    ) -> Result<(), BaseError> {
        let args = self.args(target);
        let program = self.program.display().to_string();
        reporter.report(Event::Note(format!("running {program} {}", args.join(" "))));
        let started = Instant::now();
        let mut child = tokio::process::Command::new(&self.program)
            .args(&args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|source| BaseError::Spawn {
                program: program.clone(),
                source,
            })?;
        let tail = Arc::new(Mutex::new(Vec::new()));
        let out = forward_lines(child.stdout.take(), reporter.clone(), tail.clone());
        let err = forward_lines(child.stderr.take(), reporter.clone(), tail.clone());
        let (status, (), ()) = tokio::join!(child.wait(), out, err);
        let status = status.map_err(|source| BaseError::Spawn { program, source })?;
        if status.success() {
            reporter.report(Event::Note(format!(
                "debootstrap {} finished in {:.0?}",
                self.suite.name,
                started.elapsed()
            )));
            return Ok(());
        }
        // debootstrap's own log dies with the working directory; keep a copy beside it.
        let kept = std::env::temp_dir().join(format!(
            "baker-debootstrap-{}-{}.log",
            self.suite.name,
            std::process::id()
        ));
        let log = match std::fs::copy(target.join("debootstrap/debootstrap.log"), &kept) {
            Ok(_) => format!("the full log is in {}", kept.display()),
            Err(_) => format!("debootstrap wrote no log in {}", workdir.display()),
        };
        let tail = tail.lock().map(|t| t.join("\n")).unwrap_or_default();
        Err(BaseError::Debootstrap {
            suite: self.suite.name.to_owned(),
            mirror: self.mirror.clone(),
            status: status.to_string(),
            tail,
            log,
        })
    }
}

/// Reports each line as a note and keeps the last 30 for the error message.
async fn forward_lines(
    pipe: Option<impl AsyncRead + Unpin>,
    reporter: Arc<dyn Reporter>,
    tail: Arc<Mutex<Vec<String>>>,
) {
    let Some(pipe) = pipe else { return };
    let mut reader = BufReader::new(pipe);
    let mut buf = Vec::new();
    while let Ok(n) = reader.read_until(b'\n', &mut buf).await {
        if n == 0 {
            break;
        }
        let line = String::from_utf8_lossy(&buf).trim_end().to_owned();
        buf.clear();
        if line.is_empty() {
            continue;
        }
        if let Ok(mut tail) = tail.lock() {
            if tail.len() == 30 {
                tail.remove(0);
            }
            tail.push(line.clone());
        }
        reporter.report(Event::Note(line));
    }
}

#[cfg(test)]
#[path = "bootstrap_tests.rs"]
mod tests;
