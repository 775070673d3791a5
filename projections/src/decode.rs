//! Decoding envelopes without allocating. A fresh `EventEnvelope::decode`
//! allocates every string and byte field (about ten per donation), which
//! costs more than applying the event. Prost's `merge` reuses the capacity
//! of strings and of a oneof variant that is already in place, so the decoder
//! keeps one spare message per event kind, clears it (capacity kept), puts it
//! in place for the kind the payload carries, and merges.
//!
//! The decoder reads the envelope as [`ProjectedEnvelope`]: the same fields
//! minus `request_sha256`, which projections never read and whose decoding
//! allocates on every record (prost copies a bytes field through a fresh
//! buffer). Everything else is exactly what `EventEnvelope::decode` returns;
//! debug builds check that on every call.

use mingzhang_proto::event_kind::{
    FIRST_EVENT_FIELD, clear_keeping_kind, field_number, peek_event_field,
};
use mingzhang_proto::v1;
use mingzhang_proto::v1::event_envelope::Event;
use prost::Message;

use crate::borrowed::{self, FastEnvelope};

/// Spare messages kept, one per oneof field number from `FIRST_EVENT_FIELD`.
const EVENT_FIELDS_MAX: usize = 64;

fn spare_slot(field: u32) -> Option<usize> {
    let slot = field.checked_sub(FIRST_EVENT_FIELD)? as usize;
    (slot < EVENT_FIELDS_MAX).then_some(slot)
}

/// `EventEnvelope` as projections read it: same field numbers, without
/// `request_sha256` (field 4), which prost then skips as an unknown field,
/// checking only that it fits the payload. `actor` and `idempotency_key` are
/// kept so that a payload a full decode refuses (a string that is not UTF-8)
/// is refused here too. The one payload a full decode refuses and this
/// accepts has a field 4 that is not length-delimited, which no encoder of
/// `EventEnvelope` writes.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct ProjectedEnvelope {
    #[prost(int64, tag = "1")]
    pub(crate) recorded_at_unix_ms: i64,
    #[prost(string, tag = "2")]
    actor: String,
    #[prost(string, tag = "3")]
    idempotency_key: String,
    #[prost(
        oneof = "Event",
        tags = "10, 11, 12, 13, 20, 21, 22, 30, 31, 32, 33, 40, 41, 42, 43, 44, 45, 46, 47, 48, 50, 51, 52, 53, 54, 60, 61, 70"
    )]
    pub(crate) event: Option<Event>,
}

/// A decoded envelope: borrowed from the payload for the kinds the fast
/// path reads, else the decoder's reused message.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Decoded<'a> {
    Borrowed(FastEnvelope<'a>),
    Owned(&'a ProjectedEnvelope),
}

#[derive(Default)]
pub(crate) struct EnvelopeDecoder {
    envelope: ProjectedEnvelope,
    spares: Vec<Option<Event>>,
}

impl EnvelopeDecoder {
    pub(crate) fn decode<'a>(
        &'a mut self,
        payload: &'a [u8],
    ) -> Result<Decoded<'a>, prost::DecodeError> {
        if let Some(fast) = borrowed::decode(payload) {
            debug_assert!(
                v1::EventEnvelope::decode(payload).is_ok_and(|full| fast.agrees_with(&full)),
                "the fast path disagrees with a fresh decode"
            );
            return Ok(Decoded::Borrowed(fast));
        }
        self.decode_owned(payload).map(Decoded::Owned)
    }

    fn decode_owned(&mut self, payload: &[u8]) -> Result<&ProjectedEnvelope, prost::DecodeError> {
        if self.spares.is_empty() {
            self.spares.resize_with(EVENT_FIELDS_MAX, || None);
        }
        // Destructured so that a field added to the envelope fails to compile here.
        let ProjectedEnvelope {
            recorded_at_unix_ms,
            actor,
            idempotency_key,
            event,
        } = &mut self.envelope;
        *recorded_at_unix_ms = 0;
        actor.clear();
        idempotency_key.clear();
        if let Some(previous) = event.take()
            && let Some(slot) = spare_slot(field_number(&previous))
        {
            self.spares[slot] = Some(previous);
        }
        if let Some(slot) = peek_event_field(payload).and_then(spare_slot)
            && let Some(mut spare) = self.spares[slot].take()
        {
            clear_keeping_kind(&mut spare);
            *event = Some(spare);
        }
        if let Err(error) = self.envelope.merge(payload) {
            // Whatever was half-merged is not kept.
            self.envelope = ProjectedEnvelope::default();
            debug_assert!(
                v1::EventEnvelope::decode(payload).is_err(),
                "the decoder refuses a payload a fresh decode accepts: {error}"
            );
            return Err(error);
        }
        debug_assert!(
            v1::EventEnvelope::decode(payload)
                .map_or(true, |full| self.envelope.agrees_with(&full)),
            "reusing decoder disagrees with a fresh decode"
        );
        Ok(&self.envelope)
    }
}

