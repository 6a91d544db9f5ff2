//! The labels and names that mark what baker made in an engine, so that it can be found, cached and
//! cleaned up: every container and committed image carries [`OWNER_LABEL`] plus whatever
//! `BAKER_LABELS="k=v,…"` adds (tests add `baker.test=1`); committed steps are tagged
//! `baker-step:<key>-<cache>` (the first 16 digits of the cache's identity, so that caches sharing an
//! engine never re-tag each other's images), and so are `baker image`'s OS layers
//! ([`os_layer_image`]), the volumes of their unpacked trees ([`tree_volume`]) and the `docker`
//! provider's node images ([`node_image`]); base images made locally carry [`BASE_LABEL`].

use std::collections::HashMap;

/// Label on everything baker creates.
pub const OWNER_LABEL: &str = "baker.owner";
/// The step a container runs or an image was committed from.
pub const STEP_LABEL: &str = "baker.step";
/// The cache key of that step.
pub const KEY_LABEL: &str = "baker.key";
/// The recipe a committed step belongs to.
pub const RECIPE_LABEL: &str = "baker.recipe";
/// What part of `baker image` a container, image or volume is (`tools`, `os-layer`, `tree`…).
pub const IMAGE_PART_LABEL: &str = "baker.image";
/// On every base image made by `baker base`, so it can be told from pulled ones.
pub const BASE_LABEL: (&str, &str) = ("baker.base", "1");
/// The image repository of committed steps.
pub const STEP_REPO: &str = "baker-step";
/// The image repository of `baker image`'s OS layers.
pub const OS_REPO: &str = "baker-os";
/// The image repository of the `docker` provider's node images.
pub const NODE_REPO: &str = "baker-node";

/// The tag of the committed step with `key` in the cache with identity `cache`.
pub fn step_tag(key: &str, cache: &str) -> String {
    format!("{key}-{}", &cache[..cache.len().min(16)])
}

/// The image reference of the committed step with `key` in the cache with identity `cache`.
pub fn step_image(key: &str, cache: &str) -> String {
    format!("{STEP_REPO}:{}", step_tag(key, cache))
}

/// The image reference of the OS layer with `key` made for the cache with identity `cache`.
pub fn os_layer_image(key: &str, cache: &str) -> String {
    format!("{OS_REPO}:{}", step_tag(key, cache))
}

/// The image reference of the node image with `key` made for the cache with identity `cache`.
pub fn node_image(key: &str, cache: &str) -> String {
    format!("{NODE_REPO}:{}", step_tag(key, cache))
}

/// The volume holding the unpacked tree of the OS layer image `os_id` (whose key is `os_key`), with
/// file times clamped to `epoch`, for the cache with identity `cache`. The image's id is in the name
/// because a layer made again under the same key (`--no-cache`, a new base image) is new content:
/// its tree must be unpacked again, not taken from the volume of the one it replaced.
pub fn tree_volume(os_key: &str, os_id: &str, epoch: u64, cache: &str) -> String {
    let (start, end) = tree_volume_ends(os_key, cache);
    let id = os_id.strip_prefix("sha256:").unwrap_or(os_id);
    format!("{start}{}-{epoch}{end}", &id[..id.len().min(12)])
}

/// How the names of every tree volume of the OS layer with `os_key` in the cache `cache` start and
/// end, whatever their epoch.
pub fn tree_volume_ends(os_key: &str, cache: &str) -> (String, String) {
    let short = |s: &str| s[..s.len().min(16)].to_owned();
    (
        format!("baker-tree-{}-", short(os_key)),
        format!("-{}", short(cache)),
    )
}

/// `extra`, the owner label and the labels of `BAKER_LABELS`.
pub fn labels(extra: &[(&str, &str)]) -> HashMap<String, String> {
    let mut labels: HashMap<String, String> = extra
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    labels.insert(OWNER_LABEL.into(), "baker".into());
    if let Ok(more) = std::env::var("BAKER_LABELS") {
        labels.extend(parse_extra(&more));
    }
    labels
}

fn parse_extra(text: &str) -> Vec<(String, String)> {
    text.split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (k.trim().to_owned(), v.trim().to_owned())
        })
        .collect()
}

/// A `LABEL` instruction for an image import's changes, key and value quoted.
pub fn label_change(key: &str, value: &str) -> String {
    let quote = |s: &str| serde_json::to_string(s).unwrap_or_default();
    format!("LABEL {}={}", quote(key), quote(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extra_labels_are_comma_separated_pairs() {
        assert_eq!(
            parse_extra("baker.test=1, team = db ,,flag"),
            [
                ("baker.test".to_owned(), "1".to_owned()),
                ("team".to_owned(), "db".to_owned()),
                ("flag".to_owned(), String::new())
            ]
        );
        assert_eq!(labels(&[(STEP_LABEL, "compile")])[OWNER_LABEL], "baker");
    }

    #[test]
    fn label_changes_are_quoted() {
        assert_eq!(label_change("baker.base", "1"), r#"LABEL "baker.base"="1""#);
        assert_eq!(
            step_image("ab", "0123456789abcdef0123"),
            "baker-step:ab-0123456789abcdef"
        );
    }

    #[test]
    fn a_layer_made_again_under_its_key_has_a_tree_volume_of_its_own() {
        let (key, cache) = ("0123456789abcdef99", "fedcba9876543210aa");
        let old = tree_volume(key, "sha256:aaaaaaaaaaaa11", 1_700_000_000, cache);
        let new = tree_volume(key, "sha256:bbbbbbbbbbbb11", 1_700_000_000, cache);
        assert_eq!(
            old,
            "baker-tree-0123456789abcdef-aaaaaaaaaaaa-1700000000-fedcba9876543210"
        );
        assert_ne!(old, new);
        // `cache du|prune|clear` find both by how the names of the layer's volumes start and end.
        let (start, end) = tree_volume_ends(key, cache);
        for name in [old, new] {
            assert!(name.starts_with(&start) && name.ends_with(&end), "{name}");
        }
    }
}
