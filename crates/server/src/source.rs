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
    Octet(Arc<SharedFile>),
    Netascii(NetasciiSource),
}

impl Source {
    /// Length of the stream in bytes (for netascii: after conversion).
    pub(crate) fn len(&self) -> u64 {
        match self {
            Source::Octet(file) => file.len(),
            Source::Netascii(source) => source.encoded_len,
        }
    }

    /// Appends `len` stream bytes starting at `offset` to `out`.
    pub(crate) fn read(&mut self, offset: u64, len: usize, out: &mut Vec<u8>) -> io::Result<()> {
        match self {
            Source::Octet(file) => {
                let start = out.len();
                out.resize(start + len, 0);
                file.read_exact_at(&mut out[start..], offset)
            }
            Source::Netascii(source) => source.read(offset, len, out),
        }
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
