//! The disk's partition layout, chosen from the firmware the image boots with, and the arithmetic
//! the disk script would otherwise do in shell: where each partition starts and ends, the `sfdisk`
//! script that writes the table, and where GRUB's BIOS core image goes.
//!
//! - BIOS only: an MBR, GRUB's `core.img` from sector 1, the root from sector 2048 to the end.
//! - BIOS and UEFI (hybrid): a GPT disk that both firmwares boot. Partition 1 is a 1 MiB BIOS boot
//!   partition holding `core.img` (the GPT header sits at sector 1, so the core cannot), partition 2
//!   a 32 MiB EFI System Partition (FAT, GRUB's `\EFI\BOOT\BOOTX64.EFI`), partition 3 the root; the
//!   last MiB is left for the backup GPT. Both GRUBs read the same `/boot/grub/grub.cfg` on the root.
//!
//! The partition table's identifiers come from [`DiskIds`], so the table's bytes are fixed too.

use std::collections::BTreeMap;

use super::key::DiskIds;
use super::size::MIB;
use crate::recipe::Firmware;

const SECTOR: u64 = 512;
/// The BIOS boot partition (GPT): room for GRUB's `core.img`.
const BIOS_BOOT_SIZE: u64 = MIB;
/// The EFI System Partition: FAT16 (OVMF and the clouds' UEFI read it); GRUB's image is ~640 KiB.
pub const ESP_SIZE: u64 = 32 * MIB;
/// Kept free at the end of a GPT disk for the backup header and entries (33 sectors), aligned.
const GPT_TAIL: u64 = MIB;

const BIOS_BOOT_TYPE: &str = "21686148-6449-6E6F-744E-656564454649";
const ESP_TYPE: &str = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B";
const LINUX_FS_TYPE: &str = "0FC63DAF-8483-4772-8E79-3D69D8477DE4";

/// A byte range of the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extent {
    pub offset: u64,
    pub size: u64,
}

impl Extent {
    fn sectors(self) -> (u64, u64) {
        (self.offset / SECTOR, self.size / SECTOR)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub firmware: Vec<Firmware>,
    pub gpt: bool,
    pub root: Extent,
    /// The EFI System Partition, on hybrid disks.
    pub esp: Option<Extent>,
    /// Where GRUB's BIOS `core.img` starts, and how many sectors it may take.
    pub core: Extent,
}

/// The largest disk an MBR layout can describe: its partition entries count sectors in 32 bits, so
/// the root, from sector 2048 to the end, may be at most `u32::MAX` sectors (just under 2 TiB);
/// of whole-MiB disks, 2 TiB is the largest whose root fits. `sfdisk` caps a larger partition at
/// that with only a warning, and mkfs, told the whole size, would write past it: an unbootable
/// disk. GPT counts in 64 bits.
pub const MBR_MAX_SIZE: u64 = 2 << 40;

/// Whether a layout for `firmware` can describe a disk of `size` bytes.
pub fn holds(firmware: &[Firmware], size: u64) -> bool {
    firmware.contains(&Firmware::Uefi) || size <= MBR_MAX_SIZE
}

/// The bytes a layout for `firmware` takes besides the root (and the MiB before it).
pub fn reserved(firmware: &[Firmware]) -> u64 {
    if firmware.contains(&Firmware::Uefi) {
        BIOS_BOOT_SIZE + ESP_SIZE + GPT_TAIL
    } else {
        0
    }
}

impl Layout {
    /// The layout of a disk of `size` bytes (a whole number of MiB, at least 64 MiB).
    pub fn new(firmware: &[Firmware], size: u64) -> Self {
        let first = MIB; // sector 2048, where every partition tool starts
        if firmware.contains(&Firmware::Uefi) {
            let bios_boot = Extent {
                offset: first,
                size: BIOS_BOOT_SIZE,
            };
            let esp = Extent {
                offset: first + BIOS_BOOT_SIZE,
                size: ESP_SIZE,
            };
            let root_offset = esp.offset + esp.size;
            Self {
                firmware: firmware.to_vec(),
                gpt: true,
                root: Extent {
                    offset: root_offset,
                    size: size - GPT_TAIL - root_offset,
                },
                esp: Some(esp),
                core: bios_boot,
            }
        } else {
            Self {
                firmware: firmware.to_vec(),
                gpt: false,
                root: Extent {
                    offset: first,
                    size: size - first,
                },
                esp: None,
                // Sector 1 up to the partition.
                core: Extent {
                    offset: SECTOR,
                    size: first - SECTOR,
                },
            }
        }
    }

