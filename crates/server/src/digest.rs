//! The sha256 that `lifeboat get` and `lifeboat put` print, computed on a thread of its own
//! while the transfer runs: hashing 64 MiB afterwards took about 60 ms here, a quarter of the
//! whole download at window 16.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::Path;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use sha2::{Digest, Sha256};

/// How many written pieces may wait for the hasher before the writer waits for it. A piece is
/// one flush of the upload's 256 KiB buffer, so at most 2 MiB wait.
const QUEUED_PIECES: usize = 8;

/// Hashes the pieces of a file as they are written, in order, on a thread of its own.
#[derive(Debug)]
pub(crate) struct WrittenDigest {
    thread: JoinHandle<String>,
}

/// The writing side of a [`WrittenDigest`]: every byte written through it is hashed.
#[derive(Debug)]
pub(crate) struct DigestFeed(SyncSender<Vec<u8>>);

impl WrittenDigest {
    pub(crate) fn start() -> (WrittenDigest, DigestFeed) {
        let (feed, pieces) = sync_channel(QUEUED_PIECES);
        let thread = std::thread::spawn(move || hash_pieces(&pieces));
        (WrittenDigest { thread }, DigestFeed(feed))
    }

    /// The hex digest of everything fed, once the feed is gone (dropped with the upload).
    pub(crate) fn finish(self) -> String {
        self.thread.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    }
}

fn hash_pieces(pieces: &Receiver<Vec<u8>>) -> String {
    let mut hasher = Sha256::new();
    for piece in pieces {
        hasher.update(&piece);
    }
    hex::encode(hasher.finalize())
}

impl DigestFeed {
    fn feed(&self, piece: &[u8]) -> io::Result<()> {
        self.0.send(piece.to_vec()).map_err(|_| io::Error::other("the sha256 thread has stopped"))
    }
}

/// A writer that also feeds what it wrote to a digest.
#[derive(Debug)]
pub(crate) struct Tee<W> {
    pub(crate) inner: W,
    pub(crate) feed: Option<DigestFeed>,
}

impl<W: Write> Write for Tee<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let written = self.inner.write(buf)?;
        if let Some(feed) = &self.feed {
            feed.feed(&buf[..written])?;
        }
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Hashes a whole file on a thread of its own (the file `put` sends, while it is sent).
pub(crate) fn hash_file_beside(path: &Path) -> JoinHandle<io::Result<String>> {
    let path = path.to_owned();
    std::thread::spawn(move || sha256_file(&path))
}

/// The SHA-256 of a whole file, lowercase hex. Blocking.
pub fn sha256_file(path: &Path) -> io::Result<String> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        match file.read(&mut buf)? {
            0 => return Ok(hex::encode(hasher.finalize())),
            n => hasher.update(&buf[..n]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // sha256 of "hello world\n", as `sha256sum` prints it.
    const HELLO: &str = "a948904f2f0f479b8f8197694b30184b0d2ed1c1cd2a1ec0fb85d299a192a447";

    #[test]
    fn a_tee_hashes_exactly_what_it_wrote() {
        let (digest, feed) = WrittenDigest::start();
        let mut tee = Tee { inner: Vec::new(), feed: Some(feed) };
        tee.write_all(b"hello ").unwrap();
        tee.write_all(b"world\n").unwrap();
        let Tee { inner, feed } = tee;
        drop(feed);
        assert_eq!(inner, b"hello world\n");
        assert_eq!(digest.finish(), HELLO);
    }

    #[test]
    fn a_file_is_hashed_beside() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("image.bin");
        std::fs::write(&path, b"hello world\n").unwrap();
        assert_eq!(hash_file_beside(&path).join().unwrap().unwrap(), HELLO);
        assert!(hash_file_beside(&dir.path().join("missing")).join().unwrap().is_err());
    }

    #[test]
    fn nothing_fed_is_the_digest_of_nothing() {
        let (digest, feed) = WrittenDigest::start();
        drop(feed);
        assert_eq!(digest.finish(), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    }
}
