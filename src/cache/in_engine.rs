//! The part of the cache that lives in the engine: each step entry's committed image
//! `baker-step:<key>-<cache>`, labelled with the identity of the cache that made it, and what
//! `baker image` keeps there under the same label: each OS layer entry's image
//! `baker-os:<key>-<cache>` with the volumes of its unpacked trees, and the setup steps committed
//! for them; and each node image entry's `baker-node:<key>-<cache>`, which the `docker` provider's
//! nodes run; and the build tree `baker-step:incr-…` that each `--incremental` record names.
//! [`measure`] finds what each entry holds there, so that `baker cache du` shows it and `baker
//! cache prune --max-size` bounds it (see [`super::accounting`]). When prune or clear removes
//! entries, their images and volumes go too, with the untagged images this cache's later commits of
//! the same key left behind; `clear` removes every image and volume with the cache's label. Images
//! and volumes of other caches on the same engine are never touched (issue 7.2). Callers of
//! [`remove`] hold the cache's lock exclusively, so no build, image or node image of this cache is
//! being made from them; an image a container still runs (a cluster's node) stays, since the engine
//! refuses to remove it.

use std::collections::HashSet;

use super::accounting::EngineBytes;
use super::usage::CacheEntry;
use super::{CACHE_LABEL, CacheDir};
use crate::engine::labels::{node_image, os_layer_image, step_image, tree_volume_ends};
use crate::engine::{DiskUsage, Engine, EngineError};
use crate::progress::Reporter;

/// What a cache's entries hold in the engine, as [`measure`] found it.
#[derive(Debug, Default)]
pub struct Measured {
    /// The bytes of each image and volume an entry holds.
    pub bytes: EngineBytes,
    /// The bytes of the images and volumes with this cache's label that no entry holds (a setup step
    /// committed for an OS layer, a layer or tree an older baker made); `clear` removes them.
    /// Volumes count only in a cache with OS layer entries, the only ones [`measure`] asks the
    /// engine to measure volumes for.
    pub unheld: u64,
    /// What entries hold that a container was created from (a cluster's node image): the engine
    /// refuses to remove it, so prune keeps the entries holding it.
    pub in_use: HashSet<String>,
}

impl Measured {
    /// Everything the entries hold, each thing once.
    pub fn held(&self) -> u64 {
        self.bytes.values().sum()
    }
}

/// Fills in what each step, OS layer and node image entry holds in the engine: its image and the
/// images of this cache it stands on (a step's earlier steps), and an OS layer's tree volumes.
pub async fn measure(
    cache: &CacheDir,
    entries: &mut [CacheEntry],
    reporter: &dyn Reporter,
) -> Result<Measured, EngineError> {
    let Some(identity) = cache.known_identity() else {
        return Ok(Measured::default());
    };
    let engine = Engine::connect(reporter).await?;
    // Only OS layers hold volumes, and measuring volumes walks every one on the engine.
    let trees = entries.iter().any(|e| e.part == "os-layers");
    let usage = engine.disk_usage(trees).await?;
    Ok(find_held(&usage, &identity, entries))
}

fn find_held(usage: &DiskUsage, identity: &str, entries: &mut [CacheEntry]) -> Measured {
    let ours = |labels: &std::collections::HashMap<String, String>| {
        labels.get(CACHE_LABEL).is_some_and(|l| l == identity)
    };
    let mut bytes = EngineBytes::new();
    for entry in entries {
        let Some(key) = entry.engine_key.as_deref() else {
            continue;
        };
        let image = match entry.part {
            "steps" => step_image(key, identity),
            "os-layers" => os_layer_image(key, identity),
            "node-images" => node_image(key, identity),
            "incremental" => key.to_owned(),
            _ => continue,
        };
        let mut held = usage.chain(&image, |i| ours(&i.labels));
        if entry.part == "os-layers" {
            let (start, end) = tree_volume_ends(key, identity);
            held.extend(
                usage
                    .volumes_named(&start, &end)
                    .into_iter()
                    .map(|(name, b)| (format!("volume:{name}"), b)),
            );
        }
        for (name, b) in held {
            entry.held.push(name.clone());
            bytes.insert(name, b);
        }
    }
    let unheld_images = usage
        .images
        .iter()
        .filter(|i| ours(&i.labels) && !bytes.contains_key(&i.id))
        .map(|i| usage.chain_bytes(i));
    let unheld_volumes = usage
        .volumes
        .iter()
        .filter(|v| ours(&v.labels) && !bytes.contains_key(&format!("volume:{}", v.name)))
        .map(|v| v.bytes.unwrap_or(0));
    let unheld = unheld_images.sum::<u64>() + unheld_volumes.sum::<u64>();
    let in_use = (bytes.keys())
        .filter(|held| usage.run_by_containers.contains(*held))
        .cloned()
        .collect();
    Measured {
        bytes,
        unheld,
        in_use,
    }
}

