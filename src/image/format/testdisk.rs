//! Sparse raw disks for the format tests, made in a temporary directory: a size, some runs of
//! pseudo-random bytes (half of each run compressible text, half noise, like a real root
//! filesystem), some runs of written zeros, holes everywhere else. Also the small wrappers the
//! tests use to ask tools baker did not write (`qemu-img`, Python, GNU tar) about the results.

use std::fs::File;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

pub const MIB: u64 = 1 << 20;
pub const GIB: u64 = 1 << 30;

/// What to write where.
pub struct TestDisk {
    size: u64,
    name: String,
    runs: Vec<(u64, u64, bool)>,
}

/// A disk file on disk; removed with its directory when dropped.
pub struct Built {
    pub dir: TempDir,
    pub path: PathBuf,
}

impl TestDisk {
    pub fn new(size: u64) -> Self {
        Self {
            size,
            name: "disk.raw".into(),
            runs: Vec::new(),
        }
    }

    /// `len` bytes of data at `offset`.
    pub fn data(mut self, offset: u64, len: u64) -> Self {
        self.runs.push((offset, len, true));
        self
    }

    /// `len` written zero bytes at `offset`: a data extent that holds nothing.
    pub fn zeros(mut self, offset: u64, len: u64) -> Self {
        self.runs.push((offset, len, false));
        self
    }

    /// 64 MiB: data at the start, 2 MiB of written zeros, 5 MiB of data from an offset that is
    /// not a multiple of 4 KiB, and 4 KiB of data at the very end.
    pub fn typical() -> Built {
        TestDisk::new(64 * MIB)
            .data(0, MIB)
            .zeros(8 * MIB, 2 * MIB)
            .data(20 * MIB + 512, 5 * MIB)
            .data(64 * MIB - 4096, 4096)
            .build()
    }

    pub fn build(self) -> Built {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(&self.name);
        let file = File::create(&path).unwrap();
        file.set_len(self.size).unwrap();
        for (offset, len, data) in self.runs {
            let mut done = 0;
            while done < len {
                let n = (len - done).min(MIB);
                let buf = if data {
                    content(offset + done, n as usize)
                } else {
                    vec![0; n as usize]
                };
                file.write_all_at(&buf, offset + done).unwrap();
                done += n;
            }
        }
        Built { dir, path }
    }
}

/// Deterministic bytes for `[offset, offset + len)`: in each 64 KiB, text first, then noise.
pub fn content(offset: u64, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    let mut state = offset.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    for i in 0..len as u64 {
        let at = offset + i;
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.push(if at % 65536 < 32768 {
            b"the quick brown fox jumps over the lazy dog\n"[(at % 44) as usize]
                ^ (((at >> 16) % 3) as u8)
        } else {
            (state >> 24) as u8 | 1
        });
    }
    out
}

/// Incompressible bytes: sha256 in counter mode.
pub fn noise(len: usize) -> Vec<u8> {
    use sha2::{Digest, Sha256};
    (0u64..)
        .flat_map(|i| Sha256::digest(i.to_le_bytes()))
        .take(len)
        .collect()
}

/// Bytes the filesystem really stores for `path`.
pub fn allocated(path: &Path) -> u64 {
    std::fs::metadata(path).unwrap().blocks() * 512
}

/// Runs a tool and returns its stdout, failing the test with its stderr when it fails.
pub fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program} is needed by this test: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `qemu-img info` as JSON, with the format given (a fixed VHD has no header to probe).
pub fn qemu_info(format: &str, path: &Path) -> serde_json::Value {
    let out = run(
        "qemu-img",
        &[
            "info",
            "-f",
            format,
            "--output=json",
            path.to_str().unwrap(),
        ],
    );
    serde_json::from_str(&out).unwrap()
}

/// Asserts with `qemu-img compare` that `image` (in `format`) reads as the raw disk's bytes (not
/// strict: an image may leave unallocated what the raw disk stores as zeros; sizes are checked apart).
pub fn assert_same_disk(format: &str, image: &Path, raw: &Path) {
    run(
        "qemu-img",
        &[
            "compare",
            "-f",
            format,
            "-F",
            "raw",
            image.to_str().unwrap(),
            raw.to_str().unwrap(),
        ],
    );
}
