//! `baker cache du|prune|clear` as whole operations: show what a cache holds, and bound it. Each
//! one joins the cache's parts — the directory's entries ([`super::usage`]), what they hold in the
//! engine ([`super::in_engine`]), the counting and the eviction plan ([`super::accounting`]), the
//! lock that keeps them off running builds ([`super::lock`]) and the entries only the engine can
//! remove (a build container wrote them as root) — and returns a summary that the CLI only prints.
//! An engine that cannot be reached does not stop them: they do what the directory allows and the
//! summary says what was left.

use std::path::PathBuf;

use super::accounting::{self, EngineBytes};
use super::usage::{self, CacheEntry};
use super::{CACHE_LABEL, CacheDir, CacheLockError, LockMode, in_engine};
use crate::engine::labels::IMAGE_PART_LABEL;
use crate::engine::{Engine, RootRemovalError};
use crate::progress::Reporter;

/// What `du` found: each part's bytes and entries, directory and engine together.
#[derive(Debug)]
pub struct Usage {
    pub root: PathBuf,
    pub parts: Vec<PartUsage>,
    /// The sum of the parts, each thing counted once.
    pub total: u64,
    pub in_engine: InEngine,
    /// Images every cache on the engine uses and none owns: baker's tools image. Not in
    /// [`Usage::total`], and `cache prune|clear` leave them (`docker rmi` removes one).
    pub shared: Vec<SharedImage>,
}

/// An image no cache owns, which `du` shows beside the cache's parts.
#[derive(Debug)]
pub struct SharedImage {
    pub reference: String,
    /// Every layer's, as `docker images` counts it (its Debian base's included).
    pub bytes: u64,
}

#[derive(Debug)]
pub struct PartUsage {
    /// The cache directory's part (`downloads`, `steps`, `os-layers`…).
    pub name: &'static str,
    pub bytes: u64,
    pub entries: usize,
}

/// The share of the cache that lives in the engine, found by the cache's label.
#[derive(Debug)]
pub enum InEngine {
    /// The cache never made anything there (it has no identity yet; `du` does not make one).
    Nothing,
    Measured {
        /// `baker.cache=<identity>`, the filter that lists it with `docker images|volume ls`.
        label: String,
        /// What the entries hold there (already part of [`Usage::total`]).
        held: u64,
        /// What carries the label but no entry holds; `clear` removes it.
        unheld: u64,
    },
    Unreachable {
        label: String,
        error: String,
    },
}

