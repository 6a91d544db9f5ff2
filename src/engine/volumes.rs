//! Named volumes baker keeps between runs (the unpacked OS tree of `baker image`): looked up, made
//! with baker's labels, and removed by label so that only the newest of a kind stays, or all of a
//! cache's go with it.

use std::collections::HashMap;

use bollard::models::{Volume, VolumeCreateOptions};
use bollard::query_parameters::{ListVolumesOptions, RemoveVolumeOptions};

use super::labels::labels;
use super::{Engine, EngineError};

impl Engine {
    pub async fn has_volume(&self, name: &str) -> bool {
        self.docker.inspect_volume(name).await.is_ok()
    }

    /// Creates the volume `name` with baker's labels and `extra` ones.
    pub async fn create_volume(
        &self,
        name: &str,
        extra: &[(&str, &str)],
    ) -> Result<(), EngineError> {
        self.docker
            .create_volume(VolumeCreateOptions {
                name: Some(name.to_owned()),
                labels: Some(labels(extra)),
                ..Default::default()
            })
            .await
            .map(|_| ())
            .map_err(EngineError::during(format!("creating the volume {name}")))
    }

    /// Removes the volume `name`; best effort (one in use stays, one already gone is fine).
    pub async fn remove_volume(&self, name: &str) {
        let _ = self
            .docker
            .remove_volume(name, None::<RemoveVolumeOptions>)
            .await;
    }

    /// The names of the volumes carrying every one of `labels` (`(label, value)`).
    pub async fn volumes_labelled(
        &self,
        labels: &[(&str, &str)],
    ) -> Result<Vec<String>, EngineError> {
        Ok(self
            .list(labels)
            .await?
            .into_iter()
            .map(|v| v.name)
            .collect())
    }

    /// The names of the volumes carrying every one of `labels` but no label `lacking` at all: those
    /// an older baker made with fewer labels.
    pub async fn volumes_lacking(
        &self,
        labels: &[(&str, &str)],
        lacking: &str,
    ) -> Result<Vec<String>, EngineError> {
        Ok((self.list(labels).await?.into_iter())
            .filter(|v| !v.labels.contains_key(lacking))
            .map(|v| v.name)
            .collect())
    }

    async fn list(&self, labels: &[(&str, &str)]) -> Result<Vec<Volume>, EngineError> {
        let labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let during = format!("listing volumes labelled {}", labels.join(", "));
        let list = self
            .docker
            .list_volumes(Some(ListVolumesOptions {
                filters: Some(HashMap::from([("label".to_owned(), labels)])),
            }))
            .await
            .map_err(EngineError::during(during))?;
        Ok(list.volumes.unwrap_or_default())
    }

    /// Removes the volumes carrying every one of `labels` (`(label, value)`) but `keep`; best effort
    /// (one in use stays).
    pub async fn remove_volumes_labelled(&self, labels: &[(&str, &str)], keep: &str) {
        for name in self.volumes_labelled(labels).await.unwrap_or_default() {
            if name != keep {
                self.remove_volume(&name).await;
            }
        }
    }
}
