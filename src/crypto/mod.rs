//! Keys and hashes: the master key, password hashing, and random tokens.

pub mod envelope;
pub mod jwt;
pub mod master_key;
pub mod password;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use sha2::{Digest, Sha256};

/// `bytes` random bytes from the operating system's generator.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).expect("the operating system's random generator failed");
    bytes
}

/// A random string of `len` characters drawn uniformly from `alphabet` (OS RNG, rejection
/// sampling so that no character is more likely than another).
pub fn random_string(len: usize, alphabet: &[u8]) -> String {
    assert!(!alphabet.is_empty() && alphabet.len() <= 256);
    let limit = 256 - 256 % alphabet.len();
    let mut out = String::with_capacity(len);
    while out.len() < len {
        for byte in random_bytes::<64>() {
            if (byte as usize) < limit && out.len() < len {
                out.push(alphabet[byte as usize % alphabet.len()] as char);
            }
        }
    }
    out
}

/// A random token for links and CSRF protection: 32 bytes, URL-safe base64.
pub fn random_token() -> String {
    URL_SAFE_NO_PAD.encode(random_bytes::<32>())
}

/// Hex SHA-256, for storing tokens that must be recognised but never recovered.
pub fn sha256_hex(value: &str) -> String {
    hex(&Sha256::digest(value.as_bytes()))
}

/// Bytes in lower-case hexadecimal: digests, signatures and fingerprints as they are written.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut out, b| {
            let _ = write!(out, "{b:02x}");
            out
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_strings_use_the_whole_alphabet_and_only_it() {
        let s = random_string(4000, b"ABC");
        assert_eq!(s.len(), 4000);
        for c in ['A', 'B', 'C'] {
            let n = s.chars().filter(|x| *x == c).count();
            assert!((1000..1700).contains(&n), "{c}: {n}");
        }
        assert_ne!(random_string(40, b"ab"), random_string(40, b"ab"));
    }
}
