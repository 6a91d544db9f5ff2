//! Hashing beside the I/O. SHA-256 of a whole disk (holes hashed as zeros) costs more CPU than
//! copying its data, so a writer hands each buffer it has written to a [`HashPipe`], whose thread
//! hashes in order while the writer reads and writes the next one: the two cores each do one job
//! and the digest comes without reading the output again. Buffers go round between the writer
//! and the pipe, so memory stays at `depth` buffers whatever the disk size.

use std::fs::File;
use std::io::Write;
use std::sync::mpsc::{Receiver, SyncSender, channel, sync_channel};
use std::thread::JoinHandle;

use sha2::{Digest, Sha256};

use super::FormatError;
use super::output::Output;
use super::sparse::ZEROS;

enum Piece {
    Bytes(Vec<u8>),
    Zeros(u64),
    /// Bytes hashed and then dropped, not handed back.
    Owned(Vec<u8>),
}

pub(super) struct HashPipe {
    tx: SyncSender<Piece>,
    back: Receiver<Vec<u8>>,
    thread: JoinHandle<Sha256>,
    /// Buffers that may still be made before waiting for one to come back.
    unmade: usize,
    capacity: usize,
}

impl HashPipe {
    /// A pipe that lends up to `depth` buffers of `capacity` bytes.
    pub fn new(depth: usize, capacity: usize) -> Self {
        Self::with_hasher(Sha256::new(), depth, capacity)
    }

    /// A pipe that continues `hasher` (which already hashed what comes before).
    pub fn with_hasher(mut hasher: Sha256, depth: usize, capacity: usize) -> Self {
        let (tx, rx) = sync_channel::<Piece>(depth);
        let (back_tx, back) = channel();
        let thread = std::thread::spawn(move || {
            for piece in rx {
                match piece {
                    Piece::Bytes(buf) => {
                        hasher.update(&buf);
                        // The writer may have finished and stopped taking buffers back.
                        let _ = back_tx.send(buf);
                    }
                    Piece::Owned(buf) => hasher.update(&buf),
                    Piece::Zeros(mut n) => {
                        while n > 0 {
                            let k = n.min(ZEROS.len() as u64);
                            hasher.update(&ZEROS[..k as usize]);
                            n -= k;
                        }
                    }
                }
            }
            hasher
        });
        Self {
            tx,
            back,
            thread,
            unmade: depth,
            capacity,
        }
    }

    /// A buffer with room for `capacity` bytes: a new, empty one or one the pipe has hashed,
    /// still holding those bytes (so that `resize` to a length it had costs nothing).
    pub fn buffer(&mut self) -> Vec<u8> {
        if self.unmade > 0 {
            self.unmade -= 1;
            Vec::with_capacity(self.capacity)
        } else {
            self.back.recv().expect("the hashing thread keeps running")
        }
    }

    /// Hashes `buf` next; it comes back through [`HashPipe::buffer`].
    pub fn bytes(&mut self, buf: Vec<u8>) {
        self.send(Piece::Bytes(buf));
    }

    /// Hashes `buf` next and drops it (for buffers that did not come from [`HashPipe::buffer`]).
    pub fn owned(&mut self, buf: Vec<u8>) {
        self.send(Piece::Owned(buf));
    }

    /// Hashes `n` zero bytes next.
    pub fn zeros(&mut self, n: u64) {
        if n > 0 {
            self.send(Piece::Zeros(n));
        }
    }

    fn send(&self, piece: Piece) {
        self.tx
            .send(piece)
            .expect("the hashing thread keeps running");
    }

    /// Waits for the hashing to catch up and returns the hasher.
    pub fn finish(self) -> Sha256 {
        drop(self.tx);
        self.thread
            .join()
            .expect("the hashing thread does not panic")
    }
}

/// An output written front to back, each buffer hashed by a [`HashPipe`] after it is written.
pub(super) struct HashedWriter<'a> {
    out: &'a Output,
    file: &'a File,
    pipe: HashPipe,
    /// Bytes written.
    end: u64,
}

impl<'a> HashedWriter<'a> {
    pub fn new(out: &'a Output, depth: usize, capacity: usize) -> Self {
        Self {
            out,
            file: out.file(),
            pipe: HashPipe::new(depth, capacity),
            end: 0,
        }
    }

    /// See [`HashPipe::buffer`].
    pub fn buffer(&mut self) -> Vec<u8> {
        self.pipe.buffer()
    }

    /// Appends `buf` to the file; `lent` says it came from [`HashedWriter::buffer`].
    pub fn write(&mut self, buf: Vec<u8>, lent: bool) -> Result<(), FormatError> {
        self.file
            .write_all(&buf)
            .map_err(FormatError::write(self.out.target()))?;
        self.end += buf.len() as u64;
        self.out.written(self.end);
        if lent {
            self.pipe.bytes(buf);
        } else {
            self.pipe.owned(buf);
        }
        Ok(())
    }

    /// Flushes the file to disk while the hashing catches up, then returns the hasher.
    pub fn finish(self) -> Result<Sha256, FormatError> {
        self.out.sync()?;
        Ok(self.pipe.finish())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pipe_hashes_bytes_and_zeros_in_order() {
        let mut pipe = HashPipe::new(2, 4);
        for chunk in [&b"ab"[..], b"cd", b"ef"] {
            let mut buf = pipe.buffer();
            buf.clear();
            buf.extend_from_slice(chunk);
            pipe.bytes(buf);
        }
        pipe.zeros(100_000);
        pipe.owned(b"!".to_vec());
        let mut want = b"abcdef".to_vec();
        want.resize(6 + 100_000, 0);
        want.push(b'!');
        assert_eq!(pipe.finish().finalize(), Sha256::digest(&want));
    }
}
