//! What a decoder that reuses its messages needs to know of the `event`
//! oneof: each kind's field number, how to clear a kind keeping its
//! strings' capacity, and which kind a payload carries before decoding it.
//! A fresh `EventEnvelope::decode` allocates every string field (about ten
//! per donation); prost's `merge` into a cleared message of the same kind
//! reuses them. The rules' replay and the read models both decode this way.

use crate::v1::event_envelope::Event;

/// Field numbers of the `event` oneof start here (see events.proto); the
/// envelope's own fields are numbered below it.
pub const FIRST_EVENT_FIELD: u32 = 10;

macro_rules! event_kinds {
    ($($variant:ident = $field:literal,)*) => {
        /// The oneof field number of an event.
        pub fn field_number(event: &Event) -> u32 {
            match event {
                $(Event::$variant(_) => $field,)*
            }
        }

        /// One event of every kind, each with default fields.
        pub fn one_event_of_each_kind() -> Vec<Event> {
            vec![$(Event::$variant(Default::default()),)*]
        }

        /// Resets every field of the event's message, keeping its kind and
        /// its strings' and lists' capacity.
        pub fn clear_keeping_kind(event: &mut Event) {
            match event {
                $(Event::$variant(message) => prost::Message::clear(message),)*
            }
        }
    };
}

event_kinds! {
    FundOpened = 10,
    CampaignOpened = 11,
    DonorRegistered = 12,
    OrganisationRegistered = 13,
    DonationReceived = 20,
    DonationRefunded = 21,
    DonationReversed = 22,
    PledgeMade = 30,
    PledgePaymentReceived = 31,
    PledgeAmended = 32,
    PledgeCancelled = 33,
    GrantRoundOpened = 40,
    GrantApplicationSubmitted = 41,
    GrantApplicationReviewed = 42,
    GrantApplicationShortlisted = 43,
    GrantAwarded = 44,
    GrantTrancheDisbursed = 45,
    GrantEvaluationRecorded = 46,
    GrantSelfAssessmentFiled = 47,
    GrantClosed = 48,
    ProjectPublished = 50,
    ProjectClaimed = 51,
    ProjectClaimReleased = 52,
    ProjectFunded = 53,
    ProjectCompleted = 54,
    ExpenditureMade = 60,
    ExpenditureReversed = 61,
    PersonalDataErased = 70,
}

/// The field number of the first field at or above `FIRST_EVENT_FIELD` in
/// an encoded envelope, reading only the keys and skipping the header
/// fields; `None` if there is none or the bytes are malformed (then `merge`
/// reports why). It may be a field no event kind has: callers compare it
/// with `field_number`.
pub fn peek_event_field(mut buf: &[u8]) -> Option<u32> {
    while !buf.is_empty() {
        let key = read_varint(&mut buf)?;
        let field = u32::try_from(key >> 3).ok()?;
        if field >= FIRST_EVENT_FIELD {
            return Some(field);
        }
        let skip = match key & 7 {
            0 => {
                read_varint(&mut buf)?;
                0
            }
            1 => 8,
            2 => usize::try_from(read_varint(&mut buf)?).ok()?,
            5 => 4,
            _ => return None,
        };
        buf = buf.get(skip..)?;
    }
    None
}

fn read_varint(buf: &mut &[u8]) -> Option<u64> {
    let mut value = 0u64;
    for (index, &byte) in buf.iter().enumerate().take(10) {
        value |= u64::from(byte & 0x7f) << (7 * index);
        if byte & 0x80 == 0 {
            *buf = &buf[index + 1..];
            return Some(value);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::v1;
    use prost::Message;

    /// The list above is written by hand: each kind's number must be the one
    /// prost encodes it under, and every kind of the schema must be listed.
    #[test]
    fn every_kind_is_listed_with_the_field_number_prost_writes() {
        let kinds = one_event_of_each_kind();
        for event in &kinds {
            let envelope = v1::EventEnvelope {
                event: Some(event.clone()),
                ..Default::default()
            };
            let payload = envelope.encode_to_vec();
            assert_eq!(peek_event_field(&payload), Some(field_number(event)));
        }
        let mut numbers: Vec<u32> = kinds.iter().map(field_number).collect();
        numbers.dedup();
        assert_eq!(numbers.len(), kinds.len(), "a field number listed twice");
        let generated = include_str!(concat!(env!("OUT_DIR"), "/mingzhang.v1.rs"));
        let oneof_tags = generated
            .lines()
            .skip_while(|line| !line.contains("oneof = \"event_envelope::Event\""))
            .find(|line| line.trim_start().starts_with("tags = "))
            .expect("the envelope's oneof attribute lists its tags")
            .matches(',')
            .count()
            + 1;
        assert_eq!(
            kinds.len(),
            oneof_tags,
            "a kind of the schema is not listed"
        );
    }

    #[test]
    fn a_cleared_event_keeps_its_kind_and_equals_a_fresh_one() {
        let mut event = Event::DonationReceived(v1::DonationReceived {
            donation_id: "gd-1".into(),
            amount_fen: 5_000,
            ..Default::default()
        });
        clear_keeping_kind(&mut event);
        assert_eq!(
            event,
            Event::DonationReceived(v1::DonationReceived::default())
        );
    }

    #[test]
    fn peek_finds_the_event_field_after_the_header() {
        let envelope = v1::EventEnvelope {
            recorded_at_unix_ms: 1_456_804_800_000,
            actor: "operator:t1".into(),
            request_sha256: vec![7; 32],
            event: Some(Event::DonationReceived(v1::DonationReceived::default())),
            ..Default::default()
        };
        assert_eq!(peek_event_field(&envelope.encode_to_vec()), Some(20));
        assert_eq!(peek_event_field(&[]), None);
        assert_eq!(peek_event_field(&[0x12, 0x05, b'a']), None);
    }
}
