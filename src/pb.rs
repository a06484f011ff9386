//! Generated protobuf and gRPC code for `ladder.v1`, and its descriptor set.

#![allow(missing_docs, clippy::all, clippy::pedantic)]

/// `ladder.v1`: messages and services of the public API.
pub mod v1 {
    tonic::include_proto!("ladder.v1");
}

/// Encoded `FileDescriptorSet` of every ladder proto, for server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("ladder_descriptor");
