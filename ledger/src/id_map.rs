//! Maps and sets keyed by id that grow a little at a time.
//!
//! A hash table that is full doubles: one insert moves every entry into a
//! table twice the size. The decision state holds an entry per donation and
//! per idempotency key, and grows under the write-side lock, so that one
//! insert holds up every write. With one table each, the submit bench's
//! `growth` case saw the call that crossed 917,504 donations take 0.57-0.78 s,
//! and a standalone test the doubling at 1,835,008 take 2.1 s. Split into
//! `SHARDS` tables chosen by the id's hash, a doubling moves a 256th of the
//! entries; the slowest call of that case fell to 25-138 ms.
//!
//! Shards that fill alike would also double alike, all within a few thousand
//! inserts of each other (that case's p99 doubled). So they take unequal
//! shares of the ids, spread evenly over a factor of two (the largest about
//! twice the smallest): as the map grows by half, each shard doubles once,
//! one after another.

use std::fmt;
use std::hash::BuildHasher;
use std::ops::Index;

use compact_str::CompactString;
use foldhash::fast::RandomState;

use crate::slot_index::SlotIndex;

const SHARDS: usize = 256;
/// Slots of the routing table; shard `i` has a number of them proportional
/// to `2^(i / SHARDS)`.
const ROUTE_SLOTS: usize = 1 << 14;

/// Which shard each routing slot leads to (see the module's comment).
static ROUTE: std::sync::LazyLock<Box<[u8; ROUTE_SLOTS]>> = std::sync::LazyLock::new(|| {
    let weight = |shard: usize| (shard as f64 / SHARDS as f64).exp2();
    let total: f64 = (0..SHARDS).map(weight).sum();
    let mut route = Box::new([0u8; ROUTE_SLOTS]);
    let mut cumulative = 0.0;
    let mut slot = 0;
    for shard in 0..SHARDS {
        cumulative += weight(shard);
        let end = if shard == SHARDS - 1 {
            ROUTE_SLOTS
        } else {
            (cumulative / total * ROUTE_SLOTS as f64).round() as usize
        };
        route[slot..end].fill(shard as u8);
        slot = end;
    }
    route
});

/// An id of up to 24 bytes is kept in the entry itself: no allocation of
/// its own, and nothing more for the kernel to fault in as the state grows.
#[derive(Clone)]
struct Entry<V> {
    id: CompactString,
    value: V,
}

/// A shard's entries in the order they came, and the index to them: a new
/// id's entry is appended where the last one ended, so only its index slot
/// is a random place in memory.
#[derive(Clone)]
struct Shard<V> {
    index: SlotIndex,
    entries: Vec<Entry<V>>,
}

impl<V> Default for Shard<V> {
    fn default() -> Self {
        Shard {
            index: SlotIndex::default(),
            entries: Vec::new(),
        }
    }
}

impl<V> Shard<V> {
    #[inline]
    fn find(&self, slot_hash: u32, id: &str) -> Option<usize> {
        self.index
            .probe(slot_hash)
            .map(|row| row as usize)
            .find(|&row| same_id(&self.entries[row].id, id))
    }
}

/// Where in an id's hash the routing slot is read: bits 32 and up, apart
/// from the low 32 the shard's index places it by.
const ROUTE_SHIFT: u32 = 32;

#[derive(Clone)]
pub struct IdMap<V> {
    shards: Box<[Shard<V>]>,
    hasher: RandomState,
}

impl<V> Default for IdMap<V> {
    fn default() -> Self {
        IdMap {
            shards: (0..SHARDS).map(|_| Shard::default()).collect(),
            hasher: RandomState::default(),
        }
    }
}

impl<V> IdMap<V> {
    /// The id's hash for its shard's index, once per call, and the shard
    /// its hash chooses.
    #[inline]
    fn locate(&self, id: &str) -> (u32, usize) {
        let hash = self.hasher.hash_one(id);
        let slot = (hash >> ROUTE_SHIFT) as usize & (ROUTE_SLOTS - 1);
        (hash as u32, usize::from(ROUTE[slot]))
    }

    pub fn get(&self, id: &str) -> Option<&V> {
        let (hash, shard) = self.locate(id);
        let shard = &self.shards[shard];
        shard.find(hash, id).map(|row| &shard.entries[row].value)
    }

    pub fn get_mut(&mut self, id: &str) -> Option<&mut V> {
        let (hash, shard) = self.locate(id);
        let shard = &mut self.shards[shard];
        let row = shard.find(hash, id)?;
        Some(&mut shard.entries[row].value)
    }

    pub fn contains_key(&self, id: &str) -> bool {
        self.get(id).is_some()
    }

