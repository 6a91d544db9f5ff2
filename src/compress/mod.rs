//! Compression shared by every stage that writes a `.gz`: the release tarball of `baker build`
//! (`artifact/tarball.rs`) and the `gce` disk archive of `baker image` (`image/format/gce.rs`).
//! [`pgzip`] gzips on every core into one ordinary gzip member whose bytes depend on the input and
//! the level only; [`noise`] tells it which blocks to store rather than deflate.

pub mod noise;
pub mod pgzip;
