//! A tar archive written on the fly and read as a stream of chunks, so that a `--source-dir` tree of
//! any size goes to the engine without being held in memory: a blocking thread writes the archive
//! into a bounded channel (a few chunks in flight at most) and the engine's upload reads the other
//! end. A write error ends the stream with that error; the engine dropping the stream stops the
//! writer at its next chunk. Hand-written because it is a dozen lines over tokio's channel, which no
//! crate in the tree offers as an `io::Write`.

use std::io::{self, Write};

use bytes::Bytes;
use futures_util::Stream;
use tokio::sync::mpsc;

/// Chunk size of the stream; with [`IN_FLIGHT`] chunks queued, about 2 MiB of memory at most.
const CHUNK: usize = 256 * 1024;
const IN_FLIGHT: usize = 8;

/// An `io::Write` that sends what is written, in chunks, to the stream's reader.
pub struct ChannelWriter {
    tx: mpsc::Sender<io::Result<Bytes>>,
    buf: Vec<u8>,
}

impl ChannelWriter {
    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the upload stopped reading"))
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = data.len().min(CHUNK - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}

/// Runs `write` on a blocking thread against a [`ChannelWriter`] and returns the chunks it writes.
pub fn stream_from<F>(write: F) -> impl Stream<Item = io::Result<Bytes>> + Send + 'static
where
    F: FnOnce(&mut ChannelWriter) -> io::Result<()> + Send + 'static,
{
    let (tx, rx) = mpsc::channel(IN_FLIGHT);
    tokio::task::spawn_blocking(move || {
        let mut writer = ChannelWriter {
            tx: tx.clone(),
            buf: Vec::with_capacity(CHUNK),
        };
        if let Err(e) = write(&mut writer).and_then(|()| writer.flush()) {
            let _ = tx.blocking_send(Err(e));
        }
    });
    futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    })
}

#[cfg(test)]
mod tests {
    use futures_util::StreamExt;

    use super::*;

    #[tokio::test]
    async fn what_is_written_arrives_in_order_in_bounded_chunks() {
        let data: Vec<u8> = (0..3 * CHUNK + 17).map(|i| (i % 251) as u8).collect();
        let expected = data.clone();
        let chunks: Vec<Bytes> = stream_from(move |w| w.write_all(&data))
            .map(|c| c.unwrap())
            .collect()
            .await;
        assert!(chunks.iter().all(|c| c.len() <= CHUNK), "bounded chunks");
        assert_eq!(chunks.concat(), expected);
    }

    #[tokio::test]
    async fn a_write_error_ends_the_stream_with_it() {
        let items: Vec<io::Result<Bytes>> = stream_from(|_| Err(io::Error::other("disk gone")))
            .collect()
            .await;
        assert_eq!(items.len(), 1);
        assert!(
            items[0]
                .as_ref()
                .unwrap_err()
                .to_string()
                .contains("disk gone")
        );
    }
}
