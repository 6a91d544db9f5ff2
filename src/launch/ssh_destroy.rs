//! The clean-up of one `ssh` node on a machine that may run others (see [`super::ssh_dirs`]): stop
//! the node's agent (the role's process, which the agent became) with everything under it and in
//! its session (which holds the role log's tee and whatever lost its parent), remove the files its
//! bundle installed unless another node's bundle on the machine installs them too, remove the
//! role's data directories its agent made and empty those it found empty (giving them back their
//! mode and owner), never following a link or crossing into another file system, and remove its
//! own directories. A data directory is touched only while the machine's claim on it is the
//! node's: one another node claims is that node's, whatever this node's notes say, and one no node
//! claims was given up by whoever took the claim over while this node was away (a directory noted
//! by an agent from before claims, whose notes lack their `claims` line, has no claim to check).
//! The node's claims are released. The role's user
//! made for the cluster (and its home), and the parents made for data directories, go with the last
//! node on the machine: an earlier one hands its note on to a node that stays. All of it runs under
//! a lock on the machine's directory ([`MACHINE_DIR`]), as a cluster's nodes are destroyed at once
//! and their agents claim directories under the same lock; it is taken before the agent is
//! stopped, so that an agent between claiming a directory and noting it finishes that first.

use super::bundle_tar::shell_quote;
use super::ssh_dirs::{ALL_BUNDLES, MACHINE_DIR, NodeDirs};
use super::ssh_scripts::recorded_agent;

/// Stops node `node`'s agent and every process under it or in its session (TERM, then KILL after
/// 10 s), and removes what it made (see the module). Leaves the installed software. Exits 3,
/// touching nothing, when the node's directories hold another node. Safe to repeat.
pub fn destroy(node: &str, dirs: &NodeDirs) -> String {
    destroy_among(node, dirs, ALL_BUNDLES, MACHINE_DIR)
}

