//! `baker cache du|prune|clear`: show and bound what the cache holds. Prune and clear hold the
//! cache's lock exclusively, waiting for the builds, images and launches using it (or failing at
//! once with `--no-wait`).

use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;

use std::sync::Arc;

use baker::cache::accounting;
use baker::cache::usage::{self, CacheEntry, human, parse_size};
use baker::cache::{CACHE_LABEL, CacheDir, CacheLock, LockMode, in_engine};
use baker::engine::Engine;
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
        /// The size to fit in: bytes, or with a unit (500M, 20G, 1.5GiB; powers of 1024).
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

fn parse_max_size(s: &str) -> Result<u64, String> {
    parse_size(s).ok_or_else(|| format!("`{s}` is not a size; write e.g. 500M, 20G, 1.5GiB"))
}

pub fn run(global: &Global, cmd: &CacheCommand) -> anyhow::Result<ExitCode> {
    let cache = global.cache();
    let reporter: Arc<dyn Reporter> = if global.quiet {
        Arc::new(Silent)
    } else {
        Arc::new(TerminalReporter::new())
    };
    match cmd {
        CacheCommand::Du { json } => {
            let mut entries = usage::scan(&cache);
            let runtime = tokio::runtime::Runtime::new()?;
            // Through the reporter: connecting removes killed bakers' containers, and says so.
            let in_engine =
                runtime.block_on(in_engine::measure(&cache, &mut entries, reporter.as_ref()));
            let no_engine = accounting::EngineBytes::new();
            let held = in_engine.as_ref().map(|m| &m.bytes).unwrap_or(&no_engine);
            let totals = accounting::totals(&entries, held);
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
                    &serde_json::json!({
                        "root": cache.root(),
                        "bytes": all,
                        "engine_bytes": in_engine.as_ref().ok().map(|m| m.held()),
                        "engine_bytes_unheld": in_engine.as_ref().ok().map(|m| m.unheld),
                        "parts": parts,
                    })
                    .to_string(),
                )?;
            } else {
                let mut text = format!("cache {}\n", cache.root().display());
                for (part, bytes, count) in &totals {
                    text += &format!("  {part:<10} {:>10}  {count} entries\n", human(*bytes));
                }
                text += &format!("  {:<10} {:>10}\n", "total", human(all));
                text += &in_engine_text(&cache, in_engine.as_ref().ok());
                emit_line(&text)?;
                if let (Err(e), false) = (&in_engine, global.quiet) {
                    say(&format!("note: {e}"));
                }
            }
        }
        CacheCommand::Prune { max_size, no_wait } => {
            let (runtime, _lock) = lock_exclusive(&cache, *no_wait, &reporter)?;
            let mut entries = usage::scan(&cache);
            let measured =
                runtime.block_on(in_engine::measure(&cache, &mut entries, reporter.as_ref()));
            if measured.is_err() && !global.quiet {
                say(
                    "note: the engine could not be reached: the size counts only the cache's \
                     directory, not its step images and OS layers",
                );
            }
            let held = measured.map(|m| m.bytes).unwrap_or_default();
            let plan = accounting::eviction_plan(entries, &held, *max_size);
            let (evict, freed) = (plan.entries, plan.freed);
            remove_all(&runtime, &cache, &evict, false, &reporter, global.quiet)?;
            if !global.quiet {
                emit_line(&format!(
                    "removed {} entries, {} freed",
                    evict.len(),
                    human(freed)
                ))?;
            }
        }
        CacheCommand::Clear { no_wait } => {
            let (runtime, _lock) = lock_exclusive(&cache, *no_wait, &reporter)?;
            let entries = usage::scan(&cache);
            remove_all(&runtime, &cache, &entries, true, &reporter, global.quiet)?;
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

/// What `du` says of the part of the cache in the engine: how much of the total it is, and the
/// filters that list it there.
fn in_engine_text(cache: &CacheDir, measured: Option<&in_engine::Measured>) -> String {
    // It is found by the cache's label, not by a path; a cache that was never used has no identity
    // yet, and `du` does not make one.
    let Some(identity) = cache.known_identity() else {
        return "in the engine: nothing yet".to_owned();
    };
    let label = format!("{CACHE_LABEL}={identity}");
    let how_much = match measured {
        Some(m) if m.unheld > 0 => format!(
            "{} of the total, and {} that no entry holds (`cache clear` removes it)",
            human(m.held()),
            human(m.unheld)
        ),
        Some(m) => format!("{} of the total", human(m.held())),
        None => "not measured (the engine could not be reached)".to_owned(),
    };
    format!(
        "in the engine: {how_much}\n  \
         its step images, OS layers and node images: `docker images --filter label={label}`\n  \
         its unpacked OS trees: `docker volume ls --filter label={label}`"
    )
}

/// Takes the cache's lock exclusively (waiting for builds unless `no_wait`); returns it with the
/// runtime that the engine calls run on.
fn lock_exclusive(
    cache: &CacheDir,
    no_wait: bool,
    reporter: &Arc<dyn Reporter>,
) -> anyhow::Result<(tokio::runtime::Runtime, CacheLock)> {
    let runtime = tokio::runtime::Runtime::new()?;
    let lock = runtime.block_on(cache.lock(LockMode::Exclusive, !no_wait, reporter.as_ref()))?;
    Ok((runtime, lock))
}

/// Removes entries; step entries take this cache's committed images with them (`all`: every image
/// labelled with this cache), and this cache's step images that a later commit of the same key left
/// untagged go too, when an engine is reachable.
fn remove_all(
    runtime: &tokio::runtime::Runtime,
    cache: &CacheDir,
    entries: &[CacheEntry],
    all: bool,
    reporter: &Arc<dyn Reporter>,
    quiet: bool,
) -> anyhow::Result<()> {
    let in_engine = entries.iter().any(|e| e.engine_key.is_some());
    if let Err(e) = runtime.block_on(in_engine::remove(cache, entries, all, reporter.as_ref())) {
        if (all || in_engine) && !quiet {
            say(&format!(
                "note: what this cache keeps in the engine was left there ({e})"
            ));
        }
    }
    let root_owned = usage::remove_entries(entries)?;
    if !root_owned.is_empty() {
        let removed = runtime.block_on(async {
            let engine = Engine::connect(reporter.as_ref()).await?;
            anyhow::Ok(engine.remove_as_root(&root_owned).await?)
        });
        removed.with_context(|| {
            format!(
                "removing {} entries that build containers wrote as root",
                root_owned.len()
            )
        })?;
        if !quiet {
            say(&format!(
                "removed {} entries that build containers wrote as root through the engine",
                root_owned.len()
            ));
        }
    }
    if all {
        usage::remove_empty_package_dirs(cache);
    }
    Ok(())
}
