//! The machinery under the `qemu` provider: the cluster's switch and addresses, the QEMU and
//! `qemu-img` command lines, and the daemonized QEMU processes found again through their pidfiles.
//!
//! Every node has two NICs. The first is QEMU's user-mode network, which needs no root and forwards
//! ports on 127.0.0.1 to the guest (SSH and the role's ports); the guest takes slirp's fixed address
//! 10.0.2.15. The second joins the cluster's switch: a UDP multicast group on the loopback interface
//! (`-netdev socket,mcast=…,localaddr=127.0.0.1`), which also needs no root, one group and port per
//! cluster, with a static address per node on a cluster-specific /24. Both are set by the role agent
//! from the bundle's `network` entry, matched by MAC, so the image needs no network configuration.
//! Process control is a pidfile per VM (`-daemonize -pidfile`), so VMs outlive `baker launch`.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};

pub use crate::image::boot::{Accel, kvm_openable};

/// Nodes on one switch: addresses `.10` to `.249` of the cluster's /24.
pub const MAX_NODES: usize = 240;
/// The user-mode network's guest address and gateway (QEMU's fixed defaults).
const USER_ADDRESS: &str = "10.0.2.15/24";
const USER_GATEWAY: &str = "10.0.2.2";
/// SSH's port in the guest; its forwarded host port is recorded under this key in `published`.
pub const SSH_PORT: u16 = 22;

/// A cluster's virtual switch: a multicast group and port on loopback, and its /24.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Switch {
    pub group: Ipv4Addr,
    pub port: u16,
    /// The first two octets after `10.`: the subnet is `10.<a>.<b>.0/24`.
    pub subnet: [u8; 2],
}

impl Switch {
    /// The switch of the cluster whose state lives in `dir`: derived from the directory, so two
    /// clusters (or two state roots) get different groups, ports and subnets, and never from
    /// `10.0.x`, where the user-mode network lives.
    pub fn for_cluster(dir: &Path) -> Self {
        let h = Sha256::digest(dir.display().to_string().as_bytes());
        Switch {
            group: Ipv4Addr::new(239, h[0], h[1], h[2].max(1)),
            port: 20_000 + u16::from_be_bytes([h[3], h[4]]) % 30_000,
            subnet: [16 + h[5] % 224, h[6]],
        }
    }

    /// `239.a.b.c:port`, as recorded in the cluster's state and given to QEMU.
    pub fn endpoint(&self) -> String {
        format!("{}:{}", self.group, self.port)
    }

    /// Reads back what [`Switch::endpoint`] and [`Switch::subnet_text`] wrote.
    pub fn parse(endpoint: &str, subnet: &str) -> Option<Self> {
        let (group, port) = endpoint.split_once(':')?;
        let octets: Vec<u8> = subnet
            .strip_suffix(".0/24")?
            .split('.')
            .map(|o| o.parse().ok())
            .collect::<Option<_>>()?;
        match octets[..] {
            [10, a, b] => Some(Switch {
                group: group.parse().ok()?,
                port: port.parse().ok()?,
                subnet: [a, b],
            }),
            _ => None,
        }
    }

    pub fn subnet_text(&self) -> String {
        format!("10.{}.{}.0/24", self.subnet[0], self.subnet[1])
    }

    /// Node `index`'s address on the switch.
    pub fn address(&self, index: usize) -> String {
        assert!(index < MAX_NODES, "at most {MAX_NODES} nodes on a switch");
        format!("10.{}.{}.{}", self.subnet[0], self.subnet[1], index + 10)
    }
}

/// Node `index`'s MAC on its user-mode NIC (`nic` 0) or on the switch (`nic` 1).
pub fn mac(nic: u8, index: usize) -> String {
    format!("52:54:00:{nic:02x}:{:02x}:{:02x}", index >> 8, index & 0xff)
}

/// The bundle's `network` entry for node `index`: both NICs, the default route through user mode.
pub fn network_entry(switch: &Switch, index: usize) -> String {
    format!(
        "{} {USER_ADDRESS} {USER_GATEWAY}\n{} {}/24\n",
        mac(0, index),
        mac(1, index),
        switch.address(index)
    )
}

/// Where one node's files live in the cluster's state directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmFiles {
    pub overlay: PathBuf,
    pub seed: PathBuf,
    pub pidfile: PathBuf,
    pub console: PathBuf,
}

