//! herald's actors, one per file. Each file starts with what the actor owns,
//! which messages it takes, what it emits and what happens when it restarts.
//!
//! - [`listener`]: database notifications → typed messages for the router.
//! - [`plans`]: the plan registry — one [`PlanSupervisor`] per active plan.
//! - [`plan_supervisor`]: a plan's outcome — failure window, completion, claims.
//! - [`plan_shared`]: settings and handles the registry and supervisors share.
//! - [`router`]: fans typed messages out to the actors that own them, and
//!   reconciliation requests to every actor with unfinished work.
//! - [`approval`]: creates a plan's rollout once its approval and plan
//!   checks allow it.
//! - [`issue_events`]: issue created / approval requested / sent back /
//!   approved, once per transition; [`approval_reminders`]: approvals
//!   still pending announced again, once per interval.
//! - [`bytebase_follower`]: mirrors a read-only Bytebase database into the
//!   native tables (the Bytebase source).
//! - [`endpoint_leases`]: endpoints, leases, one [`delivery`] actor per held endpoint.
//! - [`delivery`]: sends one endpoint's outbox in order, with retries.
//! - [`retention`]: prunes finished history in bounded batches.
//! - [`rollout_repair`]: creates through Bytebase's API the rollouts
//!   Bytebase's own creator has not made within a grace period.

pub mod approval;
pub mod approval_reminders;
pub mod bytebase_follower;
pub mod delivery;
pub mod endpoint_leases;
pub mod issue_events;
pub mod listener;
pub mod plan_shared;
pub mod plan_supervisor;
pub mod plans;
pub mod retention;
pub mod rollout_repair;
pub mod router;

pub use approval::{ApprovalActor, ApprovalConfig};
pub use approval_reminders::{ApprovalReminders, ReminderConfig};
pub use bytebase_follower::{BytebaseFollower, FollowerConfig};
pub use delivery::DeliveryActor;
pub use endpoint_leases::EndpointLeases;
pub use issue_events::{IssueEvents, IssueEventsConfig};
pub use listener::{Listener, ListenerConfig};
pub use plan_supervisor::{PlanConfig, PlanSupervisor};
pub use plans::PlanRegistry;
pub use retention::{Retention, RetentionConfig};
pub use rollout_repair::{RepairConfig, RolloutRepair};
pub use router::{Router, RouterTargets};
