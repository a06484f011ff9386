//! ladder: the system of record for a high-tech zone's enterprise-cultivation
//! programme (梯度培育), served over gRPC and stored in an embedded sled database.
//!
//! See `ARCHITECTURE.md` for the code map and the invariants.

pub mod api;
pub mod auth;
pub mod cli;
pub mod config;
pub mod connections;
pub mod domain;
pub mod error;
pub mod metrics;
pub mod pb;
pub mod requests;
pub mod sample;
pub mod server;
pub mod store;
pub mod web;
