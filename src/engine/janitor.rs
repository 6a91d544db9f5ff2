//! Containers are resources baker owns: the janitor remembers every container an [`Engine`] created
//! until it is removed, so that an error or an interrupt, which drops the work that would have removed
//! them, can still remove whatever is left.
//!
//! [`Engine`]: super::Engine

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use bollard::Docker;
use bollard::query_parameters::RemoveContainerOptions;

#[derive(Clone, Default)]
pub(super) struct Janitor {
    live: Arc<Mutex<HashSet<String>>>,
}

impl Janitor {
    pub(super) fn track(&self, id: &str) {
        self.live
            .lock()
            .expect("janitor lock")
            .insert(id.to_owned());
    }

    pub(super) fn forget(&self, id: &str) {
        self.live.lock().expect("janitor lock").remove(id);
    }

    /// Force-removes every container still tracked.
    pub(super) async fn sweep(&self, docker: &Docker) {
        let ids: Vec<String> = self.live.lock().expect("janitor lock").drain().collect();
        for id in ids {
            force_remove(docker, &id).await;
        }
    }
}

/// Removes a container, running or not, with its anonymous volumes; best effort (it may be gone).
pub(super) async fn force_remove(docker: &Docker, id: &str) {
    let _ = docker
        .remove_container(
            id,
            Some(RemoveContainerOptions {
                force: true,
                v: true,
                ..Default::default()
            }),
        )
        .await;
}
