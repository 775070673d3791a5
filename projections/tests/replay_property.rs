//! Property: random but valid event sequences (a small generator that keeps
//! track of what every fund, project and grant holds, so that nothing pays
//! out more than it holds) keep the ledger identities after every event,
//! agree with a deliberately naive recomputation, and rebuild identically.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use mingzhang_ledger::record::GENESIS_PREV_HASH;
use mingzhang_ledger::store::{
    AppendFuture, EventStore, Head, RecordMeta, StoreError, StoredRecord,
};
use mingzhang_projections::{Direction, MovementFilter, Projections};
use mingzhang_proto::Message;
use mingzhang_proto::v1;
use mingzhang_proto::v1::event_envelope::Event;
use proptest::prelude::*;

// ---------------------------------------------------------------------------
// The generator (common/ledger_generator.rs): a world of ids and holdings,
// turning random choices into events the write side would accept.

include!("common/ledger_generator.rs");

// ---------------------------------------------------------------------------
// The naive fold: straight from the posting rules, strings everywhere.

#[derive(Default, Debug, PartialEq)]
struct Naive {
    accounts: BTreeMap<String, i64>,
    donor_donated_fen: BTreeMap<String, i64>,
    campaign_raised_fen: BTreeMap<String, i64>,
    campaign_pledged_fen: BTreeMap<String, i64>,
    pledge_paid_fen: BTreeMap<String, i64>,
}

