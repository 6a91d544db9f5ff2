//! baker: recipes -> plans -> container builds -> reproducible tarballs -> disk images -> published
//! images -> clusters. Each stage is a module with one job and a data type between it and the next;
//! the binary in `main.rs` only parses arguments and draws progress.

pub mod artifact;
pub mod atomic_file;
pub mod base;
pub mod builder;
pub mod cache;
pub mod compress;
pub mod engine;
pub mod image;
pub mod launch;
pub mod layout;
pub mod plan;
pub mod progress;
pub mod recipe;
pub mod source;
