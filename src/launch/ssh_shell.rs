//! A shell on a node over SSH, for the providers whose nodes are machines (`qemu`: VMs reached
//! through a forwarded port; `ssh`: hosts from an inventory). It runs the system's OpenSSH client
//! rather than an SSH library: the client already honours the user's `~/.ssh/config`, agents and
//! jump hosts, which operators expect of a tool that logs into their machines, and `baker login`
//! needs the same client for its interactive shell anyway. A VM cluster has its own key pair, made
//! with `ssh-keygen` in the cluster's state directory (the private key 0600, never printed); machines
//! from an inventory are reached with the user's own identity and config unless given a key. Host
//! keys are always checked, as [`super::ssh_known_hosts`] says for each kind of node.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncRead;

use super::error::LaunchError;
use super::readiness::NodeShell;
use super::ssh_known_hosts::{HostKeys, Reached, config_path, explain_refusal};
use super::ssh_user_known_hosts::{Machine, asked, user_known_hosts, user_known_hosts_blocking};

/// Where and as whom to reach one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshTarget {
    pub host: String,
    pub port: u16,
    /// Empty: the user the SSH config (or the local login) names.
    pub user: String,
    /// The private key to use, and only it; `None`: the user's own identities, agent and config.
    pub key: Option<PathBuf>,
    /// How the machine's host key is checked.
    pub host_keys: HostKeys,
}

/// Why ssh itself failed (its exit code 255, or no answer in time), apart from anything the remote
/// command did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SshFailure {
    /// The machine's host key was refused: why, and what to do about it.
    HostKey(String),
    /// Anything else: no connection, a refused login, a timeout.
    Other(String),
}

impl std::fmt::Display for SshFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::HostKey(why) | Self::Other(why) => f.write_str(why),
        }
    }
}

/// The options of a command run without a terminal: it never prompts, and gives up on a machine
/// that does not answer.
const BATCH: [&str; 4] = ["-o", "BatchMode=yes", "-o", "ConnectTimeout=5"];

impl SshTarget {
    /// The `ssh` arguments up to (not including) the remote command, the host-key check included.
    /// The user's known hosts for the machine are asked of ssh on this thread unless known (see
    /// [`SshTarget::user_known_hosts`]): for a command line baker hands to the user's terminal.
    pub fn ssh_args(&self, interactive: bool) -> Vec<String> {
        let mode: &[&str] = if interactive { &["-t"] } else { &BATCH };
        self.ssh_args_with(mode, &self.user_known_hosts_blocking())
    }

    /// `baker login`'s `ssh` command line: an interactive shell on a terminal, or with `command`,
    /// the command (read by the remote user's shell) without one, whose exit code is ssh's, and
    /// with no message of the day (sshd shows it to interactive sessions only). Like the shell, it
    /// may prompt for what the user's own identity needs (a passphrase).
    pub fn login_args(&self, command: &[String]) -> Vec<String> {
        if command.is_empty() {
            return self.ssh_args(true);
        }
        let mut args = self.ssh_args_with(&["-T"], &self.user_known_hosts_blocking());
        // Options end at `--`: the command's words are never taken for ssh's.
        args.push("--".into());
        args.extend(command.iter().cloned());
        args
    }

    /// The machine, as the user's SSH config tells machines apart.
    fn machine(&self) -> Machine {
        Machine {
            user: self.user.clone(),
            host: self.host.clone(),
            port: self.port,
        }
    }

    /// The user's own known-hosts files for the machine when its host-key check lists them after
    /// the cluster's (none else), as their SSH config gives them: asked of `ssh -G` once per
    /// machine in a command (see [`super::ssh_user_known_hosts`]).
    pub async fn user_known_hosts(&self) -> Vec<String> {
        if !self.host_keys.lists_user_files() {
            return Vec::new();
        }
        user_known_hosts(&self.machine()).await
    }

    fn user_known_hosts_blocking(&self) -> Vec<String> {
        if !self.host_keys.lists_user_files() {
            return Vec::new();
        }
        user_known_hosts_blocking(&self.machine())
    }

    /// The `ssh` arguments in `mode`, the user's known hosts for the machine being `user_files`.
    pub(super) fn ssh_args_with(&self, mode: &[&str], user_files: &[String]) -> Vec<String> {
        let mut args: Vec<String> = vec!["ssh".into()];
        args.extend(mode.iter().map(|a| (*a).to_owned()));
        args.extend(self.host_keys.options(user_files));
        // Errors only: a refused host key still says why; "Permanently added" does not show.
        args.extend(["-o", "LogLevel=ERROR"].map(str::to_owned));
        if let Some(key) = &self.key {
            args.extend(["-o", "IdentitiesOnly=yes"].map(str::to_owned));
            args.extend(identity(key));
        }
        args.extend(["-p".to_owned(), self.port.to_string()]);
        if self.user.is_empty() {
            args.push(self.host.clone());
        } else {
            args.push(format!("{}@{}", self.user, self.host));
        }
        args
    }

