//! The write side of Mingzhang: money, ids, commands, `decide`, the record
//! format and hash chain, the Merkle tree and checkpoints, and the stores.
//!
//! **Architecture invariant:** this crate knows no HTTP, gRPC or SQL, and
//! `decide` reads no clock: time comes in with the command.

pub mod batch_worker;
pub mod checkpoint;
pub mod checkpoint_store;
pub mod decide;
#[doc(hidden)]
pub mod fuzz_targets;
mod id_map;
pub mod merkle;
pub mod money;
pub mod personal_data;
pub mod receipt;
pub mod record;
pub mod replay;
pub mod scenario;
pub mod service;
pub mod slot_index;
pub mod state;
pub mod store;
pub mod tiles;

#[cfg(test)]
mod bounds_tests;
#[cfg(test)]
mod decide_tests;
#[cfg(test)]
mod invariant_tests;
#[cfg(test)]
mod service_tests;
