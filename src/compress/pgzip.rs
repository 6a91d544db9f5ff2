//! Gzip on every core, pigz-style: the stream is cut into fixed blocks, each block is deflated on
//! its own thread with the previous block's last 32 KiB as its dictionary and ends with a sync
//! flush, and the deflated blocks are written in order between one gzip header and trailer. The
//! result is one ordinary gzip member (not several concatenated ones, which some importers do
//! not expect), almost as small as a single-threaded gzip's. The bytes depend only on the input,
//! the level and [`BLOCK`]: not on the number of threads or on how the input was handed in. The
//! header carries no time and no name (`gzip -n`).
//!
//! A block whose bytes are spread almost evenly over all 256 values (already compressed or
//! encrypted files: [`looks_random`]) is stored rather than deflated: deflate cannot shrink it,
//! and trying costs as much time as compressing a block that does shrink. The test is integer
//! arithmetic on the block alone, so the choice, and the output, stays reproducible.
//!
//! Hand-written on zlib-rs because the crate made for this, gzp, writes one gzip member only
//! through flate2's zlib backends (its libdeflate mode writes many members), which would tie the
//! bytes of every archive to the system's zlib. zlib-rs is pure Rust, pinned by `Cargo.lock`, so
//! the output is the same on every machine. Used by the `gce` disk archive and the release
//! tarball (`artifact/tarball.rs`).

use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};

use zlib_rs::{Deflate, DeflateFlush, Status};

use super::noise::looks_random;

/// Uncompressed bytes per block. Changing it changes every GCE archive's bytes.
pub const BLOCK: usize = 1 << 20;
const WINDOW: usize = 32 << 10;
/// Most blocks in flight between the producer and the writer (each holds its input and output).
const LOOKAHEAD: usize = 48;

struct Job {
    data: Arc<Vec<u8>>,
    /// The block before, whose tail is the dictionary.
    before: Option<Arc<Vec<u8>>>,
    last: bool,
    done: SyncSender<Result<Vec<u8>, String>>,
}

/// What the writer receives, in output order.
pub enum Piece {
    Bytes(Vec<u8>),
    Block(Receiver<Result<Vec<u8>, String>>),
}

/// The producing side: takes the uncompressed stream, hands out whole blocks to the workers and
/// their results, in order, to `order`.
pub struct Gzip {
    jobs: SyncSender<Job>,
    order: SyncSender<Piece>,
    current: Vec<u8>,
    before: Option<Arc<Vec<u8>>>,
    crc: u32,
    len: u64,
    /// The writer has gone (it failed, and says why); nothing more is worth producing.
    stopped: bool,
}

impl Gzip {
    /// Starts `threads` compressing workers in `scope`; the caller's writer reads [`Piece`]s from
    /// the returned receiver until it closes and writes each in order.
    pub fn start<'scope>(
        scope: &'scope std::thread::Scope<'scope, '_>,
        level: i32,
        threads: usize,
    ) -> (Self, Receiver<Piece>) {
        let threads = threads.max(1);
        // Blocks differ in cost (stored noise takes nothing, text takes long), so several wait
        // their turn to be written while the workers go on; at most LOOKAHEAD are held at once.
        let (jobs, job_rx) = sync_channel::<Job>(2 * threads);
        let (order, order_rx) = sync_channel((8 * threads).min(LOOKAHEAD));
        let job_rx = Arc::new(Mutex::new(job_rx));
        for _ in 0..threads {
            let job_rx = Arc::clone(&job_rx);
            scope.spawn(move || worker(&job_rx, level));
        }
        let xfl = match level {
            9 => 2,
            1 => 4,
            _ => 0,
        };
        let header = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, xfl, 3];
        order.send(Piece::Bytes(header)).expect("the writer waits");
        let gzip = Self {
            jobs,
            order,
            current: Vec::with_capacity(BLOCK),
            before: None,
            crc: 0,
            len: 0,
            stopped: false,
        };
        (gzip, order_rx)
    }

    /// Appends `n` bytes that `fill` writes into the slice it is given (called once or more,
    /// with the count of bytes already filled), so data can be read straight into a block.
    pub fn fill<E>(
        &mut self,
        mut n: usize,
        mut fill: impl FnMut(&mut [u8], usize) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut done = 0;
        while n > 0 {
            let at = self.current.len();
            let k = n.min(BLOCK - at);
            self.current.resize(at + k, 0);
            fill(&mut self.current[at..], done)?;
            self.crc = zlib_rs::crc32::crc32(self.crc, &self.current[at..]);
            (done, n) = (done + k, n - k);
            if self.current.len() == BLOCK {
                self.submit(false);
            }
        }
        Ok(())
    }

    pub fn write(&mut self, bytes: &[u8]) {
        self.fill(bytes.len(), |buf, done| {
            buf.copy_from_slice(&bytes[done..done + buf.len()]);
            Ok::<_, ()>(())
        })
        .expect("copying cannot fail");
    }

    fn submit(&mut self, last: bool) {
        let data = Arc::new(std::mem::replace(
            &mut self.current,
            Vec::with_capacity(BLOCK),
        ));
        self.len += data.len() as u64;
        let (done, result) = sync_channel(1);
        let job = Job {
            data: Arc::clone(&data),
            before: self.before.replace(data),
            last,
            done,
        };
        // A send fails only when the writer stopped on an error, which it reports itself.
        self.stopped |= self.order.send(Piece::Block(result)).is_err();
        self.stopped |= self.jobs.send(job).is_err();
    }

    pub fn stopped(&self) -> bool {
        self.stopped
    }

    /// Compresses what is left and sends the trailer; the writer's receiver then closes.
    pub fn finish(mut self) {
        self.submit(true);
        let mut trailer = self.crc.to_le_bytes().to_vec();
        trailer.extend_from_slice(&(self.len as u32).to_le_bytes());
        let _ = self.order.send(Piece::Bytes(trailer));
    }
}

