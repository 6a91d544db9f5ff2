//! baker's local cache: downloads, step index, compiler and package caches, finished artifacts.
//! [`layout`] names the directories, [`usage`] lists their entries, [`in_engine`] measures and
//! removes what goes with them in the engine (step images, image layers, tree volumes, node
//! images; [`engine_entries`] indexes the last two), [`accounting`] adds both up and plans
//! `prune`'s evictions, [`identity`] tells this cache's images and volumes from other caches' on a
//! shared engine, [`lock`] keeps clear and prune off running builds ([`lock_holders`] names them),
//! [`package_mount`] keeps two package installs off one distro's download cache, and
//! [`setup_inputs`] gives a setup step's repository files and keys to whoever runs it again.
//! [`upkeep`] joins them into `baker cache du|prune|clear`.

pub mod accounting;
pub mod engine_entries;
pub mod identity;
pub mod in_engine;
pub mod layout;
pub mod lock;
pub mod lock_holders;
pub mod package_mount;
pub mod setup_inputs;
pub mod upkeep;
pub mod usage;

pub use identity::CACHE_LABEL;
pub use layout::CacheDir;
pub use lock::{CacheLock, CacheLockError, LockMode};
pub use package_mount::PackageMount;
