//! A shell on a node over SSH, for the providers whose nodes are machines (`qemu`: VMs reached
//! through a forwarded port; `ssh`: hosts from an inventory). It runs the system's OpenSSH client
//! rather than an SSH library: the client already honours the user's `~/.ssh/config`, agents and
//! jump hosts, which operators expect of a tool that logs into their machines, and `baker login`
//! needs the same client for its interactive shell anyway. A VM cluster has its own key pair, made
//! with `ssh-keygen` in the cluster's state directory (the private key 0600, never printed); machines
//! from an inventory are reached with the user's own identity and config unless given a key.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use super::error::LaunchError;
use super::readiness::NodeShell;

/// Where and as whom to reach one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshTarget {
    pub host: String,
    pub port: u16,
    /// Empty: the user the SSH config (or the local login) names.
    pub user: String,
    /// The private key to use, and only it; `None`: the user's own identities, agent and config.
    pub key: Option<PathBuf>,
}

impl SshTarget {
    /// The `ssh` arguments up to (not including) the remote command. Host keys are not checked:
    /// a VM makes its host keys at first boot, so no earlier record of them can exist; the
    /// connection stays on the path the provider chose (loopback for VMs, the inventory's hosts).
    pub fn ssh_args(&self, interactive: bool) -> Vec<String> {
        if interactive {
            self.ssh_args_with(&["-t"])
        } else {
            self.ssh_args_with(&["-o", "BatchMode=yes", "-o", "ConnectTimeout=5"])
        }
    }

    /// `baker login`'s `ssh` command line: an interactive shell on a terminal, or with `command`,
    /// the command (read by the remote user's shell) without one, whose exit code is ssh's, and
    /// with no message of the day (sshd shows it to interactive sessions only). Like the shell, it
    /// may prompt for what the user's own identity needs (a passphrase).
    pub fn login_args(&self, command: &[String]) -> Vec<String> {
        if command.is_empty() {
            return self.ssh_args(true);
        }
        let mut args = self.ssh_args_with(&["-T"]);
        // Options end at `--`: the command's words are never taken for ssh's.
        args.push("--".into());
        args.extend(command.iter().cloned());
        args
    }

    fn ssh_args_with(&self, mode: &[&str]) -> Vec<String> {
        let mut args: Vec<String> = vec!["ssh".into()];
        args.extend(mode.iter().map(|a| (*a).to_owned()));
        args.extend(
            [
                "-o",
                "StrictHostKeyChecking=no",
                "-o",
                "UserKnownHostsFile=/dev/null",
                "-o",
                "LogLevel=ERROR",
            ]
            .map(str::to_owned),
        );
        if let Some(key) = &self.key {
            args.extend(["-o", "IdentitiesOnly=yes", "-i"].map(str::to_owned));
            args.push(key.display().to_string());
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
    }

    /// Runs the remote command line `remote` (read by the login shell) with `input` as its
    /// standard input, for at most `limit`; its exit code and output (stdout then stderr).
    pub async fn run_remote(
        &self,
        remote: &str,
        input: &[u8],
        limit: Duration,
    ) -> Result<(i64, String), String> {
        let args = self.ssh_args(false);
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
            .map_err(|e| format!("cannot run ssh: {e}"))?;
        let stdin = child.stdin.take();
        // Written while the output is read, so that a command that talks before it reads cannot
        // fill a pipe and stall both ends.
        let write = async move {
            if let Some(mut stdin) = stdin {
                use tokio::io::AsyncWriteExt;
                let _ = stdin.write_all(input).await;
            }
        };
        let (_, out) = tokio::time::timeout(
            limit,
            futures_util::future::join(write, child.wait_with_output()),
        )
        .await
        .map_err(|_| {
            format!(
                "ssh to {} did not finish in {} s",
                self.host,
                limit.as_secs()
            )
        })?;
        let out = out.map_err(|e| format!("ssh to {}: {e}", self.host))?;
        let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&out.stderr));
        match out.status.code() {
            // 255 is ssh's own failure (no connection, refused key), not the script's.
            Some(255) => Err(format!(
                "ssh to {}:{} failed: {}",
                self.host,
                self.port,
                text.trim()
            )),
            Some(code) => Ok((i64::from(code), text)),
            None => Err(format!("ssh to {} was killed", self.host)),
        }
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
mod tests {
    use super::*;

    #[test]
    fn batch_commands_never_prompt_and_use_only_the_cluster_key() {
        let target = SshTarget {
            host: "127.0.0.1".into(),
            port: 2201,
            user: "root".into(),
            key: Some("/state/pg/id_ed25519".into()),
        };
        let args = target.ssh_args(false).join(" ");
        assert!(args.contains("BatchMode=yes"), "{args}");
        assert!(args.contains("IdentitiesOnly=yes -i /state/pg/id_ed25519"));
        assert!(args.ends_with("-p 2201 root@127.0.0.1"), "{args}");
        assert!(target.ssh_args(true).join(" ").starts_with("ssh -t "));
    }

    #[test]
    fn a_login_command_runs_after_the_options_end_without_a_terminal() {
        let target = SshTarget {
            host: "127.0.0.1".into(),
            port: 2201,
            user: "root".into(),
            key: Some("/state/pg/id_ed25519".into()),
        };
        assert_eq!(target.login_args(&[]), target.ssh_args(true));
        let command = ["-v".to_owned(), "hostname".to_owned()];
        let args = target.login_args(&command).join(" ");
        assert!(
            args.starts_with("ssh -T -o StrictHostKeyChecking=no"),
            "{args}"
        );
        assert!(
            args.ends_with("-i /state/pg/id_ed25519 -p 2201 root@127.0.0.1 -- -v hostname"),
            "{args}"
        );
        assert!(!args.contains(" -t "), "{args}");
    }

    #[test]
    fn without_a_key_or_user_the_users_own_ssh_config_decides() {
        let target = SshTarget {
            host: "db1".into(),
            port: 22,
            user: String::new(),
            key: None,
        };
        let args = target.ssh_args(false).join(" ");
        assert!(
            !args.contains("IdentitiesOnly") && !args.contains(" -i "),
            "{args}"
        );
        assert!(args.ends_with("-p 22 db1"), "{args}");
    }

    #[test]
    fn the_cluster_key_is_made_once() {
        let dir = tempfile::tempdir().unwrap();
        let first = ensure_cluster_key(dir.path()).unwrap();
        assert!(first.starts_with("ssh-ed25519 "), "{first}");
        assert_eq!(ensure_cluster_key(dir.path()).unwrap(), first);
    }
}
