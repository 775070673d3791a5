//! The ledger's log in KurrentDB (formerly EventStoreDB), behind the same
//! `EventStore` trait as the embedded file log, so `ledger` itself knows no
//! gRPC.
//!
//! **One stream** (`mingzhang-ledger` unless the URL's `stream` parameter
//! names another) holds the log: record `seq` is event revision `seq`, and
//! each event's data is that record's exact bytes as docs/log-format.md
//! frames them (the bytes the file log writes, so the chain and the Merkle
//! leaves are the same on every backend).
//!
//! **Writes** (`writer`): callers chain and encode under a short lock and
//! queue; one task sends everything queued as few appends as the server's
//! append size allows, each stating the revision the stream must be at
//! (`StreamState::StreamRevision(first - 1)`, `NoStream` at 0), so two
//! writers can never fork the chain. Durable means the server acknowledged:
//! KurrentDB acknowledges once a quorum of its nodes has written. A refused
//! or ambiguous append fails the store closed: every later append fails
//! until it is reopened and the stream read again.
//!
//! **Reads** (a synchronous call in the trait) go to a thread with a client
//! and a runtime of its own. **Followers** move `watch_durable_len` from a
//! catch-up subscription to the stream. **Open** reads the whole stream
//! once and checks every record and chain link.
//!
//! The client (`kurrentdb` 1.2: tonic 0.13 and aws-lc, a second gRPC stack
//! and minutes of build) is behind this crate's `kurrentdb` feature, off by
//! default; what is pure (the URL, revisions against seqs, group commit) is
//! always built and tested. No KurrentDB server can be installed on the
//! project's build machines: the contract suite runs against one when
//! `KURRENTDB_URL` is set (ops/kurrentdb/RUNBOOK.md starts a cluster).

pub mod location;
pub mod position;
pub mod writer;

#[cfg(feature = "kurrentdb")]
mod store;

pub use location::{DEFAULT_STREAM, Location, LocationError, is_kurrentdb_url};
#[cfg(feature = "kurrentdb")]
pub use store::{KurrentDbError, KurrentDbStore};
