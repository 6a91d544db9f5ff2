//! Named volumes baker keeps between runs (the unpacked OS tree of `baker image`): looked up, made
//! with baker's labels, and removed by label so that only the newest of a kind stays, or all of a
//! cache's go with it.

use std::collections::HashMap;

use bollard::models::VolumeCreateOptions;
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

    /// Removes the volumes carrying every one of `labels` (`(label, value)`) but `keep`; best effort
    /// (one in use stays).
    pub async fn remove_volumes_labelled(&self, labels: &[(&str, &str)], keep: &str) {
        let filters = HashMap::from([(
            "label".to_owned(),
            labels.iter().map(|(k, v)| format!("{k}={v}")).collect(),
        )]);
        let Ok(list) = self
            .docker
            .list_volumes(Some(ListVolumesOptions {
                filters: Some(filters),
            }))
            .await
        else {
            return;
        };
        for volume in list.volumes.unwrap_or_default() {
            if volume.name != keep {
                let _ = self
                    .docker
                    .remove_volume(&volume.name, None::<RemoveVolumeOptions>)
                    .await;
            }
        }
    }
}
