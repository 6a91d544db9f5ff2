//! What baker's images and volumes take on the engine's disk, from the engine's own accounting
//! (`GET /system/df`, what `docker system df -v` prints), so that `baker cache du` shows and
//! `baker cache prune --max-size` bounds the part of a cache that lives in the engine, not only its
//! directory. An image is counted by the bytes it adds to the image it was committed on: a chain of
//! step images then adds up to what the chain takes, with the base image counted by none of them,
//! and each image of the chain is known by id, so that what several steps stand on counts once.

use std::collections::{HashMap, HashSet};

use super::{Engine, EngineError};

/// One image as the engine accounts for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageUsage {
    pub id: String,
    /// The image it was committed on; empty when the engine does not record one.
    pub parent_id: String,
    pub tags: Vec<String>,
    pub labels: HashMap<String, String>,
    /// Every layer's bytes.
    pub size: u64,
    /// The bytes of its layers that other images share; `None` when the engine did not say.
    pub shared_size: Option<u64>,
}

/// One volume as the engine accounts for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeUsage {
    pub name: String,
    pub labels: HashMap<String, String>,
    /// `None` when the engine could not measure it (a volume driver that does not say).
    pub bytes: Option<u64>,
}

/// The engine's images and volumes with their sizes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DiskUsage {
    pub images: Vec<ImageUsage>,
    pub volumes: Vec<VolumeUsage>,
    /// The ids of the images a container, running or stopped, was created from: the engine
    /// refuses to remove them.
    pub run_by_containers: HashSet<String>,
}

impl DiskUsage {
    /// The image tagged `reference` and the images it stands on that `ours` claims, from it down to
    /// the first that `ours` does not (a base image), each by id with the bytes it adds to the image
    /// it was committed on. Where the engine records no parent (containerd's image store), the image
    /// alone, with the bytes no other image shares. Empty when no image has that tag.
    pub fn chain(&self, reference: &str, ours: impl Fn(&ImageUsage) -> bool) -> Vec<(String, u64)> {
        let by_id: HashMap<&str, &ImageUsage> =
            self.images.iter().map(|i| (i.id.as_str(), i)).collect();
        let mut next = self
            .images
            .iter()
            .find(|i| i.tags.iter().any(|t| t == reference));
        let mut chain = Vec::new();
        while let Some(image) = next {
            let parent = by_id.get(image.parent_id.as_str()).copied();
            chain.push((image.id.clone(), own_bytes(image, parent)));
            next = parent.filter(|p| ours(p));
            if chain.len() > by_id.len() {
                break; // a cycle, which no engine makes; never loop on one
            }
        }
        chain
    }

    /// The bytes `image` adds to the image it was committed on (see [`DiskUsage::chain`]).
    pub fn chain_bytes(&self, image: &ImageUsage) -> u64 {
        let parent = self.images.iter().find(|i| i.id == image.parent_id);
        own_bytes(image, parent.filter(|_| !image.parent_id.is_empty()))
    }

    /// The volumes whose name starts with `prefix` and ends with `suffix`, with their bytes.
    pub fn volumes_named(&self, prefix: &str, suffix: &str) -> Vec<(&str, u64)> {
        self.volumes
            .iter()
            .filter(|v| v.name.starts_with(prefix) && v.name.ends_with(suffix))
            .map(|v| (v.name.as_str(), v.bytes.unwrap_or(0)))
            .collect()
    }
}

fn own_bytes(image: &ImageUsage, parent: Option<&ImageUsage>) -> u64 {
    match (parent, image.shared_size) {
        (Some(parent), _) => image.size.saturating_sub(parent.size),
        (None, Some(shared)) => image.size.saturating_sub(shared),
        (None, None) => image.size,
    }
}

