//! Images in the engine: looking one up (its id, its environment), pulling a base image, importing a
//! root filesystem stream as an image (`docker import`), removing committed step images with the
//! untagged ones that later commits of the same key left behind, and removing the images a newer one
//! of their kind replaced.

use std::io;

use bollard::query_parameters::{
    CreateImageOptions, CreateImageOptionsBuilder, ListImagesOptions, PruneImagesOptions,
    RemoveImageOptions,
};
use bytes::Bytes;
use futures_util::{Stream, StreamExt, TryStreamExt};

use super::labels::{OWNER_LABEL, label_change};
use super::{Engine, EngineError};

/// A present image, as [`Engine::image_info`] describes it.
#[derive(Debug, Clone)]
pub struct ImageInfo {
    pub id: String,
    pub labels: std::collections::HashMap<String, String>,
    /// The size of its file system, all layers.
    pub size: u64,
    /// Its environment (`KEY=value`).
    pub env: Vec<String>,
}

impl Engine {
    /// The id of an image that is present; an error when it is not.
    pub async fn image_id(&self, reference: &str) -> Result<String, EngineError> {
        let image = self
            .docker
            .inspect_image(reference)
            .await
            .map_err(EngineError::during(format!("inspecting image {reference}")))?;
        Ok(image.id.unwrap_or_default())
    }

    /// What the engine knows of a present image: id, labels, file-system size, environment.
    pub async fn image_info(&self, reference: &str) -> Option<ImageInfo> {
        let found = self.docker.inspect_image(reference).await.ok()?;
        let config = found.config.unwrap_or_default();
        Some(ImageInfo {
            id: found.id.unwrap_or_default(),
            labels: config.labels.unwrap_or_default(),
            size: found.size.unwrap_or_default().max(0).unsigned_abs(),
            env: config.env.unwrap_or_default(),
        })
    }

    /// Whether an image (by id or reference) is present.
    pub async fn has_image(&self, reference: &str) -> bool {
        self.docker.inspect_image(reference).await.is_ok()
    }

    /// The environment an image's containers start with (`KEY=value`); empty when it has none.
    pub async fn image_env(&self, reference: &str) -> Result<Vec<String>, EngineError> {
        let image = self
            .docker
            .inspect_image(reference)
            .await
            .map_err(EngineError::during(format!("inspecting image {reference}")))?;
        Ok(image.config.and_then(|c| c.env).unwrap_or_default())
    }

    /// Pulls `reference` (`name[:tag]`, `latest` when no tag is given) from its registry and
    /// returns the pulled image's id.
    pub async fn pull(&self, reference: &str) -> Result<String, EngineError> {
        let (from_image, tag) = reference
            .rsplit_once(':')
            .filter(|(_, t)| !t.contains('/'))
            .unwrap_or((reference, "latest"));
        let mut pull = self.docker.create_image(
            Some(CreateImageOptions {
                from_image: Some(from_image.to_owned()),
                tag: Some(tag.to_owned()),
                ..Default::default()
            }),
            None,
            None,
        );
        while let Some(item) = pull.next().await {
            item.map_err(EngineError::during(format!("pulling {reference}")))?;
        }
        self.image_id(reference).await
    }

    /// Imports a tar stream of a root filesystem as image `tag` with the given changes (Dockerfile
    /// instructions such as `CMD` or `ENV`) and `labels`; `origin` names the stream for messages.
    /// Returns the new image's id.
    pub async fn import(
        &self,
        body: impl Stream<Item = io::Result<Bytes>> + Send + 'static,
        origin: &str,
        tag: &str,
        labels: &[(String, String)],
        changes: &[String],
    ) -> Result<String, EngineError> {
        let during = || EngineError::during(format!("importing {origin} as image {tag}"));
        let mut all_changes: Vec<String> = labels.iter().map(|(k, v)| label_change(k, v)).collect();
        all_changes.extend(changes.iter().cloned());
        let query = CreateImageOptionsBuilder::new()
            .from_src("-")
            .repo(tag)
            .message("imported by baker")
            .changes(all_changes)
            .build();
        let mut progress =
            self.docker
                .create_image(Some(query), Some(bollard::body_try_stream(body)), None);
        let mut last_status = None;
        while let Some(info) = progress.try_next().await.map_err(during())? {
            if let Some(status) = info.status {
                tracing::debug!(%status, "import");
                last_status = Some(status);
            }
        }
        match self.image_id(tag).await {
            Ok(id) if !id.is_empty() => Ok(id),
            Ok(_) => Ok(last_status.unwrap_or_default()),
            Err(e) => Err(e),
        }
    }

    /// Removes an image by reference; an image that is not there is not an error.
    pub async fn remove_image(&self, reference: &str) -> Result<(), EngineError> {
        match self
            .docker
            .remove_image(reference, None::<RemoveImageOptions>, None)
            .await
        {
            Ok(_) => Ok(()),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(()),
            Err(e) => Err(EngineError::during(format!("removing image {reference}"))(
                e,
            )),
        }
    }

    /// The `repo:tag` references of baker's images carrying `label` (`key=value`).
    pub async fn tags_with_label(&self, label: &str) -> Result<Vec<String>, EngineError> {
        self.tags_labelled(vec![format!("{OWNER_LABEL}=baker"), label.to_owned()])
            .await
    }

    /// The `repo:tag` references of the images carrying every one of `labels` (`key=value`).
    pub async fn tags_labelled(&self, labels: Vec<String>) -> Result<Vec<String>, EngineError> {
        let label = labels.join(", ");
        let filters = [("label".to_owned(), labels)];
        let images = self
            .docker
            .list_images(Some(ListImagesOptions {
                filters: Some(filters.into()),
                ..Default::default()
            }))
            .await
            .map_err(EngineError::during(format!(
                "listing images labelled {label}"
            )))?;
        Ok(images
            .into_iter()
            .flat_map(|i| i.repo_tags)
            .filter(|t| t != "<none>:<none>")
            .collect())
    }

    /// Removes the images carrying every one of `labels` but those `keep` accepts, and returns the
    /// references it removed. Best effort, for images that replace one another (a cache's node
    /// images, the tools images of baker versions): one a container was created from stays, as the
    /// engine refuses to remove it, and nothing is removed when the engine cannot list them.
    pub async fn remove_labelled_except(
        &self,
        labels: Vec<String>,
        keep: impl Fn(&str) -> bool,
    ) -> Vec<String> {
        let mut removed = Vec::new();
        for other in self.tags_labelled(labels).await.unwrap_or_default() {
            if !keep(&other) && self.remove_image(&other).await.is_ok() {
                removed.push(other);
            }
        }
        removed
    }

    /// Removes untagged images that baker made and that carry `label` (`key=value`): a step
    /// committed again under the same key leaves its earlier image untagged, and removing a cache's
    /// tags leaves its whole chain of step images untagged.
    pub async fn prune_untagged(&self, label: &str) -> Result<(), EngineError> {
        let filters = [
            ("dangling".to_owned(), vec!["true".to_owned()]),
            (
                "label".to_owned(),
                vec![format!("{OWNER_LABEL}=baker"), label.to_owned()],
            ),
        ];
        // The engine prunes only images without children, so an untagged chain of steps goes one
        // image per round; a chain is as long as a recipe's steps.
        for _ in 0..64 {
            let pruned = self
                .docker
                .prune_images(Some(PruneImagesOptions {
                    filters: Some(filters.clone().into()),
                }))
                .await
                .map_err(EngineError::during("removing untagged baker images"))?;
            if pruned.images_deleted.unwrap_or_default().is_empty() {
                break;
            }
        }
        Ok(())
    }
}
