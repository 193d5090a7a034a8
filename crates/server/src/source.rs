//! Where the bytes of an outgoing transfer come from: the file as it is (octet), or the file
//! converted to netascii block by block.

use std::collections::VecDeque;
use std::io;
use std::sync::Arc;

use lifeboat_tftp::netascii::{self, EncodeCarry};

use crate::open_files::SharedFile;

/// Bytes of the stream a sender transmits, read on demand at any offset the sender asks for.
#[derive(Debug)]
pub(crate) enum Source {
    Octet(OctetSource),
    Netascii(NetasciiSource),
}

impl Source {
    pub(crate) fn octet(file: Arc<SharedFile>) -> Source {
        Source::Octet(OctetSource { file, ahead: Vec::new(), ahead_at: 0 })
    }

    /// Length of the stream in bytes (for netascii: after conversion).
    pub(crate) fn len(&self) -> u64 {
        match self {
            Source::Octet(source) => source.file.len(),
            Source::Netascii(source) => source.encoded_len,
        }
    }

    /// Appends `len` stream bytes starting at `offset` to `out`.
    pub(crate) fn read(&mut self, offset: u64, len: usize, out: &mut Vec<u8>) -> io::Result<()> {
        match self {
            Source::Octet(source) => source.read(offset, len, out),
            Source::Netascii(source) => source.read(offset, len, out),
        }
    }
}

/// How much of the file an octet transfer reads at once. One read per block cost a system
/// call per 1468 bytes; this is one per eleven such blocks, and it bounds memory per transfer
/// (a 50-transfer server holds 0.8 MiB of it).
const READ_AHEAD: usize = 16 * 1024;

/// The file as it is, read ahead in [`READ_AHEAD`] pieces: blocks are asked for in order,
/// and a retransmitted one is at most a window back.
#[derive(Debug)]
pub(crate) struct OctetSource {
    file: Arc<SharedFile>,
    /// File bytes from `ahead_at` on.
    ahead: Vec<u8>,
    ahead_at: u64,
}

impl OctetSource {
    fn read(&mut self, offset: u64, len: usize, out: &mut Vec<u8>) -> io::Result<()> {
        let end = offset + len as u64;
        if offset < self.ahead_at || end > self.ahead_at + self.ahead.len() as u64 {
            let wanted = (self.file.len().saturating_sub(offset)).min(len.max(READ_AHEAD) as u64) as usize;
            // A block past the end of the file (it shrank under us) fails here, as before.
            self.ahead.resize(wanted.max(len), 0);
            self.ahead_at = offset;
            if let Err(error) = self.file.read_exact_at(&mut self.ahead, offset) {
                self.ahead.clear();
                return Err(error);
            }
        }
        let start = (offset - self.ahead_at) as usize;
        out.extend_from_slice(&self.ahead[start..start + len]);
        Ok(())
    }
}

/// Netascii conversion without holding the file: a checkpoint (file offset and the half of a
/// CR pair still owed) is kept for the start of each block in the current window, so a block
/// can be produced again when the sender retransmits.
#[derive(Debug)]
pub(crate) struct NetasciiSource {
    file: Arc<SharedFile>,
    encoded_len: u64,
    /// (stream offset, file offset, carry) at the start of recently produced blocks.
    checkpoints: VecDeque<(u64, u64, EncodeCarry)>,
    max_checkpoints: usize,
    scratch: Vec<u8>,
}

impl NetasciiSource {
    /// Scans the file once to learn its converted length. Blocking.
    pub(crate) fn new(file: Arc<SharedFile>, windowsize: u16) -> io::Result<NetasciiSource> {
        let mut encoded_len = 0;
        let mut buf = vec![0u8; 64 * 1024];
        let mut offset = 0;
        while offset < file.len() {
            let n = (file.len() - offset).min(buf.len() as u64) as usize;
            file.read_exact_at(&mut buf[..n], offset)?;
            encoded_len += netascii::encoded_len(&buf[..n]);
            offset += n as u64;
        }
        Ok(NetasciiSource {
            file,
            encoded_len,
            checkpoints: VecDeque::from([(0, 0, None)]),
            max_checkpoints: usize::from(windowsize) + 2,
            scratch: Vec::new(),
        })
    }