impl ProjectedEnvelope {
    /// Whether `full` (a fresh decode of the same payload) carries the same
    /// values in every field the projection keeps.
    fn agrees_with(&self, full: &v1::EventEnvelope) -> bool {
        self.recorded_at_unix_ms == full.recorded_at_unix_ms
            && self.actor == full.actor
            && self.idempotency_key == full.idempotency_key
            && self.event == full.event
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn donation(id: &str, anonymous: bool, project_id: &str) -> v1::EventEnvelope {
        v1::EventEnvelope {
            recorded_at_unix_ms: 1_456_804_800_000,
            actor: "operator:t1".to_owned(),
            idempotency_key: format!("key-{id}"),
            request_sha256: vec![7; 32],
            event: Some(Event::DonationReceived(v1::DonationReceived {
                donation_id: id.to_owned(),
                fund_id: "kaixuan".to_owned(),
                project_id: project_id.to_owned(),
                amount_fen: 100,
                anonymous,
                received_on: "2015-01-01".to_owned(),
                ..Default::default()
            })),
        }
    }

    #[test]
    fn reused_decoder_forgets_fields_the_next_envelope_leaves_out() {
        let fund_opened = v1::EventEnvelope {
            event: Some(Event::FundOpened(v1::FundOpened {
                fund_id: "special".to_owned(),
                ..Default::default()
            })),
            ..Default::default()
        };
        let sequence = [
            donation("d1", true, "svc-1"),
            donation("d2", false, ""),
            fund_opened,
            v1::EventEnvelope::default(),
            donation("d3", true, ""),
            donation("d4", false, "svc-2"),
        ];
        let mut decoder = EnvelopeDecoder::default();
        for envelope in &sequence {
            let payload = envelope.encode_to_vec();
            assert!(
                decoder
                    .decode_owned(&payload)
                    .unwrap()
                    .agrees_with(envelope)
            );
        }
        assert!(decoder.decode_owned(&[0x0a, 0xff]).is_err());
        let payload = sequence[0].encode_to_vec();
        assert!(
            decoder
                .decode_owned(&payload)
                .unwrap()
                .agrees_with(&sequence[0])
        );
    }

    /// The projected envelope lists the oneof's field numbers by hand: a kind
    /// missing there would decode as an envelope without event.
    #[test]
    fn projected_envelope_carries_every_event_kind() {
        let mut decoder = EnvelopeDecoder::default();
        for event in mingzhang_proto::event_kind::one_event_of_each_kind() {
            let envelope = v1::EventEnvelope {
                recorded_at_unix_ms: 1_456_804_800_000,
                actor: "cli".to_owned(),
                idempotency_key: "key-1".to_owned(),
                request_sha256: vec![9; 32],
                event: Some(event),
            };
            let decoded = decoder.decode_owned(&envelope.encode_to_vec()).unwrap();
            assert!(decoded.agrees_with(&envelope), "{envelope:?}");
            assert!(decoded.event.is_some());
        }
    }

    #[test]
    fn a_payload_a_full_decode_refuses_is_refused() {
        let mut envelope = donation("d1", false, "").encode_to_vec();
        // actor "operator:t1" starts at byte 2 after the recorded_at varint
        // (1 key byte + 6 value bytes) and its key and length (2 bytes).
        let actor_start = 1 + 6 + 2;
        assert_eq!(&envelope[actor_start..actor_start + 8], b"operator");
        envelope[actor_start] = 0xff;
        assert!(v1::EventEnvelope::decode(envelope.as_slice()).is_err());
        let mut decoder = EnvelopeDecoder::default();
        assert!(decoder.decode(&envelope).is_err());
        let truncated = donation("d1", false, "").encode_to_vec();
        let truncated = &truncated[..truncated.len() - 3];
        assert!(v1::EventEnvelope::decode(truncated).is_err());
        assert!(decoder.decode(truncated).is_err());
    }
}
