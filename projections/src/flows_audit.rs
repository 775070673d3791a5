//! What an auditor asks of the 善款去向 allocations (docs/flows.md): the
//! record each gift was made in (a flow receipt proves it), and a check of
//! the allocations' invariants over the whole log, which `mingzhang verify`
//! runs after its replay (docs/proofs.md, "Flow receipts").

use crate::Projections;
use crate::accounts::EntityIndex;
use crate::flows::{IncomeKind, OutflowKind, PoolOf};

/// What the allocations invariants covered, when they hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct FlowsChecked {
    pub incomes: u64,
    pub outflows: u64,
    pub allocations: u64,
}

/// The first allocation invariant found broken, naming the record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlowsBroken {
    #[error("flows: allocation {allocation} of record {outflow_seq} is {amount_fen} fen, below 0")]
    NegativeAllocation {
        allocation: u64,
        outflow_seq: u64,
        amount_fen: i64,
    },
    #[error("flows: the gift of record {income_seq} paid record {outflow_seq}, recorded before it")]
    PaidBeforeGiven { income_seq: u64, outflow_seq: u64 },
    #[error(
        "flows: record {outflow_seq} is paid by the gift of record {income_seq} from another pool (a restriction crossed)"
    )]
    RestrictionCrossed { income_seq: u64, outflow_seq: u64 },
    #[error(
        "flows: record {outflow_seq} moves {amount_fen} fen but its allocations sum to {allocated_fen}"
    )]
    OutflowNotPaid {
        outflow_seq: u64,
        amount_fen: i64,
        allocated_fen: i64,
    },
    #[error(
        "flows: the gift of record {income_seq} is {amount_fen} fen but allocations {allocated_fen} + unspent {unspent_fen} differ"
    )]
    IncomeNotAccounted {
        income_seq: u64,
        amount_fen: i64,
        allocated_fen: i64,
        unspent_fen: i64,
    },
}

impl Projections {
    /// The record a donation (`IncomeKind::Donation`), pledge payment or
    /// project funding was made in, or `None` for an unknown id.
    pub fn gift_record_seq(&self, kind: IncomeKind, id: &str) -> Option<u64> {
        let income = match kind {
            IncomeKind::Donation => {
                self.flows.donation_incomes[self.donations.index_of(id)? as usize]
            }
            IncomeKind::PledgePayment => {
                let payment = self.flows.payments.index_of(id)?;
                self.flows.payments[payment as usize].income
            }
            IncomeKind::ProjectFunding => {
                self.flows.funding_incomes[self.fundings.index_of(id)? as usize]
            }
        };
        Some(self.flows.income_seqs[income as usize])
    }

    /// Checks every allocation over the whole log: none below zero, none
    /// before its gift was recorded or from another pool than its outflow's
    /// (a restriction crossed); each outflow's allocations sum to what it
    /// moved (net of reversals) and each gift's allocations plus its unspent
    /// money to its recorded amount. One pass over each array; the first
    /// broken invariant is the error.
    pub fn check_flows(&self) -> Result<FlowsChecked, FlowsBroken> {
        let flows = &self.flows;
        assert_eq!(flows.incomes.len(), flows.income_seqs.len());
        let mut allocated_by_income = vec![0i64; flows.incomes.len()];
        for (index, outflow) in flows.outflows.iter().enumerate() {
            let pool = self.outflow_pool(outflow.kind(), outflow.entity);
            let mut allocated_fen = 0i64;
            for (offset, allocation) in flows.allocations_of_outflow(index).iter().enumerate() {
                let income_seq = flows.income_seqs[allocation.income as usize];
                if allocation.amount_fen < 0 {
                    return Err(FlowsBroken::NegativeAllocation {
                        allocation: u64::from(outflow.first_allocation) + offset as u64,
                        outflow_seq: outflow.seq,
                        amount_fen: allocation.amount_fen,
                    });
                }
                if income_seq >= outflow.seq {
                    return Err(FlowsBroken::PaidBeforeGiven {
                        income_seq,
                        outflow_seq: outflow.seq,
                    });
                }
                if pool != Some(flows.incomes[allocation.income as usize].pool) {
                    return Err(FlowsBroken::RestrictionCrossed {
                        income_seq,
                        outflow_seq: outflow.seq,
                    });
                }
                // Each within the ledger's total received (TOTAL_FEN_MAX), so no overflow.
                allocated_fen += allocation.amount_fen;
                allocated_by_income[allocation.income as usize] += allocation.amount_fen;
            }
            if allocated_fen != outflow.amount_fen {
                return Err(FlowsBroken::OutflowNotPaid {
                    outflow_seq: outflow.seq,
                    amount_fen: outflow.amount_fen,
                    allocated_fen,
                });
            }
        }
        for (index, income) in flows.incomes.iter().enumerate() {
            let entity = income.entity() as usize;
            let amount_fen = match income.kind() {
                IncomeKind::Donation => self.donations[entity].amount_fen,
                IncomeKind::PledgePayment => flows.payments[entity].amount_fen,
                IncomeKind::ProjectFunding => self.fundings[entity].amount_fen,
            };
            let allocated_fen = allocated_by_income[index];
            if income.remaining_fen < 0 || allocated_fen + income.remaining_fen != amount_fen {
                return Err(FlowsBroken::IncomeNotAccounted {
                    income_seq: flows.income_seqs[index],
                    amount_fen,
                    allocated_fen,
                    unspent_fen: income.remaining_fen,
                });
            }
        }
        Ok(FlowsChecked {
            incomes: flows.incomes.len() as u64,
            outflows: flows.outflows.len() as u64,
            allocations: flows.allocations.len() as u64,
        })
    }