    fn read(&mut self, offset: u64, len: usize, out: &mut Vec<u8>) -> io::Result<()> {
        let &(_, file_offset, carry) = self.checkpoints.iter().find(|(at, ..)| *at == offset).ok_or_else(|| {
            io::Error::other(format!("netascii stream offset {offset} is not at a block the window still holds"))
        })?;
        let available = (self.file.len() - file_offset).min(len as u64) as usize;
        self.scratch.resize(available, 0);
        self.file.read_exact_at(&mut self.scratch, file_offset)?;
        let start = out.len();
        let (consumed, carry) = netascii::encode(&self.scratch, carry, len, out);
        let next = (offset + (out.len() - start) as u64, file_offset + consumed as u64, carry);
        if !self.checkpoints.iter().any(|(at, ..)| *at == next.0) {
            self.checkpoints.push_back(next);
            while self.checkpoints.len() > self.max_checkpoints {
                self.checkpoints.pop_front();
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::open_files::OpenFiles;

    fn source_of(bytes: &[u8]) -> (tempfile::TempDir, Source) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("image.bin");
        std::fs::write(&path, bytes).unwrap();
        let file = OpenFiles::default().open(&path).unwrap();
        (dir, Source::octet(file))
    }

    fn read(source: &mut Source, offset: u64, len: usize) -> Vec<u8> {
        let mut out = b"header".to_vec();
        source.read(offset, len, &mut out).unwrap();
        assert_eq!(&out[..6], b"header", "read appends");
        out.split_off(6)
    }

    #[test]
    fn octet_blocks_in_order_then_a_window_back_then_past_the_read_ahead() {
        let bytes: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let (_dir, mut source) = source_of(&bytes);
        assert_eq!(source.len(), 100_000);
        let blksize = 1468;
        let mut offsets: Vec<u64> = (0..68).map(|block| block * blksize as u64).collect();
        offsets.extend([10 * 1468, 11 * 1468, 3 * 1468, 0, 67 * 1468, 20_000, 19_999]);
        for offset in offsets {
            let len = (100_000 - offset as usize).min(blksize);
            let at = offset as usize;
            assert_eq!(read(&mut source, offset, len), bytes[at..at + len], "offset {offset}");
        }
    }

    #[test]
    fn octet_blocks_larger_than_the_read_ahead_and_the_empty_last_block() {
        let bytes = vec![7u8; 3 * 65_464];
        let (_dir, mut source) = source_of(&bytes);
        for block in 0..3 {
            assert_eq!(read(&mut source, block * 65_464, 65_464), vec![7u8; 65_464]);
        }
        assert_eq!(read(&mut source, 3 * 65_464, 0), Vec::<u8>::new());
    }

    #[test]
    fn octet_read_past_a_file_that_shrank_fails() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("image.bin");
        std::fs::write(&path, vec![1u8; 40_000]).unwrap();
        let mut source = Source::octet(OpenFiles::default().open(&path).unwrap());
        std::fs::OpenOptions::new().write(true).open(&path).unwrap().set_len(1_000).unwrap();
        let mut out = Vec::new();
        assert!(source.read(20_000, 1468, &mut out).is_err());
        assert!(out.is_empty());
    }

    #[test]
    fn netascii_blocks_can_be_produced_again_for_a_retransmission() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notes.txt");
        let text = b"line one\nline two\r\nend\n".repeat(50);
        std::fs::write(&path, &text).unwrap();
        let file = OpenFiles::default().open(&path).unwrap();
        let mut source = Source::Netascii(NetasciiSource::new(file, 4).unwrap());
        let expected = {
            let mut wire = Vec::new();
            netascii::encode(&text, None, usize::MAX, &mut wire);
            wire
        };
        assert_eq!(source.len(), expected.len() as u64);
        let blksize = 16;
        let mut stream = Vec::new();
        let mut offset = 0u64;
        while offset < source.len() {
            let len = (source.len() - offset).min(blksize) as usize;
            let mut block = Vec::new();
            source.read(offset, len, &mut block).unwrap();
            // A retransmission of the same block gives the same bytes.
            let mut again = Vec::new();
            source.read(offset, len, &mut again).unwrap();
            assert_eq!(block, again);
            stream.extend_from_slice(&block);
            offset += len as u64;
        }
        assert_eq!(stream, expected);
    }
}