impl VmFiles {
    pub fn of(dir: &Path, node: &str) -> Self {
        VmFiles {
            overlay: dir.join(format!("{node}.qcow2")),
            seed: dir.join(format!("{node}.seed")),
            pidfile: dir.join(format!("{node}.pid")),
            console: dir.join(format!("{node}.console.log")),
        }
    }

    /// The same files, from the pidfile (a node's provider id).
    pub fn of_pidfile(pidfile: &Path) -> Self {
        let dir = pidfile.parent().unwrap_or(Path::new("."));
        let name = pidfile.file_stem().unwrap_or_default().to_string_lossy();
        Self::of(dir, &name)
    }

    pub fn all(&self) -> [&Path; 4] {
        [&self.overlay, &self.seed, &self.pidfile, &self.console]
    }
}

/// `qemu-img create`: a copy-on-write overlay of the image's raw disk.
pub fn overlay_args(raw: &Path, overlay: &Path) -> Vec<String> {
    vec![
        "qemu-img".into(),
        "create".into(),
        "-q".into(),
        "-f".into(),
        "qcow2".into(),
        "-F".into(),
        "raw".into(),
        "-b".into(),
        raw.display().to_string(),
        overlay.display().to_string(),
    ]
}

/// One VM to start.
#[derive(Debug, Clone)]
pub struct VmSpec<'a> {
    pub node: &'a str,
    pub index: usize,
    pub files: &'a VmFiles,
    pub switch: &'a Switch,
    /// Guest port -> host port on 127.0.0.1.
    pub forwards: &'a BTreeMap<u16, u16>,
    pub accel: Accel,
    pub memory_mib: u32,
}