    /// The pool an outflow may be paid from, by the rule of docs/flows.md
    /// (recomputed from the entity, not read from the allocation).
    fn outflow_pool(&self, kind: OutflowKind, entity: EntityIndex) -> Option<u32> {
        let flows = &self.flows;
        match kind {
            OutflowKind::GrantTranche => {
                let round = self.grants[entity as usize].round;
                flows.pool_of(PoolOf::Fund(self.rounds[round as usize].fund))
            }
            OutflowKind::Expenditure => {
                let expenditure = &self.expenditures[entity as usize];
                flows.pool_of(
                    expenditure
                        .project
                        .map_or(PoolOf::Fund(expenditure.fund), PoolOf::Project),
                )
            }
            OutflowKind::DonationRefund | OutflowKind::DonationReversal => {
                let income = flows.donation_incomes[entity as usize];
                Some(flows.incomes[income as usize].pool)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mingzhang_ledger::scenario;

    use mingzhang_proto::v1::EventEnvelope;
    use mingzhang_proto::v1::event_envelope::Event;

    /// The Kaixuan scenario as the write side records it.
    fn demo_envelopes() -> Vec<EventEnvelope> {
        let mut state = mingzhang_ledger::state::LedgerState::default();
        scenario::kaixuan()
            .into_iter()
            .map(|(command, meta)| {
                let event = mingzhang_ledger::decide::decide_as(&state, &meta.principal, command)
                    .expect("the Kaixuan scenario is valid");
                state.apply(&event);
                EventEnvelope {
                    recorded_at_unix_ms: meta.at_unix_ms,
                    event: Some(event),
                    ..Default::default()
                }
            })
            .collect()
    }

    fn demo() -> Projections {
        let mut projections = Projections::default();
        for (seq, envelope) in demo_envelopes().iter().enumerate() {
            projections.apply(seq as u64, envelope).unwrap();
        }
        projections
    }

    #[test]
    fn the_demos_allocations_hold_every_invariant() {
        let checked = demo().check_flows().unwrap();
        assert!(checked.outflows > 20 && checked.allocations >= checked.outflows);
    }

    #[test]
    fn an_allocation_lowered_or_raised_is_found() {
        let mut projections = demo();
        let allocation = projections.flows.allocations[0];
        projections.flows.allocations[0].amount_fen -= 1;
        let found = projections.check_flows().unwrap_err();
        let outflow_seq = projections.flows.outflows[allocation.outflow as usize].seq;
        assert!(
            matches!(found, FlowsBroken::OutflowNotPaid { outflow_seq: seq, .. } if seq == outflow_seq),
            "{found}"
        );
        projections.flows.incomes[allocation.income as usize].remaining_fen += 1;
        let mut other = projections.clone();
        other.flows.allocations[0].amount_fen += 1;
        assert!(matches!(
            other.check_flows().unwrap_err(),
            FlowsBroken::IncomeNotAccounted { .. }
        ));
    }

    #[test]
    fn an_allocation_from_another_pool_is_a_crossed_restriction() {
        let mut projections = demo();
        let pools = &projections.flows.pools;
        let restricted = pools
            .iter()
            .position(|pool| pool.restricted_to_project && !pool.incomes.is_empty())
            .expect("the demo has project money");
        let gift = pools[restricted].incomes[0];
        let gift_seq = projections.flows.income_seqs[gift as usize];
        let flows = &projections.flows;
        let pooled_allocation = flows
            .allocations
            .iter()
            .position(|allocation| {
                let pool = flows.incomes[allocation.income as usize].pool;
                !flows.pools[pool as usize].restricted_to_project
                    && flows.outflows[allocation.outflow as usize].seq > gift_seq
            })
            .expect("pooled money pays something after the project's first gift");
        projections.flows.allocations[pooled_allocation].income = gift;
        assert!(matches!(
            projections.check_flows().unwrap_err(),
            FlowsBroken::RestrictionCrossed { income_seq, .. } if income_seq == gift_seq
        ));
    }

    #[test]
    fn a_negative_allocation_is_found() {
        let mut projections = demo();
        projections.flows.allocations[0].amount_fen = -5;
        assert!(matches!(
            projections.check_flows().unwrap_err(),
            FlowsBroken::NegativeAllocation { amount_fen: -5, .. }
        ));
    }

    #[test]
    fn a_gifts_record_is_where_the_log_holds_it() {
        let projections = demo();
        let (seq, donation_id) = demo_envelopes()
            .iter()
            .enumerate()
            .find_map(|(seq, envelope)| match &envelope.event {
                Some(Event::DonationReceived(e)) => Some((seq as u64, e.donation_id.clone())),
                _ => None,
            })
            .unwrap();
        assert_eq!(
            projections.gift_record_seq(IncomeKind::Donation, &donation_id),
            Some(seq)
        );
        assert_eq!(
            projections.gift_record_seq(IncomeKind::Donation, "no-such-gift"),
            None
        );
    }
}
