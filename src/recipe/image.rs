//! The image layer of a recipe, typed: which kernel package, bootloader and init the image carries,
//! what else it installs to run the tarball, and on which clouds and instance families that kernel
//! boots. `baker image` reads it from the plan and chooses what to install and write from these
//! enums; `baker plan` and `baker image --format ami` use `boots_on` to say where an image will not
//! boot (old kernels lack NVMe, ENA or Hyper-V drivers) before anyone uploads it.
//!
//! The names are the package names the recipes use, so a recipe reads like what it installs; a
//! value outside these lists is an error at load time with the valid ones.

use serde::{Deserialize, Serialize};

/// Implements the name table, lookup and display for a plain enum of recipe values.
macro_rules! named {
    ($ty:ident { $($variant:ident = $name:literal),+ $(,)? }) => {
        impl $ty {
            /// Every value with the name a recipe writes.
            pub const ALL: &[(&str, $ty)] = &[$(($name, $ty::$variant)),+];

            /// The value a recipe names, if any.
            pub fn parse(name: &str) -> Option<Self> {
                Self::ALL.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
            }

            /// The name a recipe writes.
            pub fn name(self) -> &'static str {
                Self::ALL
                    .iter()
                    .find(|(_, v)| *v == self)
                    .map(|(n, _)| *n)
                    .expect("every value is in ALL")
            }

            /// The valid names, for error messages.
            pub fn names() -> Vec<&'static str> {
                Self::ALL.iter().map(|(n, _)| *n).collect()
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageLayer {
    pub kernel: KernelPackage,
    pub bootloader: Bootloader,
    pub init: Init,
    /// Packages the installed tarball needs at run time, from the build's repositories.
    pub runtime_packages: Vec<String>,
    /// Where this image's kernel boots, and where it does not.
    pub boots_on: Vec<BootTarget>,
    /// Extra `mkfs.ext4` options so that the image's kernel and bootloader can read its root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mkfs_options: Option<String>,
    /// The firmware the image boots with: always BIOS; with UEFI too the disk is GPT with an EFI
    /// System Partition. Absent from a plan (and not written) when BIOS alone, so the plans of
    /// recipes that do not name it keep their bytes.
    #[serde(default = "bios_only", skip_serializing_if = "is_bios_only")]
    pub firmware: Vec<Firmware>,
}

/// The firmware of an image that names none: BIOS.
pub fn bios_only() -> Vec<Firmware> {
    vec![Firmware::Bios]
}

fn is_bios_only(firmware: &[Firmware]) -> bool {
    firmware == [Firmware::Bios]
}

/// The firmware that starts the bootloader.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Firmware {
    /// PC BIOS (SeaBIOS on QEMU and the clouds' first-generation machines): GRUB's boot.img in the
    /// MBR and its core.img after it (MBR disks) or in a BIOS boot partition (GPT disks).
    Bios,
    /// UEFI (OVMF, Azure generation 2, AWS and GCE UEFI boot): GRUB's x86_64-efi image as
    /// `\EFI\BOOT\BOOTX64.EFI` on an EFI System Partition of a GPT disk.
    Uefi,
}
named!(Firmware {
    Bios = "bios",
    Uefi = "uefi",
});

/// The distro package that brings the kernel (and, through its hooks, the initramfs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum KernelPackage {
    /// Debian's cloud kernel: virtio, Xen, ENA, NVMe, Hyper-V; no physical hardware drivers.
    #[serde(rename = "linux-image-cloud-amd64")]
    DebianCloud,
    /// Ubuntu's virtual-machine flavour of the generic kernel (3.13 on 14.04).
    #[serde(rename = "linux-image-virtual")]
    UbuntuVirtual,
    /// CentOS/RHEL's one kernel package (2.6.32 on CentOS 6).
    #[serde(rename = "kernel")]
    RedHat,
}
named!(KernelPackage {
    DebianCloud = "linux-image-cloud-amd64",
    UbuntuVirtual = "linux-image-virtual",
    RedHat = "kernel",
});

