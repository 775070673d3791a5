//! Mingzhang's edges: HTTP JSON and gRPC APIs, roles and tokens, and the
//! server the `mingzhang` CLI runs.
//!
//! **Architecture invariant:** the API translates and authorises; it holds no
//! business rule. Every command goes through `Ledger::submit`, every answer
//! comes from the projections or the log.

pub mod auth;
pub mod backend;
pub mod config;
pub mod console;
pub mod documents;
pub mod error;
pub mod flow_receipt_calls;
#[doc(hidden)]
pub mod fuzz_targets;
pub mod grpc;
pub mod grpc_tools;
pub mod http;
pub mod log_failure_hook;
pub mod metrics;
pub mod money;
pub mod openapi;
pub mod page;
pub mod personal_data;
pub mod portal;
pub mod proof_calls;
pub mod query_answers;
pub mod readiness;
pub mod receipt_links;
pub mod serve;
pub mod session;
pub mod state;
pub mod store_location;
pub mod store_switch;
#[cfg(test)]
mod test_support;
pub mod tiles;
pub mod transparency;
pub mod witness;
pub mod witness_client;
