//! Zero-copy decoding of the events a rebuild meets most (donations and
//! pledge payments, 85 % of a giving-day log): their strings are borrowed
//! from the payload instead of copied into the decoder's messages.
//!
//! This is a fast path, not a second decoder: it accepts only envelopes it
//! reads exactly as prost would (same values, no error prost would raise),
//! and says `None` for anything else (another kind, an unknown field, a
//! repeated event field, a 10-byte varint, bad UTF-8, a wrong wire type), so
//! that the caller decodes that envelope with prost. Debug builds compare
//! every envelope it accepts with a prost decode.

use mingzhang_proto::v1;

/// Field numbers of the envelope (events.proto, `EventEnvelope`).
const ENVELOPE_RECORDED_AT: u32 = 1;
const ENVELOPE_ACTOR: u32 = 2;
const ENVELOPE_IDEMPOTENCY_KEY: u32 = 3;
const ENVELOPE_REQUEST_SHA256: u32 = 4;
const EVENT_DONATION_RECEIVED: u32 = 20;
const EVENT_PLEDGE_PAYMENT_RECEIVED: u32 = 31;

/// `v1::DonationReceived` with borrowed strings.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct DonationReceived<'a> {
    pub(crate) donation_id: &'a str,
    pub(crate) donor_id: &'a str,
    pub(crate) fund_id: &'a str,
    pub(crate) campaign_id: &'a str,
    pub(crate) project_id: &'a str,
    pub(crate) amount_fen: i64,
    pub(crate) channel: i32,
    pub(crate) bank_reference: &'a str,
    pub(crate) anonymous: bool,
    pub(crate) received_on: &'a str,
}

impl<'a> From<&'a v1::DonationReceived> for DonationReceived<'a> {
    fn from(e: &'a v1::DonationReceived) -> Self {
        DonationReceived {
            donation_id: &e.donation_id,
            donor_id: &e.donor_id,
            fund_id: &e.fund_id,
            campaign_id: &e.campaign_id,
            project_id: &e.project_id,
            amount_fen: e.amount_fen,
            channel: e.channel,
            bank_reference: &e.bank_reference,
            anonymous: e.anonymous,
            received_on: &e.received_on,
        }
    }
}

/// `v1::PledgePaymentReceived` with borrowed strings.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct PledgePaymentReceived<'a> {
    pub(crate) payment_id: &'a str,
    pub(crate) pledge_id: &'a str,
    pub(crate) amount_fen: i64,
    pub(crate) channel: i32,
    pub(crate) bank_reference: &'a str,
    pub(crate) received_on: &'a str,
}

impl<'a> From<&'a v1::PledgePaymentReceived> for PledgePaymentReceived<'a> {
    fn from(e: &'a v1::PledgePaymentReceived) -> Self {
        PledgePaymentReceived {
            payment_id: &e.payment_id,
            pledge_id: &e.pledge_id,
            amount_fen: e.amount_fen,
            channel: e.channel,
            bank_reference: &e.bank_reference,
            received_on: &e.received_on,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum FastEvent<'a> {
    DonationReceived(DonationReceived<'a>),
    PledgePaymentReceived(PledgePaymentReceived<'a>),
}

/// An envelope the fast path read: its event is always set.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct FastEnvelope<'a> {
    pub(crate) recorded_at_unix_ms: i64,
    pub(crate) event: FastEvent<'a>,
}

impl FastEnvelope<'_> {
    /// Whether `full` (prost's decode of the same payload) has the same values.
    pub(crate) fn agrees_with(&self, full: &v1::EventEnvelope) -> bool {
        use v1::event_envelope::Event;
        let same_event = match (&self.event, &full.event) {
            (FastEvent::DonationReceived(fast), Some(Event::DonationReceived(full))) => {
                *fast == DonationReceived::from(full)
            }
            (FastEvent::PledgePaymentReceived(fast), Some(Event::PledgePaymentReceived(full))) => {
                *fast == PledgePaymentReceived::from(full)
            }
            _ => false,
        };
        same_event && self.recorded_at_unix_ms == full.recorded_at_unix_ms
    }
}

/// `payload` read without copying, if it is a donation or a pledge payment
/// that prost would decode to the same values; `None` otherwise.
pub(crate) fn decode(payload: &[u8]) -> Option<FastEnvelope<'_>> {
    let mut fields = Fields { rest: payload };
    let mut recorded_at_unix_ms = 0;
    let mut event = None;
    while let Some((field, value)) = fields.next()? {
        match (field, value) {
            (ENVELOPE_RECORDED_AT, Value::Varint(value)) => recorded_at_unix_ms = value as i64,
            // Read only to refuse what prost refuses: a string that is not UTF-8.
            (ENVELOPE_ACTOR | ENVELOPE_IDEMPOTENCY_KEY, Value::Len(bytes)) => {
                utf8(bytes)?;
            }
            (ENVELOPE_REQUEST_SHA256, Value::Len(_)) => {}
            // A second event field merges into or replaces the first: prost's business.
            (EVENT_DONATION_RECEIVED, Value::Len(bytes)) if event.is_none() => {
                event = Some(FastEvent::DonationReceived(donation_received(bytes)?));
            }
            (EVENT_PLEDGE_PAYMENT_RECEIVED, Value::Len(bytes)) if event.is_none() => {
                event = Some(FastEvent::PledgePaymentReceived(pledge_payment_received(
                    bytes,
                )?));
            }
            _ => return None,
        }
    }
    Some(FastEnvelope {
        recorded_at_unix_ms,
        event: event?,
    })
}