fn naive(envelopes: &[v1::EventEnvelope]) -> Naive {
    let mut out = Naive::default();
    let mut donation_of: HashMap<String, v1::DonationReceived> = HashMap::new();
    let mut pledge_of: HashMap<String, v1::PledgeMade> = HashMap::new();
    let mut round_fund: HashMap<String, String> = HashMap::new();
    let mut application_round: HashMap<String, String> = HashMap::new();
    let mut grant_fund: HashMap<String, String> = HashMap::new();
    let mut expenditure_of: HashMap<String, v1::ExpenditureMade> = HashMap::new();
    let post =
        |accounts: &mut BTreeMap<String, i64>, debit: String, credit: String, amount: i64| {
            *accounts.entry(debit).or_default() += amount;
            *accounts.entry(credit).or_default() -= amount;
        };
    let bank = || "assets:bank".to_owned();
    let donation_holder = |d: &v1::DonationReceived, what: &str| {
        if d.project_id.is_empty() {
            format!("fund:{}:{what}", d.fund_id)
        } else {
            format!("project:{}:{what}", d.project_id)
        }
    };
    for envelope in envelopes {
        match envelope.event.as_ref().unwrap() {
            Event::DonationReceived(d) => {
                post(
                    &mut out.accounts,
                    bank(),
                    donation_holder(d, "donations"),
                    d.amount_fen,
                );
                if !d.donor_id.is_empty() {
                    *out.donor_donated_fen.entry(d.donor_id.clone()).or_default() += d.amount_fen;
                }
                if !d.campaign_id.is_empty() {
                    *out.campaign_raised_fen
                        .entry(d.campaign_id.clone())
                        .or_default() += d.amount_fen;
                }
                donation_of.insert(d.donation_id.clone(), d.clone());
            }
            Event::DonationRefunded(v1::DonationRefunded {
                donation_id,
                amount_fen,
                ..
            })
            | Event::DonationReversed(v1::DonationReversed {
                donation_id,
                amount_fen,
                ..
            }) => {
                let d = &donation_of[donation_id];
                post(
                    &mut out.accounts,
                    donation_holder(d, "refunds"),
                    bank(),
                    *amount_fen,
                );
                if !d.donor_id.is_empty() {
                    *out.donor_donated_fen.entry(d.donor_id.clone()).or_default() -= amount_fen;
                }
                if !d.campaign_id.is_empty() {
                    *out.campaign_raised_fen
                        .entry(d.campaign_id.clone())
                        .or_default() -= amount_fen;
                }
            }
            Event::PledgeMade(p) => {
                *out.campaign_pledged_fen
                    .entry(p.campaign_id.clone())
                    .or_default() += p.total_fen;
                pledge_of.insert(p.pledge_id.clone(), p.clone());
            }
            Event::PledgeAmended(a) => {
                let p = pledge_of.get_mut(&a.pledge_id).unwrap();
                *out.campaign_pledged_fen
                    .entry(p.campaign_id.clone())
                    .or_default() += a.new_total_fen - p.total_fen;
                p.total_fen = a.new_total_fen;
            }
            Event::PledgeCancelled(c) => {
                let p = &pledge_of[&c.pledge_id];
                *out.campaign_pledged_fen
                    .entry(p.campaign_id.clone())
                    .or_default() -= c.cancelled_fen;
            }
            Event::PledgePaymentReceived(pay) => {
                let p = &pledge_of[&pay.pledge_id];
                post(
                    &mut out.accounts,
                    bank(),
                    format!("fund:{}:pledge_payments", p.fund_id),
                    pay.amount_fen,
                );
                *out.campaign_raised_fen
                    .entry(p.campaign_id.clone())
                    .or_default() += pay.amount_fen;
                *out.pledge_paid_fen.entry(p.pledge_id.clone()).or_default() += pay.amount_fen;
            }
            Event::GrantRoundOpened(r) => {
                round_fund.insert(r.round_id.clone(), r.fund_id.clone());
            }
            Event::GrantApplicationSubmitted(a) => {
                application_round.insert(a.application_id.clone(), a.round_id.clone());
            }
            Event::GrantAwarded(g) => {
                let fund = round_fund[&application_round[&g.application_id]].clone();
                post(
                    &mut out.accounts,
                    format!("fund:{fund}:grants_committed"),
                    format!("liabilities:grants:{}", g.grant_id),
                    g.amount_fen,
                );
                grant_fund.insert(g.grant_id.clone(), fund);
            }
            Event::GrantTrancheDisbursed(t) => {
                post(
                    &mut out.accounts,
                    format!("liabilities:grants:{}", t.grant_id),
                    bank(),
                    t.amount_fen,
                );
            }
            Event::GrantClosed(c) if c.returned_fen > 0 => {
                post(
                    &mut out.accounts,
                    format!("liabilities:grants:{}", c.grant_id),
                    format!("fund:{}:grants_returned", grant_fund[&c.grant_id]),
                    c.returned_fen,
                );
            }
            Event::ProjectFunded(f) => {
                post(
                    &mut out.accounts,
                    bank(),
                    format!("project:{}:sponsor_funding", f.project_id),
                    f.amount_fen,
                );
            }
            Event::ExpenditureMade(e) => {
                let category = [
                    "unspecified",
                    "one_off_support",
                    "purchase_of_services",
                    "award_for_excellence",
                    "project_delivery",
                    "operations",
                ][e.category as usize];
                let debit = if e.project_id.is_empty() {
                    format!("fund:{}:expenses:{category}", e.fund_id)
                } else {
                    format!("project:{}:expenses", e.project_id)
                };
                post(&mut out.accounts, debit.clone(), bank(), e.amount_fen);
                let mut remembered = e.clone();
                remembered.receipt_no = debit;
                expenditure_of.insert(e.expenditure_id.clone(), remembered);
            }
            Event::ExpenditureReversed(r) => {
                let debit_account = expenditure_of[&r.expenditure_id].receipt_no.clone();
                post(&mut out.accounts, bank(), debit_account, r.amount_fen);
            }
            _ => {}
        }
    }
    out.campaign_pledged_fen.remove("");
    out.campaign_raised_fen.remove("");
    out
}

/// −Σ of the accounts under `prefix` (e.g. "fund:f1:").
fn held_under(accounts: &BTreeMap<String, i64>, prefix: &str) -> i64 {
    -accounts
        .iter()
        .filter(|(name, _)| name.starts_with(prefix))
        .map(|(_, balance)| balance)
        .sum::<i64>()
}

