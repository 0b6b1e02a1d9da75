//! Record ids: 24 lowercase hex digits (the shape of Vanta's ids), derived
//! from the record's index by a bijection so that a by-id lookup or an id
//! filter decodes straight back to the index without any table.

use super::draws::hash3;
use std::fmt;

const K1: u64 = 0x9e37_79b9_7f4a_7c15 | 1;
const K2: u64 = 0xd6e8_feb8_6659_fd93;

/// The multiplicative inverse of an odd number modulo 2^64 (Newton's method:
/// each step doubles the number of correct low bits).
const fn inverse(k: u64) -> u64 {
    let mut inv = k;
    let mut i = 0;
    while i < 6 {
        inv = inv.wrapping_mul(2u64.wrapping_sub(k.wrapping_mul(inv)));
        i += 1;
    }
    inv
}

const K1_INV: u64 = inverse(K1);
const K2_INV: u64 = inverse(K2);

fn scramble(mut x: u64) -> u64 {
    x = x.wrapping_mul(K1);
    x ^= x >> 29;
    x = x.wrapping_mul(K2);
    x ^ (x >> 32)
}

fn unscramble(mut x: u64) -> u64 {
    x ^= x >> 32;
    x = x.wrapping_mul(K2_INV);
    x ^= (x >> 29) ^ (x >> 58);
    x.wrapping_mul(K1_INV)
}

/// The id scheme of one record kind under one seed.
#[derive(Clone, Copy, Debug)]
pub(crate) struct IdSpace {
    /// First four bytes; like an ObjectId's timestamp they start with 0x65..,
    /// and they differ per kind so an asset id is never a vulnerability id.
    prefix: u32,
    key: u64,
}

/// One record id; displays as 24 hex digits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RecordId {
    prefix: u32,
    body: u64,
}

impl IdSpace {
    pub(crate) fn new(seed: u64, kind: u64) -> Self {
        let h = hash3(seed, kind, 0x1d5);
        IdSpace {
            prefix: 0x6500_0000 | ((h >> 40) as u32 & 0x00ff_ffff),
            key: hash3(seed, kind, 0x1d6),
        }
    }

    pub(crate) fn id(&self, index: u64) -> RecordId {
        RecordId {
            prefix: self.prefix,
            body: scramble(index) ^ self.key,
        }
    }

    /// The index an id stands for, if it is an id of this space at all
    /// (whether the index exists is the caller's question).
    pub(crate) fn index_of(&self, id: &str) -> Option<u64> {
        if id.len() != 24
            || !id
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return None;
        }
        let prefix = u32::from_str_radix(&id[..8], 16).ok()?;
        let body = u64::from_str_radix(&id[8..], 16).ok()?;
        (prefix == self.prefix).then(|| unscramble(body ^ self.key))
    }
}

impl RecordId {
    /// The id as 24 ASCII hex digits, without allocating.
    pub(crate) fn to_hex(self) -> [u8; 24] {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut out = [0u8; 24];
        for (i, slot) in out.iter_mut().enumerate() {
            let nibble = if i < 8 {
                (self.prefix >> (28 - 4 * i)) & 0xf
            } else {
                ((self.body >> (60 - 4 * (i - 8))) & 0xf) as u32
            };
            *slot = HEX[nibble as usize];
        }
        out
    }
}

impl fmt::Display for RecordId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hex = self.to_hex();
        f.write_str(std::str::from_utf8(&hex).map_err(|_| fmt::Error)?)
    }
}

impl serde::Serialize for RecordId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let hex = self.to_hex();
        s.serialize_str(std::str::from_utf8(&hex).map_err(serde::ser::Error::custom)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_do_not_cross_kinds() {
        let vulns = IdSpace::new(42, 1);
        let assets = IdSpace::new(42, 3);
        for index in [0u64, 1, 2, 999, 1_000_000, u64::MAX] {
            let id = vulns.id(index).to_string();
            assert_eq!(id.len(), 24);
            assert_eq!(vulns.index_of(&id), Some(index));
            assert_eq!(assets.index_of(&id), None);
        }
        assert_eq!(vulns.index_of("not-an-id"), None);
        assert_eq!(vulns.index_of(&"A".repeat(24)), None);
        assert_ne!(vulns.id(0), vulns.id(1));
    }
}
