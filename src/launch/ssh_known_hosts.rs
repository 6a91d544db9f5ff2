//! How baker's SSH connections check a machine's host key: the check is what stops anyone on the
//! path from posing as a node and receiving its bundle (with the cluster's secret), the build, or
//! with `ForwardAgent` the user's agent. Machines of the `ssh` provider are the user's own, so
//! their keys are checked as any SSH session's are, against the cluster's own file and the user's
//! known hosts (those the user's SSH config gives for the machine); an unknown key is refused,
//! saying how to trust it, unless the launch was told to trust a key seen first
//! (`--accept-new-host-keys`, OpenSSH's `StrictHostKeyChecking=accept-new`), which records it in
//! the cluster's file and never in the user's (nor does ssh update those). VMs of the `qemu`
//! provider make their keys at first boot, so nothing can know them before: each key is recorded
//! at first sight in the cluster's file under the node's name (the VM is reached at a loopback
//! port that may move) and checked from then on. A changed key is refused either way, in words
//! that say what to do.

use std::path::{Path, PathBuf};

/// The cluster's own known-hosts file, in its state directory.
pub const KNOWN_HOSTS: &str = "known_hosts";

/// How a connection checks the host key of the machine it reaches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostKeys {
    /// A machine of the user's (the `ssh` provider): its key must be in `cluster` (listed first, so
    /// that keys accepted go there) or in the user's known hosts (those their SSH config gives
    /// for the machine, see [`super::ssh_user_known_hosts`]); with `accept_new`, a key neither
    /// has is trusted and recorded in `cluster`. `cluster: None` (a cluster launched before baker
    /// kept one) leaves the known-hosts files to the user's SSH config.
    Checked {
        cluster: Option<PathBuf>,
        accept_new: bool,
    },
    /// A VM baker booted (the `qemu` provider): its key is recorded in `known_hosts` under `alias`
    /// (the node's name) at first sight, and checked from then on.
    Recorded { known_hosts: PathBuf, alias: String },
}

impl HostKeys {
    /// Whether the check lists the user's own known-hosts files after the cluster's, which
    /// [`HostKeys::options`] must then be given.
    pub fn lists_user_files(&self) -> bool {
        matches!(
            self,
            Self::Checked {
                cluster: Some(_),
                ..
            }
        )
    }

    /// The `ssh -o` options that make the check; `user_files` are the user's own known-hosts
    /// files for the machine, listed after the cluster's when [`HostKeys::lists_user_files`].
    pub fn options(&self, user_files: &[String]) -> Vec<String> {
        let mut options = Vec::new();
        match self {
            Self::Checked {
                cluster,
                accept_new,
            } => {
                let strict = if *accept_new { "accept-new" } else { "yes" };
                options.push(format!("StrictHostKeyChecking={strict}"));
                if let Some(file) = cluster {
                    let mut files = vec![config_path(file)];
                    files.extend(user_files.iter().map(|f| config_word(f)));
                    options.push(format!("UserKnownHostsFile={}", files.join(" ")));
                    // Nor does ssh update the user's files when a machine offers new keys.
                    options.push("UpdateHostKeys=no".to_owned());
                }
            }
            Self::Recorded { known_hosts, alias } => {
                options.extend([
                    "StrictHostKeyChecking=accept-new".to_owned(),
                    format!("UserKnownHostsFile={}", config_path(known_hosts)),
                    // Only the cluster's file knows its VMs; and in plain text, so that
                    // [`forget`] finds a node's line.
                    "GlobalKnownHostsFile=/dev/null".to_owned(),
                    "HashKnownHosts=no".to_owned(),
                    format!("HostKeyAlias={alias}"),
                ]);
            }
        }
        options
            .into_iter()
            .flat_map(|o| ["-o".to_owned(), o])
            .collect()
    }

    /// Makes the folder the cluster's known hosts go in, which a new launch makes only once its
    /// machines are checked: made first (private, as `StateDir::create` makes it), so that a key
    /// accepted at first sight by the check is the one checked from then on. Best effort: ssh
    /// says so when it cannot write there.
    pub fn make_cluster_dir(&self) {
        use std::os::unix::fs::DirBuilderExt;
        if let Some(dir) = self.cluster_file().and_then(Path::parent) {
            let _ = std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir);
        }
    }

    /// The file where keys accepted on first sight go, if any.
    pub fn cluster_file(&self) -> Option<&Path> {
        match self {
            Self::Checked { cluster, .. } => cluster.as_deref(),
            Self::Recorded { known_hosts, .. } => Some(known_hosts),
        }
    }
}

/// `path` as one word of an `ssh -o` option's value that names a file (`UserKnownHostsFile`,
/// `IdentityFile`), as ssh reads it back: OpenSSH expands `%` tokens in those values (and
/// `${VAR}`, which nothing can escape), so each `%` is doubled, lest a state directory such as
/// `/home/me/100%/state` name another file or fail as an unknown token; a leading `~`, which ssh
/// takes for a home, is made `./~`; and a path with blanks is double-quoted, as one word.
pub fn config_path(path: &Path) -> String {
    let text = path.display().to_string();
    if text.starts_with('~') {
        return config_word(&format!("./{text}"));
    }
    config_word(&text)
}

/// `text` as one word of an `ssh -o` option's value that names files, ssh's `%` tokens escaped
/// and blanks quoted as [`config_path`] does, but a leading `~` left to ssh: for the user's own
/// known hosts, as `ssh -G` or OpenSSH's defaults name them.
fn config_word(text: &str) -> String {
    let text = text.replace('%', "%%");
    if text.contains(char::is_whitespace) {
        format!("\"{text}\"")
    } else {
        text
    }
}

