//! baker's local cache: downloads, step index, compiler and package caches, finished artifacts.
//! [`layout`] names the directories.

pub mod layout;
pub mod usage;

pub use layout::CacheDir;
