//! RFC 6962 / RFC 9162 Merkle tree over the log records.
