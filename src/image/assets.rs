//! The files from `images/` (compiled in, like `recipes/`), rendered for one disk, laid out as
//! one tar archive that the disk script unpacks over the OS tree: the first-boot script and the role
//! agent with their systemd units or upstart jobs, `grub.cfg`, `fstab`, `hostname`, `hosts`, and the
//! first NIC's DHCP configuration ([`super::network`]). Every entry is owned by root with the plan's
//! epoch as its time, so the archive, and the disk, are reproducible.

use std::io;

use handlebars::Handlebars;
use serde_json::json;
use tar::{EntryType, Header};

use super::key::digest_texts;
use super::layer::{ImageSpec, Init};
use super::network::{self, NetworkTooling};

/// The line the first-boot script prints on the console when the node is ready.
pub const READY_LINE: &str = "baker-ready: first boot finished";

const FIRST_BOOT: &str = include_str!("../../images/first-boot/first-boot.sh");
const SYSTEMD_UNIT: &str = include_str!("../../images/first-boot/baker-first-boot.service");
const UPSTART_JOB: &str = include_str!("../../images/first-boot/baker-first-boot.conf");
const GRUB_CFG: &str = include_str!("../../images/grub/grub.cfg");
/// The role agent, as baked into every image (and installed by the `ssh` provider).
pub const AGENT: &str = include_str!("../../images/agent/baker-agent");
const AGENT_UNIT: &str = include_str!("../../images/agent/baker-agent.service");
const AGENT_JOB: &str = include_str!("../../images/agent/baker-agent.conf");
/// Templates: `root_uuid`; `hostname`; `hostname`.
const FSTAB: &str = include_str!("../../images/system/fstab");
const HOSTNAME: &str = include_str!("../../images/system/hostname");
const HOSTS: &str = include_str!("../../images/system/hosts");
/// Run in the tools container: unpacks the tarball and these assets into the tree, removes what is
/// node-specific, clamps times, and lays out the disk.
pub const DISK_SCRIPT: &str = include_str!("scripts/disk.sh");

/// The kernel command line beside `root=UUID=… ro` (`images/grub/cmdline`): classic NIC names (the
/// first NIC is `eth0`, as [`super::network`] expects), the serial console last, so `/dev/console`
/// is it.
pub const KERNEL_CMDLINE: &str = include_str!("../../images/grub/cmdline").trim_ascii_end();

/// The digest of everything this module puts on a disk, for the image key.
pub fn assets_digest() -> String {
    let [interfaces, ifcfg, sysconfig] = network::TEMPLATES;
    digest_texts(&[
        FIRST_BOOT,
        SYSTEMD_UNIT,
        UPSTART_JOB,
        GRUB_CFG,
        AGENT,
        AGENT_UNIT,
        AGENT_JOB,
        FSTAB,
        HOSTNAME,
        HOSTS,
        DISK_SCRIPT,
        KERNEL_CMDLINE,
        interfaces,
        ifcfg,
        sysconfig,
    ])
}

/// The kernel and initramfs of the OS layer, as paths inside the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kernel {
    pub version: String,
    pub image: String,
    pub initrd: String,
}

pub fn grub_cfg(title: &str, kernel: &Kernel, root_uuid: &str) -> String {
    render(
        GRUB_CFG,
        &json!({
            "title": title,
            "kernel": kernel.image,
            "initrd": kernel.initrd,
            "root_uuid": root_uuid,
            "cmdline": KERNEL_CMDLINE,
        }),
    )
}

/// Renders one of the embedded templates of `images/` (strict: a name missing from `data` is a bug).
pub(super) fn render(template: &str, data: &serde_json::Value) -> String {
    let mut hb = Handlebars::new();
    hb.register_escape_fn(handlebars::no_escape);
    hb.set_strict_mode(true);
    hb.render_template(template, data)
        .expect("the embedded templates of images/ render")
}

pub fn fstab(root_uuid: &str) -> String {
    render(FSTAB, &json!({ "root_uuid": root_uuid }))
}

