//! The supervisor's lifecycle (start, supervised restart) and its message
//! handlers; the behaviour they call is in the parent module.

use actix::prelude::*;
use tracing::warn;

use super::{Origin, PlanSupervisor};
use crate::messages::{
    EvaluatePlan, GetPlanStatus, InjectPanic, PlanStatus, ShutdownPlan, TaskRunChanged,
};

impl Actor for PlanSupervisor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.recovering = self.origin != Origin::Message;
        // The registry starts a supervisor to hand it a message, which reads
        // the plan; after a restart nobody will, so read now.
        if self.origin == Origin::Restart {
            self.evaluate(ctx);
        }
    }

    fn stopped(&mut self, _ctx: &mut Self::Context) {
        if self.window.take().is_some() {
            self.shared.metrics.plan_windows_open.dec();
        }
    }
}

impl Supervised for PlanSupervisor {
    fn restarting(&mut self, _ctx: &mut Self::Context) {
        // The context dropped the timers and the read in flight; forget what
        // they stood for. `started()` reads the plan again.
        if self.window.take().is_some() {
            self.shared.metrics.plan_windows_open.dec();
        }
        self.window_timer = None;
        self.idle_timer = None;
        self.retry_timer = None;
        self.evaluating = false;
        self.again = false;
        self.progress = None;
        self.queued.clear();
        self.generation = None;
        self.origin = Origin::Restart;
        self.restarts = self.restarts.saturating_add(1);
        warn!(
            event = "plan.restarted",
            plan_id = self.plan_id,
            restarts = self.restarts
        );
    }
}

impl Handler<TaskRunChanged> for PlanSupervisor {
    type Result = ();

    fn handle(&mut self, change: TaskRunChanged, ctx: &mut Self::Context) {
        self.handled += 1;
        self.guarded(ctx, |act, ctx| act.on_task_run(change, ctx));
    }
}

impl Handler<EvaluatePlan> for PlanSupervisor {
    type Result = ();

    fn handle(&mut self, _: EvaluatePlan, ctx: &mut Self::Context) {
        self.handled += 1;
        self.guarded(ctx, |act, ctx| act.evaluate(ctx));
    }
}

impl Handler<GetPlanStatus> for PlanSupervisor {
    type Result = Option<PlanStatus>;

    fn handle(&mut self, _: GetPlanStatus, _ctx: &mut Self::Context) -> Option<PlanStatus> {
        Some(self.status())
    }
}

impl Handler<ShutdownPlan> for PlanSupervisor {
    type Result = ();

    fn handle(&mut self, _: ShutdownPlan, ctx: &mut Self::Context) {
        ctx.stop();
    }
}

impl Handler<InjectPanic> for PlanSupervisor {
    type Result = ();

    fn handle(&mut self, _: InjectPanic, ctx: &mut Self::Context) {
        self.guarded(ctx, |act, _| {
            panic!("injected panic in plan {}", act.plan_id)
        });
    }
}