/// Every query result, serialised: two projections agree iff these agree.
fn snapshot(projections: &Projections) -> String {
    serde_json::to_string(&(
        projections.trial_balance(),
        projections.fund_balances(),
        projections.campaigns(),
        projections.pledges(),
        projections.pledge_status("2016-06-30").unwrap(),
        projections.grant_rounds(),
        projections.grants(),
        projections.grant_applications(None),
        projections.projects(),
        projections.donors(),
        projections.donations(0, usize::MAX),
        projections.expenditures(0, usize::MAX),
        projections.project_fundings(0, usize::MAX),
        projections.monthly_flows(),
        projections.not_applied(),
        hex::encode(projections.balances_digest()),
    ))
    .unwrap()
}

// ---------------------------------------------------------------------------
// A tiny store, so that catch_up is exercised against the EventStore trait.

struct VecStore {
    records: Mutex<Vec<StoredRecord>>,
    durable_len: tokio::sync::watch::Sender<u64>,
    /// At most this many records per `read`, to exercise batching.
    read_max: usize,
}

impl VecStore {
    fn new(read_max: usize) -> VecStore {
        VecStore {
            records: Mutex::new(Vec::new()),
            durable_len: tokio::sync::watch::channel(0).0,
            read_max,
        }
    }

    fn push(&self, payload: &[u8]) {
        let mut records = self.records.lock().unwrap();
        let prev_hash = records.last().map_or(GENESIS_PREV_HASH, StoredRecord::hash);
        let seq = records.len() as u64;
        records.push(StoredRecord::encode(seq, &prev_hash, payload));
        self.durable_len.send_replace(records.len() as u64);
    }
}

impl EventStore for VecStore {
    fn append(&self, expected_first_seq: u64, payloads: Vec<Vec<u8>>) -> AppendFuture {
        let actual = self.head().len;
        if expected_first_seq != actual {
            return Box::pin(std::future::ready(Err(StoreError::WrongExpectedSeq {
                expected: expected_first_seq,
                actual,
            })));
        }
        let mut metas = Vec::new();
        for payload in &payloads {
            self.push(payload);
            let records = self.records.lock().unwrap();
            let last = records.last().unwrap();
            metas.push(RecordMeta {
                seq: last.seq(),
                hash: last.hash(),
            });
        }
        Box::pin(std::future::ready(Ok(metas)))
    }

    fn head(&self) -> Head {
        let records = self.records.lock().unwrap();
        Head {
            len: records.len() as u64,
            last_hash: records.last().map_or(GENESIS_PREV_HASH, StoredRecord::hash),
        }
    }

    fn read(&self, from_seq: u64, max_records: usize) -> Result<Vec<StoredRecord>, StoreError> {
        let records = self.records.lock().unwrap();
        let len = records.len() as u64;
        if from_seq > len {
            return Err(StoreError::OutOfRange { seq: from_seq, len });
        }
        let from = from_seq as usize;
        let to = (from + max_records.min(self.read_max)).min(records.len());
        Ok(records[from..to].to_vec())
    }