    /// Reads the index slot a lookup of `id` starts at, and nothing else
    /// (see `SlotIndex::warm_up`).
    #[inline]
    pub fn warm_up(&self, id: &str) {
        let (hash, shard) = self.locate(id);
        self.shards[shard].index.warm_up(hash);
    }

    /// Like `HashMap::insert`: the value `id` had, if any.
    pub fn insert(&mut self, id: impl AsRef<str>, value: V) -> Option<V> {
        let id = id.as_ref();
        let (hash, shard) = self.locate(id);
        let shard = &mut self.shards[shard];
        if let Some(row) = shard.find(hash, id) {
            return Some(std::mem::replace(&mut shard.entries[row].value, value));
        }
        let row = u32::try_from(shard.entries.len()).expect("fewer than 2^32 ids in a shard");
        shard.index.insert(hash, row);
        shard.entries.push(Entry {
            id: CompactString::new(id),
            value,
        });
        None
    }

    /// Makes room for about `additional` more ids, each shard for its share
    /// of them, for a replay that knows how many records are coming.
    pub fn reserve(&mut self, additional: usize) {
        let mut route_slots = [0usize; SHARDS];
        for &shard in ROUTE.iter() {
            route_slots[usize::from(shard)] += 1;
        }
        for (shard, slots) in self.shards.iter_mut().zip(route_slots) {
            let share =
                additional / ROUTE_SLOTS * slots + additional % ROUTE_SLOTS * slots / ROUTE_SLOTS;
            shard.entries.reserve(share);
            shard.index.reserve(shard.entries.len() + share);
        }
    }

    /// Every entry, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &V)> {
        self.shards.iter().flat_map(|shard| {
            shard
                .entries
                .iter()
                .map(|entry| (entry.id.as_str(), &entry.value))
        })
    }

    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.iter().map(|(_, value)| value)
    }
}

/// `a == b` for ids, compared in place when up to 16 bytes long: the
/// replay compares some twenty ids a record, nearly all this short, and
/// `==` calls the C library's `memcmp` for each (a tenth of the rules'
/// CPU in a profile).
#[inline]
pub(crate) fn same_id(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let len = a.len();
    let word = |bytes: &[u8], at: usize| {
        u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"))
    };
    match len {
        // Two words that overlap in the middle cover every byte.
        8..=16 => word(a, 0) == word(b, 0) && word(a, len - 8) == word(b, len - 8),
        0..8 => a.iter().zip(b).all(|(x, y)| x == y),
        _ => a == b,
    }
}

impl<V, Id: AsRef<str> + ?Sized> Index<&Id> for IdMap<V> {
    type Output = V;

    fn index(&self, id: &Id) -> &V {
        let id = id.as_ref();
        self.get(id)
            .unwrap_or_else(|| panic!("no entry for id {id:?}"))
    }
}

impl<V: fmt::Debug> fmt::Debug for IdMap<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

/// A set of ids, sharded like `IdMap`.
#[derive(Clone, Default)]
pub struct IdSet {
    ids: IdMap<()>,
}

impl IdSet {
    pub fn contains(&self, id: &str) -> bool {
        self.ids.contains_key(id)
    }

    /// See `IdMap::warm_up`.
    #[inline]
    pub fn warm_up(&self, id: &str) {
        self.ids.warm_up(id);
    }

    /// Like `HashSet::insert`: whether `id` was new.
    pub fn insert(&mut self, id: impl AsRef<str>) -> bool {
        self.ids.insert(id, ()).is_none()
    }
}

