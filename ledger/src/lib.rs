//! The write side of Mingzhang: money, ids, commands, `decide`, the record
//! format and hash chain, the Merkle tree and checkpoints, and the stores.
//!
//! **Architecture invariant:** this crate knows no HTTP, gRPC or SQL, and
//! `decide` reads no clock: time comes in with the command.

pub mod checkpoint;
pub mod merkle;
pub mod receipt;
pub mod record;
pub mod store;