/// The archive unpacked over the tree (`tar -x --keep-directory-symlink` in the disk script).
pub fn overlay(
    spec: &ImageSpec,
    kernel: &Kernel,
    root_uuid: &str,
    epoch: u64,
) -> io::Result<Vec<u8>> {
    let mut tar = Overlay {
        builder: tar::Builder::new(Vec::new()),
        epoch,
    };
    let hostname = spec.recipe.clone();
    let named = json!({ "hostname": hostname });
    tar.file("etc/fstab", 0o644, &fstab(root_uuid))?;
    tar.file("etc/hostname", 0o644, &render(HOSTNAME, &named))?;
    tar.file("etc/hosts", 0o644, &render(HOSTS, &named))?;
    let title = format!("{} {} ({})", spec.recipe, spec.version, spec.distro);
    tar.file(
        "boot/grub/grub.cfg",
        0o644,
        &grub_cfg(&title, kernel, root_uuid),
    )?;
    for (path, text) in NetworkTooling::of(spec).files(&hostname) {
        tar.file(path, 0o644, &text)?;
    }
    tar.file("usr/lib/baker/first-boot", 0o755, FIRST_BOOT)?;
    tar.file("usr/lib/baker/baker-agent", 0o755, AGENT)?;
    for (name, unit, job) in [
        ("baker-first-boot", SYSTEMD_UNIT, UPSTART_JOB),
        ("baker-agent", AGENT_UNIT, AGENT_JOB),
    ] {
        match spec.init {
            Init::Systemd => {
                tar.file(&format!("etc/systemd/system/{name}.service"), 0o644, unit)?;
                tar.symlink(
                    &format!("etc/systemd/system/multi-user.target.wants/{name}.service"),
                    &format!("../{name}.service"),
                )?;
            }
            Init::Upstart => tar.file(&format!("etc/init/{name}.conf"), 0o644, job)?,
        }
    }
    tar.builder.into_inner()
}

struct Overlay {
    builder: tar::Builder<Vec<u8>>,
    epoch: u64,
}

