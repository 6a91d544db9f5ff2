//! What the `ssh` provider runs on a machine, and the root shell it runs it through ([`SshNode`]):
//! the check before anything is made, the install of the runtime packages and the agent, the
//! tarball's unpacking, the agent's detached start, the node's address, and the stop and clean-up
//! of `destroy`. They are plain bash 4.1 (CentOS 6's) and use only
//! what every base system has (coreutils, util-linux's `setsid`, `/proc`): no `ps` (Debian's
//! minimal systems lack procps), no Python.

use std::net::IpAddr;
use std::time::Duration;

use super::bundle_tar::{BUNDLE_DIR, shell_quote};
use super::provider::AGENT_PATH;
use super::readiness::NodeShell;
use super::ssh::SshError;
use super::ssh_shell::SshTarget;
use crate::recipe::PackageManager;

/// How long installing packages or copying the tarball may take on one machine.
pub const INSTALL_LIMIT: Duration = Duration::from_secs(900);
pub const COMMAND_LIMIT: Duration = Duration::from_secs(120);

/// One machine's shell: as root, through `sudo -n` when the SSH user is not root.
pub struct SshNode {
    pub target: SshTarget,
}

impl SshNode {
    pub async fn step(&self, step: &str, remote: &str, input: &[u8]) -> Result<String, SshError> {
        let host = self.target.host.clone();
        match self.target.run_remote(remote, input, INSTALL_LIMIT).await {
            Ok((0, out)) => Ok(out),
            Ok((code, out)) => Err(SshError::Step {
                host,
                step: step.to_owned(),
                code,
                output: tail(&out, 20),
            }),
            Err(why) => Err(SshError::Unreachable { host, why }),
        }
    }
}

impl NodeShell for SshNode {
    async fn run(&self, script: &str) -> Result<(i64, String), String> {
        let remote = format!("{AS_ROOT}bash -s");
        self.target
            .run_remote(&remote, script.as_bytes(), COMMAND_LIMIT)
            .await
    }

    /// Whether the agent still runs; a machine that does not answer this once counts as running
    /// (a dropped connection is not a stopped role: the readiness check's own probe says more).
    async fn alive(&self) -> bool {
        !matches!(self.run(&alive()).await, Ok((code, _)) if code != 0)
    }
}

pub fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// The node's address: the host when it is one, else what it resolves to here, else the first
/// address the machine reports (a name only the SSH config knows).
pub async fn address(node: &SshNode) -> Result<String, SshError> {
    let host = &node.target.host;
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(ip.to_string());
    }
    if let Ok(found) = tokio::net::lookup_host((host.as_str(), node.target.port)).await {
        let found: Vec<_> = found.map(|a| a.ip()).collect();
        if let Some(ip) = found.iter().find(|ip| ip.is_ipv4()).or(found.first()) {
            return Ok(ip.to_string());
        }
    }
    let out = node
        .step("asking for its address", "hostname -I", b"")
        .await
        .map_err(|e| SshError::Address {
            host: host.clone(),
            why: e.to_string(),
        })?;
    out.split_whitespace()
        .next()
        .map(str::to_owned)
        .ok_or_else(|| SshError::Address {
            host: host.clone(),
            why: "`hostname -I` printed nothing".into(),
        })
}

/// The agent's pid, written when it starts detached (a tmpfs: a reboot forgets it).
pub const AGENT_PID: &str = "/run/baker/agent.pid";
/// The agent's own output before it opens its role log.
pub const AGENT_OUT: &str = "/var/log/baker/agent.out";
/// Markers of the tarballs unpacked on the machine, by sha256 (kept by `destroy`).
pub const INSTALLED_DIR: &str = "/usr/lib/baker/installed";

/// Prefix of a remote command line that runs it as root: as is for root, else through `sudo -n`
/// (the login shell expands it, so one command line serves both).
pub const AS_ROOT: &str = "$([ \"$(id -u)\" = 0 ] || echo sudo -n) ";

/// Run as the login user before anything is made: whether root commands work, and which baker
/// node the machine runs already.
pub const PROBE: &str = "if [ \"$(id -u)\" = 0 ] || sudo -n true 2>/dev/null; then echo root=yes; else echo root=no; fi\n\
     echo \"node=$(cat /etc/baker/role/node 2>/dev/null)\"\n";

