//! Entity tables: the rows of one kind of entity in log order, and an index
//! from the log's string id to the row.
//!
//! The index (`SlotIndex`, shared with the decision state) keeps 32 bits of
//! each id's hash and its row number, no id: the id lives once, in its row,
//! and a donation applied to a table of millions misses the cache once.

use mingzhang_ledger::slot_index::SlotIndex;

use crate::accounts::EntityIndex;
use crate::id::Id;

/// A row of a [`Table`]: it carries the id it was inserted under, and that
/// id never changes afterwards.
pub(crate) trait Row {
    fn id(&self) -> &str;
}

#[derive(Clone)]
pub(crate) struct Table<T> {
    rows: Vec<T>,
    index: SlotIndex,
}

impl<T> Default for Table<T> {
    fn default() -> Self {
        Table {
            rows: Vec::new(),
            index: SlotIndex::default(),
        }
    }
}

/// The index is derived from the rows: two tables with the same rows are equal.
impl<T: PartialEq> PartialEq for Table<T> {
    fn eq(&self, other: &Self) -> bool {
        self.rows == other.rows
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for Table<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.rows.fmt(f)
    }
}

/// Rows are read and updated in place by index; new rows come only through
/// [`Table::push`], which keeps the index in step.
impl<T> std::ops::Deref for Table<T> {
    type Target = [T];

    fn deref(&self) -> &[T] {
        &self.rows
    }
}

impl<T> std::ops::DerefMut for Table<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        &mut self.rows
    }
}

impl<'a, T> IntoIterator for &'a Table<T> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;

    fn into_iter(self) -> Self::IntoIter {
        self.rows.iter()
    }
}

impl<T: Row> Table<T> {
    /// The row of `id`, if it was inserted.
    #[inline]
    pub(crate) fn index_of(&self, id: &str) -> Option<EntityIndex> {
        let hash = hash_high(id);
        self.index
            .probe(hash)
            .find(|&row| self.rows[row as usize].id() == id)
    }

    /// The id a new row for `id` carries; `None` if a row already has it.
    pub(crate) fn vacant(&self, id: &str) -> Option<Id> {
        self.index_of(id).is_none().then(|| Id::new(id))
    }

    /// Reads the slot `id` hashes to and returns nothing: called for the
    /// ids of records about to be applied, one right after another, so the
    /// processor waits for their cache misses together rather than in turn.
    #[inline]
    pub(crate) fn warm_up(&self, id: &str) {
        self.index.warm_up(hash_high(id));
    }

    /// Makes room for `additional` more rows, so that a rebuild that knows
    /// how many records are coming never moves the rows or rehashes.
    pub(crate) fn reserve(&mut self, additional: usize) {
        self.rows.reserve(additional);
        self.index.reserve(self.rows.len() + additional);
    }

    /// Appends `row` (whose id [`Table::vacant`] returned) and indexes it.
    pub(crate) fn push(&mut self, row: T) {
        let index = EntityIndex::try_from(self.rows.len()).expect("fewer than 2^32 rows of a kind");
        debug_assert!(
            self.index_of(row.id()).is_none(),
            "{:?} inserted twice",
            row.id()
        );
        self.index.insert(hash_high(row.id()), index);
        self.rows.push(row);
        debug_assert_eq!(self.index.len(), self.rows.len());
    }
}

/// Seeded at random once per process: ids come from callers, and ids made
/// to share their hash bits would pile into one run of slots.
static HASHER: std::sync::LazyLock<foldhash::fast::RandomState> =
    std::sync::LazyLock::new(foldhash::fast::RandomState::default);

/// The upper 32 bits of the id's 64-bit hash.
#[inline]
fn hash_high(id: &str) -> u32 {
    use std::hash::BuildHasher;
    (HASHER.hash_one(id) >> 32) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, PartialEq)]
    struct Named {
        id: Id,
        n: usize,
    }

    impl Row for Named {
        fn id(&self) -> &str {
            &self.id
        }
    }

    fn table_of(ids: &[String]) -> Table<Named> {
        let mut table = Table::default();
        for (n, id) in ids.iter().enumerate() {
            let id = table.vacant(id).expect("new id");
            table.push(Named { id, n });
        }
        table
    }

    #[test]
    fn every_inserted_id_finds_its_row_after_the_index_grew() {
        let long = "x".repeat(64);
        let mut ids: Vec<String> = (0..50_000).map(|n| format!("don-{n}")).collect();
        ids.extend(["", "d", "a234567890123456789012345678901", long.as_str()].map(String::from));
        let table = table_of(&ids);
        assert_eq!(table.len(), ids.len());
        for (n, id) in ids.iter().enumerate() {
            let row = table.index_of(id).expect("inserted id is found");
            assert_eq!(row as usize, n);
            assert_eq!(&*table[n].id, id.as_str());
            assert_eq!(table[n].n, n);
        }
        for missing in ["don-50000", "don-", "don-00", "x", "dön-1"] {
            assert_eq!(table.index_of(missing), None, "{missing}");
        }
    }

    #[test]
    fn an_id_already_in_the_table_is_not_vacant() {
        let table = table_of(&["fund-1".to_owned(), "fund-2".to_owned()]);
        assert!(table.vacant("fund-1").is_none());
        assert!(table.vacant("fund-2").is_none());
        assert_eq!(table.vacant("fund-3").as_deref(), Some("fund-3"));
    }

    #[test]
    fn ids_differing_in_one_byte_or_trailing_zeros_are_distinct() {
        let ids: Vec<String> = ["a", "a\0", "a\0\0\0\0\0\0\0", "b", "ab", "ba"]
            .map(String::from)
            .to_vec();
        let table = table_of(&ids);
        for (n, id) in ids.iter().enumerate() {
            assert_eq!(table.index_of(id), Some(n as EntityIndex));
        }
    }

    #[test]
    fn sequential_ids_spread_over_the_buckets() {
        // The failure this hash avoids: "don-N" ids sharing a few thousand
        // bucket positions out of a million.
        let buckets_log2 = 20;
        let mut used = vec![false; 1 << buckets_log2];
        let ids = 700_000;
        for n in 0..ids {
            let hash = hash_high(&format!("don-{n}"));
            used[(hash >> (32 - buckets_log2)) as usize] = true;
        }
        let distinct = used.iter().filter(|&&used| used).count();
        // A uniform hash fills 1 - e^(-0.67) ≈ 49 % of the buckets.
        assert!(distinct > 450_000, "{distinct} distinct buckets");
    }
}
