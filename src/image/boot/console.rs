//! Reading a boot's console: what to tell the user when the ready line never came — the console's
//! last lines without terminal escapes, and a hint when they say what went wrong in a known way.

use super::super::ImageError;
use super::BootOptions;
use super::watch::RETRY_MARK;

/// The boot error: what did not happen, the console's last 40 lines, and a hint: [`diagnose`]'s,
/// else `otherwise`. Only the last attempt's console counts: a retry under software emulation
/// follows the failed KVM trial's in the same log, whose lines say nothing of the retry.
pub(super) fn failure(opts: &BootOptions, reason: &str, otherwise: Option<String>) -> ImageError {
    let text = std::fs::read(&opts.log).unwrap_or_default();
    let text = strip_escapes(&String::from_utf8_lossy(&text));
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let lines = last_attempt(&lines);
    let tail = lines[lines.len().saturating_sub(40)..]
        .iter()
        .map(|l| format!("  | {l}"))
        .collect::<Vec<_>>()
        .join("\n");
    let hint = (diagnose(lines).map(str::to_owned).or(otherwise))
        .map(|h| format!("\nhint: {h}"))
        .unwrap_or_default();
    ImageError::Boot(format!(
        "{reason}; the console's last lines:\n{tail}\nfull console log: {}{hint}",
        opts.log.display()
    ))
}

/// The lines after the last retry's mark (all of them when the boot was not retried).
fn last_attempt<'a>(lines: &'a [&'a str]) -> &'a [&'a str] {
    let mark = lines.iter().rposition(|l| l.starts_with(RETRY_MARK));
    &lines[mark.map_or(0, |at| at + 1)..]
}

/// What first boot prints instead of the ready line when the role agent cannot run on the image.
pub const AGENT_CANNOT_RUN: &str = "baker-first-boot: the role agent cannot run";

/// What the firmware prints when the disk holds nothing it can boot: SeaBIOS (BIOS), then OVMF's
/// boot manager (UEFI).
pub const NOTHING_TO_BOOT: [&str; 2] = ["No bootable device", "No bootable option"];

/// What the console says went wrong, when it says it in a known way.
pub fn diagnose(lines: &[&str]) -> Option<&'static str> {
    let has = |needles: &[&str]| lines.iter().any(|l| needles.iter().any(|n| l.contains(n)));
    // On one line: "EXT4-fs (vda1): couldn't mount … because of unsupported optional features
    // (400)". Not "couldn't mount as ext3 due to feature incompatibilities", which every kernel
    // that mounts ext4 through its ext3 name prints on a good boot.
    let too_new = lines
        .iter()
        .any(|l| l.contains("EXT4-fs") && l.contains("unsupported optional features"));
    if has(&[AGENT_CANNOT_RUN]) {
        return Some(
            "the image booted, but its role agent cannot run there (first boot checks it with the image's own bash): a recipe's image layer must keep bash, and nothing may replace /usr/lib/baker/baker-agent",
        );
    }
    if too_new {
        return Some(
            "the kernel cannot mount the root file system: its ext4 features are too new for it; set the recipe's mkfs_options (e.g. `-O ^metadata_csum,^64bit,^orphan_file,^metadata_csum_seed` for 2014 kernels)",
        );
    }
    if has(&[
        "Gave up waiting for root",
        "does not exist.  Dropping to a shell",
        "VFS: Cannot open root device",
        "Unable to mount root fs",
        "Could not find the root",
    ]) {
        return Some(
            "no root device: the initramfs lacks the disk (virtio_blk) or file-system (ext4) driver; make sure the kernel package builds an initramfs with them (MODULES=most on Debian, dracut's default elsewhere)",
        );
    }
    if has(&["Kernel panic"]) {
        return Some(
            "kernel panic: when it names the root file system, the mkfs features are too new for this kernel (set the recipe's mkfs_options); otherwise read the lines above it",
        );
    }
    if has(&NOTHING_TO_BOOT) {
        return Some(
            "the disk has no boot loader the firmware can start: boot a disk image baker made (.raw, .qcow2 or .vhd), not a tarball or another file",
        );
    }
    if has(&["grub rescue>", "error: file `", "error: unknown filesystem"]) {
        return Some(
            "GRUB could not read its files from the root partition: the file system or its features are unknown to GRUB's core image",
        );
    }
    if lines.is_empty() {
        return Some(
            "the console stayed empty: QEMU or the firmware did not start (see the log), or the guest does not write to ttyS0",
        );
    }
    None
}

