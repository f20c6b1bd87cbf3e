//! Who hears what, and when — pure decisions, no IO:
//!
//! - [`matcher`]: Alertmanager-syntax matchers over an event's attributes;
//! - [`time_interval`]: recurring periods (mute windows);
//! - [`attributes`]: what an event carries that matchers look at;
//! - [`gate`]: before a delivery's first attempt, whether it is sent,
//!   filtered out, muted (dropped, recorded) or held until its mute ends.
//!
//! The delivery actor asks [`gate::decide`] and records the answer under
//! its lease, so what one replica decided no other decides again.

pub mod attributes;
pub mod gate;
pub mod matcher;
pub mod time_interval;

pub use gate::{Gate, MuteAction, MuteWindow, Route, Silence};
pub use matcher::{Attributes, Matchers};
pub use time_interval::TimeInterval;
