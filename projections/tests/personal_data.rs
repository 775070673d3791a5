//! Committed names in the read models: looked up in the side store as the
//! log is folded, `NAME_OFF_THE_LOG` without one, `ERASED_NAME` once a
//! `PersonalDataErased` names the donor, and the balances digest the same
//! whatever the names (docs/proofs.md §16).

mod common;

use std::sync::Arc;

use common::{envelope, given};
use mingzhang_ledger::personal_data::commitment;
use mingzhang_projections::{ERASED_NAME, NAME_OFF_THE_LOG, PersonalNames, Projections};
use mingzhang_proto::v1;
use mingzhang_proto::v1::event_envelope::Event;

const SALT: [u8; 32] = [5; 32];

struct OneName;

impl PersonalNames for OneName {
    fn clear_value(&self, subject_id: &str, recorded: &[u8]) -> Option<String> {
        mingzhang_ledger::personal_data::opens(subject_id, &SALT, "王丽华", recorded)
            .then(|| "王丽华".to_owned())
    }
}

fn committed_resident() -> Event {
    Event::DonorRegistered(v1::DonorRegistered {
        donor_id: "resident-wang".into(),
        kind: v1::DonorKind::Individual as i32,
        show_name_publicly: true,
        name_commitment: commitment("resident-wang", &SALT, "王丽华").to_vec(),
        ..Default::default()
    })
}

fn donation() -> Event {
    Event::DonationReceived(v1::DonationReceived {
        donation_id: "don-1".into(),
        donor_id: "resident-wang".into(),
        fund_id: "general".into(),
        amount_fen: common::cny(2_000),
        channel: v1::Channel::Cash as i32,
        received_on: "2016-02-01".into(),
        ..Default::default()
    })
}

fn erasure() -> Event {
    Event::PersonalDataErased(v1::PersonalDataErased {
        subject_id: "resident-wang".into(),
        legal_basis: "PIPL Art. 47".into(),
        erased_on: "2026-12-07".into(),
        subject_kind: v1::ErasedSubject::Donor as i32,
    })
}

fn fold(source: Option<Arc<dyn PersonalNames>>, events: Vec<Event>) -> Projections {
    let mut projections = Projections::default();
    if let Some(source) = source {
        projections.set_personal_names(source);
    }
    for event in events {
        let seq = projections.applied_len();
        projections.apply(seq, &envelope(event)).expect("applies");
    }
    projections
}

fn name_of(projections: &Projections) -> String {
    projections.donor("resident-wang").expect("registered").name
}

#[test]
fn a_committed_name_is_read_from_the_side_store_and_erased_on_the_record() {
    let before = vec![
        common::fund("general", v1::FundKind::Unrestricted),
        committed_resident(),
        donation(),
    ];
    let named = fold(Some(Arc::new(OneName)), before.clone());
    assert_eq!(name_of(&named), "王丽华");
    assert!(!named.is_erased("resident-wang"));
    let audited = given(before.clone());
    assert_eq!(name_of(&audited), NAME_OFF_THE_LOG);

    let mut after = before;
    after.push(erasure());
    let erased = fold(Some(Arc::new(OneName)), after.clone());
    assert_eq!(name_of(&erased), ERASED_NAME);
    assert!(erased.is_erased("resident-wang"));
    assert_eq!(name_of(&given(after)), ERASED_NAME);
    // Names are not money: the digest a checkpoint signs is unchanged.
    assert_eq!(named.balances_digest(), erased.balances_digest());
    assert_eq!(named.balances_digest(), audited.balances_digest());
}
