//! What the OS layer installs, and how: the image layer's kernel, init, the first NIC's DHCP client
//! and the runtime packages, installed by the base's package manager with the packages kept for
//! baker's package cache (and, on Debian and Ubuntu, without dpkg's fsyncs while they install), the
//! network enabled at boot, then one line naming the kernel and its initramfs, which
//! [`super::os_layer`] reads from the container's output and records on the committed layer.

use super::assets::Kernel;
use super::layer::ImageSpec;
use super::network::NetworkTooling;
use crate::recipe::{DPKG_UNSAFE_IO_OFF, DPKG_UNSAFE_IO_ON, PackageManager};

/// Starts the line that names the kernel, its image and its initramfs.
pub const KERNEL_LINE: &str = "baker-kernel:";

/// Undoes what Docker Hub's Ubuntu images change for life in a container, which a booted machine
/// must not keep: `/sbin/initctl` diverted to a stub that does nothing (upstart, Ubuntu 14.04's init,
/// sends its boot events through it: runlevel 2 would never start) and a `policy-rc.d` that forbids
/// packages to start their services. Runs after the layer's packages install, which still want both.
const UNDO_CONTAINER_TWEAKS: &str = "\
if dpkg-divert --list /sbin/initctl | grep -q .; then rm -f /sbin/initctl; dpkg-divert --local --rename --remove /sbin/initctl; fi
rm -f /usr/sbin/policy-rc.d
";

/// The packages the layer installs: kernel, init, the first NIC's DHCP client, runtime packages.
pub fn packages(spec: &ImageSpec) -> Vec<String> {
    let mut list = vec![spec.kernel_package.clone(), spec.init_package().to_owned()];
    list.extend(
        NetworkTooling::of(spec)
            .packages()
            .iter()
            .map(|p| (*p).to_owned()),
    );
    list.extend(spec.runtime_packages.iter().cloned());
    list
}

/// The script that installs them, then names the kernel and its initramfs on one line.
pub fn script(spec: &ImageSpec) -> String {
    let list = packages(spec).join(" ");
    let install = match spec.base.package_manager {
        PackageManager::Apt => format!(
            "export DEBIAN_FRONTEND=noninteractive\n\
             rm -f /etc/apt/apt.conf.d/docker-clean\n\
             echo 'Binary::apt::APT::Keep-Downloaded-Packages \"true\";' > /etc/apt/apt.conf.d/90baker-keep-packages\n\
             {DPKG_UNSAFE_IO_ON}\n\
             apt-get update -q\n\
             apt-get install -y -q --no-install-recommends {list}\n\
             {DPKG_UNSAFE_IO_OFF}\n\
             rm -f /etc/apt/apt.conf.d/90baker-keep-packages\n\
             {UNDO_CONTAINER_TWEAKS}"
        ),
        PackageManager::Yum => format!(
            "sed -i 's/^keepcache=0/keepcache=1/' /etc/yum.conf\n\
             yum install -y {list}\n\
             rpm -q --whatprovides {list} > /dev/null\n"
        ),
    };
    let enable_network = NetworkTooling::of(spec)
        .enable_command()
        .map(|c| format!("{c}\n"))
        .unwrap_or_default();
    format!(
        "set -e -o pipefail\n{install}{enable_network}\
         v=$(ls /boot | sed -n 's/^vmlinuz-//p' | sort -V | tail -n 1)\n\
         [ -n \"$v\" ] || {{ echo 'no kernel in /boot after installing {kernel}' >&2; exit 1; }}\n\
         for i in /boot/initrd.img-$v /boot/initramfs-$v.img; do [ -f \"$i\" ] && initrd=$i; done\n\
         [ -n \"${{initrd:-}}\" ] || {{ echo \"no initramfs for kernel $v in /boot\" >&2; exit 1; }}\n\
         echo \"{KERNEL_LINE} $v /boot/vmlinuz-$v $initrd\"\n",
        kernel = spec.kernel_package
    )
}

/// The kernel a [`KERNEL_LINE`] names.
pub fn parse_kernel(line: &str) -> Option<Kernel> {
    let mut parts = line.strip_prefix(KERNEL_LINE)?.split_whitespace();
    Some(Kernel {
        version: parts.next()?.to_owned(),
        image: parts.next()?.to_owned(),
        initrd: parts.next()?.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::layer::embedded_spec as spec;

    #[test]
    fn the_layer_installs_kernel_init_dhcp_client_and_runtime_packages_without_recommends() {
        let s = spec("postgresql", "debian12");
        assert_eq!(
            packages(&s),
            [
                "linux-image-cloud-amd64",
                "systemd-sysv",
                "ifupdown",
                "isc-dhcp-client",
                "libreadline8",
                "zlib1g",
                "openssh-server",
                "iproute2"
            ]
        );
        assert!(script(&s).contains(
            "apt-get install -y -q --no-install-recommends linux-image-cloud-amd64 systemd-sysv ifupdown isc-dhcp-client libreadline8 zlib1g openssh-server iproute2"
        ));
        let yum = spec("mesos", "centos6");
        assert!(script(&yum).contains("yum install -y kernel upstart dhclient "));
        assert!(script(&yum).contains("chkconfig network on"));
    }

    #[test]
    fn an_ubuntu_layer_gets_its_real_initctl_back_after_installing() {
        let script = script(&spec("mesos", "ubuntu14.04"));
        let undo = script.find("dpkg-divert --local --rename --remove /sbin/initctl");
        assert!(undo > script.find("apt-get install"), "{script}");
        assert!(script.contains("rm -f /usr/sbin/policy-rc.d"));
    }

    #[test]
    fn dpkg_skips_its_fsyncs_only_while_the_layer_installs() {
        let script = script(&spec("postgresql", "debian12"));
        let at = |line: &str| {
            script
                .find(line)
                .unwrap_or_else(|| panic!("{line} in {script}"))
        };
        assert!(at(DPKG_UNSAFE_IO_ON) < at("apt-get install"));
        assert!(
            at("apt-get install") < at(DPKG_UNSAFE_IO_OFF),
            "the bootable tree keeps dpkg's default"
        );
    }

    #[test]
    fn the_kernel_line_names_kernel_and_initramfs() {
        let k = parse_kernel("baker-kernel: 6.1.0-50-cloud-amd64 /boot/vmlinuz-6.1.0-50-cloud-amd64 /boot/initrd.img-6.1.0-50-cloud-amd64").unwrap();
        assert_eq!(k.version, "6.1.0-50-cloud-amd64");
        assert_eq!(k.initrd, "/boot/initrd.img-6.1.0-50-cloud-amd64");
        assert!(parse_kernel("Setting up linux-image").is_none());
    }
}
