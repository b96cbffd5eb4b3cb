//! The short hashes that keep derived names unique after truncation.

use sha2::{Digest, Sha256};

/// Lowercase hex of SHA-256 over `parts`, cut to `hex_len` characters (at most 64).
/// Each part is length-prefixed, so `("ab", "c")` and `("a", "bc")` differ.
pub(crate) fn fingerprint(parts: &[&str], hex_len: usize) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part.as_bytes());
    }
    let mut hex = String::with_capacity(64);
    for byte in hasher.finalize() {
        hex.push(char::from(HEX[usize::from(byte >> 4)]));
        hex.push(char::from(HEX[usize::from(byte & 0x0f)]));
    }
    hex.truncate(hex_len);
    hex
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Replaces every character outside `[A-Za-z0-9_-]` with `-`, collapses runs of `-` and
/// trims `-` from both ends: the character set every AWS name here accepts.
pub(crate) fn sanitise(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let c = if c.is_ascii_alphanumeric() || c == '_' {
            c
        } else {
            '-'
        };
        if !(c == '-' && (out.is_empty() || out.ends_with('-'))) {
            out.push(c);
        }
    }
    while out.ends_with('-') {
        out.pop();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_is_sha256_hex() {
        // sha256 of (len 3 as u64 BE) ++ "abc"
        let full = fingerprint(&["abc"], 64);
        assert_eq!(full.len(), 64);
        assert!(
            full.chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        assert_eq!(fingerprint(&["abc"], 8), full[..8]);
    }

    #[test]
    fn parts_are_delimited() {
        assert_ne!(fingerprint(&["ab", "c"], 16), fingerprint(&["a", "bc"], 16));
        assert_ne!(fingerprint(&["a", ""], 16), fingerprint(&["", "a"], 16));
    }

    #[test]
    fn sanitise_keeps_safe_characters_only() {
        assert_eq!(sanitise("my.app--v2"), "my-app-v2");
        assert_eq!(sanitise("--a b__c--"), "a-b__c");
        assert_eq!(sanitise("日本語"), "");
        assert_eq!(sanitise("Prod_1"), "Prod_1");
    }
}
