//! How an image brings up its network at boot with no help from anyone: its first NIC, `eth0`
//! (the kernel command line carries `net.ifnames=0`, so the name holds on every kernel), takes an
//! address by DHCP, which is how AWS, GCE, Azure and QEMU's user-mode network all hand addresses
//! out. Without it a published image would boot on a cloud with no network at all. Other NICs are
//! left alone: the role agent gives them the addresses `baker launch` chose (its `network` entry).
//!
//! The files come from `images/network/` and follow the distro's own network tooling, chosen by
//! its package manager and init: ifupdown with isc-dhcp-client on Debian and Ubuntu (`allow-hotplug`
//! under systemd, so a machine without the NIC boots without waiting; `auto` under upstart, whose
//! network jobs bring up only `auto` interfaces), initscripts' `ifcfg-eth0` with dhclient on CentOS.

use serde_json::json;

use super::assets::render;
use super::layer::{ImageSpec, Init};
use crate::recipe::PackageManager;

const INTERFACES: &str = include_str!("../../images/network/interfaces");
const IFCFG_ETH0: &str = include_str!("../../images/network/ifcfg-eth0");
const SYSCONFIG_NETWORK: &str = include_str!("../../images/network/sysconfig-network");

/// The templates this module renders, for the image key.
pub const TEMPLATES: [&str; 3] = [INTERFACES, IFCFG_ETH0, SYSCONFIG_NETWORK];

/// The distro tooling that reads the files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetworkTooling {
    /// `/etc/network/interfaces`; `hotplug`: `allow-hotplug eth0` rather than `auto eth0`.
    Ifupdown { hotplug: bool },
    /// `/etc/sysconfig/network-scripts/ifcfg-eth0` and `NETWORKING=yes`.
    Initscripts,
}

impl NetworkTooling {
    pub fn of(spec: &ImageSpec) -> Self {
        match spec.base.package_manager {
            PackageManager::Apt => NetworkTooling::Ifupdown {
                hotplug: spec.init == Init::Systemd,
            },
            PackageManager::Yum => NetworkTooling::Initscripts,
        }
    }

    /// The packages the OS layer installs for it (a minimal base has no DHCP client).
    pub fn packages(self) -> &'static [&'static str] {
        match self {
            NetworkTooling::Ifupdown { .. } => &["ifupdown", "isc-dhcp-client"],
            NetworkTooling::Initscripts => &["dhclient"],
        }
    }

    /// What the OS layer runs after installing the packages so that the init starts the network:
    /// initscripts' `network` service on in every runlevel, whatever the base image left.
    pub fn enable_command(self) -> Option<&'static str> {
        match self {
            NetworkTooling::Ifupdown { .. } => None,
            NetworkTooling::Initscripts => Some("chkconfig network on"),
        }
    }

    /// The files to lay over the tree, as (path in the tree, content); `hostname` is the name the
    /// image carries until a node is given its own.
    pub fn files(self, hostname: &str) -> Vec<(&'static str, String)> {
        match self {
            NetworkTooling::Ifupdown { hotplug } => {
                let start = if hotplug { "allow-hotplug" } else { "auto" };
                vec![(
                    "etc/network/interfaces",
                    render(INTERFACES, &json!({ "start": start })),
                )]
            }
            NetworkTooling::Initscripts => vec![
                (
                    "etc/sysconfig/network-scripts/ifcfg-eth0",
                    IFCFG_ETH0.to_owned(),
                ),
                (
                    "etc/sysconfig/network",
                    render(SYSCONFIG_NETWORK, &json!({ "hostname": hostname })),
                ),
            ],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::layer::embedded_spec as spec;

    #[test]
    fn the_kernel_keeps_the_first_nic_named_eth0() {
        assert!(
            crate::image::assets::KERNEL_CMDLINE
                .split(' ')
                .any(|w| w == "net.ifnames=0")
        );
    }

    #[test]
    fn debian_under_systemd_brings_eth0_up_when_it_appears() {
        let tooling = NetworkTooling::of(&spec("postgresql", "debian12"));
        assert_eq!(tooling, NetworkTooling::Ifupdown { hotplug: true });
        assert_eq!(tooling.packages(), ["ifupdown", "isc-dhcp-client"]);
        assert_eq!(tooling.enable_command(), None);
        let files = tooling.files("postgresql");
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].0, "etc/network/interfaces");
        assert!(files[0].1.contains("\nauto lo\niface lo inet loopback\n"));
        assert!(
            files[0]
                .1
                .contains("\nallow-hotplug eth0\niface eth0 inet dhcp\n")
        );
    }

    #[test]
    fn ubuntu_under_upstart_marks_eth0_auto() {
        let tooling = NetworkTooling::of(&spec("mesos", "ubuntu14.04"));
        assert_eq!(tooling, NetworkTooling::Ifupdown { hotplug: false });
        let files = tooling.files("mesos");
        assert!(files[0].1.contains("\nauto eth0\niface eth0 inet dhcp\n"));
        assert!(!files[0].1.contains("{{"));
    }

    #[test]
    fn centos_gets_an_ifcfg_file_with_dhcp_and_networking_on() {
        let tooling = NetworkTooling::of(&spec("mesos", "centos6"));
        assert_eq!(tooling, NetworkTooling::Initscripts);
        assert_eq!(tooling.packages(), ["dhclient"]);
        assert_eq!(tooling.enable_command(), Some("chkconfig network on"));
        let files = tooling.files("mesos");
        let ifcfg = &files[0].1;
        assert_eq!(files[0].0, "etc/sysconfig/network-scripts/ifcfg-eth0");
        for line in [
            "DEVICE=eth0",
            "ONBOOT=yes",
            "BOOTPROTO=dhcp",
            "PERSISTENT_DHCLIENT=yes",
        ] {
            assert!(ifcfg.lines().any(|l| l == line), "{line} in {ifcfg}");
        }
        assert_eq!(
            files[1],
            (
                "etc/sysconfig/network",
                "NETWORKING=yes\nHOSTNAME=mesos\n".to_owned()
            )
        );
    }
}
