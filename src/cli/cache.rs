//! `baker cache du|prune|clear`: show and bound what the cache holds.

use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;

use baker::cache::step_images;
use baker::cache::usage::{self, CacheEntry, human, parse_size};
use baker::engine::STEP_REPO;

use super::Global;
use super::output::{emit_line, say};

#[derive(Debug, Subcommand)]
pub enum CacheCommand {
    /// Show how much each part of the cache holds.
    Du {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove least recently used entries until the cache fits in SIZE (e.g. 20G, 500M).
    Prune {
        #[arg(long, value_name = "SIZE", value_parser = parse_max_size)]
        max_size: u64,
    },
    /// Remove everything baker cached, and the committed step images.
    Clear,
}

fn parse_max_size(s: &str) -> Result<u64, String> {
    parse_size(s).ok_or_else(|| format!("`{s}` is not a size; write e.g. 500M, 20G, 1.5GiB"))
}

pub fn run(global: &Global, cmd: &CacheCommand) -> anyhow::Result<ExitCode> {
    let cache = global.cache();
    let entries = usage::scan(&cache);
    match cmd {
        CacheCommand::Du { json } => {
            let totals = usage::totals(&entries);
            let all: u64 = totals.iter().map(|t| t.1).sum();
            if *json {
                let parts: serde_json::Map<String, serde_json::Value> = totals
                    .iter()
                    .map(|(p, b, n)| {
                        (
                            (*p).to_owned(),
                            serde_json::json!({"bytes": b, "entries": n}),
                        )
                    })
                    .collect();
                emit_line(
                    &serde_json::json!({"root": cache.root(), "bytes": all, "parts": parts})
                        .to_string(),
                )?;
            } else {
                let mut text = format!("cache {}\n", cache.root().display());
                for (part, bytes, count) in &totals {
                    text += &format!("  {part:<10} {:>10}  {count} entries\n", human(*bytes));
                }
                text += &format!("  {:<10} {:>10}\n", "total", human(all));
                text += &format!(
                    "(committed step images live in the engine: `docker images {STEP_REPO}`)"
                );
                emit_line(&text)?;
            }
        }
        CacheCommand::Prune { max_size } => {
            let evict = usage::eviction_plan(entries, *max_size);
            let freed: u64 = evict.iter().map(|e| e.bytes).sum();
            remove_all(&evict, global.quiet)?;
            if !global.quiet {
                emit_line(&format!(
                    "removed {} entries, {} freed",
                    evict.len(),
                    human(freed)
                ))?;
            }
        }
        CacheCommand::Clear => {
            remove_all(&entries, global.quiet)?;
            if !global.quiet {
                emit_line(&format!(
                    "removed {} entries from {}",
                    entries.len(),
                    cache.root().display()
                ))?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Removes entries; step entries take their committed images with them, and step images that a
/// later commit of the same key left untagged go too, when an engine is reachable.
fn remove_all(entries: &[CacheEntry], quiet: bool) -> anyhow::Result<()> {
    let keys: Vec<&str> = entries
        .iter()
        .filter_map(|e| e.step_key.as_deref())
        .collect();
    let runtime = tokio::runtime::Runtime::new()?;
    if let Err(e) = runtime.block_on(step_images::remove(&keys)) {
        if !keys.is_empty() && !quiet {
            say(&format!("note: step images were left in the engine ({e})"));
        }
    }
    for entry in entries {
        usage::remove(entry).with_context(|| format!("removing {}", entry.path.display()))?;
    }
    Ok(())
}
