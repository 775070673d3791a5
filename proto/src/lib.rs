//! Generated protobuf types. `v1` holds the events (the payload of every log
//! record) and the service definitions of the gRPC API.
//!
//! **Invariant:** a field number, once published, is never reused.

pub mod v1 {
    #![allow(clippy::all, clippy::pedantic)]
    tonic::include_proto!("mingzhang.v1");
}

pub mod event_kind;

pub use prost::Message;

/// The compiled schemas (a protobuf `FileDescriptorSet`), for reflection:
/// e.g. showing a record's envelope in protobuf's canonical JSON mapping.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/mingzhang_descriptor_set.bin"));
