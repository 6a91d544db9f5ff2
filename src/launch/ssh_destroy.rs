//! The clean-up of one `ssh` node on a machine that may run others (see [`super::ssh_dirs`]): stop
//! the node's agent and everything under it, remove the files its bundle installed unless another
//! node's bundle on the machine installs them too, and remove its own directories. The role's user
//! made for the cluster (and its home, where roles keep their data) goes with the last node on the
//! machine: an earlier one hands its note on to a node that stays. Steps that look at the other
//! nodes run under a lock on `/etc/baker`, as a cluster's nodes are destroyed at once.

use super::bundle_tar::shell_quote;
use super::ssh_dirs::{ALL_BUNDLES, NodeDirs};

/// Stops node `node`'s agent and every process under it (TERM, then KILL after 10 s), and removes
/// what it made (see the module). Leaves the installed software. Exits 3, touching nothing, when
/// the node's directories hold another node. Safe to repeat.
pub fn destroy(node: &str, dirs: &NodeDirs) -> String {
    destroy_among(node, dirs, ALL_BUNDLES, "/etc/baker")
}

/// [`destroy`], with the glob of every bundle directory on the machine and the directory locked.
fn destroy_among(node: &str, dirs: &NodeDirs, all_bundles: &str, lock: &str) -> String {
    let node = shell_quote(node);
    let NodeDirs {
        bundle,
        state,
        log,
        run,
    } = dirs;
    let pidfile = dirs.pidfile();
    format!(
        "set -u\n\
         here=$(cat {bundle}/node 2>/dev/null || true)\n\
         if [ -n \"$here\" ] && [ \"$here\" != {node} ]; then echo \"{bundle} holds node $here\"; exit 3; fi\n\
         root=$(cat {pidfile} 2>/dev/null || true)\n\
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
         if [ -d {lock} ]; then exec 9<{lock}; flock 9; fi\n\
         others=\"\"\n\
         for b in {all_bundles}; do [ -d \"$b\" ] && [ \"$b\" != {bundle} ] && others=\"$others $b\"; done\n\
         if [ -d {bundle}/files ]; then\n\
           (cd {bundle}/files && find . ! -type d) | while read -r f; do\n\
             shared=\"\"; for b in $others; do [ -e \"$b/files/${{f#./}}\" ] && shared=$b; done\n\
             if [ -n \"$shared\" ]; then echo \"kept /${{f#./}}: $shared installs it too\"; else rm -f \"/${{f#./}}\"; fi\n\
           done\n\
         fi\n\
         if [ -s {state}/created-user ]; then\n\
           heir=\"\"\n\
           for b in $others; do [ -z \"$heir\" ] && heir=$(cat \"$b/state-dir\" 2>/dev/null); done\n\
           if [ -n \"$heir\" ]; then\n\
             mkdir -p \"$heir\" && cat {state}/created-user >> \"$heir/created-user\"\n\
             echo \"left the role's user to the node whose state is $heir\"\n\
           else\n\
             while read -r u; do\n\
               [ -n \"$u\" ] || continue\n\
               h=$(getent passwd \"$u\" | cut -d: -f6)\n\
               if id \"$u\" >/dev/null 2>&1; then userdel -r \"$u\" 2>/dev/null || userdel \"$u\"; fi\n\
               case \"$h\" in /?*/?*) rm -rf \"$h\" ;; esac\n\
             done < {state}/created-user\n\
           fi\n\
         fi\n\
         rm -rf {bundle} {state} {log} {run}\n\
         exit 0\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(script: &str) -> Option<i32> {
        std::process::Command::new("bash")
            .args(["-c", script])
            .status()
            .unwrap()
            .code()
    }

    /// Two nodes on one scratch "machine": destroying one refuses a slot that holds another node,
    /// keeps the file both installed and the other node's directories, and leaves the role's user
    /// to the other; destroying the last removes the shared file too.
    #[test]
    fn destroying_one_node_leaves_the_other_node_on_its_machine_alone() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().display().to_string();
        let dirs = |slot: usize| {
            let at = |kind: &str| format!("{root}/{kind}-{slot}");
            NodeDirs {
                bundle: at("bundle"),
                state: at("state"),
                log: at("log"),
                run: at("run"),
            }
        };
        let shared = format!("{root}/etc/shared.conf");
        for (slot, node) in [(0, "m-slave-1"), (1, "m-slave-2")] {
            let d = dirs(slot);
            let files = format!("{}/files{root}/etc", d.bundle);
            for p in [&files, &d.state, &d.log, &d.run] {
                std::fs::create_dir_all(p).unwrap();
            }
            std::fs::write(format!("{files}/shared.conf"), "x").unwrap();
            std::fs::write(format!("{}/node", d.bundle), node).unwrap();
            std::fs::write(format!("{}/state-dir", d.bundle), &d.state).unwrap();
        }
        std::fs::create_dir_all(format!("{root}/etc")).unwrap();
        std::fs::write(&shared, "x").unwrap();
        // A user name that cannot exist, so that the last destroy's userdel is harmless.
        std::fs::write(
            format!("{}/created-user", dirs(0).state),
            "baker-no-such-user\n",
        )
        .unwrap();
        let all = format!("{root}/bundle-[0-9]*");
        let script = |node: &str, slot: usize| destroy_among(node, &dirs(slot), &all, &root);

        assert_eq!(run(&script("m-slave-2", 0)), Some(3));
        assert!(std::path::Path::new(&dirs(0).bundle).exists());

        assert_eq!(run(&script("m-slave-1", 0)), Some(0));
        for p in [dirs(0).bundle, dirs(0).state, dirs(0).log, dirs(0).run] {
            assert!(!std::path::Path::new(&p).exists(), "{p} is left");
        }
        for p in [dirs(1).bundle, dirs(1).log, dirs(1).run, shared.clone()] {
            assert!(std::path::Path::new(&p).exists(), "{p} was removed");
        }
        let heir = std::fs::read_to_string(format!("{}/created-user", dirs(1).state)).unwrap();
        assert_eq!(heir, "baker-no-such-user\n");

        assert_eq!(run(&script("m-slave-2", 1)), Some(0));
        assert!(!std::path::Path::new(&shared).exists());
        assert!(!std::path::Path::new(&dirs(1).state).exists());
        // Safe to repeat.
        assert_eq!(run(&script("m-slave-2", 1)), Some(0));
    }
}
