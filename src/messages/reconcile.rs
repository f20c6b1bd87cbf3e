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

/// At most one reconciliation pass in flight per actor: requests that
/// arrive during a pass fold into one more pass after it (with the latest
/// reason), however many there were.
#[derive(Debug, Default, Clone)]
pub struct ReconcileGate(std::sync::Arc<std::sync::Mutex<GateState>>);

#[derive(Debug, Default)]
struct GateState {
    running: bool,
    again: Option<ReconcileReason>,
}

impl ReconcileGate {
    /// Ask for a pass: true if the caller runs it now; false if one is
    /// running, which will run once more.
    pub fn enter(&self, reason: ReconcileReason) -> bool {
        let Ok(mut state) = self.0.lock() else {
            return true;
        };
        if state.running {
            state.again = Some(reason);
            false
        } else {
            state.running = true;
            true
        }
    }

    /// A pass ended: the reason to run again for, if asked meanwhile (the
    /// caller still holds the gate), or None (released).
    pub fn leave(&self) -> Option<ReconcileReason> {
        let Ok(mut state) = self.0.lock() else {
            return None;
        };
        let again = state.again.take();
        state.running = again.is_some();
        again
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_during_a_pass_fold_into_one_more() {
        let gate = ReconcileGate::default();
        assert!(gate.enter(ReconcileReason::Startup));
        assert!(!gate.enter(ReconcileReason::Periodic));
        assert!(!gate.enter(ReconcileReason::Overflow));
        assert_eq!(gate.leave(), Some(ReconcileReason::Overflow));
        // Still held for that pass.
        assert!(!gate.enter(ReconcileReason::Periodic));
        assert_eq!(gate.leave(), Some(ReconcileReason::Periodic));
        assert_eq!(gate.leave(), None);
        assert!(gate.enter(ReconcileReason::Periodic));
    }
}
