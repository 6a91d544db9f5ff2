//! How much a set of cache entries takes, and which to evict so that it fits a size. An entry takes
//! its own bytes in the cache's directory and may hold things in the engine: a step its image and the
//! untagged images that image stands on, an OS layer its image and its tree volumes. What several
//! entries hold is counted once and is freed only when the last entry holding it goes. A chain of
//! step images is the common case: each step stands on the one before, so evicting a chain's first
//! step frees nothing while its later steps stay, and the plan counts it that way instead of
//! promising bytes the engine keeps. An entry holding an image a container was created from (a
//! cluster's node image) is kept: the engine would refuse to remove the image.

use std::collections::{HashMap, HashSet};

use super::usage::CacheEntry;

/// The bytes of what entries hold in the engine, by the names in [`CacheEntry::held`].
pub type EngineBytes = HashMap<String, u64>;

/// Bytes and entries per part, in the order entries come (which [`super::usage::scan`] gives by
/// part). Something held by several entries counts in the first of them.
pub fn totals(entries: &[CacheEntry], engine: &EngineBytes) -> Vec<(&'static str, u64, usize)> {
    let mut counted: std::collections::HashSet<&str> = std::collections::HashSet::new();
    let mut out: Vec<(&'static str, u64, usize)> = Vec::new();
    for e in entries {
        let held: u64 = e
            .held
            .iter()
            .filter(|h| counted.insert(h.as_str()))
            .map(|h| engine.get(h).copied().unwrap_or(0))
            .sum();
        match out.iter_mut().find(|(p, _, _)| *p == e.part) {
            Some(t) => {
                t.1 += e.bytes + held;
                t.2 += 1;
            }
            None => out.push((e.part, e.bytes + held, 1)),
        }
    }
    out
}

/// The entries to remove so that what stays fits in `max_bytes`, and the bytes that frees.
#[derive(Debug)]
pub struct Eviction {
    pub entries: Vec<CacheEntry>,
    pub freed: u64,
    /// What `freed` is made of: per part, the bytes and entries, most bytes first. What several
    /// entries held counts in the part of the last to go, which freed it.
    pub freed_by_part: Vec<(&'static str, u64, usize)>,
    /// The entries it would have evicted but kept, since they hold something in `in_use`.
    pub kept_in_use: usize,
}

/// Least recently used first, compiler caches only when nothing else is left, and last what baker
/// learnt about this host (its KVM verdict: bytes, whose loss costs the next boot a 20-s trial);
/// never an entry holding something in `in_use`. An entry frees its own bytes, and what it holds in
/// the engine once no entry left holds it.
pub fn eviction_plan(
    mut entries: Vec<CacheEntry>,
    engine: &EngineBytes,
    in_use: &HashSet<String>,
    max_bytes: u64,
) -> Eviction {
    let mut holders: HashMap<String, usize> = HashMap::new();
    for held in entries.iter().flat_map(|e| &e.held) {
        *holders.entry(held.clone()).or_default() += 1;
    }
    let held_bytes = |h: &str| engine.get(h).copied().unwrap_or(0);
    let start: u64 = entries.iter().map(|e| e.bytes).sum::<u64>()
        + holders.keys().map(|h| held_bytes(h)).sum::<u64>();
    let mut total = start;
    entries.sort_by_key(|e| (e.part == "host", e.part == "ccache", e.last_used));
    let mut evict = Vec::new();
    let mut freed_by_part: Vec<(&'static str, u64, usize)> = Vec::new();
    let mut kept_in_use = 0;
    for e in entries {
        if total <= max_bytes {
            break;
        }
        if e.held.iter().any(|h| in_use.contains(h)) {
            kept_in_use += 1;
            continue;
        }
        let mut freed_here = e.bytes;
        for held in &e.held {
            let count = holders.get_mut(held).expect("counted above");
            *count -= 1;
            if *count == 0 {
                freed_here += held_bytes(held);
            }
        }
        total = total.saturating_sub(freed_here);
        match freed_by_part.iter_mut().find(|(p, _, _)| *p == e.part) {
            Some(part) => {
                part.1 += freed_here;
                part.2 += 1;
            }
            None => freed_by_part.push((e.part, freed_here, 1)),
        }
        evict.push(e);
    }
    freed_by_part.sort_by_key(|(_, bytes, _)| std::cmp::Reverse(*bytes));
    Eviction {
        entries: evict,
        freed: start - total,
        freed_by_part,
        kept_in_use,
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::time::{Duration, SystemTime};

    use super::*;

    fn entry(part: &'static str, name: &str, bytes: u64, t: u64, held: &[&str]) -> CacheEntry {
        CacheEntry {
            part,
            path: PathBuf::from(name),
            bytes,
            last_used: SystemTime::UNIX_EPOCH + Duration::from_secs(t),
            engine_key: None,
            held: held.iter().map(|h| (*h).to_owned()).collect(),
        }
    }

    fn names(plan: &Eviction) -> Vec<String> {
        plan.entries
            .iter()
            .map(|e| e.path.display().to_string())
            .collect()
    }

    #[test]
    fn evicts_least_recently_used_first_and_compiler_caches_and_host_facts_last() {
        let entries = vec![
            entry("host", "kvm", 10, 0, &[]),
            entry("ccache", "cc", 100, 1, &[]),
            entry("downloads", "old", 100, 2, &[]),
            entry("downloads", "new", 100, 9, &[]),
            entry("artifacts", "mid", 100, 5, &[]),
        ];
        let none = EngineBytes::new();
        let none_used = HashSet::new();
        let plan = eviction_plan(entries.clone(), &none, &none_used, 250);
        assert_eq!(
            (names(&plan), plan.freed),
            (vec!["old".into(), "mid".into()], 200)
        );
        assert_eq!(
            names(&eviction_plan(entries.clone(), &none, &none_used, 50)),
            ["old", "mid", "new", "cc"]
        );
        assert_eq!(
            names(&eviction_plan(entries.clone(), &none, &none_used, 0)),
            ["old", "mid", "new", "cc", "kvm"]
        );
        assert!(
            eviction_plan(entries, &none, &none_used, 410)
                .entries
                .is_empty()
        );
    }

    /// Two steps of one chain: the first's image is held by the second too, so evicting the first
    /// alone frees only its index entry; the chain's bytes go with its last step.
    #[test]
    fn what_several_entries_hold_is_counted_once_and_freed_with_the_last() {
        let engine = EngineBytes::from([
            ("step1".to_owned(), 1000),
            ("step2".to_owned(), 10),
            ("volume:tree".to_owned(), 500),
        ]);
        let entries = vec![
            entry("steps", "s1", 1, 1, &["step1"]),
            entry("steps", "s2", 1, 2, &["step2", "step1"]),
            entry("os-layers", "os", 1, 3, &["os", "volume:tree"]),
            entry("downloads", "d", 100, 4, &[]),
        ];
        assert_eq!(
            totals(&entries, &engine),
            vec![
                ("steps", 1012, 2),
                ("os-layers", 501, 1),
                ("downloads", 100, 1)
            ]
        );
        let none_used = HashSet::new();
        let plan = eviction_plan(entries.clone(), &engine, &none_used, 1200);
        assert_eq!(
            (names(&plan), plan.freed),
            (vec!["s1".into(), "s2".into()], 1012)
        );
        let plan = eviction_plan(entries, &engine, &none_used, 1612);
        assert_eq!((names(&plan), plan.freed), (vec!["s1".into()], 1));
    }

    /// A prune says what it freed by part, biggest first, so that an OS layer among many small
    /// steps is seen; a chain's bytes count in the part of the entry that freed them.
    #[test]
    fn what_is_freed_is_told_by_part() {
        let engine = EngineBytes::from([
            ("step1".to_owned(), 100),
            ("step2".to_owned(), 10),
            ("os".to_owned(), 7000),
        ]);
        let entries = vec![
            entry("steps", "s1", 1, 1, &["step1"]),
            entry("steps", "s2", 1, 2, &["step2", "step1"]),
            entry("downloads", "d", 300, 3, &[]),
            entry("os-layers", "os", 1, 4, &["os"]),
            entry("downloads", "new", 5, 9, &[]),
        ];
        let plan = eviction_plan(entries, &engine, &HashSet::new(), 5);
        assert_eq!(
            plan.freed_by_part,
            [
                ("os-layers", 7001, 1),
                ("downloads", 300, 1),
                ("steps", 112, 2)
            ]
        );
        let summed: u64 = plan.freed_by_part.iter().map(|(_, b, _)| b).sum();
        assert_eq!(summed, plan.freed);
    }

    /// A cluster's node image is kept, whatever its age: the engine would not remove it, and
    /// counting it as freed would be a lie.
    #[test]
    fn an_image_a_container_runs_is_kept() {
        let engine = EngineBytes::from([("node".to_owned(), 1000), ("step".to_owned(), 500)]);
        let entries = vec![
            entry("node-images", "n", 1, 1, &["node"]),
            entry("steps", "s", 1, 2, &["step"]),
        ];
        let in_use = HashSet::from(["node".to_owned()]);
        let plan = eviction_plan(entries, &engine, &in_use, 0);
        assert_eq!(
            (names(&plan), plan.freed, plan.kept_in_use),
            (vec!["s".into()], 501, 1)
        );
    }
}
