//! Sources: release archives downloaded once into a content-addressed cache and verified against
//! their pins, local trees identified by content, and the lock file for unpinned files.

pub mod fetch;
mod http;
pub mod left_out;
mod local;
pub mod lock;
pub mod mirror;
mod partial;
pub mod stat_cache;
pub mod tree;
pub mod tree_stream;
