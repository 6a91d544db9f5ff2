//! Containers are resources baker owns: the janitor remembers every container an [`Engine`] created
//! until it is removed, so that an error or an interrupt, which drops the work that would have removed
//! them, can still remove whatever is left. It also holds the removals started in the background
//! (removing a step's container costs the engine a second or more of file deletion that the next
//! step need not wait for), so that the sweep at the end of a stage waits for them.
//!
//! [`Engine`]: super::Engine

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use bollard::Docker;
use bollard::query_parameters::RemoveContainerOptions;

#[derive(Clone, Default)]
pub(super) struct Janitor {
    live: Arc<Mutex<HashSet<String>>>,
    removing: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
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

    /// Removes the container `id` in a task of its own; [`Janitor::sweep`] waits for it.
    pub(super) fn remove_in_background(&self, docker: &Docker, id: String) {
        let (docker, janitor) = (docker.clone(), self.clone());
        let task = tokio::spawn(async move {
            force_remove(&docker, &id).await;
            janitor.forget(&id);
        });
        self.removing.lock().expect("janitor lock").push(task);
    }

    /// Waits for the removals started in the background.
    pub(super) async fn removed(&self) {
        let removing: Vec<_> = self
            .removing
            .lock()
            .expect("janitor lock")
            .drain(..)
            .collect();
        for task in removing {
            let _ = task.await;
        }
    }

    /// Waits for the removals started in the background, then force-removes every container still
    /// tracked.
    pub(super) async fn sweep(&self, docker: &Docker) {
        self.removed().await;
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
