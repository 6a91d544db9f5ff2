//! Sources: release archives downloaded once into a content-addressed cache and verified against
//! their pins, local trees identified by content, and the lock file for unpinned files.

pub mod lock;
pub mod tree;