impl Engine {
    /// Every image with the bytes the engine accounts it, and with `volumes` every volume too. The
    /// engine measures volumes by walking all of them, baker's and everyone else's (about a second
    /// per GB of small files), so they are asked for only when needed.
    pub async fn disk_usage(&self, volumes: bool) -> Result<DiskUsage, EngineError> {
        // Every image, the untagged ones a chain of steps stands on included (`/system/df` lists
        // only those `docker images` shows).
        let images = self
            .docker
            .list_images(Some(bollard::query_parameters::ListImagesOptions {
                all: true,
                shared_size: true,
                ..Default::default()
            }))
            .await
            .map_err(EngineError::during("listing the engine's images"))?;
        let bytes = |n: i64| u64::try_from(n).ok();
        let images = images
            .into_iter()
            .map(|i| ImageUsage {
                id: i.id,
                parent_id: i.parent_id,
                tags: i.repo_tags,
                labels: i.labels,
                size: bytes(i.size).unwrap_or(0),
                shared_size: bytes(i.shared_size),
            })
            .collect();
        let run_by_containers = self
            .docker
            .list_containers(Some(bollard::query_parameters::ListContainersOptions {
                all: true,
                ..Default::default()
            }))
            .await
            .map_err(EngineError::during("listing the engine's containers"))?
            .into_iter()
            .filter_map(|c| c.image_id)
            .collect();
        if !volumes {
            return Ok(DiskUsage {
                images,
                volumes: Vec::new(),
                run_by_containers,
            });
        }
        let df = self
            .docker
            .df(None::<bollard::query_parameters::DataUsageOptions>)
            .await
            .map_err(EngineError::during("measuring the engine's volumes"))?;
        let volumes = df
            .volumes
            .unwrap_or_default()
            .into_iter()
            .map(|v| VolumeUsage {
                name: v.name,
                labels: v.labels,
                bytes: v.usage_data.and_then(|u| bytes(u.size)),
            })
            .collect();
        Ok(DiskUsage {
            images,
            volumes,
            run_by_containers,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(id: &str, parent: &str, tag: &str, size: u64, shared: Option<u64>) -> ImageUsage {
        ImageUsage {
            id: id.into(),
            parent_id: parent.into(),
            tags: vec![tag.into()],
            labels: HashMap::new(),
            size,
            shared_size: shared,
        }
    }

    #[test]
    fn a_chain_runs_down_to_the_first_image_not_ours_each_counting_what_it_adds() {
        let usage = DiskUsage {
            images: vec![
                image("b", "", "debian:bookworm", 200, Some(200)),
                image("s1", "b", "baker-step:k1-c", 260, Some(260)),
                image("s2", "s1", "<none>:<none>", 300, Some(300)),
                image("s3", "s2", "baker-step:k3-c", 1300, Some(0)),
            ],
            volumes: vec![],
            ..Default::default()
        };
        let ours = |i: &ImageUsage| i.id.starts_with('s');
        assert_eq!(
            usage.chain("baker-step:k3-c", ours),
            [("s3".into(), 1000), ("s2".into(), 40), ("s1".into(), 60)]
        );
        assert_eq!(usage.chain("baker-step:k1-c", ours), [("s1".into(), 60)]);
        assert!(usage.chain("baker-step:gone-c", ours).is_empty());
    }

    #[test]
    fn without_a_recorded_parent_an_image_counts_what_it_shares_with_none() {
        let usage = DiskUsage {
            images: vec![image("s", "", "baker-os:k-c", 900, Some(200))],
            volumes: vec![],
            ..Default::default()
        };
        assert_eq!(usage.chain("baker-os:k-c", |_| true), [("s".into(), 700)]);
        let unsaid = DiskUsage {
            images: vec![image("s", "", "baker-os:k-c", 900, None)],
            volumes: vec![],
            ..Default::default()
        };
        assert_eq!(unsaid.chain("baker-os:k-c", |_| true), [("s".into(), 900)]);
    }

    #[test]
    fn volumes_are_found_by_the_ends_of_their_names() {
        let volume = |name: &str, bytes| VolumeUsage {
            name: name.into(),
            labels: HashMap::new(),
            bytes,
        };
        let usage = DiskUsage {
            images: vec![],
            volumes: vec![
                volume("baker-tree-aaaa-1700-cccc", Some(5)),
                volume("baker-tree-aaaa-1800-cccc", None),
                volume("baker-tree-aaaa-1700-dddd", Some(7)),
                volume("baker-tree-bbbb-1700-cccc", Some(9)),
            ],
            ..Default::default()
        };
        assert_eq!(
            usage.volumes_named("baker-tree-aaaa-", "-cccc"),
            vec![
                ("baker-tree-aaaa-1700-cccc", 5),
                ("baker-tree-aaaa-1800-cccc", 0)
            ]
        );
    }
}