/// Removes what `entries` keep in this cache's name in the engine (an image or volume already gone
/// is fine) — or, with `all`, every image and volume labelled with this cache — then this cache's
/// untagged images. An image that cannot go (a container still uses it) does not stop the others;
/// the first such error is returned at the end.
pub async fn remove(
    cache: &CacheDir,
    entries: &[CacheEntry],
    all: bool,
    reporter: &dyn Reporter,
) -> Result<(), EngineError> {
    let Some(identity) = cache.known_identity() else {
        return Ok(());
    };
    let keyed = |part: &'static str| {
        entries
            .iter()
            .filter(move |e| e.part == part)
            .filter_map(|e| e.engine_key.as_deref())
    };
    if !all && entries.iter().all(|e| e.engine_key.is_none()) {
        return Ok(());
    }
    let engine = Engine::connect(reporter).await?;
    let label = format!("{CACHE_LABEL}={identity}");
    let mut references: Vec<String> = keyed("steps").map(|k| step_image(k, &identity)).collect();
    let os_keys: Vec<&str> = keyed("os-layers").collect();
    references.extend(os_keys.iter().map(|k| os_layer_image(k, &identity)));
    references.extend(keyed("node-images").map(|k| node_image(k, &identity)));
    references.extend(keyed("incremental").map(str::to_owned));
    if all || !os_keys.is_empty() {
        let is_tree_of = |volume: &str, key: &str| {
            let (start, end) = tree_volume_ends(key, &identity);
            volume.starts_with(&start) && volume.ends_with(&end)
        };
        for volume in engine.volumes_labelled(&[(CACHE_LABEL, &identity)]).await? {
            if all || os_keys.iter().any(|k| is_tree_of(&volume, k)) {
                engine.remove_volume(&volume).await;
            }
        }
    }
    if all {
        references.extend(engine.tags_with_label(&label).await?);
    }
    let mut first_error = None;
    for reference in &references {
        if let Err(e) = engine.remove_image(reference).await {
            first_error.get_or_insert(e);
        }
    }
    if let Err(e) = engine.prune_untagged(&label).await {
        first_error.get_or_insert(e);
    }
    first_error.map_or(Ok(()), Err)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::time::SystemTime;

    use super::*;
    use crate::engine::{ImageUsage, VolumeUsage};

    fn entry(part: &'static str, key: Option<&str>) -> CacheEntry {
        CacheEntry {
            part,
            path: format!("/cache/{part}/{}", key.unwrap_or("x")).into(),
            bytes: 1,
            last_used: SystemTime::UNIX_EPOCH,
            engine_key: key.map(str::to_owned),
            held: Vec::new(),
        }
    }

    #[test]
    fn entries_hold_their_chains_and_trees_in_this_caches_name() {
        let (mine, other) = ("c".repeat(64), "d".repeat(64));
        let os_key = "a".repeat(64);
        let labelled = |cache: &str| HashMap::from([(CACHE_LABEL.to_owned(), cache.to_owned())]);
        let image = |id: &str, parent: &str, tag: String, size, cache: &str| ImageUsage {
            id: id.into(),
            parent_id: parent.into(),
            tags: vec![tag],
            labels: labelled(cache),
            size,
            shared_size: None,
        };
        let volume = |name: String, bytes, cache: &str| VolumeUsage {
            name,
            labels: labelled(cache),
            bytes: Some(bytes),
        };
        let tree = |cache: &str| format!("baker-tree-{}-1700-{}", &os_key[..16], &cache[..16]);
        let usage = DiskUsage {
            images: vec![
                image("base", "", "debian:bookworm".into(), 200, "none"),
                image("s1", "base", step_image("k1", &mine), 1200, &mine),
                image("s2", "s1", step_image("k2", &mine), 1210, &mine),
                image("s1o", "base", step_image("k1", &other), 5200, &other),
                image("os", "s1", os_layer_image(&os_key, &mine), 1700, &mine),
                image("old", "base", "baker-os:old".into(), 300, &mine),
                image("node", "base", node_image("nk", &mine), 450, &mine),
                image("tree", "s2", "baker-step:incr-0123-17".into(), 1280, &mine),
            ],
            volumes: vec![
                volume(tree(&mine), 30, &mine),
                volume(tree(&other), 90, &other),
            ],
            run_by_containers: ["node".to_owned(), "base".to_owned()].into(),
        };
        let mut entries = vec![
            entry("steps", Some("k1")),
            entry("steps", Some("k2")),
            entry("steps", Some("gone")),
            entry("os-layers", Some(&os_key)),
            entry("node-images", Some("nk")),
            entry("incremental", Some("baker-step:incr-0123-17")),
            entry("downloads", None),
        ];
        let measured = find_held(&usage, &mine, &mut entries);
        let held: Vec<Vec<&str>> = entries
            .iter()
            .map(|e| e.held.iter().map(String::as_str).collect())
            .collect();
        let volume_name = format!("volume:{}", tree(&mine));
        assert_eq!(
            held,
            [
                vec!["s1"],
                vec!["s2", "s1"],
                vec![],
                vec!["os", "s1", volume_name.as_str()],
                vec!["node"],
                vec!["tree", "s2", "s1"],
                vec![]
            ]
        );
        assert_eq!(measured.held(), 1000 + 10 + 500 + 30 + 250 + 70);
        assert_eq!(measured.unheld, 100, "the layer an older baker made");
        // A cluster's container runs the node image; the base image it runs too is not this cache's.
        assert_eq!(measured.in_use, ["node".to_owned()].into());
    }
}
