//! `baker cache du|prune|clear`: show and bound what the cache holds.

use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;

use baker::builder::{OWNER_LABEL, STEP_REPO};
use baker::cache::usage::{self, CacheEntry, human, parse_size};

use super::Global;

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
                println!(
                    "{}",
                    serde_json::json!({"root": cache.root(), "bytes": all, "parts": parts})
                );
            } else {
                println!("cache {}", cache.root().display());
                for (part, bytes, count) in &totals {
                    println!("  {part:<10} {:>10}  {count} entries", human(*bytes));
                }
                println!("  {:<10} {:>10}", "total", human(all));
                println!("(committed step images live in the engine: `docker images {STEP_REPO}`)");
            }
        }
        CacheCommand::Prune { max_size } => {
            let evict = usage::eviction_plan(entries, *max_size);
            let freed: u64 = evict.iter().map(|e| e.bytes).sum();
            remove_all(&evict)?;
            println!("removed {} entries, {} freed", evict.len(), human(freed));
        }
        CacheCommand::Clear => {
            remove_all(&entries)?;
            println!(
                "removed {} entries from {}",
                entries.len(),
                cache.root().display()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Removes entries; step entries take their committed images with them, and step images that a
/// later commit of the same key left untagged go too, when an engine is reachable.
fn remove_all(entries: &[CacheEntry]) -> anyhow::Result<()> {
    let keys: Vec<&str> = entries
        .iter()
        .filter_map(|e| e.step_key.as_deref())
        .collect();
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let docker = match baker::engine::connect().await {
            Ok(docker) => docker,
            Err(e) if !keys.is_empty() => {
                return eprintln!("note: step images were left in the engine ({e})");
            }
            Err(_) => return,
        };
        for key in &keys {
            let _ = docker
                .remove_image(
                    &format!("{STEP_REPO}:{key}"),
                    None::<bollard::query_parameters::RemoveImageOptions>,
                    None,
                )
                .await;
        }
        let filters = [
            ("dangling".to_owned(), vec!["true".to_owned()]),
            ("label".to_owned(), vec![format!("{OWNER_LABEL}=baker")]),
        ];
        let _ = docker
            .prune_images(Some(bollard::query_parameters::PruneImagesOptions {
                filters: Some(filters.into()),
            }))
            .await;
    });
    for entry in entries {
        usage::remove(entry).with_context(|| format!("removing {}", entry.path.display()))?;
    }
    Ok(())
}