    fn watch_durable_len(&self) -> tokio::sync::watch::Receiver<u64> {
        self.durable_len.subscribe()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn replayed_balances_satisfy_trial_balance_and_match_a_naive_fold(
        choices in prop::collection::vec((0..CHOICES, any::<u64>()), 1..300)
    ) {
        let envelopes = generate(&choices);
        let mut projections = Projections::default();
        for (seq, envelope) in envelopes.iter().enumerate() {
            if let Err(not_applied) = projections.apply(seq as u64, envelope) {
                return Err(TestCaseError::fail(not_applied.to_string()));
            }
            // (a) after every event
            prop_assert_eq!(projections.trial_balance().total_fen, 0);
            if let Err(broken) = projections.check_identities() {
                return Err(TestCaseError::fail(format!("after seq {seq}: {broken}")));
            }
        }

        // (b) against the naive fold
        let expected = naive(&envelopes);
        let accounts: BTreeMap<String, i64> = projections
            .trial_balance()
            .accounts
            .into_iter()
            .map(|line| (line.account, line.balance_fen))
            .collect();
        prop_assert_eq!(&accounts, &expected.accounts);
        for fund in projections.fund_balances() {
            prop_assert_eq!(fund.available_fen, held_under(&expected.accounts, &format!("fund:{}:", fund.fund_id)));
            prop_assert!(fund.available_fen >= 0, "fund {} overspent", fund.fund_id);
        }
        // Each fund's movements reconcile with its totals, to the fen, and
        // the trial balance: Σ in = total_in, Σ out = total_out, and the last
        // running balance = what the fund's accounts, its projects and its
        // grants hold.
        for fund in projections.fund_balances() {
            let mut listed = Vec::new();
            let mut offset = 0;
            loop {
                let page = projections
                    .fund_movements(&fund.fund_id, MovementFilter::default(), None, offset, 7)
                    .expect("the fund exists");
                prop_assert_eq!((page.in_fen, page.out_fen, page.balance_fen), (fund.total_in_fen, fund.total_out_fen, fund.total_held_fen));
                listed.extend(page.movements);
                match page.next_offset {
                    Some(next) => offset = next,
                    None => break,
                }
            }
            let sum = |direction: Direction| -> i64 {
                listed.iter().filter(|m| m.direction == direction).map(|m| m.amount_fen).sum()
            };
            prop_assert_eq!(sum(Direction::In), fund.total_in_fen);
            prop_assert_eq!(sum(Direction::Out), fund.total_out_fen);
            prop_assert!(listed.iter().all(|m| m.amount_fen > 0));
            prop_assert!(listed.windows(2).all(|pair| (pair[0].date, pair[0].seq) < (pair[1].date, pair[1].seq)));
            let last_balance_fen = listed.last().map_or(0, |m| m.balance_after_fen);
            prop_assert_eq!(last_balance_fen, fund.total_held_fen);
            let mut running_fen = 0;
            for movement in &listed {
                running_fen += match movement.direction { Direction::In => movement.amount_fen, Direction::Out => -movement.amount_fen };
                prop_assert_eq!(running_fen, movement.balance_after_fen);
            }
            let trial_held_fen = held_under(&expected.accounts, &format!("fund:{}:", fund.fund_id))
                + projections.projects().iter().filter(|p| p.fund_id == fund.fund_id).map(|p| p.balance_fen).sum::<i64>()
                + projections.grants().iter().filter(|g| projections.grant_round(&g.round_id).unwrap().fund_id == fund.fund_id).map(|g| g.outstanding_commitment_fen).sum::<i64>();
            prop_assert_eq!(last_balance_fen, trial_held_fen);
        }
        let mut held_by_fund: BTreeMap<String, i64> = BTreeMap::new();
        for project in projections.projects() {
            let held = held_under(&expected.accounts, &format!("project:{}:", project.project_id));
            prop_assert_eq!(project.balance_fen, held);
            prop_assert_eq!(project.balance_fen, project.funding_received_fen - project.spent_fen);
            prop_assert!(project.balance_fen >= 0);
            *held_by_fund.entry(project.fund_id.clone()).or_default() += held;
        }
        for grant in projections.grants() {
            let outstanding = held_under(&expected.accounts, &format!("liabilities:grants:{}", grant.grant_id));
            prop_assert_eq!(grant.outstanding_commitment_fen, outstanding);
            prop_assert!(outstanding >= 0);
        }
        for fund in projections.fund_balances() {
            prop_assert_eq!(
                fund.restricted_to_projects_fen,
                held_by_fund.get(&fund.fund_id).copied().unwrap_or(0)
            );
        }
        for donor in projections.donors() {
            prop_assert_eq!(donor.donated_fen, expected.donor_donated_fen.get(&donor.donor_id).copied().unwrap_or(0));
        }
        for campaign in projections.campaigns() {
            prop_assert_eq!(campaign.raised_fen, expected.campaign_raised_fen.get(&campaign.campaign_id).copied().unwrap_or(0));
            prop_assert_eq!(campaign.pledged_fen, expected.campaign_pledged_fen.get(&campaign.campaign_id).copied().unwrap_or(0));
            let by_year: i64 = campaign.years.iter().map(|year| year.raised_fen).sum();
            prop_assert_eq!(by_year, campaign.raised_fen);
        }
        for pledge in projections.pledges() {
            prop_assert_eq!(pledge.paid_fen, expected.pledge_paid_fen.get(&pledge.pledge_id).copied().unwrap_or(0));
            let allocated: i64 = pledge.instalments.iter().map(|i| i.paid_fen).sum();
            prop_assert_eq!(allocated, pledge.paid_fen.min(pledge.total_fen));
        }

        // (c) rebuilding from seq 0, from encoded payloads through a store, in small batches
        let store = VecStore::new(7);
        let mut rebuilt = Projections::default();
        let half = envelopes.len() / 2;
        for envelope in &envelopes[..half] {
            store.push(&envelope.encode_to_vec());
        }
        prop_assert_eq!(rebuilt.catch_up(&store).unwrap(), half as u64);
        for envelope in &envelopes[half..] {
            store.push(&envelope.encode_to_vec());
        }
        prop_assert_eq!(rebuilt.catch_up(&store).unwrap(), (envelopes.len() - half) as u64);
        prop_assert_eq!(rebuilt.catch_up(&store).unwrap(), 0);
        prop_assert!(rebuilt == projections, "rebuilt state differs");
        prop_assert_eq!(snapshot(&rebuilt), snapshot(&projections));
        for fund in projections.fund_balances() {
            prop_assert_eq!(
                rebuilt.fund_movements(&fund.fund_id, MovementFilter::default(), None, 0, usize::MAX),
                projections.fund_movements(&fund.fund_id, MovementFilter::default(), None, 0, usize::MAX)
            );
        }
        prop_assert_eq!(rebuilt.corrections(), projections.corrections());
        prop_assert_eq!(rebuilt.balances_digest(), projections.balances_digest());
        for seq in 0..envelopes.len() as u64 {
            prop_assert_eq!(rebuilt.postings_for(seq), projections.postings_for(seq));
        }

        // (d) the server's follower: at most 3 records per call, until none are left
        let mut stepped = Projections::default();
        let mut remaining = envelopes.len() as u64;
        while remaining > 0 {
            let applied = stepped.catch_up_to(&store, 3).unwrap();
            prop_assert_eq!(applied, remaining.min(3));
            remaining -= applied;
        }
        prop_assert_eq!(stepped.catch_up_to(&store, 3).unwrap(), 0);
        prop_assert!(stepped == projections, "stepped catch-up differs");
    }
}

#[test]
fn catch_up_refuses_a_record_that_is_not_an_envelope_and_keeps_what_it_applied() {
    let store = VecStore::new(2);
    let fund = v1::EventEnvelope {
        event: Some(Event::FundOpened(v1::FundOpened {
            fund_id: "kaixuan".to_owned(),
            ..Default::default()
        })),
        ..Default::default()
    };
    store.push(&fund.encode_to_vec());
    store.push(&[0xff, 0xff]);
    let mut projections = Projections::default();
    let error = projections.catch_up(&store).unwrap_err();
    assert!(
        matches!(
            error,
            mingzhang_projections::ProjectionError::Decode { seq: 1, .. }
        ),
        "{error}"
    );
    assert_eq!(projections.applied_len(), 1);
    assert_eq!(projections.fund_balances().len(), 1);
}
