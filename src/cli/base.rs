//! `baker base`: make base images locally (placeholder, being written).

use std::process::ExitCode;

use clap::Subcommand;

use super::Global;

#[derive(Debug, Subcommand)]
pub enum BaseCommand {}

pub fn run(_global: &Global, cmd: BaseCommand) -> anyhow::Result<ExitCode> {
    match cmd {}
}
