//! What the `ssh` provider runs on a machine, and the root shell it runs it through ([`SshNode`]):
//! the install of the runtime packages and the agent, the tarball's unpacking, the agent's
//! detached start, and the stop and clean-up of `destroy`, each in the node's own directories
//! ([`NodeDirs`]: a machine may run several, and a slot is only ever taken by the node it names).
//! What is asked before (root, other nodes, the address) is [`super::ssh_probe`]. They are plain
//! bash 4.1 (CentOS 6's) and use only what every base system has (coreutils, util-linux's
//! `setsid`, `/proc`): no `ps` (Debian's minimal systems lack procps), no Python.

use std::time::Duration;

use tokio::io::AsyncRead;

use super::bundle_tar::shell_quote;
use super::provider::AGENT_PATH;
use super::readiness::NodeShell;
use super::ssh::SshError;
use super::ssh_dirs::{MACHINE_DIR, NodeDirs};
use super::ssh_repos::Repositories;
use super::ssh_shell::{SshFailure, SshTarget};
use crate::recipe::PackageManager;

/// How long installing packages or copying the tarball may take on one machine.
pub const INSTALL_LIMIT: Duration = Duration::from_secs(900);
pub const COMMAND_LIMIT: Duration = Duration::from_secs(120);

/// One node's shell on its machine: as root, through `sudo -n` when the SSH user is not root.
pub struct SshNode {
    pub target: SshTarget,
    pub dirs: NodeDirs,
    /// The node the slot is for (empty for what concerns the machine, not a node: its install).
    pub node: String,
}

impl SshNode {
    /// Runs the remote command line `remote` with `input` on its standard input; its output, or
    /// the step's failure.
    pub async fn step(
        &self,
        step: &str,
        remote: &str,
        input: impl AsyncRead + Unpin,
    ) -> Result<String, SshError> {
        let host = self.target.host.clone();
        match self.target.run_remote(remote, input, INSTALL_LIMIT).await {
            Ok((0, out)) => Ok(out),
            Ok((code, out)) => Err(SshError::Step {
                host,
                step: step.to_owned(),
                code,
                output: tail(&out, 20),
            }),
            Err(failure) => Err(SshError::ssh(host, failure)),
        }
    }

    /// Runs `script` as root; its exit code and output, or why ssh failed.
    pub async fn run_as_root(&self, script: &str) -> Result<(i64, String), SshFailure> {
        let remote = format!("{AS_ROOT}bash -s");
        self.target
            .run_remote(&remote, script.as_bytes(), COMMAND_LIMIT)
            .await
    }
}

impl NodeShell for SshNode {
    async fn run(&self, script: &str) -> Result<(i64, String), String> {
        self.run_as_root(script).await.map_err(|e| e.to_string())
    }

    /// Whether the agent still runs; a machine that does not answer this once counts as running
    /// (a dropped connection is not a stopped role: the readiness check's own probe says more).
    async fn alive(&self) -> bool {
        !matches!(self.run(&alive(&self.dirs, &self.node)).await, Ok((code, _)) if code != 0)
    }

    fn bundle_dir(&self) -> &str {
        &self.dirs.bundle
    }
}

pub fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Markers of the tarballs unpacked on the machine, by sha256 (kept by `destroy`).
pub const INSTALLED_DIR: &str = "/usr/lib/baker/installed";

/// Prefix of a remote command line that runs it as root: as is for root, else through `sudo -n`
/// (the login shell expands it, so one command line serves both).
pub const AS_ROOT: &str = "$([ \"$(id -u)\" = 0 ] || echo sudo -n) ";

