//! The QEMU flags `baker image boot` and `baker launch --provider qemu` share: how QEMU runs the
//! guest's CPU (`--accel`) and whose QEMU runs it (`--qemu`), as clap value enums mapped to the
//! library's choices.

use clap::ValueEnum;

use baker::image::boot::{Accel, QemuFrom};

/// `--accel` of `image boot` and of `launch --provider qemu`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AccelChoice {
    /// KVM when /dev/kvm opens and the guest's kernel prints within 20 s under it (a failed trial
    /// is remembered until the host reboots), else software emulation.
    Auto,
    /// KVM, tried even where an earlier trial failed.
    Kvm,
    /// Software emulation: slower, but runs wherever QEMU does.
    Tcg,
}

impl AccelChoice {
    /// The accelerator asked for; `None` leaves the choice to baker.
    pub fn accel(self) -> Option<Accel> {
        match self {
            AccelChoice::Auto => None,
            AccelChoice::Kvm => Some(Accel::Kvm),
            AccelChoice::Tcg => Some(Accel::Tcg),
        }
    }

    /// The name `--accel` takes, as a cluster's state keeps it.
    pub fn name(self) -> &'static str {
        match self {
            AccelChoice::Auto => "auto",
            AccelChoice::Kvm => "kvm",
            AccelChoice::Tcg => "tcg",
        }
    }
}

/// `--qemu` of `image boot` and of `launch --provider qemu`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum QemuChoice {
    /// The host's QEMU when it is installed, else the one in baker's tools image.
    Auto,
    /// The host's QEMU only.
    Host,
    /// The QEMU in baker's tools image (made from a local Debian 12 image the first time), even
    /// where the host has its own.
    Tools,
}

impl QemuChoice {
    pub fn from(self) -> QemuFrom {
        match self {
            QemuChoice::Auto => QemuFrom::Auto,
            QemuChoice::Host => QemuFrom::Host,
            QemuChoice::Tools => QemuFrom::Tools,
        }
    }
}
