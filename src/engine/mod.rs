//! The one owner of Docker. Every call to a Docker-compatible engine (Docker, or Podman's Docker
//! socket) goes through here: the connection ([`Engine::connect`]), containers ([`Container`]), images
//! (inspect, pull, commit, remove, prune, import), the labels everything baker makes carries
//! ([`labels`]), the janitor that removes a run's containers on error and interrupt, and the
//! removal of containers whose baker process was killed ([`owner`]), which every connection does. The builder,
//! base images, the cache and the CLI call these functions; none of them imports bollard, and their
//! errors carry an [`EngineError`], never bollard's. Later stages add their calls here too:
//! `launch`'s networks and node containers ([`NodeSpec`]), found again with every label they carry
//! ([`Labelled`]) on an engine that knows itself ([`EngineIdentity`]), and host programs run from an image
//! ([`HostToolSpec`]: QEMU where the host has none); what its images and volumes take on disk
//! ([`DiskUsage`]), for `baker cache`; and the removal, as root, of what build
//! containers left in the host's cache ([`root_files`]).

mod binds;
mod connect;
mod container;
mod disk_usage;
mod engine_id;
mod errors;
mod host_tool;
mod images;
mod janitor;
mod labelled;
pub mod labels;
mod nodes;
mod owner;
mod root_files;
mod volumes;

use bollard::Docker;

pub use connect::engine_host;
pub use container::{Container, ContainerExtras, ContainerSpec};
pub use disk_usage::{DiskUsage, ImageUsage, VolumeUsage};
pub use engine_id::{EngineIdentity, unix_seconds};
pub use errors::EngineError;
pub use host_tool::HostToolSpec;
pub use images::ImageInfo;
pub use labelled::{FoundContainer, FoundNetwork, Labelled};
pub use labels::{OWNER_LABEL, STEP_REPO};
pub use nodes::{ExecOutput, NodeSpec};
pub use root_files::RootRemovalError;

use janitor::Janitor;

/// A connected engine. Clones share the connection and the janitor: every container created through
/// any clone is removed by [`Engine::sweep`] unless it was removed already.
#[derive(Clone)]
pub struct Engine {
    docker: Docker,
    janitor: Janitor,
}

impl Engine {
    /// Force-removes every container this engine created that is still there. Called after a run
    /// whatever its outcome, so an error or an interrupt leaves no container behind.
    pub async fn sweep(&self) {
        self.janitor.sweep(&self.docker).await;
    }

    /// Waits until every container removal started in the background is done (an image is then
    /// used by no container of this run, and can be untagged).
    pub async fn removals_done(&self) {
        self.janitor.removed().await;
    }

    /// Runs `work` until it finishes or `cancel` resolves (then `work` is dropped where it stands),
    /// and in both cases sweeps the containers it left. `None` means cancelled. Every stage that
    /// runs containers (build, and later image and launch) has this shape.
    pub async fn run_until<T>(
        &self,
        work: impl Future<Output = T>,
        cancel: impl Future<Output = ()>,
    ) -> Option<T> {
        let outcome = tokio::select! {
            outcome = work => Some(outcome),
            () = cancel => None,
        };
        self.sweep().await;
        outcome
    }
}
