//! The node image of the `docker` provider: what a container needs to run a role, made once per
//! build and reused by every cluster of it. It is the recipe's base image with the plan's repository
//! files, the image layer's runtime packages (no kernel or bootloader: a container has neither),
//! the build's tarball unpacked at `/` with its libraries registered, and the role agent, committed
//! as `baker-node:<key>-<cache>`. The key covers the plan's install key, the tarball's sha256, the
//! runtime packages and the agent, so a new build or a new agent makes a new image and nothing else
//! does. Like the image stage's OS layers, node images belong to the cache whose packages they were
//! installed from: tagged and labelled with its identity and indexed in `<cache>/node-images/`, so
//! that `baker cache du|prune|clear` count and remove them. After each launch,
//! [`remove_unused_node_images`] removes the cache's other node images of the same recipe and
//! distro, unless a cluster still names one (or a container still runs it), so that an
//! edit–build–launch loop does not leave an image per build behind. A launch holds the cache's lock
//! shared from making or picking its image until its cluster's state names it ([`NodeImage`]), and
//! the removal needs the lock exclusively and skips when it is busy: so a launch never removes the
//! image another launch, started seconds before, is about to run.

use std::path::Path;

use sha2::{Digest, Sha256};

use super::error::LaunchError;
use super::provider::AGENT_PATH;
use super::state::StateDir;
use crate::cache::engine_entries::{self, EngineEntry};
use crate::cache::{CACHE_LABEL, CacheDir, CacheLock, CacheLockError, LockMode};
use crate::engine::labels::{NODE_REPO, node_image, step_tag};
use crate::engine::{ContainerSpec, Engine};
use crate::image::assets::AGENT;
use crate::image::build_output::BuildOutput;
use crate::plan::{Input, Plan};
use crate::progress::{Event, Reporter};
use crate::recipe::{DPKG_UNSAFE_IO_OFF, DPKG_UNSAFE_IO_ON, PackageManager};

/// The node image's key.
pub fn node_image_key(plan: &Plan, tarball_sha256: &str) -> String {
    let mut h = Sha256::new();
    for part in [
        "baker-node/1",
        &plan.install_step().key,
        tarball_sha256,
        &plan
            .image
            .as_ref()
            .map(|i| i.runtime_packages.join(" "))
            .unwrap_or_default(),
        AGENT,
    ] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    hex::encode(h.finalize())
}

/// Labels a node image with the recipe and distro it runs, whose older images it replaces.
const NODE_OF_LABEL: &str = "baker.node-of";

/// A node image a launch is about to run. While it lives, the cache's lock is held shared: `baker
/// cache prune|clear` wait, and other launches leave the image alone. Drop it once the cluster's
/// state names the image.
pub struct NodeImage {
    /// `baker-node:<key>-<cache>`.
    pub reference: String,
    /// How long making it took, when this launch made it (the engine did not have it).
    pub made_in: Option<std::time::Duration>,
    _in_use: CacheLock,
}

/// The node image for the build, made when the engine does not have it yet.
pub async fn ensure_node_image(
    engine: &Engine,
    cache: &CacheDir,
    built: &BuildOutput,
    reporter: &dyn Reporter,
) -> Result<NodeImage, LaunchError> {
    let in_use = cache.lock(LockMode::Shared, true, reporter).await?;
    let (plan, tarball, sha256) = (&built.plan, &built.artifact, &built.artifact_sha256);
    let started = std::time::Instant::now();
    let (reference, made) = make_node_image(engine, cache, plan, tarball, sha256, reporter).await?;
    Ok(NodeImage {
        reference,
        made_in: made.then(|| started.elapsed()),
        _in_use: in_use,
    })
}

/// The node image's reference, and whether it was made now.
async fn make_node_image(
    engine: &Engine,
    cache: &CacheDir,
    plan: &Plan,
    tarball: &Path,
    tarball_sha256: &str,
    reporter: &dyn Reporter,
) -> Result<(String, bool), LaunchError> {
    let key = node_image_key(plan, tarball_sha256);
    let identity = cache.identity().map_err(|source| LaunchError::Io {
        what: format!(
            "reading the identity of the cache {}",
            cache.root().display()
        ),
        source,
    })?;
    let reference = node_image(&key, &identity);
    let node_of = format!("{}-{}", plan.recipe.name, plan.recipe.distro);
    let entry = EngineEntry {
        key: &key,
        recipe: &plan.recipe.name,
        distro: &plan.recipe.distro,
        image: &reference,
    };
    if engine.has_image(&reference).await {
        engine_entries::remember(&cache.node_images(), &entry);
        return Ok((reference, false));
    }
    // Held while the node's packages install.
    let packages = (cache)
        .mount_packages(
            &plan.recipe.distro,
            plan.base.package_manager.cache_dir(),
            reporter,
        )
        .await?;
    if engine.has_image(&reference).await {
        // Made meanwhile by another launch, which held the package cache.
        engine_entries::remember(&cache.node_images(), &entry);
        return Ok((reference, false));
    }
    reporter.report(Event::Note(format!(
        "making the node image {reference} from {} and {}",
        plan.base.image,
        tarball.display()
    )));
    let env = std::collections::BTreeMap::new();
    let container = engine
        .create_container(ContainerSpec {
            name: format!("baker-node-image-{}-{}", &key[..12], std::process::id()),
            image: &plan.base.image,
            cmd: vec![
                "bash".into(),
                "-e".into(),
                "/baker/run/node-image.sh".into(),
            ],
            workdir: "/",
            env: &env,
            binds: vec![packages.bind.clone()],
            labels: &[("baker.node-image", &key)],
        })
        .await?;
    let result = async {
        container.upload(files_tar(plan)?).await?;
        let tarball_bytes = std::fs::read(tarball).map_err(|source| LaunchError::Io {
            what: format!("reading {}", tarball.display()),
            source,
        })?;
        // The engine unpacks gzip-compressed archives itself.
        container.upload(tarball_bytes).await?;
        container.start().await?;
        let mut output = String::new();
        {
            use futures_util::StreamExt;
            let mut stream = container.follow_output();
            while let Some(chunk) = stream.next().await {
                output.push_str(&String::from_utf8_lossy(&chunk?));
            }
        }
        let code = container.wait().await?;
        if code != 0 {
            let tail: Vec<&str> = output.lines().rev().take(20).collect();
            return Err(LaunchError::Input(format!(
                "making the node image failed (exit code {code}):\n{}",
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            )));
        }
        let image_env = engine.image_env(&plan.base.image).await?;
        container
            .commit(
                NODE_REPO,
                &step_tag(&key, &identity),
                image_env,
                &[
                    ("baker.node-image", &key),
                    (CACHE_LABEL, &identity),
                    (NODE_OF_LABEL, &node_of),
                ],
            )
            .await?;
        Ok((reference.clone(), true))
    }
    .await;
    container.remove().await;
    if result.is_ok() {
        engine_entries::remember(&cache.node_images(), &entry);
    }
    result
}

