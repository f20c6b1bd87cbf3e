//! Shared test support: real databases, bounded waits.

pub mod db;
pub mod pipeline;
pub mod recorder;
pub mod wait;

pub use db::TestDb;
pub use wait::wait_until;
