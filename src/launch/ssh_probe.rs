//! What the `ssh` provider asks a machine before it places a node there: whether it gives root,
//! and, looked at as root (a hardened umask hides `/etc/baker` from other users), which baker nodes
//! it runs already; and then the address its peers reach it at. Each answer is parsed here, apart
//! from the SSH plumbing, so that what a machine can say is tested without one: sudo's own words
//! when it refuses (CentOS 6's `Defaults requiretty` wants a terminal, which baker's sessions never
//! have), and a host name that resolves to loopback (Debian's `/etc/hosts` maps a machine's own
//! name to 127.0.1.1), which would become `{{master.ip}}` for every other node.

use std::net::IpAddr;

use super::bundle_tar::shell_quote;
use super::inventory::Host;
use super::ssh::SshError;
use super::ssh_dirs::ALL_BUNDLES;
use super::ssh_scripts::SshNode;
use super::state::ClusterState;

/// Run as the login user before anything is made: who it is, whether root commands work (sudo's
/// words when not), and, as root, the node named in each slot's bundle.
pub fn probe() -> String {
    let files: Vec<String> = ALL_BUNDLES
        .split(' ')
        .map(|b| format!("{b}/node"))
        .collect();
    let list = shell_quote(&format!(
        "for f in {}; do [ -f \"$f\" ] && echo \"node=$(head -n 1 \"$f\")\"; done; true",
        files.join(" ")
    ));
    format!(
        "echo \"user=$(id -un)\"\n\
         if [ \"$(id -u)\" = 0 ]; then as=\"\"\n\
         elif said=$(sudo -n true 2>&1 </dev/null); then as=\"sudo -n\"\n\
         else\n\
           echo root=no\n\
           printf '%s\\n' \"$said\" | while IFS= read -r line; do echo \"sudo=$line\"; done\n\
           exit 0\n\
         fi\n\
         echo root=yes\n\
         $as sh -c {list}\n"
    )
}

/// What [`probe`] printed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Probed {
    pub user: String,
    pub root: bool,
    /// What sudo printed when it refused.
    pub sudo_said: Vec<String>,
    /// The baker nodes the machine runs, one per slot that has one.
    pub nodes: Vec<String>,
}

impl Probed {
    pub fn parse(out: &str) -> Self {
        let mut probed = Self::default();
        for line in out.lines() {
            let Some((key, value)) = line.split_once('=') else {
                continue;
            };
            match key {
                "user" => value.trim().clone_into(&mut probed.user),
                "root" => probed.root = value == "yes",
                "sudo" => probed.sudo_said.push(value.to_owned()),
                "node" if !value.trim().is_empty() => probed.nodes.push(value.trim().to_owned()),
                _ => {}
            }
        }
        probed
    }

    /// The machine `host` as a place for nodes: refused when it gives no root, or when it runs a
    /// node not in `ours` (the cluster's own nodes, which a resumed launch finds placed).
    pub fn check(&self, host: &str, ours: &[String]) -> Result<(), SshError> {
        let host = host.to_owned();
        if !self.root {
            let said = self.sudo_said.join(" ").trim().to_owned();
            if said.contains("tty") {
                return Err(SshError::NeedsTty {
                    host,
                    user: self.user.clone(),
                    said,
                });
            }
            let said = if said.is_empty() {
                String::new()
            } else {
                format!(" (sudo said: {said})")
            };
            return Err(SshError::NotRoot { host, said });
        }
        match self.nodes.iter().find(|n| !ours.contains(n)) {
            Some(node) => Err(SshError::Busy {
                host,
                node: node.clone(),
            }),
            None => Ok(()),
        }
    }
}

/// Whether other machines could reach a node at `ip`: not a loopback, link-local or unspecified
/// address.
pub fn reachable(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => !(v4.is_loopback() || v4.is_link_local() || v4.is_unspecified()),
        IpAddr::V6(v6) => !(v6.is_loopback() || v6.is_unicast_link_local() || v6.is_unspecified()),
    }
}

