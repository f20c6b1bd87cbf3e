//! One module per CLI command: each turns parsed arguments into work.

pub mod migrate;
pub mod run;
