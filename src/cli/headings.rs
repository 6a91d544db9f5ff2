//! The headings `--help` groups options under, so that a long list (`baker launch -h`) reads as
//! sections: the command's own options under clap's "Options", then how it builds, the options of
//! each provider, and last the options every command takes. Named once here so that the commands
//! sharing a group (`build`, `image`, `launch`) show it under the same words, and the tests find it.
//!
//! A `#[command(flatten, next_help_heading = …)]` heading stays in force for the fields after the
//! flattened struct (clap does not restore the one before), so a command's own options come before
//! its flattened groups, and any field after them names its `help_heading` itself.

/// The options every subcommand takes (`-v`, `-q`, `--cache-dir`, `--lock`, `--recipes-dir`).
pub const GLOBAL: &str = "Global options";

/// What and how `baker build` builds.
pub const BUILD: &str = "Build";

/// What and how `image` and `launch` build when they build first (not with `--from`).
pub const BUILD_FIRST: &str = "Build (when it builds first)";

/// The options only `launch --provider qemu` reads.
pub const QEMU: &str = "--provider qemu";

/// The options only `launch --provider ssh` reads.
pub const SSH: &str = "--provider ssh";

/// The options only `launch --provider docker` reads.
pub const DOCKER: &str = "--provider docker";
