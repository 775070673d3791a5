//! The body of the `command_body` fuzz target in `fuzz/`, as a plain
//! function: cargo-fuzz calls it on nightly, and `tests/fuzz_corpus.rs` calls
//! it on every file of the minimised corpus on stable.

use mingzhang_ledger::replay::Replayer;
use mingzhang_proto::v1 as pb;

use crate::error::AppError;
use crate::http::commands::*;
use crate::http::json::parse_body;

/// Every JSON command body, in the order the first input byte picks them.
pub const COMMAND_BODIES: [&str; 27] = [
    "OpenFund",
    "OpenCampaign",
    "RegisterDonor",
    "RegisterOrganisation",
    "ReceiveDonation",
    "RefundDonation",
    "ReverseDonation",
    "CancelPledge",
    "CloseGrant",
    "ReverseExpenditure",
    "MakePledge",
    "ReceivePledgePayment",
    "AmendPledge",
    "OpenGrantRound",
    "SubmitApplication",
    "ReviewApplication",
    "Shortlist",
    "AwardGrant",
    "DisburseTranche",
    "RecordEvaluation",
    "FileSelfAssessment",
    "PublishProject",
    "ClaimProject",
    "ReleaseClaim",
    "FundProject",
    "CompleteProject",
    "MakeExpenditure",
];

/// The first byte picks the command body (`COMMAND_BODIES`), the rest is
/// its JSON, parsed and translated as the HTTP handlers do (`parse_body`,
/// then `into_event` with a path id); an event that comes out is decided
/// against the empty ledger. No body a client can send may be a 5xx.
pub fn command_body(data: &[u8]) {
    match command_event(data) {
        None => {}
        Some(Ok(event)) => {
            let envelope = pb::EventEnvelope {
                actor: "operator".into(),
                idempotency_key: "fuzz".into(),
                request_sha256: vec![0; 32],
                event: Some(event),
                ..Default::default()
            };
            let _ = Replayer::default().check(0, &envelope);
        }
        Some(Err(error)) => {
            let error = error.with_json_field_names();
            assert!(
                !error.status().is_server_error(),
                "a client's body answered {}: {error:?}",
                error.status()
            );
        }
    }
}

/// The HTTP handlers' translation of `data` (selector byte, then JSON);
/// `None` for empty input.
pub fn command_event(data: &[u8]) -> Option<Result<pb::event_envelope::Event, AppError>> {
    let (selector, json) = data.split_first()?;
    Some(match usize::from(*selector) % COMMAND_BODIES.len() {
        0 => translate::<OpenFund>(json),
        1 => translate::<OpenCampaign>(json),
        2 => translate::<RegisterDonor>(json),
        3 => translate::<RegisterOrganisation>(json),
        4 => translate::<ReceiveDonation>(json),
        5 => translate::<RefundDonation>(json),
        6 => translate::<ReverseDonation>(json),
        7 => translate::<CancelPledge>(json),
        8 => translate::<CloseGrant>(json),
        9 => translate::<ReverseExpenditure>(json),
        10 => translate::<MakePledge>(json),
        11 => translate::<ReceivePledgePayment>(json),
        12 => translate::<AmendPledge>(json),
        13 => translate::<OpenGrantRound>(json),
        14 => translate::<SubmitApplication>(json),
        15 => translate::<ReviewApplication>(json),
        16 => translate::<Shortlist>(json),
        17 => translate::<AwardGrant>(json),
        18 => translate::<DisburseTranche>(json),
        19 => translate::<RecordEvaluation>(json),
        20 => translate::<FileSelfAssessment>(json),
        21 => translate::<PublishProject>(json),
        22 => translate::<ClaimProject>(json),
        23 => translate::<ReleaseClaim>(json),
        24 => translate::<FundProject>(json),
        25 => translate::<CompleteProject>(json),
        _ => translate::<MakeExpenditure>(json),
    })
}

fn translate<B: CommandBody>(json: &[u8]) -> Result<pb::event_envelope::Event, AppError> {
    parse_body::<B>(json)?.into_event("fuzz-path-id".into())
}