fn donation_received(bytes: &[u8]) -> Option<DonationReceived<'_>> {
    let mut e = DonationReceived::default();
    let mut fields = Fields { rest: bytes };
    while let Some((field, value)) = fields.next()? {
        match (field, value) {
            (1, Value::Len(text)) => e.donation_id = utf8(text)?,
            (2, Value::Len(text)) => e.donor_id = utf8(text)?,
            (3, Value::Len(text)) => e.fund_id = utf8(text)?,
            (4, Value::Len(text)) => e.campaign_id = utf8(text)?,
            (5, Value::Len(text)) => e.project_id = utf8(text)?,
            (6, Value::Varint(value)) => e.amount_fen = value as i64,
            (7, Value::Varint(value)) => e.channel = value as i32,
            (8, Value::Len(text)) => e.bank_reference = utf8(text)?,
            (9, Value::Varint(value)) => e.anonymous = value != 0,
            (10, Value::Len(text)) => e.received_on = utf8(text)?,
            _ => return None,
        }
    }
    Some(e)
}

fn pledge_payment_received(bytes: &[u8]) -> Option<PledgePaymentReceived<'_>> {
    let mut e = PledgePaymentReceived::default();
    let mut fields = Fields { rest: bytes };
    while let Some((field, value)) = fields.next()? {
        match (field, value) {
            (1, Value::Len(text)) => e.payment_id = utf8(text)?,
            (2, Value::Len(text)) => e.pledge_id = utf8(text)?,
            (3, Value::Varint(value)) => e.amount_fen = value as i64,
            (4, Value::Varint(value)) => e.channel = value as i32,
            (5, Value::Len(text)) => e.bank_reference = utf8(text)?,
            (6, Value::Len(text)) => e.received_on = utf8(text)?,
            _ => return None,
        }
    }
    Some(e)
}

/// Ids, dates and references are ASCII: checking that inline costs a few
/// word compares, where `from_utf8` is a call per field (a tenth of a
/// rebuild's time when it was used alone).
#[inline]
fn utf8(bytes: &[u8]) -> Option<&str> {
    if bytes.is_ascii() {
        // SAFETY: ASCII bytes are valid UTF-8.
        Some(unsafe { std::str::from_utf8_unchecked(bytes) })
    } else {
        std::str::from_utf8(bytes).ok()
    }
}

/// A field's value by wire type; the fast path needs no other.
#[derive(Debug, Clone, Copy)]
enum Value<'a> {
    Varint(u64),
    Len(&'a [u8]),
}

struct Fields<'a> {
    rest: &'a [u8],
}

impl<'a> Fields<'a> {
    /// `Some(Some(field))`, `Some(None)` at the end, `None` for anything the
    /// fast path leaves to prost (fixed-width or group wire types, field 0,
    /// long varints, a length past the end).
    #[inline]
    fn next(&mut self) -> Option<Option<(u32, Value<'a>)>> {
        if self.rest.is_empty() {
            return Some(None);
        }
        let key = self.varint()?;
        let field = u32::try_from(key >> 3).ok().filter(|&field| field != 0)?;
        let value = match key & 7 {
            0 => Value::Varint(self.varint()?),
            2 => {
                let len = usize::try_from(self.varint()?).ok()?;
                let bytes = self.rest.get(..len)?;
                self.rest = &self.rest[len..];
                Value::Len(bytes)
            }
            _ => return None,
        };
        Some(Some((field, value)))
    }

