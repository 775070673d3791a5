//! In-memory backend for tests and benchmarks of everything above the store.