    /// Runs `script` with bash on the node; its exit code and output (stdout then stderr).
    pub async fn run_script(&self, script: &str) -> Result<(i64, String), String> {
        self.run_remote("bash -s", script.as_bytes(), Duration::from_secs(120))
            .await
            .map_err(|e| e.to_string())
    }

    /// Runs the remote command line `remote` (read by the login shell) with `input` as its
    /// standard input (streamed: a file is never read whole), for at most `limit`; its exit code
    /// and output (stdout then stderr).
    pub async fn run_remote(
        &self,
        remote: &str,
        mut input: impl AsyncRead + Unpin,
        limit: Duration,
    ) -> Result<(i64, String), SshFailure> {
        let args = self.ssh_args_with(&BATCH, &self.user_known_hosts().await);
        let mut command = tokio::process::Command::new(&args[0]);
        command
            .args(&args[1..])
            .arg(remote)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command
            .spawn()
            .map_err(|e| SshFailure::Other(format!("cannot run ssh: {e}")))?;
        let stdin = child.stdin.take();
        // Written while the output is read, so that a command that talks before it reads cannot
        // fill a pipe and stall both ends; closed at the end, so that the command sees its end.
        let write = async move {
            if let Some(mut stdin) = stdin {
                let _ = tokio::io::copy(&mut input, &mut stdin).await;
            }
        };
        let (_, out) = tokio::time::timeout(
            limit,
            futures_util::future::join(write, child.wait_with_output()),
        )
        .await
        .map_err(|_| {
            SshFailure::Other(format!(
                "ssh to {} did not finish in {} s",
                self.host,
                limit.as_secs()
            ))
        })?;
        let out = out.map_err(|e| SshFailure::Other(format!("ssh to {}: {e}", self.host)))?;
        let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&out.stderr));
        match out.status.code() {
            // 255 is ssh's own failure (no connection, refused key), not the script's.
            Some(255) => Err(self.failure(&text)),
            Some(code) => Ok((i64::from(code), text)),
            None => Err(SshFailure::Other(format!(
                "ssh to {} was killed",
                self.host
            ))),
        }
    }

    /// What ssh's own failure, which printed `text`, means.
    pub fn failure(&self, text: &str) -> SshFailure {
        // The files the refused connection listed; it asked for them, unless the check lists none.
        let user_files = if self.host_keys.lists_user_files() {
            asked(&self.machine())
        } else {
            None
        };
        let reached = Reached {
            host: &self.host,
            port: self.port,
            user: &self.user,
            keys: &self.host_keys,
            user_files: user_files.as_deref(),
        };
        match explain_refusal(text, &reached) {
            Some(why) => SshFailure::HostKey(why),
            None => SshFailure::Other(format!(
                "ssh to {}:{} failed: {}",
                self.host,
                self.port,
                text.trim()
            )),
        }
    }
}

/// The arguments that make ssh use the private key `key`: `-i KEY`, for which ssh says when the
/// file cannot be read; but ssh looks for `-i`'s file as given and then expands its `%` tokens,
/// so a path with a `%` (to be doubled) or a leading `~` is given as an `IdentityFile` option,
/// escaped as [`config_path`] does.
fn identity(key: &Path) -> [String; 2] {
    let text = key.display().to_string();
    if text.contains('%') || text.starts_with('~') {
        ["-o".into(), format!("IdentityFile={}", config_path(key))]
    } else {
        ["-i".into(), text]
    }
}

impl NodeShell for SshTarget {
    async fn run(&self, script: &str) -> Result<(i64, String), String> {
        self.run_script(script).await
    }

    async fn alive(&self) -> bool {
        matches!(self.run_script("true").await, Ok((0, _)))
    }
}

/// Makes the cluster's key pair (`<dir>/id_ed25519` and `.pub`) unless it exists; returns the
/// public key's line, for the nodes' `authorized_keys`.
pub fn ensure_cluster_key(dir: &Path) -> Result<String, LaunchError> {
    let key = dir.join("id_ed25519");
    let public = dir.join("id_ed25519.pub");
    if !key.exists() {
        let status = std::process::Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", "baker-cluster", "-f"])
            .arg(&key)
            .stdin(Stdio::null())
            .status()
            .map_err(|source| LaunchError::Io {
                what: "running ssh-keygen for the cluster's key (install OpenSSH's client)".into(),
                source,
            })?;
        if !status.success() {
            return Err(LaunchError::Input(format!(
                "ssh-keygen could not make {}",
                key.display()
            )));
        }
    }
    std::fs::read_to_string(&public)
        .map(|s| s.trim().to_owned())
        .map_err(|source| LaunchError::Io {
            what: format!("reading {}", public.display()),
            source,
        })
}

#[cfg(test)]
#[path = "ssh_shell_tests.rs"]
mod tests;
