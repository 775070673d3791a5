//! Entity ids as the read models keep them. Ids are 1..64 chars and almost
//! always short ("don-000123"), so they live inline: no allocation when a
//! donation is applied, and comparing two ids touches no other cache line.

use std::borrow::Borrow;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// Longest id kept inline; longer ones share one heap copy.
const INLINE_LEN_MAX: usize = 30;

#[derive(Clone)]
pub(crate) enum Id {
    Inline {
        len: u8,
        bytes: [u8; INLINE_LEN_MAX],
    },
    Shared(Arc<str>),
}

impl Id {
    pub(crate) fn new(id: &str) -> Id {
        if id.len() <= INLINE_LEN_MAX {
            let mut bytes = [0u8; INLINE_LEN_MAX];
            bytes[..id.len()].copy_from_slice(id.as_bytes());
            Id::Inline {
                len: id.len() as u8,
                bytes,
            }
        } else {
            Id::Shared(Arc::from(id))
        }
    }

    pub(crate) fn as_str(&self) -> &str {
        match self {
            Id::Inline { len, bytes } => {
                let text = &bytes[..usize::from(*len)];
                debug_assert!(std::str::from_utf8(text).is_ok());
                // SAFETY: `bytes[..len]` is a whole `&str` copied in `Id::new`
                // and never written afterwards, so it is valid UTF-8.
                unsafe { std::str::from_utf8_unchecked(text) }
            }
            Id::Shared(id) => id,
        }
    }
}

impl std::ops::Deref for Id {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl Borrow<str> for Id {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

/// Hashes exactly as the `str` it holds, as `Borrow<str>` requires.
impl Hash for Id {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl PartialEq for Id {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Id {}

impl std::fmt::Debug for Id {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_str(), f)
    }
}

impl std::fmt::Display for Id {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_and_long_ids_read_back_and_compare_as_their_text() {
        let long = "x".repeat(64);
        for text in [
            "d",
            "don-000123",
            "a234567890123456789012345678901",
            long.as_str(),
        ] {
            let id = Id::new(text);
            assert_eq!(id.as_str(), text);
            assert_eq!(id, Id::new(text));
            let mut map = std::collections::HashMap::new();
            map.insert(id, 1);
            assert_eq!(map.get(text), Some(&1));
        }
        assert_ne!(Id::new("d1"), Id::new("d2"));
    }
}