/// Installs the missing runtime packages and the agent; prints `tarball=present` when the tarball
/// with `sha256` was unpacked here before. When packages are missing and the plan has
/// `repositories`, they are added first (files unpacked at `/`, then the setup script run as root),
/// so the packages come from where the build's came from; a machine that has every package is
/// left as it is.
pub fn install(
    manager: PackageManager,
    packages: &[String],
    repositories: Option<&Repositories>,
    agent: &str,
    sha256: &str,
) -> String {
    let packages = packages.join(" ");
    let add_repositories = repositories.map_or_else(String::new, Repositories::script);
    let install = match manager {
        PackageManager::Apt => format!(
            "for p in {packages}; do dpkg-query -W -f='${{Status}}\\n' \"$p\" 2>/dev/null | grep -q 'ok installed' || missing=\"$missing $p\"; done\n\
             if [ -n \"$missing\" ]; then\n\
               {add_repositories}\
               echo \"installing$missing\"\n\
               export DEBIAN_FRONTEND=noninteractive\n\
               apt-get update -q >/dev/null\n\
               apt-get install -y -q --no-install-recommends $missing >/dev/null\n\
             fi"
        ),
        PackageManager::Yum => format!(
            "for p in {packages}; do rpm -q \"$p\" >/dev/null 2>&1 || missing=\"$missing $p\"; done\n\
             if [ -n \"$missing\" ]; then\n\
               {add_repositories}\
               echo \"installing$missing\"\n\
               yum install -y -q $missing >/dev/null\n\
             fi"
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

/// Puts the bundle tar on standard input in node `node`'s bundle directory and starts the agent
/// detached (its own session, no terminal, so it outlives the SSH connection) on the node's
/// directories; does nothing but drain the input when the agent runs already. Makes the role's
/// user when the machine lacks it, and notes that it did, for `destroy`. Exits 3, touching
/// nothing, when the slot holds another node.
pub fn start(dirs: &NodeDirs, node: &str) -> String {
    let NodeDirs {
        bundle,
        state,
        log,
        run,
    } = dirs;
    let out = dirs.agent_out();
    let script = format!(
        "set -e\n\
         {mine}\n\
         {recorded}\n\
         if [ -n \"$pid\" ]; then cat >/dev/null; echo \"the agent runs already (pid $pid)\"; exit 0; fi\n\
         # Nodes sharing the machine start at once, and an agent looks at the others' bundles\n\
         # (whose claims on data directories are still theirs): the bundle is replaced, and the\n\
         # role's user made once (the agent makes it the same way when it is missing) and its\n\
         # maker noted, under the machine's lock.\n\
         mkdir -p {MACHINE_DIR}\n\
         exec 9<{MACHINE_DIR} && flock 9\n\
         rm -rf {bundle}\n\
         mkdir -p {bundle} {run} {log} {state}\n\
         tar -xf - -C {bundle}\n\
         echo {state} > {bundle}/state-dir\n\
         if [ -f {bundle}/user ]; then\n\
           u=$(cat {bundle}/user)\n\
           if ! id \"$u\" >/dev/null 2>&1; then\n\
             useradd --system --create-home --home-dir \"/var/lib/$u\" --shell /bin/bash \"$u\"\n\
             echo \"$u\" >> {state}/created-user\n\
           fi\n\
         fi\n\
         exec 9<&-\n\
         cd /\n\
         export BAKER_BUNDLE={bundle} BAKER_AGENT_STATE_DIR={state} BAKER_AGENT_LOG_DIR={log} BAKER_AGENT_MACHINE_DIR={MACHINE_DIR}\n\
         setsid nohup {AGENT_PATH} </dev/null >{out} 2>&1 &\n\
         {record}\n",
        mine = slot_is(dirs, node, "cat >/dev/null; exit 3"),
        recorded = recorded_agent(dirs),
        record = record_agent("$!", dirs),
    );
    format!("{AS_ROOT}bash -c {}", shell_quote(&script))
}

/// Whether node `node`'s agent (or the role it became) runs: not when its slot holds another node.
pub fn alive(dirs: &NodeDirs, node: &str) -> String {
    format!(
        "{}\n{}\n[ -n \"$pid\" ]",
        slot_is(dirs, node, "exit 1"),
        recorded_agent(dirs)
    )
}

/// Runs `otherwise` (saying so on standard error first) unless the slot of `dirs` is free or holds
/// node `node`: its `node` file is absent or names it.
fn slot_is(dirs: &NodeDirs, node: &str, otherwise: &str) -> String {
    let bundle = &dirs.bundle;
    format!(
        "here=$(head -n 1 {bundle}/node 2>/dev/null || true)\n\
         if [ -n \"$here\" ] && [ \"$here\" != {node} ]; then echo \"{bundle} holds baker node $here, not {plain}: another cluster's node is in this slot\" >&2; {otherwise}; fi",
        node = shell_quote(node),
        plain = node.replace(['"', '$', '`', '\\'], ""),
    )
}

/// Records the agent started as process `pid` (a shell word): its pid, and its start time for
/// [`recorded_agent`].
pub fn record_agent(pid: &str, dirs: &NodeDirs) -> String {
    let (pidfile, start_file) = (dirs.pidfile(), dirs.start_file());
    format!(
        "echo {pid} > {pidfile}\n\
         stat=$(cat /proc/{pid}/stat 2>/dev/null || true); set -- ${{stat##*) }}; echo \"${{20:-}}\" > {start_file}"
    )
}

/// Sets `pid` to the recorded agent's pid when that process still runs, else to nothing. The pid
/// alone may have passed to another process (a restarted container keeps `/run`), so the process
/// must also have the recorded start time; an agent started by a baker that recorded none is
/// known by its command line, which named the bundle through `runuser` then.
pub fn recorded_agent(dirs: &NodeDirs) -> String {
    let (pidfile, start_file) = (dirs.pidfile(), dirs.start_file());
    format!(
        "pid=$(cat {pidfile} 2>/dev/null || true)\n\
         if [ -z \"$pid\" ] || ! stat=$(cat /proc/$pid/stat 2>/dev/null); then pid=\"\"\n\
         elif [ -s {start_file} ]; then set -- ${{stat##*) }}; [ \"${{20:-}}\" = \"$(cat {start_file})\" ] || pid=\"\"\n\
         else grep -q baker /proc/$pid/cmdline 2>/dev/null || pid=\"\"\n\
         fi"
    )
}

/// The last `lines` lines of the role log, else of the agent's own output.
pub fn role_log(dirs: &NodeDirs, lines: usize) -> String {
    let (log, out) = (dirs.role_log(), dirs.agent_out());
    format!(
        "if [ -s {log} ]; then tail -n {lines} {log}; else tail -n {lines} {out} 2>/dev/null; fi; true"
    )
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// Every script is valid bash (`bash -n`), whatever its arguments.
    #[test]
    fn the_scripts_parse() {
        let packages = ["libreadline8".to_owned(), "zlib1g".to_owned()];
        let mut scripts = vec![
            install(
                PackageManager::Apt,
                &packages,
                None,
                "#!/bin/bash\necho agent",
                "ab12",
            ),
            install(
                PackageManager::Yum,
                &packages,
                Some(&Repositories::Ready {
                    tar: vec![0; 1024],
                    import: vec!["rpm --import /etc/pki/rpm-gpg/KEY".into()],
                }),
                "#!/bin/bash",
                "ab12",
            ),
            alive(&NodeDirs::of_slot(1), "pg-standby-1"),
            role_log(&NodeDirs::of_slot(0), 40),
            super::super::ssh_destroy::destroy("pg-standby-1", &NodeDirs::of_slot(1)),
        ];
        // The remote command lines carry their script quoted: check the script inside.
        for line in [unpack("ab12"), start(&NodeDirs::of_slot(2), "pg-standby-2")] {
            let quoted = line
                .trim_start_matches(AS_ROOT)
                .trim_start_matches("bash -c ");
            let words = shlex::split(quoted).unwrap();
            scripts.push(words[0].clone());
        }
        for script in scripts {
            assert_bash_parses(&script);
        }
    }

    /// Fails, showing bash's complaint, unless `script` parses (`bash -n`).
    pub(in crate::launch) fn assert_bash_parses(script: &str) {
        let out = std::process::Command::new("bash")
            .args(["-n", "-c", script])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{script}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Node `node`'s start script as it runs on the machine (without the root prefix).
    fn start_script(dirs: &NodeDirs, node: &str) -> String {
        let line = start(dirs, node);
        let quoted = line
            .trim_start_matches(AS_ROOT)
            .trim_start_matches("bash -c ");
        shlex::split(quoted).unwrap().remove(0)
    }

    /// A slot whose bundle names another node (of another cluster) is neither started over nor
    /// taken for this node's running agent; a free slot is not refused.
    #[test]
    fn a_slot_holding_another_node_is_not_this_node_s() {
        let dir = tempfile::tempdir().unwrap();
        let at = |kind: &str| dir.path().join(kind).display().to_string();
        let dirs = NodeDirs {
            bundle: at("bundle"),
            state: at("state"),
            log: at("log"),
            run: at("run"),
        };
        std::fs::create_dir_all(&dirs.bundle).unwrap();
        std::fs::create_dir_all(&dirs.run).unwrap();
        let node_file = format!("{}/node", dirs.bundle);
        std::fs::write(&node_file, "other-slave-1\n").unwrap();
        // The recorded agent is a process that runs: this test's own shell.
        let run = |script: &str| {
            std::process::Command::new("bash")
                .args(["-c", script])
                .stdin(std::process::Stdio::null())
                .output()
                .unwrap()
        };
        let record = format!("{}\n", record_agent("$$", &dirs));
        let recorded = format!("{record}{}", alive(&dirs, "other-slave-1"));
        assert_eq!(run(&recorded).status.code(), Some(0));
        let mine = format!("{record}{}", alive(&dirs, "pg-standby-1"));
        assert_eq!(run(&mine).status.code(), Some(1));

        let out = run(&start_script(&dirs, "pg-standby-1"));
        assert_eq!(out.status.code(), Some(3));
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(said.contains("holds baker node other-slave-1"), "{said}");
        assert_eq!(
            std::fs::read_to_string(&node_file).unwrap(),
            "other-slave-1\n"
        );

        std::fs::remove_file(&node_file).unwrap();
        let free = run(&format!(
            "{}\necho free",
            slot_is(&dirs, "pg-standby-1", "exit 1")
        ));
        assert_eq!(String::from_utf8_lossy(&free.stdout), "free\n");
    }
}