/// Each block gets a fresh deflate state. With one state per worker, `reset` between blocks, the
/// PostgreSQL install tarball at level 6 came out with other bytes on 3 threads than on 1 (a
/// worker's earlier blocks changed its later ones; found by ci/e2e-incremental.sh, whose clean and
/// incremental tarballs differed); a new state costs little beside deflating 1 MiB.
fn worker(jobs: &Mutex<Receiver<Job>>, level: i32) {
    loop {
        let job = match jobs.lock().expect("job queue lock").recv() {
            Ok(job) => job,
            Err(_) => return,
        };
        let level = if looks_random(&job.data) { 0 } else { level };
        let mut deflate = Deflate::new(level, false, 15);
        let _ = job.done.send(compress(&mut deflate, &job));
    }
}

fn compress(deflate: &mut Deflate, job: &Job) -> Result<Vec<u8>, String> {
    if let Some(before) = &job.before {
        let dict = &before[before.len().saturating_sub(WINDOW)..];
        deflate
            .set_dictionary(dict)
            .map_err(|e| e.as_str().to_owned())?;
    }
    let flush = if job.last {
        DeflateFlush::Finish
    } else {
        DeflateFlush::SyncFlush
    };
    let input = &job.data[..];
    let mut out = vec![0u8; zlib_rs::compress_bound(input.len()) + 64];
    let (mut read, mut written) = (0usize, 0usize);
    loop {
        let (in0, out0) = (deflate.total_in(), deflate.total_out());
        let status = deflate
            .compress(&input[read..], &mut out[written..], flush)
            .map_err(|e| e.as_str().to_owned())?;
        read += (deflate.total_in() - in0) as usize;
        written += (deflate.total_out() - out0) as usize;
        let finished = match flush {
            DeflateFlush::Finish => status == Status::StreamEnd,
            _ => read == input.len() && written < out.len(),
        };
        if finished {
            out.truncate(written);
            return Ok(out);
        }
        if written == out.len() {
            out.resize(out.len() * 2, 0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::format::testdisk::{content, noise};
    use std::io::Read;

    /// Gzips `input` handed in `piece`-byte writes.
    fn gzip(input: &[u8], piece: usize, threads: usize) -> Vec<u8> {
        std::thread::scope(|scope| {
            let (mut gz, order) = Gzip::start(scope, 9, threads);
            let writer = scope.spawn(move || {
                let mut out = Vec::new();
                for p in order {
                    match p {
                        Piece::Bytes(b) => out.extend(b),
                        Piece::Block(r) => out.extend(r.recv().unwrap().unwrap()),
                    }
                }
                out
            });
            for chunk in input.chunks(piece.max(1)) {
                gz.write(chunk);
            }
            gz.finish();
            writer.join().unwrap()
        })
    }

    #[test]
    fn one_gzip_member_decompresses_to_the_input_whatever_its_length() {
        let mut mixed = content(0, BLOCK);
        mixed.extend(noise(BLOCK + 7));
        mixed.extend(content(5 << 20, BLOCK / 2));
        for input in [Vec::new(), b"x".to_vec(), content(0, BLOCK), mixed] {
            let gz = gzip(&input, 100_000, 2);
            assert_eq!(&gz[..4], &[0x1f, 0x8b, 8, 0]);
            assert_eq!(&gz[4..8], &[0; 4], "no time");
            // A single-member decoder reads everything: there is one member, and its CRC and
            // length trailer match.
            let mut back = Vec::new();
            flate2::read::GzDecoder::new(&gz[..])
                .read_to_end(&mut back)
                .unwrap();
            assert!(back == input, "{} bytes round trip", input.len());
        }
    }

    #[test]
    fn a_block_of_noise_is_stored_not_expanded() {
        let stored = gzip(&noise(BLOCK), BLOCK, 1).len();
        assert!(stored < BLOCK + 200, "{stored} bytes");
    }

    #[test]
    fn the_bytes_depend_on_the_input_only() {
        let mut input = content(0, 2 * BLOCK + 5);
        input.extend(noise(BLOCK));
        let a = gzip(&input, 4096, 1);
        assert_eq!(a, gzip(&input, BLOCK + 1, 3));
        assert_eq!(a, gzip(&input, 1 << 22, 2));
    }
}