impl fmt::Debug for IdSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set()
            .entries(self.ids.iter().map(|(id, ())| id))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::{IdMap, IdSet, SHARDS};
    use std::hash::BuildHasher;

    #[test]
    fn a_reserved_map_takes_that_many_ids_without_growing_a_shard() {
        let ids = 200_000;
        let mut map = IdMap::default();
        map.reserve(ids);
        let capacities: Vec<usize> = map
            .shards
            .iter()
            .map(|shard| shard.index.capacity())
            .collect();
        for n in 0..ids {
            map.insert(format!("don-{n}"), n);
        }
        // The ids' hashes spread them over the shards by share, within
        // chance: allow each shard a few percent over its share.
        let grown = map
            .shards
            .iter()
            .zip(&capacities)
            .filter(|(shard, capacity)| shard.index.capacity() > **capacity)
            .count();
        assert!(grown <= SHARDS / 20, "{grown} of {SHARDS} shards grew");
    }

    #[test]
    fn behaves_as_one_map() {
        let mut map = IdMap::default();
        for n in 0..10_000 {
            assert_eq!(map.insert(format!("donation-{n}"), n), None);
        }
        assert_eq!(map.insert("donation-7", 70), Some(7));
        assert_eq!(map.iter().count(), 10_000);
        assert_eq!(map.get("donation-7"), Some(&70));
        assert_eq!(map["donation-9999"], 9999);
        assert_eq!(map[&"donation-1".to_string()], 1);
        assert!(!map.contains_key("donation-10000"));
        *map.get_mut("donation-3").unwrap() += 1;
        assert_eq!(map["donation-3"], 4);
        let mut values: Vec<i32> = map.values().copied().collect();
        values.sort_unstable();
        assert_eq!(values.len(), 10_000);
        assert_eq!(
            values.iter().map(|&v| i64::from(v)).sum::<i64>(),
            49_995_000 + 63 + 1
        );
    }

    #[test]
    fn ids_past_24_bytes_are_kept_whole() {
        // Such ids live outside the entry; shorter ones in it.
        let mut map = IdMap::default();
        map.insert("donation-7", 7);
        let long_id = format!("donation-{}", "x".repeat(100));
        assert_eq!(map.insert(&long_id, -1), None);
        assert_eq!(map.get(&long_id), Some(&-1));
        assert_eq!(map.get(&long_id[..50]), None);
        assert_eq!(map.insert(&long_id, -2), Some(-1));
        assert_eq!(
            map.iter().find(|&(_, &v)| v == -2).map(|(id, _)| id),
            Some(long_id.as_str())
        );
        assert_eq!(map.insert(&long_id, 0), Some(-2));
        assert_eq!(map["donation-7"], 7);
        assert_eq!(map.iter().count(), 2);
    }

    #[test]
    fn shards_take_shares_spread_evenly_over_a_factor_of_two() {
        let mut map = IdMap::default();
        for n in 0..SHARDS * 1000 {
            map.insert(format!("key-{n}"), ());
        }
        // Groups of 32 shards, so that chance moves a group's share by ~1%.
        let group_share = |first: usize| -> f64 {
            let ids: usize = map.shards[first..first + 32]
                .iter()
                .map(|s| s.entries.len())
                .sum();
            ids as f64
        };
        let (low, middle, high) = (group_share(0), group_share(112), group_share(224));
        // The groups' middles are 112 and 224 shards on: 2^(112/256) and 2^(224/256).
        assert!((1.29..1.42).contains(&(middle / low)), "{low} {middle}");
        assert!((1.75..1.92).contains(&(high / low)), "{low} {high}");
        let ids: usize = map.shards.iter().map(|shard| shard.entries.len()).sum();
        assert_eq!(ids, SHARDS * 1000);
    }

    #[test]
    fn the_routing_table_leads_to_every_shard_in_order() {
        let route = &**super::ROUTE;
        assert_eq!(route[0], 0);
        assert_eq!(route[super::ROUTE_SLOTS - 1] as usize, SHARDS - 1);
        assert!(
            route
                .windows(2)
                .all(|pair| pair[1] == pair[0] || pair[1] == pair[0] + 1)
        );
    }

    #[test]
    fn ids_that_share_a_shard_spread_over_its_whole_table() {
        let mut map = IdMap::default();
        for n in 0..SHARDS * 2000 {
            map.insert(format!("donation-{n}"), ());
        }
        // A shard's index places an id by the top bits of the hash's low
        // half. Were the shard chosen by those bits too, a shard's ids would
        // crowd a few places.
        let shard = &map.shards[SHARDS / 2];
        let places_log2 = 9;
        let used: std::collections::HashSet<u32> = shard
            .entries
            .iter()
            .map(|entry| (map.hasher.hash_one(entry.id.as_str()) as u32) >> (32 - places_log2))
            .collect();
        let places = 1usize << places_log2;
        assert!(
            shard.entries.len() > 2 * places,
            "{} ids",
            shard.entries.len()
        );
        assert!(
            used.len() > places * 3 / 4,
            "{} of {places} places",
            used.len()
        );
    }

    #[test]
    fn ids_compare_equal_exactly_when_their_bytes_do() {
        let ids = [
            "",
            "a",
            "b",
            "ab",
            "ba",
            "1234567",
            "1234568",
            "12345678",
            "12345679",
            "02345678",
            "123456789",
            "123456788",
            "023456789",
            "gd-1234567",
            "gd-1234568",
            "hd-1234567",
            "0123456789abcdef",
            "0123456789abcdeF",
            "0123456789abcdef0",
            "0123456789abcdef1",
            "捐赠-1",
            "捐赠-2",
        ];
        for a in ids {
            for b in ids {
                assert_eq!(super::same_id(a, b), a == b, "{a:?} {b:?}");
            }
        }
    }

    #[test]
    fn a_set_says_whether_an_id_was_new() {
        let mut set = IdSet::default();
        assert!(set.insert("refund-1"));
        assert!(!set.insert("refund-1"));
        assert!(set.contains("refund-1"));
        assert!(!set.contains("refund-2"));
    }
}
