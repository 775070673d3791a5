//! Black-box test support lives in the integration tests.
