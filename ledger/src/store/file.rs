//! Embedded segment-file backend: see docs/log-format.md.
