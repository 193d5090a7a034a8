//! Datagrams gathered for one send: the blocks of a window leave in one system call (see
//! `lifeboat_net::TransferSocket::send_segments`).
//!
//! **Invariant:** `bytes` holds `count` datagrams back to back; all but the last are exactly
//! `segment` bytes long and the last is at most that long; together they stay within what one
//! segmented send may carry.

use lifeboat_net::{MAX_SEGMENTED_BYTES, MAX_SEGMENTS};

#[derive(Debug, Default)]
pub(crate) struct Batch {
    bytes: Vec<u8>,
    segment: usize,
    count: usize,
}

impl Batch {
    pub(crate) fn with_capacity(bytes: usize) -> Batch {
        Batch { bytes: Vec::with_capacity(bytes), segment: 0, count: 0 }
    }

    /// Where the next datagram is appended; call [`Batch::admit`] with the length before.
    pub(crate) fn buffer(&mut self) -> &mut Vec<u8> {
        &mut self.bytes
    }

    pub(crate) fn len(&self) -> usize {
        self.bytes.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The length of every datagram but the last.
    pub(crate) fn segment(&self) -> usize {
        self.segment
    }

    /// The datagrams gathered, back to back.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Takes the datagram appended at `start..` into the batch. False when it cannot join the
    /// datagrams before it (another length, or the batch is full): the caller then sends
    /// `bytes()[..start]` with the current [`Batch::segment`] and calls [`Batch::restart`].
    pub(crate) fn admit(&mut self, start: usize) -> bool {
        let len = self.bytes.len() - start;
        if self.count == 0 {
            self.segment = len;
            self.count = 1;
            return true;
        }
        let last_was_full = start == self.count * self.segment;
        let fits = last_was_full
            && len <= self.segment
            && self.count < MAX_SEGMENTS
            && self.bytes.len() <= MAX_SEGMENTED_BYTES;
        if fits {
            self.count += 1;
        }
        fits
    }

    /// Forgets the first `start` bytes (sent) and starts over with the datagram after them.
    pub(crate) fn restart(&mut self, start: usize) {
        self.bytes.drain(..start);
        self.count = 0;
        self.admit(0);
    }

    pub(crate) fn clear(&mut self) {
        self.bytes.clear();
        self.count = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn push(batch: &mut Batch, len: usize, fill: u8) -> bool {
        let start = batch.len();
        batch.buffer().extend(std::iter::repeat_n(fill, len));
        batch.admit(start)
    }

    #[test]
    fn equal_datagrams_and_a_shorter_last_one_join() {
        let mut b = Batch::default();
        assert!(push(&mut b, 10, 1) && push(&mut b, 10, 2) && push(&mut b, 4, 3));
        assert_eq!((b.segment(), b.len()), (10, 24));
        // Nothing may follow a short datagram: the receiver would cut it at the wrong place.
        let start = b.len();
        assert!(!push(&mut b, 4, 4));
        b.restart(start);
        assert_eq!((b.bytes(), b.segment()), (&[4u8; 4][..], 4));
    }

    #[test]
    fn a_longer_datagram_starts_a_new_batch() {
        let mut b = Batch::default();
        assert!(push(&mut b, 4, 1));
        let start = b.len();
        assert!(!push(&mut b, 10, 2));
        assert_eq!(&b.bytes()[..start], &[1u8; 4]);
        b.restart(start);
        assert_eq!((b.len(), b.segment(), b.is_empty()), (10, 10, false));
        b.clear();
        assert!(b.is_empty());
    }

    #[test]
    fn a_batch_stays_within_one_segmented_send() {
        let mut b = Batch::default();
        let mut admitted = 0;
        while push(&mut b, 1472, 0) {
            admitted += 1;
        }
        // 44 datagrams of 1472 bytes make 64,768 bytes; the 45th would pass 65,507.
        assert_eq!(admitted, MAX_SEGMENTED_BYTES / 1472);
        let mut small = Batch::default();
        let mut count = 0;
        while push(&mut small, 8, 0) {
            count += 1;
        }
        assert_eq!(count, MAX_SEGMENTS);
    }
}
