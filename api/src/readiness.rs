//! Whether the server is ready for traffic: the one answer `/readyz` and the
//! gRPC health service (`grpc.health.v1.Health`) both give.

use crate::state::AppState;

/// What readiness is judged on, read at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Readiness {
    /// Durable records in the log.
    pub log_records: u64,
    /// Records the projections have applied; fewer than `log_records` means
    /// queries would answer from an older state.
    pub applied_records: u64,
    /// Why the log has failed, if it has: every write fails until restart.
    pub log_failure: Option<String>,
    /// The record the projections stopped at because it does not apply
    /// (docs/replay.md): balances that leave it out are not served.
    pub not_applied: Option<String>,
}

impl Readiness {
    pub fn of(state: &AppState) -> Readiness {
        Readiness {
            log_records: state.store.head().len,
            applied_records: *state.applied_len.borrow(),
            log_failure: state.store.failure(),
            not_applied: state
                .projections
                .read()
                .not_applied()
                .map(ToString::to_string),
        }
    }

    /// Ready while the log takes writes and the projections have caught up
    /// with it, having applied every record.
    pub fn is_ready(&self) -> bool {
        self.log_failure.is_none()
            && self.not_applied.is_none()
            && self.applied_records >= self.log_records
    }
}

#[cfg(test)]
mod tests {
    use super::Readiness;

    fn readiness(log_records: u64, applied_records: u64, failed: bool) -> Readiness {
        Readiness {
            log_records,
            applied_records,
            log_failure: failed.then(|| "writing to /data/log failed: disk full".to_owned()),
            not_applied: None,
        }
    }

    #[test]
    fn ready_only_while_the_log_works_and_projections_have_caught_up() {
        assert!(readiness(0, 0, false).is_ready());
        assert!(readiness(10, 10, false).is_ready());
        assert!(!readiness(10, 9, false).is_ready(), "projections lag");
        assert!(!readiness(10, 10, true).is_ready(), "the log has failed");
        let stopped = Readiness {
            not_applied: Some("record 7: no donor \"x\"".to_owned()),
            ..readiness(10, 10, false)
        };
        assert!(!stopped.is_ready(), "the projections stopped at a record");
    }
}
