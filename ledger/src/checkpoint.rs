//! Signed checkpoints in the C2SP signed-note format.