    /// `msdos` or `gpt`, as sfdisk and GRUB name the table.
    pub fn table(&self) -> &'static str {
        if self.gpt { "gpt" } else { "msdos" }
    }

    /// GRUB's name of the root partition, for the prefix both GRUB images are made with.
    pub fn grub_root(&self) -> &'static str {
        if self.gpt {
            "(hd0,gpt3)"
        } else {
            "(hd0,msdos1)"
        }
    }

    /// The script `sfdisk` writes the table from.
    pub fn sfdisk_script(&self, ids: &DiskIds) -> String {
        if !self.gpt {
            return format!(
                "label: dos\nlabel-id: 0x{:08x}\nunit: sectors\n\nstart={}, type=83, bootable\n",
                ids.disk_id,
                self.root.offset / SECTOR
            );
        }
        let esp = self.esp.expect("a GPT layout has an ESP");
        let mut text = format!(
            "label: gpt\nlabel-id: {}\nunit: sectors\n\n",
            ids.disk_guid.to_uppercase()
        );
        for ((extent, kind, name), guid) in [
            (self.core, BIOS_BOOT_TYPE, "bios-boot"),
            (esp, ESP_TYPE, "esp"),
            (self.root, LINUX_FS_TYPE, "root"),
        ]
        .into_iter()
        .zip(&ids.part_guids)
        {
            let (start, size) = extent.sectors();
            text.push_str(&format!(
                "start={start}, size={size}, type={kind}, uuid={}, name=\"{name}\"\n",
                guid.to_uppercase()
            ));
        }
        text
    }

    /// The disk script's environment for this layout.
    pub fn env(&self, ids: &DiskIds) -> BTreeMap<String, String> {
        let (esp_offset, esp_size) = self.esp.map_or((0, 0), |e| (e.offset, e.size));
        let firmware: Vec<&str> = self.firmware.iter().map(|f| f.name()).collect();
        [
            ("PARTITIONS", self.sfdisk_script(ids)),
            ("ROOT_OFFSET", self.root.offset.to_string()),
            ("ROOT_SIZE", self.root.size.to_string()),
            ("CORE_SECTOR", (self.core.offset / SECTOR).to_string()),
            ("CORE_ROOM", (self.core.size / SECTOR).to_string()),
            ("GRUB_ROOT", self.grub_root().to_owned()),
            ("GRUB_PART", format!("part_{}", self.table())),
            ("ESP_OFFSET", esp_offset.to_string()),
            ("ESP_SIZE", esp_size.to_string()),
            ("ESP_ID", format!("{:08x}", ids.esp_id)),
            ("FIRMWARE", firmware.join(" ")),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    /// One line for image.json and people.
    pub fn bootloader(&self) -> String {
        if self.gpt {
            "grub2 i386-pc (boot.img in the protective MBR, core.img in the BIOS boot partition) + \
             grub2 x86_64-efi (\\EFI\\BOOT\\BOOTX64.EFI on the EFI System Partition)"
                .into()
        } else {
            "grub2 i386-pc (boot.img in the MBR, core.img from sector 1)".into()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::size::GIB;

    const HYBRID: &[Firmware] = &[Firmware::Bios, Firmware::Uefi];

    #[test]
    fn a_bios_disk_keeps_the_mbr_layout() {
        let ids = DiskIds::derive("k");
        let l = Layout::new(&[Firmware::Bios], 2 * GIB);
        assert!(!l.gpt);
        assert_eq!(
            l.root,
            Extent {
                offset: MIB,
                size: 2 * GIB - MIB
            }
        );
        assert_eq!(l.core.offset / SECTOR, 1);
        assert_eq!(l.core.size / SECTOR, 2047);
        assert_eq!(l.grub_root(), "(hd0,msdos1)");
        assert_eq!(
            l.sfdisk_script(&ids),
            format!(
                "label: dos\nlabel-id: 0x{:08x}\nunit: sectors\n\nstart=2048, type=83, bootable\n",
                ids.disk_id
            )
        );
        assert_eq!(reserved(&[Firmware::Bios]), 0);
    }

    #[test]
    fn an_mbr_disk_holds_a_root_of_at_most_u32_max_sectors() {
        let sectors = |size| Layout::new(&[Firmware::Bios], size).root.sectors().1;
        assert!(sectors(MBR_MAX_SIZE) <= u64::from(u32::MAX));
        assert!(sectors(MBR_MAX_SIZE + MIB) > u64::from(u32::MAX));
        assert!(holds(&[Firmware::Bios], MBR_MAX_SIZE));
        assert!(!holds(&[Firmware::Bios], MBR_MAX_SIZE + MIB));
        assert!(holds(HYBRID, 3 * MBR_MAX_SIZE));
    }

    #[test]
    fn a_hybrid_disk_has_bios_boot_esp_and_root_in_order_and_room_for_the_backup_gpt() {
        let size = 2 * GIB;
        let l = Layout::new(HYBRID, size);
        assert!(l.gpt);
        let esp = l.esp.unwrap();
        assert_eq!(l.core.offset, MIB);
        assert_eq!(l.core.offset + l.core.size, esp.offset);
        assert_eq!(esp.offset + esp.size, l.root.offset);
        assert_eq!(l.root.offset, 34 * MIB);
        // The backup GPT (header + 128 entries of 128 bytes) fits after the root.
        assert!(size - (l.root.offset + l.root.size) >= 33 * SECTOR);
        assert_eq!(
            l.root.offset + l.root.size + reserved(HYBRID) - BIOS_BOOT_SIZE - ESP_SIZE,
            size
        );
        for e in [l.core, esp, l.root] {
            assert_eq!(e.offset % MIB, 0, "{e:?} is MiB-aligned");
            assert_eq!(e.size % 1024, 0, "{e:?} is whole KiB, as mkfs takes it");
        }
        assert_eq!(l.grub_root(), "(hd0,gpt3)");
    }

    #[test]
    fn the_gpt_script_names_fixed_guids_and_the_three_partition_types() {
        let ids = DiskIds::derive("k");
        let script = Layout::new(HYBRID, GIB).sfdisk_script(&ids);
        let lines: Vec<&str> = script.lines().collect();
        assert_eq!(lines[0], "label: gpt");
        assert_eq!(
            lines[1],
            format!("label-id: {}", ids.disk_guid.to_uppercase())
        );
        assert!(lines[4].starts_with(&format!(
            "start=2048, size=2048, type={BIOS_BOOT_TYPE}, uuid="
        )));
        assert!(lines[5].starts_with(&format!("start=4096, size=65536, type={ESP_TYPE}, uuid=")));
        let root_sectors = (GIB - 35 * MIB) / SECTOR;
        assert!(lines[6].starts_with(&format!(
            "start=69632, size={root_sectors}, type={LINUX_FS_TYPE}, uuid={}",
            ids.part_guids[2].to_uppercase()
        )));
        assert_eq!(
            script,
            Layout::new(HYBRID, GIB).sfdisk_script(&DiskIds::derive("k"))
        );
        assert_ne!(
            script,
            Layout::new(HYBRID, GIB).sfdisk_script(&DiskIds::derive("k2"))
        );
    }

    #[test]
    fn the_disk_script_gets_the_layout_in_its_environment() {
        let ids = DiskIds::derive("k");
        let env = Layout::new(HYBRID, GIB).env(&ids);
        assert_eq!(env["CORE_SECTOR"], "2048");
        assert_eq!(env["CORE_ROOM"], "2048");
        assert_eq!(env["GRUB_PART"], "part_gpt");
        assert_eq!(env["ESP_OFFSET"], (2 * MIB).to_string());
        assert_eq!(env["ESP_ID"].len(), 8);
        assert_eq!(env["FIRMWARE"], "bios uefi");
        let bios = Layout::new(&[Firmware::Bios], GIB).env(&ids);
        assert_eq!(bios["ESP_OFFSET"], "0");
        assert_eq!(bios["GRUB_PART"], "part_msdos");
        assert_eq!(bios["ROOT_SIZE"], (GIB - MIB).to_string());
    }
}
