//! The image stage: a built tarball and its recipe's image layer become bootable disk images.
//! [`format`] turns a finished raw disk file into each output format.

pub mod format;