/// Forgets the key recorded for VM `alias` in `known_hosts`: a VM made again from a fresh overlay
/// makes new keys at its first boot, which are not a changed key. Written by
/// [`HostKeys::Recorded`]'s connections in plain text, one `alias KEYTYPE KEY` line per key.
pub fn forget(known_hosts: &Path, alias: &str) -> std::io::Result<()> {
    let text = match std::fs::read_to_string(known_hosts) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    let kept: String = text
        .lines()
        .filter(|line| {
            let hosts = line.split_whitespace().next().unwrap_or_default();
            !hosts.split(',').any(|h| h == alias)
        })
        .map(|line| format!("{line}\n"))
        .collect();
    if kept != text {
        crate::atomic_file::write_atomic(known_hosts, kept.as_bytes())?;
    }
    Ok(())
}

/// Who a refused connection tried to reach, for [`explain_refusal`]'s advice.
pub struct Reached<'a> {
    pub host: &'a str,
    pub port: u16,
    /// Empty: the user the SSH config names.
    pub user: &'a str,
    pub keys: &'a HostKeys,
    /// The user's known-hosts files for the machine, as their SSH config gives them (`None`: not
    /// asked); the advice for an unknown key adds it to the first.
    pub user_files: Option<&'a [String]>,
}

/// What ssh's output `text` says when it refused the machine's host key, in words that say why
/// and what to do; `None` when it refused nothing of the kind.
pub fn explain_refusal(text: &str, reached: &Reached) -> Option<String> {
    let changed = text.contains("REMOTE HOST IDENTIFICATION HAS CHANGED")
        || text.contains("has changed and you have requested strict checking")
        || text.contains("POSSIBLE DNS SPOOFING");
    if !changed && !text.contains("Host key verification failed") {
        return None;
    }
    let Reached {
        host,
        port,
        user,
        keys,
        user_files,
    } = reached;
    let at = format!("{host}:{port}");
    // How OpenSSH names the host in a known-hosts file.
    let pattern = match keys {
        HostKeys::Recorded { alias, .. } => alias.clone(),
        HostKeys::Checked { .. } if *port == 22 => (*host).to_owned(),
        HostKeys::Checked { .. } => format!("[{host}]:{port}"),
    };
    if changed {
        // "Offending ED25519 key in /home/u/.ssh/known_hosts:3"
        let file = text
            .lines()
            .find_map(|l| l.trim().split_once(" key in ").map(|(_, at)| at.trim()))
            .and_then(|at| at.rsplit_once(':').map(|(file, _)| file.to_owned()))
            .or_else(|| keys.cluster_file().map(|f| f.display().to_string()))
            .unwrap_or_else(|| "~/.ssh/known_hosts".to_owned());
        return Some(format!(
            "the SSH host key of {at} has changed since it was recorded (in {file}): another \
             machine may be answering at its address, or this one was reinstalled, and baker \
             refuses to talk to it; if the change is expected, check the new key's fingerprint \
             with whoever runs the machine, remove the old key (`ssh-keygen -R '{pattern}' -f \
             {file}`) and try again"
        ));
    }
    if let HostKeys::Recorded { alias, .. } = keys {
        return Some(format!(
            "the SSH host key of VM {alias} ({at}) could not be checked: {}",
            last_line(text)
        ));
    }
    let dest = if user.is_empty() {
        (*host).to_owned()
    } else {
        format!("{user}@{host}")
    };
    let file = trusted_file(*user_files, keys);
    Some(format!(
        "the SSH host key of {at} is not known (neither your known hosts nor the cluster's have \
         it), and baker sends a cluster's secret and build only to a machine whose key it can \
         check; check the key's fingerprint with whoever runs the machine (there: `ssh-keygen \
         -lf /etc/ssh/ssh_host_ed25519_key.pub`), then trust it once with `ssh -p {port} {dest}` \
         (answer yes), or with `ssh-keyscan -p {port} {host} >> {file}` (then compare \
         `ssh-keygen -lf {file}`); or give a new launch --accept-new-host-keys to \
         trust each machine's key the first time baker sees it (kept in the cluster's own known \
         hosts; a changed key is still refused)"
    ))
}

/// The known-hosts file a user trusts a machine's key in, as a shell word: the first of their own
/// that their SSH config gives for the machine (`user_files`; OpenSSH's default when not asked),
/// else, when their config lists none (`UserKnownHostsFile none`), the cluster's own.
fn trusted_file(user_files: Option<&[String]>, keys: &HostKeys) -> String {
    let first = match user_files {
        None => Some(super::ssh_user_known_hosts::DEFAULT[0].to_owned()),
        Some(files) => files.first().cloned(),
    };
    let file = first
        .or_else(|| keys.cluster_file().map(|f| f.display().to_string()))
        .unwrap_or_else(|| super::ssh_user_known_hosts::DEFAULT[0].to_owned());
    shell_word(&file)
}

/// `path` as one shell word a user can paste: as it is when it holds nothing a shell reads
/// specially (a leading `~/` included, which the shell expands), else quoted.
fn shell_word(path: &str) -> String {
    let plain = |s: &str| {
        s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-+,:@%".contains(&b))
    };
    match path.strip_prefix("~/") {
        Some(rest) if plain(rest) => path.to_owned(),
        Some(rest) => format!("~/{}", super::bundle_tar::shell_quote(rest)),
        None if plain(path) => path.to_owned(),
        None => super::bundle_tar::shell_quote(path),
    }
}

fn last_line(text: &str) -> &str {
    text.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_default()
        .trim()
}

#[cfg(test)]
#[path = "ssh_known_hosts_tests.rs"]
mod tests;