/// What `prune` or `clear` removed.
#[derive(Debug)]
pub struct Removal {
    pub root: PathBuf,
    pub entries: usize,
    /// The bytes `prune` counted as freed; `None` for `clear`.
    pub freed: Option<u64>,
    /// What `prune` freed, per part of the cache (bytes and entries), most bytes first; empty for
    /// `clear`.
    pub freed_by_part: Vec<PartUsage>,
    /// Why the engine could not be asked what the entries hold there: `prune` counted the
    /// directory only.
    pub measured_directory_only: Option<String>,
    /// Why what the entries keep in the engine stayed there (engine unreachable, or an image a
    /// container still runs).
    pub left_in_engine: Option<String>,
    /// How many entries a build container wrote as root, removed through the engine.
    pub removed_as_root: usize,
    /// How many entries `prune` would have evicted but kept, since a container (a cluster's node)
    /// runs an image they hold.
    pub kept_in_use: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum UpkeepError {
    #[error(transparent)]
    Lock(#[from] CacheLockError),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("removing {count} entries that build containers wrote as root: {source}")]
    RootOwned {
        count: usize,
        source: RootRemovalError,
    },
}

/// Measures every part of the cache, asking the engine what its entries hold there.
pub async fn du(cache: &CacheDir, reporter: &dyn Reporter) -> Usage {
    let mut entries = usage::scan(cache);
    // Through the user's reporter: connecting removes killed bakers' containers, and says so.
    let measured = in_engine::measure(cache, &mut entries, reporter).await;
    let no_engine = EngineBytes::new();
    let held = measured.as_ref().map(|m| &m.bytes).unwrap_or(&no_engine);
    let parts: Vec<PartUsage> = accounting::totals(&entries, held)
        .into_iter()
        .map(|(name, bytes, entries)| PartUsage {
            name,
            bytes,
            entries,
        })
        .collect();
    let in_engine = match (cache.known_identity(), measured) {
        (None, _) => InEngine::Nothing,
        (Some(identity), Ok(m)) => InEngine::Measured {
            label: format!("{CACHE_LABEL}={identity}"),
            held: m.held(),
            unheld: m.unheld,
        },
        (Some(identity), Err(e)) => InEngine::Unreachable {
            label: format!("{CACHE_LABEL}={identity}"),
            error: e.to_string(),
        },
    };
    // Only where the engine was asked already: `du` of a cache that made nothing there connects to
    // no engine.
    let shared = match in_engine {
        InEngine::Measured { .. } => shared_images(reporter).await,
        _ => Vec::new(),
    };
    Usage {
        root: cache.root().to_owned(),
        total: parts.iter().map(|p| p.bytes).sum(),
        parts,
        in_engine,
        shared,
    }
}

/// baker's tools images (`baker-tools:<digest>`, labelled `baker.image=tools`): `baker image`
/// makes one from a Debian image and every cache uses it; none owns it. Empty when the engine
/// cannot say.
async fn shared_images(reporter: &dyn Reporter) -> Vec<SharedImage> {
    let Ok(engine) = Engine::connect(reporter).await else {
        return Vec::new();
    };
    let tools = vec![format!("{IMAGE_PART_LABEL}=tools")];
    let mut shared = Vec::new();
    for reference in engine.tags_labelled(tools).await.unwrap_or_default() {
        if let Some(info) = engine.image_info(&reference).await {
            shared.push(SharedImage {
                reference,
                bytes: info.size,
            });
        }
    }
    shared
}

/// Removes the least recently used entries, with what they hold in the engine, until the cache
/// fits in `max_size` bytes. Holds the cache's lock exclusively, waiting for its users unless
/// `wait` is false.
pub async fn prune(
    cache: &CacheDir,
    max_size: u64,
    wait: bool,
    reporter: &dyn Reporter,
) -> Result<Removal, UpkeepError> {
    let _lock = cache.lock(LockMode::Exclusive, wait, reporter).await?;
    let mut entries = usage::scan(cache);
    let measured = in_engine::measure(cache, &mut entries, reporter).await;
    let measured_directory_only = measured.as_ref().err().map(|e| e.to_string());
    let measured = measured.unwrap_or_default();
    let plan = accounting::eviction_plan(entries, &measured.bytes, &measured.in_use, max_size);
    let mut removal = remove(cache, &plan.entries, false, reporter).await?;
    removal.freed = Some(plan.freed);
    removal.freed_by_part = (plan.freed_by_part.into_iter())
        .map(|(name, bytes, entries)| PartUsage {
            name,
            bytes,
            entries,
        })
        .collect();
    removal.kept_in_use = plan.kept_in_use;
    removal.measured_directory_only = measured_directory_only;
    Ok(removal)
}

/// Removes every entry, and every image and volume with this cache's label. Holds the cache's lock
/// exclusively, waiting for its users unless `wait` is false.
pub async fn clear(
    cache: &CacheDir,
    wait: bool,
    reporter: &dyn Reporter,
) -> Result<Removal, UpkeepError> {
    let _lock = cache.lock(LockMode::Exclusive, wait, reporter).await?;
    let entries = usage::scan(cache);
    let removal = remove(cache, &entries, true, reporter).await?;
    usage::remove_empty_package_dirs(cache);
    Ok(removal)
}

/// Removes entries with what they keep in the engine (`all`: every image and volume with the
/// cache's label), then the entries a build container wrote as root, through the engine.
async fn remove(
    cache: &CacheDir,
    entries: &[CacheEntry],
    all: bool,
    reporter: &dyn Reporter,
) -> Result<Removal, UpkeepError> {
    let keeps_some = all || entries.iter().any(|e| e.engine_key.is_some());
    let left_in_engine = match in_engine::remove(cache, entries, all, reporter).await {
        Err(e) if keeps_some => Some(e.to_string()),
        _ => None,
    };
    let root_owned = usage::remove_entries(entries)?;
    if !root_owned.is_empty() {
        let removed = async {
            let engine = Engine::connect(reporter).await?;
            engine.remove_as_root(&root_owned).await
        };
        removed.await.map_err(|source| UpkeepError::RootOwned {
            count: root_owned.len(),
            source,
        })?;
    }
    Ok(Removal {
        root: cache.root().to_owned(),
        entries: entries.len(),
        freed: None,
        freed_by_part: Vec::new(),
        measured_directory_only: None,
        left_in_engine,
        removed_as_root: root_owned.len(),
        kept_in_use: 0,
    })
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::*;
    use crate::progress::Silent;

    fn download(cache: &CacheDir, name: &str, bytes: usize, age: u64) {
        let path = cache.download(name);
        std::fs::write(&path, vec![0u8; bytes]).unwrap();
        let file = std::fs::File::options().write(true).open(&path).unwrap();
        file.set_modified(SystemTime::now() - Duration::from_secs(age))
            .unwrap();
    }

    /// A cache that never made anything in the engine is measured, pruned and cleared without one:
    /// `du` says so instead of connecting, and prune removes the oldest entries first.
    #[tokio::test]
    async fn bounds_a_cache_that_keeps_nothing_in_the_engine() {
        let dir = tempfile::tempdir().unwrap();
        let cache = CacheDir::new(dir.path());
        std::fs::create_dir_all(cache.downloads()).unwrap();
        download(&cache, "old", 300, 3600);
        download(&cache, "new", 200, 10);

        let usage = du(&cache, &Silent).await;
        assert!(matches!(usage.in_engine, InEngine::Nothing));
        assert_eq!(usage.total, 500);

        let pruned = prune(&cache, 250, false, &Silent).await.unwrap();
        assert_eq!((pruned.entries, pruned.freed), (1, Some(300)));
        let by_part: Vec<_> = (pruned.freed_by_part.iter())
            .map(|p| (p.name, p.bytes, p.entries))
            .collect();
        assert_eq!(by_part, [("downloads", 300, 1)]);
        assert!(pruned.left_in_engine.is_none() && pruned.measured_directory_only.is_none());
        assert!(!cache.download("old").exists() && cache.download("new").exists());

        // Waiting: a child another test spawns while prune held the lock keeps a copy of it until
        // its `exec`.
        let cleared = clear(&cache, true, &Silent).await.unwrap();
        assert_eq!((cleared.entries, cleared.freed), (1, None));
        assert_eq!(du(&cache, &Silent).await.total, 0);
    }

    /// A cache another process is using is not pruned under it with `--no-wait`.
    #[tokio::test]
    async fn refuses_a_cache_in_use_without_waiting() {
        let dir = tempfile::tempdir().unwrap();
        let cache = CacheDir::new(dir.path());
        let _build = cache.lock(LockMode::Shared, false, &Silent).await.unwrap();
        let err = prune(&cache, 0, false, &Silent).await.unwrap_err();
        assert!(
            matches!(err, UpkeepError::Lock(CacheLockError::Busy { .. })),
            "{err}"
        );
    }
}
