//! The Bytebase source: herald follows an unmodified Bytebase metadata
//! database through a read-only connection and mirrors what it needs into
//! its own native tables; the core never knows the difference.
//!
//! - [`model`]: Bytebase's rows and protojson payloads, and what they mean
//!   in herald's model (pure).
//! - [`follow`]: one follow pass (read, map, mirror, in one transaction).
//!
//! The SQL lives in [`crate::store::bytebase`] (reads, Bytebase's
//! indexes) and [`crate::store::mirror`] (writes to herald's tables).

pub mod api;
pub mod follow;
pub mod model;

/// The fixture schema of the tests, the demo and the benchmark: the
/// tables and columns herald reads, laid out as Bytebase 3.17+ does.
pub const FIXTURE_SCHEMA: &str = include_str!("fixture.sql");

/// Bytebase versions whose schema herald's source is written for.
pub const SUPPORTED_VERSIONS: &str = "3.17 to 3.23";
