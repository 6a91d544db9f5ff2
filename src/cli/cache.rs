//! `baker cache du|prune|clear`: show and bound what the cache holds. The work is
//! [`baker::cache::upkeep`]'s; this parses the arguments and prints its summaries.

use std::process::ExitCode;

use clap::Subcommand;

use baker::byte_size::{self, human};
use baker::cache::upkeep::{self, InEngine, PartUsage, Removal, Usage};
use baker::progress::{Reporter, Silent};

use super::Global;
use super::output::{emit_line, say};
use super::progress::TerminalReporter;

#[derive(Debug, Subcommand)]
pub enum CacheCommand {
    /// Show how much each part of the cache holds, in its directory and in the engine.
    Du {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove least recently used entries until the cache fits in SIZE (e.g. 20G, 500M): its
    /// directory and what it keeps in the engine (step images, OS layers and their trees, node
    /// images).
    Prune {
        /// The size to fit in, with its unit: 500M, 20G, 1.5GiB (powers of 1024), 4096B; 0 empties it.
        #[arg(long, value_name = "SIZE", value_parser = parse_max_size)]
        max_size: u64,
        /// Fail at once when a build, image or launch is using the cache, instead of waiting for it.
        #[arg(long)]
        no_wait: bool,
    },
    /// Remove everything baker cached, and what this cache keeps in the engine: its committed step
    /// images, `baker image`'s OS layers and unpacked trees, and the `docker` provider's node images.
    Clear {
        /// Fail at once when a build, image or launch is using the cache, instead of waiting for it.
        #[arg(long)]
        no_wait: bool,
    },
}

/// `--max-size`: a size with its unit, or 0. A number without a unit would be bytes, which a user
/// who wrote `--max-size 20` did not mean: such a cap empties the cache.
fn parse_max_size(s: &str) -> Result<u64, String> {
    let bytes = byte_size::parse(s).map_err(|why| why.to_string())?;
    if bytes != 0 && byte_size::is_without_unit(s) {
        let n = s.trim();
        return Err(format!(
            "a number without a unit would be bytes, and a cap of {n} bytes empties the cache: \
             write {n}G for {n} GiB or {n}M for {n} MiB ({n}B if bytes are meant; 0 empties it)"
        ));
    }
    Ok(bytes)
}

pub fn run(global: &Global, cmd: &CacheCommand) -> anyhow::Result<ExitCode> {
    let cache = global.cache();
    let reporter: Box<dyn Reporter> = if global.quiet {
        Box::new(Silent)
    } else {
        Box::new(TerminalReporter::new())
    };
    let runtime = tokio::runtime::Runtime::new()?;
    match cmd {
        CacheCommand::Du { json } => {
            let usage = runtime.block_on(upkeep::du(&cache, reporter.as_ref()));
            if *json {
                emit_line(&du_json(&usage).to_string())?;
            } else {
                emit_line(&du_text(&usage))?;
                if let (InEngine::Unreachable { error, .. }, false) =
                    (&usage.in_engine, global.quiet)
                {
                    say(&format!("note: {error}"));
                }
            }
        }
        CacheCommand::Prune { max_size, no_wait } => {
            let removal = runtime.block_on(upkeep::prune(
                &cache,
                *max_size,
                !no_wait,
                reporter.as_ref(),
            ))?;
            if !global.quiet {
                say_notes(&removal);
                emit_line(&prune_text(&removal))?;
            }
        }
        CacheCommand::Clear { no_wait } => {
            let removal = runtime.block_on(upkeep::clear(&cache, !no_wait, reporter.as_ref()))?;
            if !global.quiet {
                say_notes(&removal);
                emit_line(&format!(
                    "removed {} from {}",
                    entries(removal.entries),
                    removal.root.display()
                ))?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn du_json(usage: &Usage) -> serde_json::Value {
    let parts: serde_json::Map<String, serde_json::Value> = usage
        .parts
        .iter()
        .map(|p| {
            let part = serde_json::json!({"bytes": p.bytes, "entries": p.entries});
            (p.name.to_owned(), part)
        })
        .collect();
    let (held, unheld) = match usage.in_engine {
        InEngine::Nothing => (Some(0), Some(0)),
        InEngine::Measured { held, unheld, .. } => (Some(held), Some(unheld)),
        InEngine::Unreachable { .. } => (None, None),
    };
    let shared: Vec<serde_json::Value> = (usage.shared.iter())
        .map(|s| serde_json::json!({"image": s.reference, "bytes": s.bytes}))
        .collect();
    serde_json::json!({
        "root": usage.root,
        "bytes": usage.total,
        "engine_bytes": held,
        "engine_bytes_unheld": unheld,
        "parts": parts,
        "shared_images": shared,
    })
}

fn du_text(usage: &Usage) -> String {
    let mut text = format!("cache {}\n", usage.root.display());
    text += &part_lines(&usage.parts, Some(usage.total));
    text += &in_engine_text(&usage.in_engine);
    for image in &usage.shared {
        text += &format!(
            "\nshared by every cache, not in the total: {} {} (`baker image`'s disk tools and \
             QEMU; `cache clear` leaves it, `docker rmi` removes it)",
            image.reference,
            human(image.bytes)
        );
    }
    text
}

/// One line per part, `name  size  entries`, and the total when given, the name column as wide as
/// the longest name so that every size lines up.
fn part_lines(parts: &[PartUsage], total: Option<u64>) -> String {
    let width = (parts.iter().map(|p| p.name.len()))
        .chain(total.map(|_| TOTAL.len()))
        .max()
        .unwrap_or(0);
    let mut text = String::new();
    for part in parts {
        text += &format!(
            "  {:<width$} {:>10}  {}\n",
            part.name,
            human(part.bytes),
            entries(part.entries)
        );
    }
    if let Some(total) = total {
        text += &format!("  {TOTAL:<width$} {:>10}\n", human(total));
    }
    text
}

/// What a prune removed: how many entries and bytes, then by the parts `du` shows, so that an OS
/// layer the next `baker image` makes again does not go unseen among small entries.
fn prune_text(removal: &Removal) -> String {
    let mut text = format!(
        "removed {}, {} freed",
        entries(removal.entries),
        human(removal.freed.unwrap_or(0))
    );
    if removal.freed_by_part.is_empty() {
        return text;
    }
    text += ":\n";
    text += &part_lines(&removal.freed_by_part, None);
    if removal.freed_by_part.iter().any(|p| p.name == "os-layers") {
        text += "the next `baker image` of a recipe whose OS layer went makes it again\n";
    }
    text.trim_end().to_owned()
}

const TOTAL: &str = "total";

/// What `du` says of the part of the cache in the engine: how much of the total it is, and the
/// filters that list it there.
fn in_engine_text(in_engine: &InEngine) -> String {
    let (how_much, label) = match in_engine {
        InEngine::Nothing => return "in the engine: nothing yet".to_owned(),
        InEngine::Measured {
            label,
            held,
            unheld: 0,
        } => (format!("{} of the total", human(*held)), label),
        InEngine::Measured {
            label,
            held,
            unheld,
        } => (
            format!(
                "{} of the total, and {} that no entry holds (`cache clear` removes it)",
                human(*held),
                human(*unheld)
            ),
            label,
        ),
        InEngine::Unreachable { label, .. } => (
            "not measured (the engine could not be reached)".to_owned(),
            label,
        ),
    };
    format!(
        "in the engine: {how_much}\n  \
         its step images, OS layers and node images: `docker images --filter label={label}`\n  \
         its unpacked OS trees: `docker volume ls --filter label={label}`"
    )
}

/// The notes of a prune or clear: what it could not measure or remove in the engine, and what it
/// removed through it.
fn say_notes(removal: &Removal) {
    if removal.measured_directory_only.is_some() {
        say(
            "note: the engine could not be reached: the size counts only the cache's \
             directory, not its step images and OS layers",
        );
    }
    if let Some(why) = &removal.left_in_engine {
        say(&format!(
            "note: what this cache keeps in the engine was left there ({why})"
        ));
    }
    if removal.kept_in_use > 0 {
        say(&format!(
            "note: kept {} whose images containers were created from (a cluster's nodes; \
             `baker destroy` the cluster to free them)",
            entries(removal.kept_in_use)
        ));
    }
    if removal.removed_as_root > 0 {
        say(&format!(
            "removed {} that build containers wrote as root through the engine",
            entries(removal.removed_as_root)
        ));
    }
}

/// "1 entry", "3 entries".
fn entries(count: usize) -> String {
    match count {
        1 => "1 entry".to_owned(),
        n => format!("{n} entries"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use baker::cache::upkeep::SharedImage;

    #[test]
    fn du_lines_every_size_up_under_the_longest_part_name() {
        let part = |name, bytes| PartUsage {
            name,
            bytes,
            entries: 1,
        };
        let usage = Usage {
            root: "/c".into(),
            parts: vec![part("steps", 1 << 30), part("node-images", 1 << 20)],
            total: (1 << 30) + (1 << 20),
            in_engine: InEngine::Nothing,
            shared: Vec::new(),
        };
        let text = du_text(&usage);
        let ends: Vec<usize> = text
            .lines()
            .filter(|l| l.contains("iB"))
            .map(|l| l.find("iB").unwrap())
            .collect();
        assert_eq!(ends.len(), 3, "{text}");
        assert!(ends.iter().all(|&e| e == ends[0]), "{text}");
    }

    fn part(name: &'static str, bytes: u64, entries: usize) -> PartUsage {
        PartUsage {
            name,
            bytes,
            entries,
        }
    }

    /// baker's tools image is every cache's and none's: shown, and not added to the total.
    #[test]
    fn du_shows_the_shared_tools_image_apart_from_the_total() {
        let usage = Usage {
            root: "/c".into(),
            parts: vec![part("os-layers", 800 << 20, 1)],
            total: 800 << 20,
            in_engine: InEngine::Measured {
                label: "baker.cache=abc".into(),
                held: 790 << 20,
                unheld: 0,
            },
            shared: vec![SharedImage {
                reference: "baker-tools:0123456789abcdef".into(),
                bytes: 512 << 20,
            }],
        };
        let text = du_text(&usage);
        assert!(text.contains("total      800.0 MiB"), "{text}");
        assert!(
            text.ends_with(
                "\nshared by every cache, not in the total: baker-tools:0123456789abcdef 512.0 \
                 MiB (`baker image`'s disk tools and QEMU; `cache clear` leaves it, `docker rmi` \
                 removes it)"
            ),
            "{text}"
        );
        let json = du_json(&usage);
        assert_eq!(json["bytes"], 800 << 20);
        assert_eq!(json["shared_images"][0]["bytes"], 512 << 20);
    }

    /// A prune says what it removed by part, biggest first, and that an OS layer costs the next
    /// `baker image` its making.
    #[test]
    fn prune_says_what_it_removed_by_part() {
        let removal = |freed_by_part: Vec<PartUsage>| Removal {
            root: "/c".into(),
            entries: freed_by_part.iter().map(|p| p.entries).sum(),
            freed: Some(freed_by_part.iter().map(|p| p.bytes).sum()),
            freed_by_part,
            measured_directory_only: None,
            left_in_engine: None,
            removed_as_root: 0,
            kept_in_use: 0,
        };
        let text = prune_text(&removal(vec![
            part("os-layers", 776 << 20, 1),
            part("steps", 80 << 20, 120),
            part("downloads", 2 << 20, 2),
        ]));
        assert_eq!(
            text,
            "removed 123 entries, 858.0 MiB freed:\n  \
             os-layers  776.0 MiB  1 entry\n  \
             steps       80.0 MiB  120 entries\n  \
             downloads    2.0 MiB  2 entries\n\
             the next `baker image` of a recipe whose OS layer went makes it again"
        );
        assert_eq!(prune_text(&removal(vec![])), "removed 0 entries, 0 B freed");
        let downloads = prune_text(&removal(vec![part("downloads", 4096, 1)]));
        assert!(!downloads.contains("baker image"), "{downloads}");
    }
}
