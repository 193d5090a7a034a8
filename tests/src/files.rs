//! Test files: deterministic pseudo-random content, SHA-256 digests and the CRC-32 that firmware
//! prints (U-Boot's `crc32`).

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::Path;

use sha2::{Digest, Sha256};

/// Lower-case hex SHA-256 of a file's content. Panics (naming the file) if it cannot be read.
#[track_caller]
pub fn sha256_file(path: impl AsRef<Path>) -> String {
    let path = path.as_ref();
    let mut file = File::open(path).unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()));
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    hex::encode(hasher.finalize())
}

/// Lower-case hex SHA-256 of bytes in memory.
pub fn sha256_bytes(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Writes `size` bytes generated from `seed` (splitmix64) to `path` and returns their SHA-256.
/// The same seed and size always give the same bytes; about 1 GB/s.
#[track_caller]
pub fn random_file(path: impl AsRef<Path>, size: u64, seed: u64) -> String {
    let path = path.as_ref();
    let file = File::create(path).unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
    let mut out = BufWriter::with_capacity(1 << 16, file);
    let mut hasher = Sha256::new();
    let mut state = seed;
    let mut chunk = vec![0u8; 1 << 16];
    let mut left = size;
    while left > 0 {
        let len = usize::try_from(left.min(chunk.len() as u64)).expect("chunk fits in usize");
        for word in chunk[..len].chunks_mut(8) {
            let bytes = splitmix64(&mut state).to_le_bytes();
            word.copy_from_slice(&bytes[..word.len()]);
        }
        hasher.update(&chunk[..len]);
        out.write_all(&chunk[..len]).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        left -= len as u64;
    }
    out.flush().unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    hex::encode(hasher.finalize())
}

/// The CRC-32 of zlib, Ethernet and U-Boot's `crc32` command (reflected polynomial 0xEDB88320,
/// initial value and final XOR all ones). Bit by bit, without a table: a few milliseconds per
/// megabyte is plenty for checking a test image, and it needs no crate.
pub fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
        }
    }
    !crc
}

fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A small, fast, seedable generator for test decisions (not for anything secret).
#[derive(Debug, Clone)]
pub struct TestRng(u64);

impl TestRng {
    pub fn new(seed: u64) -> TestRng {
        TestRng(seed)
    }

    /// Seeded from the clock and the process id.
    pub fn from_entropy() -> TestRng {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        TestRng(nanos ^ (u64::from(std::process::id()) << 32))
    }

    pub fn next_u64(&mut self) -> u64 {
        splitmix64(&mut self.0)
    }

    /// Uniform in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Names in `dir` (not recursive), sorted.
pub fn dir_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_file_is_deterministic_and_hash_matches() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        let b = dir.path().join("b");
        let c = dir.path().join("c");
        let ha = random_file(&a, 100_003, 7);
        let hb = random_file(&b, 100_003, 7);
        let hc = random_file(&c, 100_003, 8);
        assert_eq!(ha, hb);
        assert_ne!(ha, hc);
        assert_eq!(ha, sha256_file(&a));
        assert_eq!(std::fs::metadata(&a).unwrap().len(), 100_003);
        assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    }

    #[test]
    fn crc32_matches_the_standard_check_value() {
        assert_eq!(crc32(b""), 0);
        // The catalogue's check value for CRC-32/ISO-HDLC, and one more from zlib.
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b"The quick brown fox jumps over the lazy dog"), 0x414F_A339);
    }

    #[test]
    fn sha256_of_empty_and_abc() {
        assert_eq!(sha256_bytes(b""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        assert_eq!(sha256_bytes(b"abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("abc");
        std::fs::write(&p, b"abc").unwrap();
        assert_eq!(sha256_file(&p), sha256_bytes(b"abc"));
    }
}