/// Installs the missing runtime packages and the agent; prints `tarball=present` when the tarball
/// with `sha256` was unpacked here before.
pub fn install(manager: PackageManager, packages: &[String], agent: &str, sha256: &str) -> String {
    let packages = packages.join(" ");
    let install = match manager {
        PackageManager::Apt => format!(
            "for p in {packages}; do dpkg-query -W -f='${{Status}}\\n' \"$p\" 2>/dev/null | grep -q 'ok installed' || missing=\"$missing $p\"; done\n\
             if [ -n \"$missing\" ]; then\n\
               echo \"installing$missing\"\n\
               export DEBIAN_FRONTEND=noninteractive\n\
               apt-get update -q >/dev/null\n\
               apt-get install -y -q --no-install-recommends $missing >/dev/null\n\
             fi"
        ),
        PackageManager::Yum => format!(
            "for p in {packages}; do rpm -q \"$p\" >/dev/null 2>&1 || missing=\"$missing $p\"; done\n\
             if [ -n \"$missing\" ]; then echo \"installing$missing\"; yum install -y -q $missing >/dev/null; fi"
        ),
    };
    format!(
        "set -e -o pipefail\nmissing=\"\"\n{install}\n\
         mkdir -p {INSTALLED_DIR} \"$(dirname {AGENT_PATH})\"\n\
         cat > {AGENT_PATH}.new <<'BAKER_AGENT_END'\n{agent}\nBAKER_AGENT_END\n\
         chmod 755 {AGENT_PATH}.new && mv {AGENT_PATH}.new {AGENT_PATH}\n\
         if [ -f {INSTALLED_DIR}/{sha256} ]; then echo tarball=present; else echo tarball=missing; fi\n"
    )
}

/// Unpacks the tarball on standard input at `/` (leaving existing directories' owners and modes
/// alone), registers its libraries and records it.
pub fn unpack(sha256: &str) -> String {
    let script = format!(
        "set -e -o pipefail\n\
         tar -xzf - -C / --no-overwrite-dir\n\
         # the tarball's libraries (e.g. /usr/local/lib) found without LD_LIBRARY_PATH\n\
         find /usr/local -name 'lib*.so*' -printf '%h\\n' 2>/dev/null | sort -u > /etc/ld.so.conf.d/baker.conf\n\
         ldconfig\n\
         touch {INSTALLED_DIR}/{sha256}\n"
    );
    format!("{AS_ROOT}bash -c {}", shell_quote(&script))
}

/// Puts the bundle tar on standard input in place and starts the agent detached (its own session,
/// no terminal, so it outlives the SSH connection); does nothing but drain the input when the
/// agent runs already. Notes whether the role's user is made by the agent, for `destroy`.
pub fn start() -> String {
    let script = format!(
        "set -e\n\
         pid=$(cat {AGENT_PID} 2>/dev/null || true)\n\
         if [ -n \"$pid\" ] && kill -0 \"$pid\" 2>/dev/null; then cat >/dev/null; echo \"the agent runs already (pid $pid)\"; exit 0; fi\n\
         rm -rf {BUNDLE_DIR}\n\
         mkdir -p {BUNDLE_DIR} /run/baker /var/log/baker /var/lib/baker\n\
         tar -xf - -C {BUNDLE_DIR}\n\
         if [ -f {BUNDLE_DIR}/user ] && [ ! -f /var/lib/baker/created-user ]; then\n\
           u=$(cat {BUNDLE_DIR}/user)\n\
           id \"$u\" >/dev/null 2>&1 || echo \"$u\" > /var/lib/baker/created-user\n\
         fi\n\
         cd /\n\
         setsid nohup {AGENT_PATH} </dev/null >{AGENT_OUT} 2>&1 &\n\
         echo $! > {AGENT_PID}\n"
    );
    format!("{AS_ROOT}bash -c {}", shell_quote(&script))
}

/// Whether the agent (or the role it became) runs.
pub fn alive() -> String {
    format!("pid=$(cat {AGENT_PID} 2>/dev/null) && kill -0 \"$pid\" 2>/dev/null")
}

/// The last `lines` lines of the role log, else of the agent's own output.
pub fn role_log(lines: usize) -> String {
    format!(
        "if [ -s /var/log/baker/role.log ]; then tail -n {lines} /var/log/baker/role.log; else tail -n {lines} {AGENT_OUT} 2>/dev/null; fi; true"
    )
}

