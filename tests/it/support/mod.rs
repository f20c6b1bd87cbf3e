//! Shared test support: real databases, bounded waits.

pub mod bytebase;
pub mod bytebase_api;
pub mod cli;
pub mod db;
pub mod im_api;
pub mod issues;
pub mod logs;
pub mod pipeline;
pub mod python;
pub mod receiver;
pub mod recorder;
pub mod tcp_proxy;
pub mod wait;

pub use db::TestDb;
pub use wait::wait_until;
