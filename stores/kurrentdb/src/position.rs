//! Where a stream revision sits in the log. Record `seq` is event revision
//! `seq` of the ledger's one stream: both count from 0 and neither skips,
//! so the mapping is the identity, but what the server says about a stream
//! is "the last revision" (or "no stream"), and what the log says is "how
//! many records": these functions do the off-by-one in one place.

use mingzhang_ledger::record::StoredRecord;
use mingzhang_ledger::store::Hash;

/// What an append tells the server the stream must be at, so two writers
/// never fork the chain: the server refuses the append otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpectedRevision {
    /// The log is empty: the stream must not exist yet.
    NoStream,
    /// The last event must be this revision.
    Last(u64),
}

/// The expectation of an append whose first record is `first_seq`.
pub fn expected_before(first_seq: u64) -> ExpectedRevision {
    match first_seq.checked_sub(1) {
        None => ExpectedRevision::NoStream,
        Some(last) => ExpectedRevision::Last(last),
    }
}

/// The log's length when the stream's last revision is `last_revision`
/// (`None`: there is no stream).
pub fn len_after(last_revision: Option<u64>) -> u64 {
    last_revision.map_or(0, |last| {
        last.checked_add(1)
            .expect("a revision of u64::MAX cannot exist")
    })
}

/// Where a catch-up subscription that should deliver records `len..` starts:
/// the server's start position is exclusive (it delivers the events after
/// it), and `None` means from the stream's start.
pub fn subscribe_after(len: u64) -> Option<u64> {
    len.checked_sub(1)
}

/// Checks one event read back as record `seq`: its revision is `seq`, its
/// data is one whole record of docs/log-format.md whose own seq is `seq`,
/// and (when known) it links to `prev_hash`. The error says what is wrong.
pub fn record_of_event(
    revision: u64,
    data: &[u8],
    seq: u64,
    prev_hash: Option<&Hash>,
) -> Result<StoredRecord, String> {
    if revision != seq {
        return Err(format!(
            "record {seq} is missing: the stream's next event is revision {revision}"
        ));
    }
    let record = StoredRecord::decode(data).map_err(|error| error.to_string())?;
    if record.len() != data.len() {
        return Err(format!(
            "event revision {revision} holds {} bytes after its record",
            data.len() - record.len()
        ));
    }
    if record.seq() != seq {
        return Err(format!(
            "event revision {revision} holds the record of seq {}",
            record.seq()
        ));
    }
    if let Some(prev_hash) = prev_hash
        && record.prev_hash() != *prev_hash
    {
        return Err(format!(
            "record {seq} does not link to the record before it (chain broken)"
        ));
    }
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::{ExpectedRevision, expected_before, len_after, record_of_event, subscribe_after};
    use mingzhang_ledger::record::{GENESIS_PREV_HASH, StoredRecord};

    #[test]
    fn an_append_at_seq_expects_the_revision_before_it_or_no_stream() {
        assert_eq!(expected_before(0), ExpectedRevision::NoStream);
        assert_eq!(expected_before(1), ExpectedRevision::Last(0));
        assert_eq!(expected_before(150), ExpectedRevision::Last(149));
        assert_eq!(
            expected_before(u64::MAX),
            ExpectedRevision::Last(u64::MAX - 1)
        );
    }

    #[test]
    fn the_last_revision_is_one_less_than_the_logs_length() {
        assert_eq!(len_after(None), 0);
        assert_eq!(len_after(Some(0)), 1);
        assert_eq!(len_after(Some(149)), 150);
        for len in [0, 1, 2, 150] {
            assert_eq!(len_after(subscribe_after(len)), len);
        }
    }

    #[test]
    fn a_subscription_for_records_from_len_starts_after_the_one_before() {
        assert_eq!(subscribe_after(0), None);
        assert_eq!(subscribe_after(1), Some(0));
        assert_eq!(subscribe_after(300), Some(299));
    }

    #[test]
    fn an_event_is_a_record_only_at_its_own_revision_and_linked() {
        let first = StoredRecord::encode(0, &GENESIS_PREV_HASH, b"event 0");
        let second = StoredRecord::encode(1, &first.hash(), b"event 1");
        assert_eq!(
            record_of_event(0, first.bytes(), 0, Some(&GENESIS_PREV_HASH)),
            Ok(first.clone())
        );
        assert_eq!(
            record_of_event(1, second.bytes(), 1, Some(&first.hash())),
            Ok(second.clone())
        );
        assert_eq!(
            record_of_event(1, second.bytes(), 1, None),
            Ok(second.clone())
        );

        let skipped = record_of_event(1, second.bytes(), 0, None).unwrap_err();
        assert!(skipped.contains("record 0 is missing"), "{skipped}");
        let moved = record_of_event(0, second.bytes(), 0, None).unwrap_err();
        assert!(moved.contains("holds the record of seq 1"), "{moved}");
        let forked = record_of_event(1, second.bytes(), 1, Some(&GENESIS_PREV_HASH)).unwrap_err();
        assert!(forked.contains("chain broken"), "{forked}");
        let mut damaged = second.bytes().to_vec();
        damaged[50] ^= 1; // in the payload, under the CRC
        assert!(record_of_event(1, &damaged, 1, None).is_err());
        let mut padded = second.bytes().to_vec();
        padded.push(0);
        let padded = record_of_event(1, &padded, 1, None).unwrap_err();
        assert!(padded.contains("1 bytes after its record"), "{padded}");
    }
}
