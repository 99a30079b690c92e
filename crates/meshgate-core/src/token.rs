//! API tokens: random, shown once, stored only as a SHA-256 hash. Tokens carry 256 bits of
//! entropy, so a fast hash is enough (there is nothing to brute-force as with passwords).

use rand::RngCore;
use sha2::{Digest, Sha256};

/// Prefix that makes meshgate tokens recognisable (secret scanners, logs).
pub const TOKEN_PREFIX: &str = "mgt_";

/// Prefix of Delta Sharing recipient tokens (bearer tokens of profiles, OAuth client
/// secrets and the access tokens issued for them): they authenticate the Delta Sharing
/// endpoints only, never the rest of the API.
/// (`mgs_` is taken by credentials, which authenticate the whole API.)
pub const SHARING_TOKEN_PREFIX: &str = "mgr_";

/// Prefix of the one-time codes of profile download links.
pub const ACTIVATION_PREFIX: &str = "mga_";

/// A fresh random token, e.g. `mgt_3f9c…` (64 hex chars after the prefix).
pub fn generate() -> String {
    generate_with(TOKEN_PREFIX)
}

/// A fresh random secret with `prefix` (256 bits, hex).
pub fn generate_with(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("{prefix}{}", hex::encode(bytes))
}

/// The value stored in place of the token.
pub fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
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

    #[test]
    fn each_kind_of_secret_has_its_own_prefix() {
        let prefixes = [
            TOKEN_PREFIX,
            SHARING_TOKEN_PREFIX,
            ACTIVATION_PREFIX,
            crate::credential::CREDENTIAL_PREFIX,
        ];
        for (i, a) in prefixes.iter().enumerate() {
            for b in &prefixes[i + 1..] {
                assert!(!a.starts_with(b) && !b.starts_with(a), "{a} and {b}");
            }
        }
    }
}