/// The daemonized QEMU command line of one node: overlay as `vda`, seed as `vdb`, the user-mode
/// NIC with its forwards, the switch NIC, the serial console to a file.
pub fn qemu_args(vm: &VmSpec<'_>) -> Vec<String> {
    let (accel, cpu) = match vm.accel {
        Accel::Kvm => ("kvm", "host"),
        Accel::Tcg => ("tcg", "max"),
    };
    let forwards: String = vm
        .forwards
        .iter()
        .map(|(guest, host)| format!(",hostfwd=tcp:127.0.0.1:{host}-:{guest}"))
        .collect();
    let path = |p: &Path| p.display().to_string();
    [
        "qemu-system-x86_64",
        "-name",
        vm.node,
        "-accel",
        accel,
        "-cpu",
        cpu,
        "-smp",
        "1",
        "-m",
        &vm.memory_mib.to_string(),
        "-display",
        "none",
        "-monitor",
        "none",
        "-serial",
        &format!("file:{}", path(&vm.files.console)),
        "-daemonize",
        "-pidfile",
        &path(&vm.files.pidfile),
        "-drive",
        &format!("file={},format=qcow2,if=virtio", path(&vm.files.overlay)),
        "-drive",
        &format!(
            "file={},format=raw,if=virtio,readonly=on",
            path(&vm.files.seed)
        ),
        "-netdev",
        &format!("user,id=host{forwards}"),
        "-device",
        &format!("virtio-net-pci,netdev=host,mac={}", mac(0, vm.index)),
        "-netdev",
        &format!(
            "socket,id=switch,mcast={},localaddr=127.0.0.1",
            vm.switch.endpoint()
        ),
        "-device",
        &format!("virtio-net-pci,netdev=switch,mac={}", mac(1, vm.index)),
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect()
}

/// `count` free TCP ports on 127.0.0.1, all different (held open until all are found).
pub fn free_ports(count: usize) -> std::io::Result<Vec<u16>> {
    let listeners: Vec<TcpListener> = (0..count)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<Result<_, _>>()?;
    listeners
        .iter()
        .map(|l| l.local_addr().map(|a| a.port()))
        .collect()
}

/// The QEMU process behind `pidfile`, when it still runs: the pid must be a QEMU whose command
/// line names this pidfile, so a reused pid is never taken for the VM.
pub fn running_pid(pidfile: &Path) -> Option<i32> {
    let pid: i32 = std::fs::read_to_string(pidfile).ok()?.trim().parse().ok()?;
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let cmdline = String::from_utf8_lossy(&cmdline);
    let ours = cmdline.contains("qemu-system") && cmdline.contains(&*pidfile.to_string_lossy());
    ours.then_some(pid)
}

/// Stops the VM behind `pidfile` (SIGTERM, then SIGKILL after 10 s); whether one ran.
pub async fn stop(pidfile: &Path) -> bool {
    let Some(pid) = running_pid(pidfile) else {
        return false;
    };
    let Some(process) = rustix::process::Pid::from_raw(pid) else {
        return false;
    };
    let _ = rustix::process::kill_process(process, rustix::process::Signal::TERM);
    for _ in 0..100 {
        if running_pid(pidfile).is_none() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = rustix::process::kill_process(process, rustix::process::Signal::KILL);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn switch() -> Switch {
        Switch {
            group: Ipv4Addr::new(239, 1, 2, 3),
            port: 23456,
            subnet: [77, 5],
        }
    }

    #[test]
    fn every_cluster_gets_its_own_switch_away_from_user_mode_addresses() {
        let a = Switch::for_cluster(Path::new("/state/pg"));
        let b = Switch::for_cluster(Path::new("/state/pg2"));
        assert_eq!(a, Switch::for_cluster(Path::new("/state/pg")));
        assert_ne!(a.endpoint(), b.endpoint());
        for s in [&a, &b] {
            assert!(s.subnet[0] >= 16 && s.group.is_multicast() && s.port >= 20_000);
        }
        assert_eq!(Switch::parse(&a.endpoint(), &a.subnet_text()), Some(a));
        assert_eq!(Switch::parse("239.1.2.3:5", "192.168.0.0/24"), None);
    }

    #[test]
    fn nodes_get_static_addresses_and_macs_the_agent_matches() {
        let s = switch();
        assert_eq!(s.address(0), "10.77.5.10");
        assert_eq!(s.address(2), "10.77.5.12");
        assert_eq!(mac(1, 2), "52:54:00:01:00:02");
        assert_eq!(
            network_entry(&s, 1),
            "52:54:00:00:00:01 10.0.2.15/24 10.0.2.2\n52:54:00:01:00:01 10.77.5.11/24\n"
        );
    }

    #[test]
    fn the_vm_boots_its_overlay_and_seed_with_forwards_on_loopback_and_the_switch() {
        let files = VmFiles::of(Path::new("/st/pg"), "pg-primary");
        let forwards = BTreeMap::from([(22, 40022), (5432, 45432)]);
        let args = qemu_args(&VmSpec {
            node: "pg-primary",
            index: 0,
            files: &files,
            switch: &switch(),
            forwards: &forwards,
            accel: Accel::Tcg,
            memory_mib: 768,
        })
        .join(" ");
        for part in [
            "-accel tcg -cpu max -smp 1 -m 768",
            "-serial file:/st/pg/pg-primary.console.log -daemonize -pidfile /st/pg/pg-primary.pid",
            "-drive file=/st/pg/pg-primary.qcow2,format=qcow2,if=virtio -drive file=/st/pg/pg-primary.seed,format=raw,if=virtio,readonly=on",
            "-netdev user,id=host,hostfwd=tcp:127.0.0.1:40022-:22,hostfwd=tcp:127.0.0.1:45432-:5432",
            "-device virtio-net-pci,netdev=host,mac=52:54:00:00:00:00",
            "-netdev socket,id=switch,mcast=239.1.2.3:23456,localaddr=127.0.0.1",
            "-device virtio-net-pci,netdev=switch,mac=52:54:00:01:00:00",
        ] {
            assert!(args.contains(part), "{part} not in {args}");
        }
        assert_eq!(VmFiles::of_pidfile(&files.pidfile), files);
    }

    #[test]
    fn overlays_are_qcow2_over_the_raw_disk() {
        assert_eq!(
            overlay_args(Path::new("/img/pg.raw"), Path::new("/st/n.qcow2")).join(" "),
            "qemu-img create -q -f qcow2 -F raw -b /img/pg.raw /st/n.qcow2"
        );
    }

    #[test]
    fn free_ports_differ_and_a_missing_pidfile_is_no_vm() {
        let ports = free_ports(3).unwrap();
        assert!(ports[0] != ports[1] && ports[1] != ports[2] && ports[0] != ports[2]);
        assert_eq!(running_pid(Path::new("/nonexistent/x.pid")), None);
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("n.pid");
        // Our own pid is a live process, but not a QEMU of this pidfile.
        std::fs::write(&pidfile, std::process::id().to_string()).unwrap();
        assert_eq!(running_pid(&pidfile), None);
    }
}