/// The bootloader package the distro itself would install.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Bootloader {
    /// GRUB 2 for BIOS (Debian, Ubuntu).
    #[serde(rename = "grub-pc")]
    GrubPc,
    /// GRUB legacy 0.97 (CentOS 6).
    #[serde(rename = "grub")]
    GrubLegacy,
}
named!(Bootloader {
    GrubPc = "grub-pc",
    GrubLegacy = "grub",
});

/// The init system that starts the role agent and the role's service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Init {
    Systemd,
    /// Ubuntu 14.04 and CentOS 6: jobs in `/etc/init/*.conf`. Upstart 1.3+ (Ubuntu 14.04) switches a
    /// job off with a `.override` file holding `manual`; CentOS 6's 0.6.5 reads no override, so a
    /// job that must not start is not installed there.
    Upstart,
}
named!(Init {
    Systemd = "systemd",
    Upstart = "upstart",
});

/// Where images are booted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    Qemu,
    Aws,
    Gce,
    Azure,
}
named!(Provider {
    Qemu = "qemu",
    Aws = "aws",
    Gce = "gce",
    Azure = "azure",
});

/// One provider's verdict on an image's kernel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BootTarget {
    pub provider: Provider,
    /// Instance families (or machine types) the kernel boots on; empty with `fails` empty means none
    /// were named.
    #[serde(default)]
    pub boots: Vec<String>,
    /// Instance families it cannot boot on, and so that `baker image` warns about.
    #[serde(default)]
    pub fails: Vec<String>,
    /// Whether a boot there was seen (by CI or a user), or only reasoned from the kernel's drivers.
    pub proven: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl ImageLayer {
    /// The verdict for one provider, if the recipe gives one.
    pub fn boot_target(&self, provider: Provider) -> Option<&BootTarget> {
        self.boots_on.iter().find(|t| t.provider == provider)
    }
}

impl BootTarget {
    /// One line for people: `aws: boots t2, m4; not t3, m5 (unproven)`.
    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        if !self.boots.is_empty() {
            parts.push(format!("boots {}", self.boots.join(", ")));
        }
        if !self.fails.is_empty() {
            parts.push(format!("not {}", self.fails.join(", ")));
        }
        if parts.is_empty() {
            parts.push("boots".to_owned());
        }
        let mut line = format!("{}: {}", self.provider, parts.join("; "));
        if !self.proven {
            line.push_str(" (unproven)");
        }
        if let Some(note) = &self.note {
            line.push_str(&format!(" — {note}"));
        }
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_parse_and_serde() {
        for (name, kernel) in KernelPackage::ALL {
            assert_eq!(KernelPackage::parse(name), Some(*kernel));
            assert_eq!(serde_json::to_value(kernel).unwrap(), *name);
        }
        for (name, b) in Bootloader::ALL {
            assert_eq!(serde_json::to_value(b).unwrap(), *name);
        }
        for (name, i) in Init::ALL {
            assert_eq!(serde_json::to_value(i).unwrap(), *name);
        }
        for (name, p) in Provider::ALL {
            assert_eq!(serde_json::to_value(p).unwrap(), *name);
        }
        for (name, f) in Firmware::ALL {
            assert_eq!(serde_json::to_value(f).unwrap(), *name);
        }
        assert_eq!(KernelPackage::parse("linux-image-amd64"), None);
    }

    #[test]
    fn a_boot_target_summary_says_what_fails_and_whether_it_was_seen() {
        let t = BootTarget {
            provider: Provider::Aws,
            boots: vec!["t2".into(), "m4".into()],
            fails: vec!["t3".into()],
            proven: false,
            note: None,
        };
        assert_eq!(t.summary(), "aws: boots t2, m4; not t3 (unproven)");
    }
}
