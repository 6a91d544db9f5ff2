//! UEFI firmware for `baker image boot --firmware uefi`: OVMF, as Debian's `ovmf` installs it on the
//! host or in the tools image. QEMU loads its code read-only and a private copy of its variable
//! store, which the firmware writes (boot entries) and which is thrown away after the boot — in a
//! temporary directory on the host, or in the container's own `/tmp`.

use super::super::ImageError;
use super::qemu::option_value;

/// OVMF's firmware code.
pub const OVMF_CODE: &str = "/usr/share/OVMF/OVMF_CODE.fd";
/// OVMF's empty variable store, copied for each boot.
pub const OVMF_VARS: &str = "/usr/share/OVMF/OVMF_VARS.fd";
/// Where the container runner copies the variable store.
const CONTAINER_VARS: &str = "/tmp/OVMF_VARS.fd";

/// The UEFI firmware files QEMU loads, as paths QEMU sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ovmf {
    pub code: String,
    /// A writable copy of the variable store.
    pub vars: String,
}

/// Whether OVMF is installed on the host.
pub fn on_host() -> bool {
    std::path::Path::new(OVMF_CODE).is_file() && std::path::Path::new(OVMF_VARS).is_file()
}

impl Ovmf {
    /// A copy of the variable store in a temporary directory on the host, removed with it.
    pub fn host_copy() -> Result<(tempfile::TempDir, Self), ImageError> {
        let dir = tempfile::Builder::new()
            .prefix("baker-ovmf-")
            .tempdir()
            .map_err(ImageError::io("creating a directory for", OVMF_VARS))?;
        let copy = dir.path().join("OVMF_VARS.fd");
        std::fs::copy(OVMF_VARS, &copy).map_err(ImageError::io("copying", OVMF_VARS))?;
        let ovmf = Self {
            code: OVMF_CODE.into(),
            vars: copy.display().to_string(),
        };
        Ok((dir, ovmf))
    }

    /// The files as QEMU sees them in the tools container, with [`with_vars_copied`].
    pub fn in_container() -> Self {
        Self {
            code: OVMF_CODE.into(),
            vars: CONTAINER_VARS.into(),
        }
    }

    /// QEMU's two flash drives: the code read-only, then the variables.
    pub fn qemu_args(&self) -> Vec<String> {
        [
            format!(
                "if=pflash,format=raw,unit=0,readonly=on,file={}",
                option_value(&self.code)
            ),
            format!(
                "if=pflash,format=raw,unit=1,file={}",
                option_value(&self.vars)
            ),
        ]
        .into_iter()
        .flat_map(|drive| ["-drive".to_owned(), drive])
        .collect()
    }
}

/// `command` run by a shell that first copies the variable store into the container's `/tmp`,
/// then execs QEMU in its place.
pub fn with_vars_copied(command: Vec<String>) -> Vec<String> {
    let copy = format!("cp {OVMF_VARS} {CONTAINER_VARS} && exec \"$@\"");
    ["sh".into(), "-c".into(), copy, "sh".into()]
        .into_iter()
        .chain(command)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::qemu::{Accel, qemu_args};
    use super::*;

    #[test]
    fn under_uefi_qemu_loads_ovmf_code_read_only_and_a_copy_of_its_variables() {
        let ovmf = Ovmf {
            code: OVMF_CODE.into(),
            vars: "/tmp/v.fd".into(),
        };
        let args = qemu_args("d", "raw", Accel::Tcg, 1024, Some(&ovmf)).join(" ");
        assert!(args.ends_with(
            "-drive if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/OVMF_CODE.fd \
             -drive if=pflash,format=raw,unit=1,file=/tmp/v.fd"
        ));
        assert!(
            !qemu_args("d", "raw", Accel::Tcg, 1024, None)
                .join(" ")
                .contains("pflash")
        );
    }

    #[test]
    fn in_the_container_a_shell_copies_the_variables_then_becomes_qemu() {
        let command = with_vars_copied(vec!["qemu-system-x86_64".into(), "-m".into(), "1".into()]);
        assert_eq!(
            command,
            [
                "sh",
                "-c",
                "cp /usr/share/OVMF/OVMF_VARS.fd /tmp/OVMF_VARS.fd && exec \"$@\"",
                "sh",
                "qemu-system-x86_64",
                "-m",
                "1"
            ]
        );
        assert_eq!(Ovmf::in_container().vars, "/tmp/OVMF_VARS.fd");
    }
}
