//! The user's own known-hosts files for one machine, as their SSH config gives them. A machine of
//! the `ssh` provider has its key checked against the cluster's known hosts and the user's (see
//! [`super::ssh_known_hosts`]), listed in one `UserKnownHostsFile` option, the cluster's file
//! first so that a key accepted at first sight goes there, never into the user's files. An option
//! on ssh's command line wins over `~/.ssh/config`, so the user's files listed after the cluster's
//! must be those their config names for that machine (a team's shared known_hosts, say), not
//! OpenSSH's defaults, or every key known there would be refused as unknown. `ssh -G` prints them
//! as a connection to the machine would read them (expanded), without connecting; it is asked
//! once per machine in a process (a command), however many connections follow, and when it cannot
//! say, OpenSSH's defaults are listed.

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use tokio::sync::OnceCell;

/// The user's known-hosts files when `ssh -G` cannot say: OpenSSH's defaults.
pub const DEFAULT: [&str; 2] = ["~/.ssh/known_hosts", "~/.ssh/known_hosts2"];

/// How long `ssh -G` may take (it runs the `Match exec` commands of the user's config).
const LIMIT: Duration = Duration::from_secs(20);

/// A machine as a connection names it; the user's config may differ by each (`Host`, `Match`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Machine {
    /// Empty: the user the SSH config (or the local login) names.
    pub user: String,
    pub host: String,
    pub port: u16,
}

impl Machine {
    /// The arguments of `ssh -G` for the machine (after `ssh`), as baker's connections name it.
    pub fn ssh_g_args(&self) -> Vec<String> {
        let destination = if self.user.is_empty() {
            self.host.clone()
        } else {
            format!("{}@{}", self.user, self.host)
        };
        vec!["-G".into(), "-p".into(), self.port.to_string(), destination]
    }
}

/// The user's known-hosts files for `machine`, as `ssh -G` says (asked once per machine per
/// process; OpenSSH's defaults when it cannot say).
pub async fn user_known_hosts(machine: &Machine) -> Vec<String> {
    ASKED.get(machine, || ask(machine)).await
}

/// [`user_known_hosts`] for a command line built outside the runtime's work (`baker login`,
/// `logs -f`, which run nothing else meanwhile): a machine not asked yet is asked on this thread.
pub fn user_known_hosts_blocking(machine: &Machine) -> Vec<String> {
    ASKED.get_blocking(machine, || ask_blocking(machine))
}

/// The user's known-hosts files for `machine` if this process has asked already (a connection to
/// it has been made), without asking: for the advice when that connection was refused.
pub fn asked(machine: &Machine) -> Option<Vec<String>> {
    ASKED.cell(machine).get().cloned()
}

/// What `ssh -G` said of each machine this process asked about.
static ASKED: LazyLock<Asked> = LazyLock::new(Asked::default);

/// Each machine's known-hosts files, asked once: connections to one machine that start together
/// wait for the one `ssh -G`.
#[derive(Default)]
struct Asked(Mutex<HashMap<Machine, Arc<OnceCell<Vec<String>>>>>);

impl Asked {
    fn cell(&self, machine: &Machine) -> Arc<OnceCell<Vec<String>>> {
        let mut asked = self.0.lock().unwrap_or_else(|e| e.into_inner());
        asked.entry(machine.clone()).or_default().clone()
    }

    async fn get<F: Future<Output = Vec<String>>>(
        &self,
        machine: &Machine,
        ask: impl FnOnce() -> F,
    ) -> Vec<String> {
        self.cell(machine).get_or_init(ask).await.clone()
    }

    fn get_blocking(&self, machine: &Machine, ask: impl FnOnce() -> Vec<String>) -> Vec<String> {
        let cell = self.cell(machine);
        if let Some(files) = cell.get() {
            return files.clone();
        }
        let files = ask();
        let _ = cell.set(files.clone());
        files
    }
}

async fn ask(machine: &Machine) -> Vec<String> {
    let run = tokio::process::Command::new("ssh")
        .args(machine.ssh_g_args())
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = match tokio::time::timeout(LIMIT, run).await {
        Ok(out) => out.map_err(|e| e.to_string()),
        Err(_) => Err(format!("no answer in {} s", LIMIT.as_secs())),
    };
    files_or_default(machine, out)
}

fn ask_blocking(machine: &Machine) -> Vec<String> {
    let out = std::process::Command::new("ssh")
        .args(machine.ssh_g_args())
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output();
    files_or_default(machine, out.map_err(|e| e.to_string()))
}

/// The files `ssh -G` printed for `machine` (`out`), or OpenSSH's defaults when it failed.
fn files_or_default(machine: &Machine, out: Result<std::process::Output, String>) -> Vec<String> {
    let printed = out.and_then(|out| {
        if !out.status.success() {
            return Err(format!("it {}", out.status));
        }
        parse(&String::from_utf8_lossy(&out.stdout)).ok_or_else(|| "no such line".to_owned())
    });
    printed.unwrap_or_else(|why| {
        tracing::debug!(
            "ssh -G {} said no known-hosts files ({why}): listing OpenSSH's defaults",
            machine.ssh_g_args()[3..].join(" ")
        );
        DEFAULT.map(str::to_owned).to_vec()
    })
}

/// The user's known-hosts files in `ssh -G`'s output `printed`: none for `none`; `None` when it
/// has no `userknownhostsfile` line. ssh prints them separated by blanks, so a blank within a path
/// cannot be told from one between two: a word that does not start a path (with `/` or `~`, as
/// every path ssh expands does) is taken as the rest of the one before.
pub fn parse(printed: &str) -> Option<Vec<String>> {
    let line = printed.lines().find_map(|line| {
        let (key, value) = line.split_once(' ')?;
        key.eq_ignore_ascii_case("userknownhostsfile")
            .then_some(value)
    })?;
    if line.trim() == "none" {
        return Some(Vec::new());
    }
    let mut files: Vec<String> = Vec::new();
    for word in line.split(' ').filter(|w| !w.is_empty()) {
        match files.last_mut() {
            Some(file) if !word.starts_with(['/', '~']) => {
                file.push(' ');
                file.push_str(word);
            }
            _ => files.push(word.to_owned()),
        }
    }
    Some(files)
}

#[cfg(test)]
#[path = "ssh_user_known_hosts_tests.rs"]
mod tests;
