//! Which records carry an individual's personal data in the clear. The log
//! is published whole only when none does: individuals are persons under
//! PIPL Art. 47, and a published byte can never be taken back.
//!
//! Individuals' names are written as salted commitments (the parent
//! module): the clear `name` of an individual donor and the clear `payee`
//! of a person payee are then empty. A log with records from before that
//! holds names that may not leave the operator, and this is the one place
//! that says so. Enterprises and organisations are public entities.

use mingzhang_proto::v1::event_envelope::Event;
use mingzhang_proto::v1::{DonorKind, EventEnvelope, PayeeKind};
use prost::Message;

use crate::record::StoredRecord;

/// A record whose bytes would disclose a person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonalDataInClear {
    pub seq: u64,
    /// The event and field: `donor_registered.name`, `expenditure_made.payee`,
    /// or `payload` for a record that does not decode (it cannot be shown to
    /// carry none).
    pub field: &'static str,
    pub rule: &'static str,
}

impl std::fmt::Display for PersonalDataInClear {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "record seq {}: {}: {} (rule personal_data_in_clear); a log with a record written before commitments may not be published",
            self.seq, self.field, self.rule
        )
    }
}

/// The first of `records` whose bytes carry an individual's personal data
/// in the clear: an individual donor's non-empty `name`, a person payee's
/// non-empty `payee`. A payload that does not decode as an event counts as
/// one: what cannot be read cannot be shown to be clean.
pub fn first_record_with_personal_data_in_clear<'a>(
    records: impl IntoIterator<Item = &'a StoredRecord>,
) -> Option<PersonalDataInClear> {
    records.into_iter().find_map(personal_data_in_clear)
}

/// What [`first_record_with_personal_data_in_clear`] finds in one record.
pub fn personal_data_in_clear(record: &StoredRecord) -> Option<PersonalDataInClear> {
    let found = |field, rule| {
        Some(PersonalDataInClear {
            seq: record.seq(),
            field,
            rule,
        })
    };
    let Ok(envelope) = EventEnvelope::decode(record.payload()) else {
        return found("payload", "does not decode as an event");
    };
    match envelope.event {
        Some(Event::DonorRegistered(donor))
            if donor.kind == DonorKind::Individual as i32 && !donor.name.is_empty() =>
        {
            found(
                "donor_registered.name",
                "an individual donor's name is in the clear",
            )
        }
        Some(Event::ExpenditureMade(expenditure))
            if expenditure.payee_kind == PayeeKind::Person as i32
                && !expenditure.payee.is_empty() =>
        {
            found(
                "expenditure_made.payee",
                "a private person's name as payee is in the clear",
            )
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mingzhang_proto::v1::{DonorRegistered, ExpenditureMade};

    fn record(seq: u64, event: Event) -> StoredRecord {
        let envelope = EventEnvelope {
            event: Some(event),
            ..Default::default()
        };
        StoredRecord::encode(seq, &[0; 32], &envelope.encode_to_vec())
    }

    fn donor(kind: DonorKind, name: &str) -> Event {
        Event::DonorRegistered(DonorRegistered {
            donor_id: "d".into(),
            name: name.into(),
            kind: kind as i32,
            ..Default::default()
        })
    }

    fn expenditure(kind: PayeeKind, payee: &str) -> Event {
        Event::ExpenditureMade(ExpenditureMade {
            payee: payee.into(),
            payee_kind: kind as i32,
            ..Default::default()
        })
    }

    #[test]
    fn individuals_named_in_the_clear_are_found_and_public_entities_are_not() {
        let clean = [
            record(0, donor(DonorKind::Enterprise, "凯旋科技有限公司")),
            record(1, donor(DonorKind::Individual, "")),
            record(
                2,
                expenditure(PayeeKind::Company, "杭州示例建筑安装有限公司"),
            ),
            record(3, expenditure(PayeeKind::Person, "")),
        ];
        assert_eq!(first_record_with_personal_data_in_clear(&clean), None);

        let named_donor = record(4, donor(DonorKind::Individual, "王丽华"));
        let found = first_record_with_personal_data_in_clear(clean.iter().chain([&named_donor]));
        assert_eq!(
            found.map(|f| (f.seq, f.field)),
            Some((4, "donor_registered.name"))
        );

        let named_payee = record(5, expenditure(PayeeKind::Person, "陈秀英"));
        let found = first_record_with_personal_data_in_clear([&named_payee, &named_donor]);
        assert_eq!(
            found.map(|f| (f.seq, f.field)),
            Some((5, "expenditure_made.payee"))
        );
    }

    #[test]
    fn a_payload_that_is_not_an_event_is_not_published() {
        let garbage = StoredRecord::encode(9, &[0; 32], &[0xff, 0xff, 0xff]);
        let found = first_record_with_personal_data_in_clear([&garbage]).unwrap();
        assert_eq!((found.seq, found.field), (9, "payload"));
    }
}