/// Stops node `node`'s agent and every process under it (TERM, then KILL after 10 s), removes the
/// files its bundle installed, the role's user when the agent made it (and so its home, where a
/// role keeps its data), the bundle, the agent's state and logs. Leaves the installed software.
/// Exits 3, touching nothing, when the machine runs another node. Safe to repeat.
pub fn destroy(node: &str) -> String {
    let node = shell_quote(node);
    format!(
        "set -u\n\
         here=$(cat {BUNDLE_DIR}/node 2>/dev/null || true)\n\
         if [ -n \"$here\" ] && [ \"$here\" != {node} ]; then echo \"this machine runs node $here\"; exit 3; fi\n\
         root=$(cat {AGENT_PID} 2>/dev/null || true)\n\
         if [ -n \"$root\" ] && grep -q baker /proc/$root/cmdline 2>/dev/null; then\n\
           declare -A kids\n\
           for f in /proc/[0-9]*/stat; do\n\
             read -r line < \"$f\" 2>/dev/null || continue\n\
             p=${{f#/proc/}}; p=${{p%/stat}}\n\
             set -- ${{line##*') '}}\n\
             kids[$2]=\"${{kids[$2]:-}} $p\"\n\
           done\n\
           tree=\"\"; todo=$root\n\
           while set -- $todo; [ $# -gt 0 ]; do p=$1; shift; todo=\"$* ${{kids[$p]:-}}\"; tree=\"$tree $p\"; done\n\
           kill -TERM $tree 2>/dev/null\n\
           for _ in $(seq 1 50); do\n\
             alive=\"\"; for p in $tree; do kill -0 $p 2>/dev/null && alive=\"$alive $p\"; done\n\
             [ -z \"$alive\" ] && break; sleep 0.2\n\
           done\n\
           [ -z \"$alive\" ] || kill -KILL $alive 2>/dev/null\n\
           echo \"stopped the agent and its processes:$tree\"\n\
         fi\n\
         if [ -d {BUNDLE_DIR}/files ]; then\n\
           (cd {BUNDLE_DIR}/files && find . ! -type d) | while read -r f; do rm -f \"/${{f#./}}\"; done\n\
         fi\n\
         if [ -f /var/lib/baker/created-user ]; then\n\
           u=$(cat /var/lib/baker/created-user)\n\
           h=$(getent passwd \"$u\" | cut -d: -f6)\n\
           if id \"$u\" >/dev/null 2>&1; then userdel -r \"$u\" 2>/dev/null || userdel \"$u\"; fi\n\
           case \"$h\" in /?*/?*) rm -rf \"$h\" ;; esac\n\
         fi\n\
         rm -rf {BUNDLE_DIR} /var/lib/baker /var/log/baker /run/baker\n\
         exit 0\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every script is valid bash (`bash -n`), whatever its arguments.
    #[test]
    fn the_scripts_parse() {
        let packages = ["libreadline8".to_owned(), "zlib1g".to_owned()];
        let mut scripts = vec![
            PROBE.to_owned(),
            install(
                PackageManager::Apt,
                &packages,
                "#!/bin/bash\necho agent",
                "ab12",
            ),
            install(PackageManager::Yum, &packages, "#!/bin/bash", "ab12"),
            alive(),
            role_log(40),
            destroy("pg-standby-1"),
        ];
        // The remote command lines carry their script quoted: check the script inside.
        for line in [unpack("ab12"), start()] {
            let quoted = line
                .trim_start_matches(AS_ROOT)
                .trim_start_matches("bash -c ");
            let words = shlex::split(quoted).unwrap();
            scripts.push(words[0].clone());
        }
        for script in scripts {
            let out = std::process::Command::new("bash")
                .args(["-n", "-c", &script])
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{script}\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }

    /// `destroy` touches nothing on a machine that runs another node, and cleans one without a
    /// bundle (a half-made node); run on a scratch bundle directory.
    #[test]
    fn destroy_leaves_another_nodes_machine_alone() {
        let dir = tempfile::tempdir().unwrap();
        let bundle = dir.path().join("role");
        std::fs::create_dir(&bundle).unwrap();
        std::fs::write(bundle.join("node"), "other-primary\n").unwrap();
        // Only the node check, with the bundle moved to the scratch directory.
        let check: Vec<String> = destroy("pg-primary")
            .replace(BUNDLE_DIR, &bundle.display().to_string())
            .lines()
            .take(3)
            .map(str::to_owned)
            .collect();
        let run = || {
            std::process::Command::new("bash")
                .args(["-c", &check.join("\n")])
                .status()
                .unwrap()
                .code()
        };
        assert_eq!(run(), Some(3));
        std::fs::write(bundle.join("node"), "pg-primary\n").unwrap();
        assert_eq!(run(), Some(0));
    }
}
