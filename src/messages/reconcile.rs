//! Reconciliation requests.
//!
//! NOTIFY is lossy: whatever was sent while the listener was disconnected is
//! gone. After every (re)connect the listener asks the router to reconcile,
//! and the router asks every actor that owns unfinished work to re-scan the
//! database for it.

use actix::Message;

/// Why a reconciliation was asked for (logged, and shown in metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReconcileReason {
    /// The listener connected for the first time.
    Startup,
    /// The listener lost its connection and got it back.
    Reconnected,
    /// The periodic safety-net sweep.
    Periodic,
    /// Notifications were dropped because an actor was behind.
    Overflow,
}

impl ReconcileReason {
    pub fn as_str(self) -> &'static str {
        match self {
            ReconcileReason::Startup => "startup",
            ReconcileReason::Reconnected => "reconnected",
            ReconcileReason::Periodic => "periodic",
            ReconcileReason::Overflow => "overflow",
        }
    }
}

/// Re-scan the database for unfinished work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Message)]
#[rtype(result = "()")]
pub struct Reconcile {
    pub reason: ReconcileReason,
}
