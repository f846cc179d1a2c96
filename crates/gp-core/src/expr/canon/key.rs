//! Keys: a 128-bit hash of a normal form's byte encoding, which names operators and variables
//! by their names and coefficients rounded to 40 significant bits, so that a key is stable
//! across runs, machines and source changes that keep the rules ([`CANON_VERSION`]).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

use super::poly::{Atom, Poly};

/// Bumped whenever a rule changes, so that keys cached by earlier versions are not mistaken
/// for keys of the current normal form.
pub const CANON_VERSION: u32 = 1;

/// A 128-bit identity of an expression or loss under the rules of [`canon`](super), printed as
/// 32 hexadecimal digits. Stable across runs, machines and lossgp versions with the same
/// [`CANON_VERSION`], so it can key a cache on disk.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key([u8; 16]);

impl Key {
    pub(super) fn digest(domain: &str, poly: &Poly) -> Key {
        Key::digest_with(domain, poly, &[])
    }

    /// The digest of `poly`, and of `notes` where there are any (so keys without notes are
    /// those of earlier versions).
    pub(super) fn digest_with(domain: &str, poly: &Poly, notes: &[String]) -> Key {
        let mut bytes = Vec::with_capacity(256);
        bytes.extend_from_slice(&CANON_VERSION.to_le_bytes());
        bytes.extend_from_slice(domain.as_bytes());
        bytes.push(0);
        encode_poly(poly, &mut bytes);
        for note in notes {
            bytes.push(0xff);
            bytes.extend_from_slice(note.as_bytes());
        }
        let hash = Sha256::digest(&bytes);
        let mut key = [0; 16];
        key.copy_from_slice(&hash[..16]);
        Key(key)
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Key({self})")
    }
}

/// A string that is not 32 hexadecimal digits.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a lossgp key (32 hexadecimal digits)")]
pub struct BadKey(String);

impl FromStr for Key {
    type Err = BadKey;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || BadKey(s.to_owned());
        if s.len() != 32 || !s.is_ascii() {
            return Err(bad());
        }
        let mut key = [0; 16];
        for (i, byte) in key.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
        }
        Ok(Key(key))
    }
}

impl Serialize for Key {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}

/// A byte encoding of the normal form that names operators and variables by their names, so
/// that reordering enums in the source never changes a key.
fn encode_poly(poly: &Poly, out: &mut Vec<u8>) {
    out.push(b'(');
    for (m, c) in &poly.0 {
        out.extend_from_slice(&c.rounded().to_bits().to_le_bytes());
        for (atom, k) in &m.0 {
            encode_atom(atom, out);
            out.extend_from_slice(&k.to_le_bytes());
        }
        out.push(b';');
    }
    out.push(b')');
}

fn encode_atom(atom: &Atom, out: &mut Vec<u8>) {
    let (tag, name, args): (u8, &str, &[Poly]) = match atom {
        Atom::Var(v) => (b'v', v.name(), &[]),
        Atom::Classes => (b'C', "", &[]),
        Atom::PerClass => (b'c', "", &[]),
        Atom::Apply(op, args) => (b'a', op.name(), args),
        Atom::Factor(p) => (b'x', "", std::slice::from_ref(p)),
    };
    out.push(tag);
    out.extend_from_slice(name.as_bytes());
    out.push(b'[');
    for arg in args {
        encode_poly(arg, out);
    }
    out.push(b']');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::canon::testing::key;

    /// The range rules only touch expressions at the edges of the float range: the keys of
    /// ordinary losses, which caches on disk hold, are those of earlier versions.
    #[test]
    fn ordinary_keys_are_unchanged() {
        let ce = crate::loss::builtin("ce").unwrap().loss();
        assert_eq!(ce.training_key().to_string(), "408268e78377ff270eb022c6daf5da06");
    }

    #[test]
    fn keys_print_and_parse() {
        let k = key("exp(2.4092 - p*(1 + y)) - cos(cos(sin(p)))");
        assert_eq!(k.to_string().len(), 32);
        assert_eq!(k.to_string().parse::<Key>(), Ok(k));
        assert_eq!(serde_json::from_str::<Key>(&serde_json::to_string(&k).unwrap()).unwrap(), k);
        assert!("xyz".parse::<Key>().is_err());
        assert!("é".repeat(16).parse::<Key>().is_err());
    }
}