/// The addresses `host` is, seen from here, that other machines could reach: itself when it is
/// one, else what it resolves to (IPv4 first).
pub async fn resolved(host: &str, port: u16) -> Vec<IpAddr> {
    let mut found: Vec<IpAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![ip],
        Err(_) => match tokio::net::lookup_host((host, port)).await {
            Ok(addrs) => addrs.map(|a| a.ip()).collect(),
            Err(_) => Vec::new(),
        },
    };
    found.retain(reachable);
    found.sort_by_key(IpAddr::is_ipv6);
    found.dedup();
    found
}

/// Asks the machine for its addresses: the source address of its route to each of `peers` (the
/// one they would see), then every global address it has.
pub fn addresses_script(peers: &[IpAddr]) -> String {
    let peers: Vec<String> = peers.iter().map(ToString::to_string).collect();
    format!(
        "for p in {}; do ip route get \"$p\" 2>/dev/null | head -n 1 | sed 's/^/route /'; done\n\
         ip -o addr show scope global 2>/dev/null | while read -r _ _ _ a _; do echo \"addr ${{a%/*}}\"; done\n\
         for a in $(hostname -I 2>/dev/null); do echo \"addr $a\"; done\n\
         true\n",
        peers.join(" ")
    )
}

/// The address [`addresses_script`]'s output gives: a route's source first, else an IPv4 address,
/// else any; only reachable ones.
pub fn pick_address(out: &str) -> Option<IpAddr> {
    let route = out
        .lines()
        .filter_map(|l| l.strip_prefix("route "))
        .find_map(|l| {
            let mut words = l.split_whitespace();
            words.find(|w| *w == "src")?;
            words.next()?.parse::<IpAddr>().ok().filter(reachable)
        });
    let all: Vec<IpAddr> = out
        .lines()
        .filter_map(|l| l.strip_prefix("addr ")?.trim().parse().ok())
        .filter(reachable)
        .collect();
    route
        .or_else(|| all.iter().find(|ip| ip.is_ipv4()).copied())
        .or_else(|| all.first().copied())
}

/// The address the other nodes reach `node` at: its host when that is (or resolves here to) an
/// address they could reach; else the one the machine itself reports (its route to `peers`, the
/// other machines' addresses, or its global addresses).
pub async fn address(node: &SshNode, peers: &[IpAddr]) -> Result<String, SshError> {
    let (host, port) = (&node.target.host, node.target.port);
    if let Some(ip) = resolved(host, port).await.first() {
        return Ok(ip.to_string());
    }
    let fail = |why: String| SshError::Address {
        host: host.clone(),
        why,
    };
    let out = node
        .step(
            "asking for its address",
            "bash -s",
            addresses_script(peers).as_bytes(),
        )
        .await
        .map_err(|e| fail(e.to_string()))?;
    let Some(ip) = pick_address(&out) else {
        return Err(fail(
            "it is no address the other machines could reach (nor resolves here to one), and the \
             machine reports none either; list it in the inventory by an address, or by a name \
             that resolves to one, that the other machines reach"
                .into(),
        ));
    };
    tracing::warn!(
        "{host} is no address the other machines could reach (a loopback one, as Debian's /etc/hosts gives a machine's own name): they reach it at {ip}, the address the machine reports"
    );
    Ok(ip.to_string())
}

/// The addresses of the cluster's machines as far as known: the placed nodes', and those the
/// machines in `placing` are (or resolve to here).
pub async fn peers(state: &ClusterState, placing: &[&Host]) -> Vec<IpAddr> {
    let mut peers: Vec<IpAddr> = (state.nodes.iter())
        .filter_map(|n| n.address.parse().ok())
        .collect();
    for host in placing {
        peers.extend(resolved(&host.host, host.port).await);
    }
    peers.retain(reachable);
    peers.sort();
    peers.dedup();
    peers
}

#[cfg(test)]
#[path = "ssh_probe_tests.rs"]
mod tests;
