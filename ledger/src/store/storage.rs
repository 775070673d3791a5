//! The file operations the embedded log needs, real and simulated.