    /// At most 9 bytes (63 bits): longer ones (negative numbers) are left to
    /// prost, which also checks the 10th byte for overflow.
    #[inline]
    fn varint(&mut self) -> Option<u64> {
        let mut value = 0u64;
        for (index, &byte) in self.rest.iter().enumerate().take(9) {
            value |= u64::from(byte & 0x7f) << (7 * index);
            if byte & 0x80 == 0 {
                self.rest = &self.rest[index + 1..];
                return Some(value);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mingzhang_proto::v1::event_envelope::Event;
    use proptest::prelude::*;
    use prost::Message;

    fn envelope(event: Event) -> v1::EventEnvelope {
        v1::EventEnvelope {
            recorded_at_unix_ms: 1_456_804_800_000,
            actor: "operator:t1".to_owned(),
            idempotency_key: "key-1".to_owned(),
            request_sha256: vec![7; 32],
            event: Some(event),
        }
    }

    /// What prost makes of `payload`, in the fast path's terms: `Some` for
    /// a donation or pledge payment, `None` for other kinds or errors.
    fn prost_reading(payload: &[u8]) -> Option<FastEnvelope<'static>> {
        let full = v1::EventEnvelope::decode(payload).ok()?;
        // Leaked: test-only, small.
        let full: &'static v1::EventEnvelope = Box::leak(Box::new(full));
        let event = match full.event.as_ref()? {
            Event::DonationReceived(e) => FastEvent::DonationReceived(e.into()),
            Event::PledgePaymentReceived(e) => FastEvent::PledgePaymentReceived(e.into()),
            _ => return None,
        };
        Some(FastEnvelope {
            recorded_at_unix_ms: full.recorded_at_unix_ms,
            event,
        })
    }

    fn donation() -> impl Strategy<Value = v1::DonationReceived> {
        (
            ("[a-z0-9-]{0,12}", "[a-z0-9-]{0,12}", "(fund-[0-9])?"),
            ("(kaixuan)?", "(svc-[0-9])?", any::<i64>(), -1..5i32),
            ("[A-Z0-9明账]{0,12}", any::<bool>(), "(2016-0[1-9]-1[0-9])?"),
        )
            .prop_map(
                |(
                    (donation_id, donor_id, fund_id),
                    (campaign_id, project_id, amount_fen, channel),
                    (bank_reference, anonymous, received_on),
                )| v1::DonationReceived {
                    donation_id,
                    donor_id,
                    fund_id,
                    campaign_id,
                    project_id,
                    amount_fen,
                    channel,
                    bank_reference,
                    anonymous,
                    received_on,
                },
            )
    }

    fn pledge_payment() -> impl Strategy<Value = v1::PledgePaymentReceived> {
        (
            "[a-z0-9-]{0,12}",
            "[a-z0-9-]{0,12}",
            any::<i64>(),
            -1..5i32,
            "[A-Z0-9明账]{0,12}",
            "(2016-0[1-9]-1[0-9])?",
        )
            .prop_map(
                |(payment_id, pledge_id, amount_fen, channel, bank_reference, received_on)| {
                    v1::PledgePaymentReceived {
                        payment_id,
                        pledge_id,
                        amount_fen,
                        channel,
                        bank_reference,
                        received_on,
                    }
                },
            )
    }

    fn any_fast_kind() -> impl Strategy<Value = Event> {
        prop_oneof![
            donation().prop_map(Event::DonationReceived),
            pledge_payment().prop_map(Event::PledgePaymentReceived),
        ]
    }

    proptest! {
        #[test]
        fn fast_path_reads_every_donation_and_payment_as_prost_does(event in any_fast_kind()) {
            let payload = envelope(event).encode_to_vec();
            let fast = decode(&payload);
            // Negative numbers are 10-byte varints, left to prost.
            let (amount_fen, channel) = match prost_reading(&payload).map(|e| e.event) {
                Some(FastEvent::DonationReceived(e)) => (e.amount_fen, e.channel),
                Some(FastEvent::PledgePaymentReceived(e)) => (e.amount_fen, e.channel),
                None => unreachable!("a valid envelope of a fast kind"),
            };
            if amount_fen >= 0 && channel >= 0 {
                prop_assert_eq!(fast, prost_reading(&payload));
            } else {
                prop_assert_eq!(fast, None);
            }
        }

        #[test]
        fn fast_path_never_accepts_what_prost_reads_otherwise(
            event in any_fast_kind(),
            flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        ) {
            let mut payload = envelope(event).encode_to_vec();
            for (index, byte) in flips {
                let at = index.index(payload.len());
                payload[at] = byte;
            }
            if let Some(fast) = decode(&payload) {
                prop_assert_eq!(Some(fast), prost_reading(&payload));
            }
        }

        #[test]
        fn fast_path_never_accepts_a_truncated_or_extended_payload_prost_reads_otherwise(
            event in any_fast_kind(),
            cut in any::<prop::sample::Index>(),
            tail in proptest::collection::vec(any::<u8>(), 0..6),
        ) {
            let mut payload = envelope(event).encode_to_vec();
            payload.truncate(cut.index(payload.len() + 1));
            payload.extend(tail);
            if let Some(fast) = decode(&payload) {
                prop_assert_eq!(Some(fast), prost_reading(&payload));
            }
        }
    }

    #[test]
    fn other_kinds_and_repeated_event_fields_are_left_to_prost() {
        let fund_opened = envelope(Event::FundOpened(v1::FundOpened {
            fund_id: "kaixuan".to_owned(),
            ..Default::default()
        }))
        .encode_to_vec();
        assert_eq!(decode(&fund_opened), None);
        let donation = envelope(Event::DonationReceived(v1::DonationReceived {
            donation_id: "d1".to_owned(),
            amount_fen: 100,
            ..Default::default()
        }))
        .encode_to_vec();
        assert!(decode(&donation).is_some());
        let mut twice = donation.clone();
        let event_field_start = donation
            .iter()
            .position(|&byte| byte == (EVENT_DONATION_RECEIVED << 3 | 2) as u8)
            .expect("event key");
        twice.extend_from_slice(&donation[event_field_start..]);
        assert!(v1::EventEnvelope::decode(twice.as_slice()).is_ok());
        assert_eq!(decode(&twice), None);
        assert_eq!(decode(&[]), None, "an envelope without event");
    }
}
