//! `baker image boot PATH`: boot a disk image under QEMU until its first boot prints the ready line.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;

use baker::engine::Engine;
use baker::image::ImageManifest;
use baker::image::boot::{BootOptions, boot};
use baker::progress::{Reporter, Silent};
use baker::recipe::Firmware;

use super::Global;
use super::output::emit;
use super::progress::TerminalReporter;
use super::qemu_flags::{AccelChoice, QemuChoice};
use super::signals::{interrupted, stopped};

#[derive(Debug, Args)]
pub struct BootArgs {
    /// A disk image (.raw, .qcow2, .vhd), or a folder with an image.json (its raw disk, else another).
    pub path: PathBuf,
    /// How long to wait for the ready line: a duration (90s, 5m, 1h 30m) or a number of seconds.
    #[arg(long, default_value = "5m", value_name = "DURATION", value_parser = parse_timeout)]
    pub timeout: Duration,
    /// Where the serial console goes [default: IMAGE.console.log]; the last boot's log there is kept as FILE.1.
    #[arg(long, value_name = "FILE")]
    pub log: Option<PathBuf>,
    /// Guest memory in MiB.
    #[arg(long, default_value_t = 1024, value_name = "MIB")]
    pub memory: u32,
    /// The firmware to boot with: bios (SeaBIOS) or uefi (OVMF); the image must boot with it
    /// (image.json's `disk.firmware`).
    #[arg(long, default_value = "bios", value_name = "FIRMWARE", value_parser = parse_firmware)]
    pub firmware: Firmware,
    /// How QEMU runs the guest.
    #[arg(
        long,
        default_value = "auto",
        value_name = "ACCEL",
        env = "BAKER_QEMU_ACCEL"
    )]
    pub accel: AccelChoice,
    /// Whose QEMU boots the image.
    #[arg(long, default_value = "auto", value_name = "FROM", env = "BAKER_QEMU")]
    pub qemu: QemuChoice,
}

/// `--timeout`: a duration as `--step-timeout` takes one, or a bare number of seconds (as the
/// option took before it took durations), which the library's duration refuses for want of a unit.
fn parse_timeout(given: &str) -> Result<Duration, String> {
    match given.trim().parse::<u64>() {
        Ok(0) => Err(format!("`{given}` is shorter than a second")),
        Ok(seconds) => Ok(Duration::from_secs(seconds)),
        Err(_) => baker::recipe::validate::parse_duration(given).map_err(|refused| {
            match humantime::parse_duration(given.trim()) {
                // A duration, but too short: the library says so.
                Ok(_) => refused,
                Err(e) => format!(
                    "`{given}` is neither a number of seconds nor a duration ({e}); write e.g. \
                     300, 90s, 5m or 1h 30m"
                ),
            }
        }),
    }
}

fn parse_firmware(given: &str) -> Result<Firmware, String> {
    Firmware::parse(given).ok_or_else(|| {
        format!(
            "unknown firmware `{given}`; valid: {}",
            Firmware::names().join(", ")
        )
    })
}

pub fn run(global: &Global, args: &BootArgs) -> anyhow::Result<ExitCode> {
    let image = disk_of(&args.path, args.firmware)?;
    let log = args
        .log
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("{}.console.log", image.display())));
    let options = BootOptions {
        image,
        timeout: args.timeout,
        log,
        memory_mib: args.memory,
        firmware: args.firmware,
        cache: global.cache(),
        accel: args.accel.accel(),
        qemu: args.qemu.from(),
    };
    let reporter: Arc<dyn Reporter> = if global.quiet {
        Arc::new(Silent)
    } else {
        Arc::new(TerminalReporter::new())
    };
    let runtime = tokio::runtime::Runtime::new()?;
    let outcome = runtime.block_on(async {
        // The engine is needed only when QEMU runs in the tools container.
        match Engine::connect(reporter.as_ref()).await {
            Ok(engine) => engine
                .run_until(boot(Some(&engine), &options, reporter), interrupted())
                .await
                .transpose(),
            Err(_) => tokio::select! {
                result = boot(None, &options, reporter) => result.map(Some),
                () = interrupted() => Ok(None),
            },
        }
    })?;
    let Some(outcome) = outcome else {
        return Ok(stopped("interrupted"));
    };
    emit(&format!(
        "ready: {} reached `{}` in {:.1}s ({}, {})\n  console log {}\n",
        options.image.display(),
        baker::image::READY_LINE,
        outcome.seconds,
        outcome.accel,
        outcome.runner,
        outcome.log.display()
    ))?;
    Ok(ExitCode::SUCCESS)
}

/// The disk to boot: `path` itself, or the best bootable file an image.json in it lists — which
/// must say the disk boots with `firmware`.
fn disk_of(path: &Path, firmware: Firmware) -> anyhow::Result<PathBuf> {
    let json = if path.is_dir() {
        let json = ImageManifest::path_in(path);
        if !json.is_file() {
            let build = path.join(baker::plan::PLAN_FILE).is_file();
            anyhow::bail!(
                "{} holds no image.json: name a disk image, or a folder `baker image` wrote{}",
                path.display(),
                if build {
                    format!(
                        " (this is a build's folder: `baker image --from {}` makes its image there)",
                        path.display()
                    )
                } else {
                    String::new()
                }
            );
        }
        json
    } else if path.file_name().is_some_and(|n| n == "image.json") {
        path.to_owned()
    } else {
        return Ok(path.to_owned());
    };
    let manifest = ImageManifest::read(&json)?;
    if !manifest.disk.firmware.iter().any(|f| f == firmware.name()) {
        anyhow::bail!(
            "{} says the disk boots with {} only, not {firmware}: the recipe's image layer names \
             the firmware its kernel supports (`firmware = [\"bios\", \"uefi\"]`)",
            json.display(),
            manifest.disk.firmware.join(", ")
        );
    }
    let dir = json.parent().unwrap_or(Path::new("."));
    ["raw", "ami", "qcow2", "vhd"]
        .iter()
        .find_map(|f| manifest.file(f))
        .map(|f| dir.join(&f.file))
        .ok_or_else(|| {
            anyhow::anyhow!(
                "{} lists no bootable disk (raw, ami, qcow2 or vhd)",
                json.display()
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_timeout_is_a_duration_or_a_number_of_seconds() {
        assert_eq!(parse_timeout("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_timeout("2h 30m"), Ok(Duration::from_secs(9000)));
        assert_eq!(parse_timeout("90"), Ok(Duration::from_secs(90)));
        for short in ["0", "0.5s", "500ms"] {
            let refused = parse_timeout(short).unwrap_err();
            assert_eq!(refused, format!("`{short}` is shorter than a second"));
        }
        let refused = parse_timeout("5 minutes please").unwrap_err();
        assert!(
            refused.starts_with("`5 minutes please` is neither a number of seconds nor a duration"),
            "{refused}"
        );
        assert!(
            refused.ends_with("write e.g. 300, 90s, 5m or 1h 30m"),
            "{refused}"
        );
    }
}
