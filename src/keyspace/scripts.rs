//! The script cache: every Lua script body loaded with SCRIPT LOAD or run with EVAL, by the
//! lowercase hex SHA-1 of its body. It is replicated state (EVALSHA must work on a new leader),
//! so it lives beside the keys: in snapshots (record kind 3) and in the digest.
//! Invariant: a body is stored under the SHA-1 of exactly its bytes, recomputed on load.

use bytes::Bytes;
use imbl::OrdMap;

/// Scripts by SHA-1; ordered so snapshots and digests do not depend on insertion order.
#[derive(Clone, Default, Debug)]
pub struct ScriptCache {
    by_sha: OrdMap<String, Bytes>,
}

impl ScriptCache {
    /// Stores `body` and returns its SHA-1 (lowercase hex).
    pub fn insert(&mut self, body: Bytes) -> String {
        let sha = sha1_hex(&body);
        self.by_sha.insert(sha.clone(), body);
        sha
    }

    /// The body whose SHA-1 is `sha` (any case).
    pub fn get(&self, sha: &str) -> Option<&Bytes> {
        if sha.bytes().any(|b| b.is_ascii_uppercase()) {
            self.by_sha.get(&sha.to_ascii_lowercase())
        } else {
            self.by_sha.get(sha)
        }
    }

    pub fn contains(&self, sha: &str) -> bool {
        self.get(sha).is_some()
    }

    pub fn clear(&mut self) {
        self.by_sha = OrdMap::new();
    }

    pub fn len(&self) -> usize {
        self.by_sha.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_sha.is_empty()
    }

    /// Every body, in SHA-1 order.
    pub fn bodies(&self) -> impl Iterator<Item = &Bytes> + '_ {
        self.by_sha.values()
    }
}

/// SHA-1 of `data` as 40 lowercase hex digits (what Redis names scripts by; `redis.sha1hex`).
/// SHA-1 is used as a name here, not for security.
pub fn sha1_hex(data: &[u8]) -> String {
    let digest = sha1(data);
    let mut out = String::with_capacity(40);
    for byte in digest {
        out.push_str(&format!("{byte:02x}"));
    }
    out
}

/// FIPS 180-4 SHA-1.
fn sha1(data: &[u8]) -> [u8; 20] {
    let mut h: [u32; 5] = [
        0x6745_2301,
        0xEFCD_AB89,
        0x98BA_DCFE,
        0x1032_5476,
        0xC3D2_E1F0,
    ];
    let mut message = data.to_vec();
    let bit_len = (data.len() as u64).wrapping_mul(8);
    message.push(0x80);
    while message.len() % 64 != 56 {
        message.push(0);
    }
    message.extend_from_slice(&bit_len.to_be_bytes());
    for block in message.chunks_exact(64) {
        let mut w = [0u32; 80];
        for (i, word) in block.chunks_exact(4).enumerate() {
            w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let [mut a, mut b, mut c, mut d, mut e] = h;
        for (i, &word) in w.iter().enumerate() {
            let (f, k) = match i {
                0..=19 => ((b & c) | (!b & d), 0x5A82_7999),
                20..=39 => (b ^ c ^ d, 0x6ED9_EBA1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1B_BCDC),
                _ => (b ^ c ^ d, 0xCA62_C1D6),
            };
            let temp = a
                .rotate_left(5)
                .wrapping_add(f)
                .wrapping_add(e)
                .wrapping_add(k)
                .wrapping_add(word);
            e = d;
            d = c;
            c = b.rotate_left(30);
            b = a;
            a = temp;
        }
        for (state, value) in h.iter_mut().zip([a, b, c, d, e]) {
            *state = state.wrapping_add(value);
        }
    }
    let mut out = [0u8; 20];
    for (chunk, word) in out.chunks_exact_mut(4).zip(h) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha1_matches_known_digests() {
        assert_eq!(sha1_hex(b""), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
        assert_eq!(
            sha1_hex(b"Pizza & Mandolino"),
            "74822d82031af7493c20eefa13bd07ec4fada82f"
        );
        assert_eq!(
            sha1_hex(&[b'a'; 1000]),
            "291e9a6c66994949b57ba5e650361e98fc36b1ba"
        );
    }

    #[test]
    fn lookup_ignores_case() {
        let mut cache = ScriptCache::default();
        let sha = cache.insert(Bytes::from_static(b"return 1"));
        assert!(cache.contains(&sha.to_ascii_uppercase()));
        assert!(!cache.contains("ffd632c7d33e571e9f24556ebed26c3479a87130"));
    }
}
