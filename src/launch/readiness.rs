//! Waiting for a node's role to be ready: each of the role's checks, in order, is tried every fifth
//! of a second until it passes or its timeout runs out. Command probes run on the node through the
//! provider, in sessions that loop on the node (see [`super::probe_session`]; with the role's
//! environment, so a password in it reaches `psql`); HTTP probes are made from this host, through
//! a port the node publishes when it does (see [`super::host_http`]). The first check that never passes is the node's failure,
//! with what it last saw.

use std::time::{Duration, Instant};

use super::bundle::{NodeBundle, ReadyCheck};
use super::bundle_tar::BUNDLE_DIR;
use super::host_http::HostHttp;
use super::probe_session::session_script;
use super::ready::{Seen, at_pointer, passes};
use crate::plan::ProbePlan;

/// How often an HTTP check is tried from this host (a command check is tried as often on the node,
/// see [`super::probe_session`]): a coarse poll costs the launch up to the whole interval per check.
const POLL: Duration = Duration::from_millis(200);

/// How long one command session waits on the node before it answers, so that a node whose role
/// stopped is noticed within these seconds.
const SESSION: Duration = Duration::from_secs(5);

/// Runs a shell command on a node: exit code and output, or why it could not run.
pub trait NodeShell {
    fn run(&self, script: &str) -> impl Future<Output = Result<(i64, String), String>> + Send;
    /// Whether the node still runs: a node that stopped will not become ready, so waiting ends.
    fn alive(&self) -> impl Future<Output = bool> + Send;
    /// Where the node's bundle is (its `env` is sourced before a command probe): the agent's
    /// default, unless the node shares its machine with others (see [`super::ssh_dirs`]).
    fn bundle_dir(&self) -> &str {
        BUNDLE_DIR
    }
}

/// The first check that did not pass in time, and what it saw last.
#[derive(Debug, Clone)]
pub struct NotReady {
    pub check: String,
    pub seen: Seen,
}

/// Waits until every readiness check of `bundle` passes; `Err` names the first that did not.
pub async fn wait_ready(
    bundle: &NodeBundle,
    shell: &impl NodeShell,
    http: &HostHttp,
) -> Result<(), NotReady> {
    wait_checks(&bundle.ready, shell, http).await
}

/// Waits until each of `checks` passes, in order.
pub async fn wait_checks(
    checks: &[ReadyCheck],
    shell: &impl NodeShell,
    http: &HostHttp,
) -> Result<(), NotReady> {
    for check in checks {
        let deadline = Instant::now() + Duration::from_secs(check.timeout_seconds);
        loop {
            let seen = probe(check, shell, http, deadline).await;
            if passes(&seen, check.equals.as_deref()) {
                break;
            }
            if Instant::now() >= deadline {
                return Err(NotReady {
                    check: describe(check),
                    seen,
                });
            }
            if !shell.alive().await {
                return Err(NotReady {
                    check: describe(check),
                    seen: Seen::Failure("the node stopped (its role exited)".into()),
                });
            }
            // A command session has already waited on the node; an HTTP probe waits here.
            if matches!(check.probe, ProbePlan::Http { .. }) {
                tokio::time::sleep(POLL).await;
            }
        }
    }
    Ok(())
}

pub fn describe(check: &ReadyCheck) -> String {
    match &check.equals {
        Some(e) => format!("`{}` (expecting `{e}`)", check.probe),
        None => format!("`{}`", check.probe),
    }
}

async fn probe(
    check: &ReadyCheck,
    shell: &impl NodeShell,
    http: &HostHttp,
    deadline: Instant,
) -> Seen {
    match &check.probe {
        ProbePlan::Command { run } => {
            let left = deadline.saturating_duration_since(Instant::now());
            let seconds = left.min(SESSION).as_secs().max(1);
            let script = session_script(shell.bundle_dir(), run, check.equals.as_deref(), seconds);
            let result = shell.run(&script).await;
            if result.is_err() {
                // The session could not even start: do not retry in a tight loop.
                tokio::time::sleep(POLL).await;
            }
            match result {
                Ok((0, out)) => Seen::Answer(out),
                Ok((code, out)) => Seen::Failure(format!(
                    "exit code {code}{}",
                    last_line(&out)
                        .map(|l| format!(": {l}"))
                        .unwrap_or_default()
                )),
                Err(why) => Seen::Failure(why),
            }
        }
        ProbePlan::Http {
            url,
            status,
            json_pointer,
        } => match http.get(url).await {
            Err(e) => Seen::Failure(format!("no answer ({e})")),
            Ok(resp) if resp.status().as_u16() != *status => {
                Seen::Failure(format!("HTTP status {}", resp.status().as_u16()))
            }
            Ok(resp) => {
                let body = resp.text().await.unwrap_or_default();
                match json_pointer {
                    None => Seen::Answer(body),
                    Some(p) => at_pointer(&body, p).map_or_else(Seen::Failure, Seen::Answer),
                }
            }
        },
    }
}

fn last_line(text: &str) -> Option<&str> {
    text.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .map(str::trim)
}