impl Overlay {
    fn header(&self, kind: EntryType, size: u64, mode: u32) -> Header {
        let mut h = Header::new_gnu();
        h.set_entry_type(kind);
        h.set_size(size);
        h.set_mode(mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(self.epoch);
        h
    }

    /// Parent directories are not listed: they exist in every tree, and listing them would reset
    /// their modes and times.
    fn file(&mut self, path: &str, mode: u32, text: &str) -> io::Result<()> {
        let mut h = self.header(EntryType::Regular, text.len() as u64, mode);
        self.builder.append_data(&mut h, path, text.as_bytes())
    }

    fn symlink(&mut self, path: &str, target: &str) -> io::Result<()> {
        let mut h = self.header(EntryType::Symlink, 0, 0o777);
        self.builder.append_link(&mut h, path, target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::layer::embedded_spec as spec;

    fn kernel() -> Kernel {
        Kernel {
            version: "6.1.0-50-cloud-amd64".into(),
            image: "/boot/vmlinuz-6.1.0-50-cloud-amd64".into(),
            initrd: "/boot/initrd.img-6.1.0-50-cloud-amd64".into(),
        }
    }

    #[test]
    fn grub_cfg_boots_the_kernel_by_root_uuid_on_the_serial_console() {
        let cfg = grub_cfg("pg", &kernel(), "0b2c-uuid");
        assert!(cfg.contains("search --no-floppy --fs-uuid --set=root 0b2c-uuid\n"));
        assert!(cfg.contains(
            "    linux /boot/vmlinuz-6.1.0-50-cloud-amd64 root=UUID=0b2c-uuid ro net.ifnames=0 console=tty0 console=ttyS0,115200n8\n"
        ));
        assert!(cfg.contains("    initrd /boot/initrd.img-6.1.0-50-cloud-amd64\n"));
        assert!(cfg.contains("menuentry 'pg' {"));
        assert!(cfg.contains("set timeout=0"));
    }

    #[test]
    fn the_first_boot_script_prints_the_ready_line_the_boot_check_waits_for() {
        assert!(FIRST_BOOT.contains(&format!("echo \"{READY_LINE}\" >/dev/console")));
        // Unless the role agent cannot run, which the boot's hint then names.
        let refusal = format!("echo \"{}:", super::super::boot::AGENT_CANNOT_RUN);
        assert!(FIRST_BOOT.matches(&refusal).count() == 2, "{FIRST_BOOT}");
        assert!(FIRST_BOOT.find(&refusal) < FIRST_BOOT.find(READY_LINE));
        assert!(SYSTEMD_UNIT.contains("ExecStart=/usr/lib/baker/first-boot"));
        assert!(UPSTART_JOB.contains("exec /usr/lib/baker/first-boot"));
    }

    fn names(bytes: &[u8]) -> Vec<(String, u64, u32)> {
        tar::Archive::new(bytes)
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let h = e.header();
                (
                    e.path().unwrap().display().to_string(),
                    h.mtime().unwrap(),
                    h.uid().unwrap() as u32,
                )
            })
            .collect()
    }

    #[test]
    fn a_systemd_overlay_enables_the_unit_and_is_reproducible() {
        let s = spec("postgresql", "debian12");
        let a = overlay(&s, &kernel(), "u", 1_700_000_000).unwrap();
        assert_eq!(a, overlay(&s, &kernel(), "u", 1_700_000_000).unwrap());
        let entries = names(&a);
        assert!(
            entries
                .iter()
                .all(|(_, t, uid)| *t == 1_700_000_000 && *uid == 0)
        );
        let paths: Vec<&str> = entries.iter().map(|(p, _, _)| p.as_str()).collect();
        assert!(
            paths.contains(&"etc/systemd/system/multi-user.target.wants/baker-first-boot.service")
        );
        assert!(paths.contains(&"boot/grub/grub.cfg"));
        assert!(paths.contains(&"etc/systemd/system/multi-user.target.wants/baker-agent.service"));
        assert!(paths.contains(&"etc/network/interfaces"));
        assert!(!paths.contains(&"etc/init/baker-first-boot.conf"));
    }

    #[test]
    fn an_upstart_overlay_installs_the_job() {
        let s = spec("mesos", "ubuntu14.04");
        let paths: Vec<String> = names(&overlay(&s, &kernel(), "u", 1).unwrap())
            .into_iter()
            .map(|(p, _, _)| p)
            .collect();
        assert!(paths.contains(&"etc/init/baker-first-boot.conf".to_owned()));
        assert!(paths.contains(&"etc/init/baker-agent.conf".to_owned()));
        assert!(paths.contains(&"usr/lib/baker/baker-agent".to_owned()));
        assert!(paths.contains(&"etc/network/interfaces".to_owned()));
        assert!(!paths.iter().any(|p| p.contains("systemd")));
    }

    #[test]
    fn fstab_mounts_the_root_by_uuid() {
        assert!(fstab("abc").contains("\nUUID=abc / ext4 defaults,errors=remount-ro 0 1\n"));
    }

    #[test]
    fn the_image_is_named_after_its_recipe_in_hostname_and_hosts() {
        let s = spec("postgresql", "debian12");
        let tar = overlay(&s, &kernel(), "u", 1).unwrap();
        let text = |path: &str| {
            let mut archive = tar::Archive::new(tar.as_slice());
            let mut entry = archive
                .entries()
                .unwrap()
                .map(Result::unwrap)
                .find(|e| e.path().unwrap().to_str() == Some(path))
                .unwrap();
            let mut out = String::new();
            io::Read::read_to_string(&mut entry, &mut out).unwrap();
            out
        };
        assert_eq!(text("etc/hostname"), "postgresql\n");
        assert_eq!(
            text("etc/hosts"),
            "127.0.0.1\tlocalhost\n127.0.1.1\tpostgresql\n::1\tlocalhost ip6-localhost ip6-loopback\n"
        );
        assert_eq!(
            KERNEL_CMDLINE,
            "net.ifnames=0 console=tty0 console=ttyS0,115200n8"
        );
    }
}