/// The hint for a boot that ran out of time while the console showed nothing wrong.
pub(super) fn still_booting(accel: super::Accel) -> String {
    let slow = match accel {
        super::Accel::Tcg => " (software emulation boots several times slower than KVM)",
        super::Accel::Kvm => "",
    };
    format!(
        "nothing on the console says what went wrong, so the guest may still have been booting{slow}: try a longer --timeout"
    )
}

/// Removes terminal escape sequences (colours, cursor moves) from console text.
pub fn strip_escapes(text: &str) -> String {
    let escapes = regex::Regex::new(r"\x1b(\[[0-9;?]*[A-Za-z]|[()][0-9A-Za-z]|[c78=>DEHM])")
        .expect("valid regex");
    escapes.replace_all(text, "").replace('\r', "")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_retried_boot_is_diagnosed_from_the_retrys_console_alone() {
        let retry = format!("{RETRY_MARK}KVM's trial failed (QEMU stopped); the boot starts again");
        let lines = ["Kernel panic - under KVM", &retry, "Welcome to Debian"];
        assert_eq!(last_attempt(&lines), ["Welcome to Debian"]);
        assert!(diagnose(last_attempt(&lines)).is_none());
        assert_eq!(last_attempt(&lines[..1]), &lines[..1]);
    }

    #[test]
    fn a_disk_with_no_boot_loader_says_so() {
        let lines = [
            "Booting from Hard Disk...",
            "No bootable device.  Retrying in 60 seconds.",
        ];
        assert!(diagnose(&lines).unwrap().contains("no boot loader"));
    }

    #[test]
    fn a_missing_root_device_points_at_the_initramfs() {
        let lines = [
            "Begin: Running /scripts/local-premount ... done.",
            "Gave up waiting for root file system device.",
        ];
        assert!(diagnose(&lines).unwrap().contains("virtio_blk"));
    }

    #[test]
    fn a_panic_points_at_the_mkfs_features() {
        let lines = [
            "EXT4-fs (vda1): couldn't mount RDWR because of unsupported optional features (400)",
            "Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(253,1)",
        ];
        assert!(diagnose(&lines).unwrap().contains("mkfs_options"));
        assert!(
            diagnose(&["Kernel panic - not syncing: Attempted to kill init!"])
                .unwrap()
                .contains("mkfs features")
        );
        assert!(diagnose(&[]).unwrap().contains("console stayed empty"));
        assert!(diagnose(&["Welcome to Debian"]).is_none());
    }

    #[test]
    fn a_good_boot_s_ext3_probe_is_not_taken_for_too_new_features() {
        let lines = [
            "EXT4-fs (vda3): couldn't mount as ext3 due to feature incompatibilities",
            "EXT4-fs (vda3): mounted filesystem with ordered data mode. Quota mode: none.",
            "Welcome to Debian GNU/Linux 12 (bookworm)!",
        ];
        assert!(diagnose(&lines).is_none());
    }

    #[test]
    fn an_agent_that_cannot_run_is_named() {
        let line = format!("{AGENT_CANNOT_RUN}: /usr/lib/baker/baker-agent is missing");
        assert!(diagnose(&[&line]).unwrap().contains("role agent"));
    }

    #[test]
    fn escapes_are_removed_from_console_text() {
        assert_eq!(
            strip_escapes("\x1b[0;32m  OK  \x1b[0m] Started\r"),
            "  OK  ] Started"
        );
        assert_eq!(strip_escapes("\x1bcSeaBIOS"), "SeaBIOS");
    }
}
