//! Generated protobuf types. `v1` holds the events (the payload of every log
//! record) and the service definitions of the gRPC API.
//!
//! **Invariant:** a field number, once published, is never reused.

pub mod v1 {
    #![allow(clippy::all, clippy::pedantic)]
    tonic::include_proto!("mingzhang.v1");
}

pub use prost::Message;