/// [`destroy`], with the glob of every bundle directory on the machine and the machine's directory
/// (locked, and holding the claims).
fn destroy_among(node: &str, dirs: &NodeDirs, all_bundles: &str, lock: &str) -> String {
    let node = shell_quote(node);
    let claims = format!("{lock}/claims");
    let NodeDirs {
        bundle,
        state,
        log,
        run,
    } = dirs;
    let recorded = recorded_agent(dirs);
    format!(
        "set -u\n\
         here=$(cat {bundle}/node 2>/dev/null || true)\n\
         if [ -n \"$here\" ] && [ \"$here\" != {node} ]; then echo \"{bundle} holds node $here\"; exit 3; fi\n\
         # The lock first: an agent between claiming a data directory and noting it finishes\n\
         # that (it holds the lock meanwhile) before it is stopped, so nothing it made goes unnoted.\n\
         if [ -d {lock} ]; then exec 9<{lock}; flock 9; fi\n\
         {recorded}\n\
         root=$pid\n\
         if [ -n \"$root\" ]; then\n\
           declare -A kids\n\
           session=\"\"\n\
           for f in /proc/[0-9]*/stat; do\n\
             read -r line < \"$f\" 2>/dev/null || continue\n\
             p=${{f#/proc/}}; p=${{p%/stat}}\n\
             set -- ${{line##*') '}}\n\
             kids[$2]=\"${{kids[$2]:-}} $p\"\n\
             [ \"$4\" = \"$root\" ] && [ \"$p\" != \"$root\" ] && session=\"$session $p\"\n\
           done\n\
           tree=\"\"; todo=\"$root $session\"\n\
           declare -A seen\n\
           while set -- $todo; [ $# -gt 0 ]; do\n\
             p=$1; shift; todo=\"$*\"\n\
             [ -n \"${{seen[$p]:-}}\" ] && continue\n\
             seen[$p]=1; todo=\"$todo ${{kids[$p]:-}}\"; tree=\"$tree $p\"\n\
           done\n\
           kill -TERM $tree 2>/dev/null\n\
           for _ in $(seq 1 50); do\n\
             alive=\"\"; for p in $tree; do kill -0 $p 2>/dev/null && alive=\"$alive $p\"; done\n\
             [ -z \"$alive\" ] && break; sleep 0.2\n\
           done\n\
           [ -z \"$alive\" ] || kill -KILL $alive 2>/dev/null\n\
           echo \"stopped the agent and its processes:$tree\"\n\
         fi\n\
         others=\"\"\n\
         for b in {all_bundles}; do [ -d \"$b\" ] && [ \"$b\" != {bundle} ] && others=\"$others $b\"; done\n\
         if [ -d {bundle}/files ]; then\n\
           (cd {bundle}/files && find . ! -type d) | while read -r f; do\n\
             shared=\"\"; for b in $others; do [ -e \"$b/files/${{f#./}}\" ] && shared=$b; done\n\
             if [ -n \"$shared\" ]; then echo \"kept /${{f#./}}: $shared installs it too\"; else rm -f \"/${{f#./}}\"; fi\n\
           done\n\
         fi\n\
         heir=\"\"\n\
         for b in $others; do [ -z \"$heir\" ] && heir=$(cat \"$b/state-dir\" 2>/dev/null); done\n\
         if [ -s {state}/data-dirs ]; then\n\
           claimed=\"\"; grep -qx claims {state}/data-dirs && claimed=yes\n\
           while read -r how dir; do\n\
             [ \"$how\" = claims ] && continue\n\
             mode=\"\"; owner=\"\"\n\
             if [ \"$how\" = was ]; then mode=${{dir%% *}}; dir=${{dir#* }}; owner=${{dir%% *}}; dir=${{dir#* }}; fi\n\
             if [ \"$how\" != parent ]; then\n\
               claim={claims}/$(printf '%s' \"$dir\" | sha256sum | cut -d' ' -f1)\n\
               holder=$(head -n 1 \"$claim/node\" 2>/dev/null || true)\n\
               if [ -e \"$claim\" ] && [ \"$holder\" != {node} ]; then\n\
                 [ \"$how\" = was ] || echo \"left $dir: node ${{holder:-?}} of this machine claims it\"\n\
                 continue\n\
               fi\n\
               if [ ! -e \"$claim\" ] && [ -n \"$claimed\" ]; then\n\
                 [ \"$how\" = was ] || echo \"left $dir: this node no longer claims it (another node took the claim over while this one was away, or an earlier destroy released it)\"\n\
                 continue\n\
               fi\n\
             fi\n\
             if [ \"$how\" != parent ] && [ -L \"$dir\" ]; then echo \"left $dir: a symbolic link now, not the node's directory\"; continue; fi\n\
             case \"$how\" in\n\
               made) if rm -rf --one-file-system -- \"$dir\"; then echo \"removed the data directory $dir\"; else echo \"could not remove all of the data directory $dir\"; fi ;;\n\
               found) if [ -d \"$dir\" ] && find \"$dir\" -xdev -mindepth 1 -delete; then echo \"emptied the data directory $dir\"; else echo \"could not empty the data directory $dir\"; fi ;;\n\
               was) [ -d \"$dir\" ] && chown \"$owner\" \"$dir\" && chmod \"$mode\" \"$dir\" ;;\n\
             esac\n\
           done < {state}/data-dirs\n\
           if [ -n \"$heir\" ]; then\n\
             mkdir -p \"$heir\" && grep '^parent ' {state}/data-dirs >> \"$heir/data-dirs\" || true\n\
           else\n\
             grep '^parent ' {state}/data-dirs | cut -c8- | sort -r | while read -r dir; do rmdir -- \"$dir\" 2>/dev/null; done\n\
           fi\n\
         fi\n\
         if [ -s {state}/created-user ]; then\n\
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
         for c in {claims}/* {claims}/.new-*; do [ \"$(head -n 1 \"$c/node\" 2>/dev/null)\" = {node} ] && rm -rf \"$c\"; done\n\
         rmdir {claims} 2>/dev/null\n\
         rm -rf {bundle} {state} {log} {run}\n\
         exit 0\n"
    )
}

#[cfg(test)]
#[path = "ssh_destroy_tests.rs"]
mod tests;
