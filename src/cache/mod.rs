//! baker's local cache: downloads, step index, compiler and package caches, finished artifacts.
//! [`layout`] names the directories, [`usage`] measures and bounds them, and [`step_images`] removes
//! the committed step images that go with removed step entries.

pub mod layout;
pub mod step_images;
pub mod usage;

pub use layout::CacheDir;
