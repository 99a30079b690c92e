//! API tokens: random, shown once, stored only as a SHA-256 hash. Tokens carry 256 bits of
//! entropy, so a fast hash is enough (there is nothing to brute-force as with passwords).

use rand::RngCore;
use sha2::{Digest, Sha256};

/// Prefix that makes meshgate tokens recognisable (secret scanners, logs).
pub const TOKEN_PREFIX: &str = "mgt_";

/// A fresh random token, e.g. `mgt_3f9c…` (64 hex chars after the prefix).
pub fn generate() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("{TOKEN_PREFIX}{}", hex::encode(bytes))
}

/// The value stored in place of the token.
pub fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_unique_and_hash_stably() {
        let a = generate();
        let b = generate();
        assert_ne!(a, b);
        assert!(a.starts_with(TOKEN_PREFIX));
        assert_eq!(hash(&a), hash(&a));
        assert_ne!(hash(&a), hash(&b));
        assert_eq!(hash(&a).len(), 64);
    }
}