/// Removes the cache's node images of `plan`'s recipe and distro but `latest` (the one this launch
/// used) and those a cluster in `clusters` names. Best effort, and only when nothing uses the cache
/// (no launch between picking its image and naming it in its state; no build, image or prune
/// either): otherwise the next launch does it.
/// An image a container still runs stays (the engine refuses), and so does every image when the
/// engine or the clusters cannot be listed.
pub async fn remove_unused_node_images(
    engine: &Engine,
    cache: &CacheDir,
    clusters: &StateDir,
    plan: &Plan,
    latest: &str,
    reporter: &dyn Reporter,
) {
    let Some(identity) = cache.known_identity() else {
        return;
    };
    let _alone = match cache.lock(LockMode::Exclusive, false, reporter).await {
        Ok(lock) => lock,
        Err(CacheLockError::Busy { .. }) => {
            tracing::debug!(
                "the cache is in use: its unused node images stay until the next launch"
            );
            return;
        }
        Err(e) => {
            tracing::debug!("{e}");
            return;
        }
    };
    let node_of = format!("{}-{}", plan.recipe.name, plan.recipe.distro);
    // Read under the lock: every launch that picked an image has named it in its state by now.
    let Ok(named) = clusters.list() else {
        return;
    };
    let in_use: Vec<String> = named
        .iter()
        .filter_map(|c| c.resources.get("image").cloned())
        .collect();
    let labels = vec![
        format!("{CACHE_LABEL}={identity}"),
        format!("{NODE_OF_LABEL}={node_of}"),
    ];
    let keep = |image: &str| image == latest || in_use.iter().any(|named| named == image);
    engine.remove_labelled_except(labels, keep).await;
}

/// The repository files of the plan's setup step, the agent, and the script that installs the
/// runtime packages and registers the tarball's libraries.
fn files_tar(plan: &Plan) -> Result<Vec<u8>, LaunchError> {
    let io = |source| LaunchError::Io {
        what: "making the node image's files".into(),
        source,
    };
    let mut tar = tar::Builder::new(Vec::new());
    let mut add = |path: &str, mode: u32, data: &[u8]| {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(mode);
        header.set_mtime(0);
        header.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut header, path.trim_start_matches('/'), data)
    };
    for step in plan.steps.iter().filter(|s| s.name == "setup") {
        for input in &step.inputs {
            if let Input::Inline {
                path,
                mode,
                content,
                ..
            } = input
            {
                add(path, *mode, content.as_bytes()).map_err(io)?;
            }
        }
    }
    add(AGENT_PATH, 0o755, AGENT.as_bytes()).map_err(io)?;
    add(
        "/baker/run/node-image.sh",
        0o755,
        install_script(plan).as_bytes(),
    )
    .map_err(io)?;
    tar.into_inner().map_err(io)
}

fn install_script(plan: &Plan) -> String {
    let packages = plan
        .image
        .as_ref()
        .map(|i| i.runtime_packages.join(" "))
        .unwrap_or_default();
    let install = match plan.base.package_manager {
        PackageManager::Apt => format!(
            "export DEBIAN_FRONTEND=noninteractive\n\
             rm -f /etc/apt/apt.conf.d/docker-clean\n\
             {DPKG_UNSAFE_IO_ON}\n\
             apt-get update -q\n\
             apt-get install -y -q --no-install-recommends {packages} procps\n\
             {DPKG_UNSAFE_IO_OFF}\n\
             rm -rf /var/lib/apt/lists/*"
        ),
        PackageManager::Yum => format!("yum install -y {packages} procps\nyum clean all"),
    };
    format!(
        "{install}\n\
         # the tarball's libraries (e.g. /usr/local/lib, /usr/local/pgsql/lib) found without LD_LIBRARY_PATH\n\
         find /usr/local -name 'lib*.so*' -printf '%h\\n' 2>/dev/null | sort -u > /etc/ld.so.conf.d/baker.conf\n\
         ldconfig\n\
         rm -rf /baker\n"
    )
}
