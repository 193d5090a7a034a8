//! Netascii (RFC 764 as used by RFC 1350): a line end is CR LF on the wire and a lone CR is
//! CR NUL. Files on disk use Unix line ends.
//!
//! Both directions are pure byte transforms that work on chunks of any size, so a driver can
//! convert a stream block by block without holding the file.

/// Carry between encoded chunks: the second byte of a pair that did not fit.
pub type EncodeCarry = Option<u8>;

/// Encodes `input` (file bytes) into at most `limit` wire bytes appended to `out`, starting with
/// a `carry` left from the previous call. Returns how many input bytes were consumed and the
/// new carry.
pub fn encode(input: &[u8], carry: EncodeCarry, limit: usize, out: &mut Vec<u8>) -> (usize, EncodeCarry) {
    let start = out.len();
    let room = |out: &Vec<u8>| limit - (out.len() - start);
    if let Some(byte) = carry {
        if room(out) == 0 {
            return (0, carry);
        }
        out.push(byte);
    }
    let mut consumed = 0;
    for &byte in input {
        if room(out) == 0 {
            return (consumed, None);
        }
        consumed += 1;
        let second = match byte {
            b'\n' => Some(b'\n'),
            b'\r' => Some(0),
            _ => None,
        };
        match second {
            Some(second) => {
                out.push(b'\r');
                if room(out) == 0 {
                    return (consumed, Some(second));
                }
                out.push(second);
            }
            None => out.push(byte),
        }
    }
    (consumed, None)
}

/// The number of wire bytes a file's bytes become.
pub fn encoded_len(input: &[u8]) -> u64 {
    input.len() as u64 + input.iter().filter(|&&b| b == b'\n' || b == b'\r').count() as u64
}

/// Decodes wire bytes into file bytes, keeping a CR that ends a chunk until the next one.
#[derive(Debug, Default, Clone)]
pub struct Decoder {
    pending_cr: bool,
}

impl Decoder {
    /// Appends the decoded form of `input` to `out`.
    pub fn decode(&mut self, input: &[u8], out: &mut Vec<u8>) {
        for &byte in input {
            if std::mem::take(&mut self.pending_cr) {
                match byte {
                    b'\n' => out.push(b'\n'),
                    0 => out.push(b'\r'),
                    b'\r' => {
                        out.push(b'\r');
                        self.pending_cr = true;
                    }
                    other => out.extend_from_slice(&[b'\r', other]),
                }
            } else if byte == b'\r' {
                self.pending_cr = true;
            } else {
                out.push(byte);
            }
        }
    }

    /// Flushes a CR left at the very end of the stream.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        if std::mem::take(&mut self.pending_cr) {
            out.push(b'\r');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn encode_all(input: &[u8], chunk: usize) -> Vec<u8> {
        let mut out = Vec::new();
        let (mut pos, mut carry) = (0, None);
        loop {
            let mut block = Vec::new();
            let (used, next) = encode(&input[pos..], carry, chunk, &mut block);
            assert!(block.len() <= chunk);
            pos += used;
            carry = next;
            let done = block.len() < chunk;
            out.extend_from_slice(&block);
            if done {
                return out;
            }
        }
    }

    #[test]
    fn line_ends_and_lone_carriage_returns() {
        assert_eq!(encode_all(b"a\nb\rc", 512), b"a\r\nb\r\0c");
        let mut out = Vec::new();
        let mut decoder = Decoder::default();
        decoder.decode(b"a\r\nb\r\0c", &mut out);
        decoder.finish(&mut out);
        assert_eq!(out, b"a\nb\rc");
    }

    #[test]
    fn pair_split_across_blocks_is_carried() {
        let mut block = Vec::new();
        let (used, carry) = encode(b"ab\ncd", None, 3, &mut block);
        assert_eq!((block.as_slice(), used, carry), (&b"ab\r"[..], 3, Some(b'\n')));
        let mut block = Vec::new();
        let (used, carry) = encode(b"cd", carry, 3, &mut block);
        assert_eq!((block.as_slice(), used, carry), (&b"\ncd"[..], 2, None));
    }

    #[test]
    fn cr_at_end_of_a_chunk_waits_for_the_next() {
        let mut out = Vec::new();
        let mut decoder = Decoder::default();
        decoder.decode(b"x\r", &mut out);
        assert_eq!(out, b"x");
        decoder.decode(b"\ny", &mut out);
        assert_eq!(out, b"x\ny");
    }

    proptest! {
        #[test]
        fn round_trip_at_any_block_size(input in proptest::collection::vec(prop_oneof![Just(b'\r'), Just(b'\n'), Just(0u8), any::<u8>()], 0..600), chunk in 1usize..40) {
            let wire = encode_all(&input, chunk);
            prop_assert_eq!(wire.len() as u64, encoded_len(&input));
            let mut decoded = Vec::new();
            let mut decoder = Decoder::default();
            for piece in wire.chunks(chunk) {
                decoder.decode(piece, &mut decoded);
            }
            decoder.finish(&mut decoded);
            prop_assert_eq!(decoded, input);
        }
    }
}
