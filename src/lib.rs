//! baker: recipes -> plans -> container builds -> reproducible tarballs -> disk images -> published
//! images -> clusters. Each stage is a module with one job and a data type between it and the next;
//! the binary in `main.rs` only parses arguments and draws progress.

// The crate is documented for the people who work on it (`cargo doc --document-private-items`,
// which `ci/test.sh` checks): a module's doc names the private parts that do its work.
#![allow(rustdoc::private_intra_doc_links)]

pub mod artifact;
pub mod atomic_file;
pub mod base;
pub mod builder;
pub mod byte_size;
pub mod cache;
pub mod compress;
pub mod engine;
pub mod folder_identity;
pub mod folder_lock;
pub mod image;
pub mod launch;
pub mod layout;
pub mod plan;
pub mod progress;
pub mod recipe;
pub mod source;
pub mod stop;
