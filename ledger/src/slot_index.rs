//! An index from 32 bits of an id's hash to the row that holds the id:
//! open addressing with linear probing over one `u64` a slot, the hash bits
//! and the row number, with no id (it lives once, in its row). A lookup
//! reads one slot and, more rarely, the next few, which nearly always share
//! its cache line, and reads a row only when the hash bits match: an id
//! added to a table of millions misses the cache once, where a table with
//! separate control bytes and entries (hashbrown's) missed twice, and
//! [`SlotIndex::warm_up`] can take that one miss early. Growing moves slots
//! by their stored hash bits, so it never reads a row.
//!
//! The decision state's id maps and the read models' entity tables index
//! their rows with it.

/// An empty slot; a full one holds `hash << 32 | (row + 1)`.
const EMPTY: u64 = 0;
/// Slots filled at most to 7 in 10: linear probing's runs stay short (an
/// absent id reads about 3.6 slots at 0.6 full, 29 bytes).
const LOAD_TENTHS_MAX: usize = 7;

#[derive(Clone, Default)]
pub struct SlotIndex {
    /// A power of two of them, or none before the first insert.
    slots: Vec<u64>,
    len: usize,
}

impl SlotIndex {
    /// Rows indexed.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Rows it indexes before it grows.
    pub fn capacity(&self) -> usize {
        self.slots.len() * LOAD_TENTHS_MAX / 10
    }

    /// Where a probe for `hash` starts: its top bits, as many as the
    /// table's size needs.
    #[inline]
    fn start(&self, hash: u32) -> usize {
        ((u64::from(hash) * self.slots.len() as u64) >> 32) as usize
    }

    /// The rows whose slots carry `hash`, in probe order, up to the first
    /// empty slot: the caller compares each row's id.
    #[inline]
    pub fn probe(&self, hash: u32) -> impl Iterator<Item = u32> + '_ {
        let mask = self.slots.len().wrapping_sub(1);
        let mut at = self.start(hash);
        let mut done = self.slots.is_empty();
        std::iter::from_fn(move || {
            while !done {
                let slot = self.slots[at];
                if slot == EMPTY {
                    done = true;
                    break;
                }
                at = (at + 1) & mask;
                if (slot >> 32) as u32 == hash {
                    return Some(slot as u32 - 1);
                }
            }
            None
        })
    }

    /// Reads the slot a probe for `hash` starts at and returns nothing:
    /// called for the ids of records about to be applied, one right after
    /// another, so the processor waits for their cache misses together
    /// rather than in turn.
    #[inline]
    pub fn warm_up(&self, hash: u32) {
        if !self.slots.is_empty() {
            std::hint::black_box(self.slots[self.start(hash)]);
        }
    }

    /// Indexes `row` under `hash`. The caller has probed: no row with the
    /// same id is indexed.
    pub fn insert(&mut self, hash: u32, row: u32) {
        assert!(row < u32::MAX, "fewer than 2^32 - 1 rows");
        if (self.len + 1) * 10 > self.slots.len() * LOAD_TENTHS_MAX {
            self.reserve(self.len + 1);
        }
        self.place(hash, u64::from(hash) << 32 | u64::from(row + 1));
        self.len += 1;
    }

    /// Puts `slot` in the first empty slot from `hash`'s start.
    fn place(&mut self, hash: u32, slot: u64) {
        let mask = self.slots.len() - 1;
        let mut at = self.start(hash);
        while self.slots[at] != EMPTY {
            at = (at + 1) & mask;
        }
        self.slots[at] = slot;
    }

    /// Grows to index `len` rows in all without growing again.
    pub fn reserve(&mut self, len: usize) {
        if len == 0 {
            return;
        }
        let needed = (len * 10)
            .div_ceil(LOAD_TENTHS_MAX)
            .next_power_of_two()
            .max(8);
        if needed <= self.slots.len() {
            return;
        }
        let old = std::mem::replace(&mut self.slots, vec![EMPTY; needed]);
        for slot in old.into_iter().filter(|&slot| slot != EMPTY) {
            self.place((slot >> 32) as u32, slot);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::SlotIndex;

    #[test]
    fn probes_run_past_equal_hashes_and_wrap_around_the_end() {
        let mut index = SlotIndex::default();
        // Equal hashes whose probes start at the last slot and wrap, then a
        // hash whose own start they took.
        for row in 0..5 {
            index.insert(u32::MAX, row);
        }
        index.insert(0, 5);
        assert_eq!(index.slots.len(), 16, "grew past 7 in 10 full");
        let mut equal = index.probe(u32::MAX).collect::<Vec<_>>();
        equal.sort_unstable();
        assert_eq!(equal, [0, 1, 2, 3, 4]);
        assert_eq!(index.probe(0).collect::<Vec<_>>(), [5]);
        assert_eq!(index.probe(1 << 31).count(), 0);
        assert_eq!(SlotIndex::default().probe(0).count(), 0);
        assert_eq!(index.len(), 6);
    }

    #[test]
    fn every_row_is_found_by_its_hash_after_growing() {
        let mut index = SlotIndex::default();
        let hash = |row: u32| row.wrapping_mul(0x9e37_79b9);
        for row in 0..100_000 {
            index.insert(hash(row), row);
        }
        for row in 0..100_000 {
            assert!(index.probe(hash(row)).any(|found| found == row), "{row}");
        }
        assert!(index.capacity() >= 100_000);
    }

    #[test]
    fn reserving_nothing_allocates_nothing() {
        let mut index = SlotIndex::default();
        index.reserve(0);
        assert!(index.slots.is_empty());
        assert_eq!(index.probe(7).count(), 0);
    }

    #[test]
    fn a_reserved_index_does_not_grow() {
        let mut index = SlotIndex::default();
        index.reserve(1000);
        let slots = index.slots.len();
        for row in 0..1000 {
            index.insert(row * 7919, row);
        }
        assert_eq!(index.slots.len(), slots);
    }
}
