//! The one place status is written: server-side apply on the status
//! subresource with a fixed field manager, and only when something changed.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

use super::Context;
use super::error::{Error, Problem};
use crate::api::conditions::{self, READY, RECONCILING, STALLED, new_condition};
use crate::api::reason::Reason;
use crate::api::{BatchNotification, BatchNotificationStatus};

/// The field manager of every status write.
pub const FIELD_MANAGER: &str = "batchnotify";

pub fn now() -> Time {
    Time(k8s_openapi::jiff::Timestamp::now())
}

/// Ready / Reconciling / Stalled as kstatus reads them, for this generation.
pub fn set_conditions(
    obj: &BatchNotification,
    status: &mut BatchNotificationStatus,
    problem: Option<&Problem>,
) {
    let generation = obj.metadata.generation;
    status.observed_generation = generation;
    let now = now();
    let updates = match problem {
        None => [
            new_condition(
                READY,
                true,
                Reason::Reconciled,
                "AWS resources match the spec",
                generation,
                now.clone(),
            ),
            new_condition(
                RECONCILING,
                false,
                Reason::Reconciled,
                "",
                generation,
                now.clone(),
            ),
            new_condition(STALLED, false, Reason::Reconciled, "", generation, now),
        ],
        Some(p) if p.stalled() => [
            new_condition(
                READY,
                false,
                p.reason,
                p.message.clone(),
                generation,
                now.clone(),
            ),
            new_condition(RECONCILING, false, p.reason, "", generation, now.clone()),
            new_condition(STALLED, true, p.reason, p.message.clone(), generation, now),
        ],
        Some(p) => [
            new_condition(
                READY,
                false,
                p.reason,
                p.message.clone(),
                generation,
                now.clone(),
            ),
            new_condition(
                RECONCILING,
                true,
                p.reason,
                p.message.clone(),
                generation,
                now.clone(),
            ),
            new_condition(STALLED, false, p.reason, "", generation, now),
        ],
    };
    conditions::merge_conditions(&mut status.conditions, updates);
}

/// Whether `problem` differs from what the Ready condition already says.
pub fn problem_is_new(old: &BatchNotificationStatus, problem: &Problem) -> bool {
    match conditions::find_condition(&old.conditions, READY) {
        Some(c) => {
            c.status != "False" || c.reason != problem.reason || c.message != problem.message
        }
        None => true,
    }
}

/// Writes `new` if it differs from `old`.
pub async fn write(
    ctx: &Context,
    obj: &BatchNotification,
    old: &BatchNotificationStatus,
    new: &BatchNotificationStatus,
) -> Result<(), Error> {
    if old == new {
        return Ok(());
    }
    let ns = obj
        .namespace()
        .ok_or_else(|| Error::NoNamespace(obj.name_any()))?;
    let api: Api<BatchNotification> = Api::namespaced(ctx.client.clone(), &ns);
    let patch = json!({
        "apiVersion": "batchnotify.dev/v1alpha1",
        "kind": "BatchNotification",
        "status": new,
    });
    api.patch_status(
        &obj.name_any(),
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&patch),
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(generation: i64) -> BatchNotification {
        let mut o = crate::controller::fixtures::object(serde_json::Value::Null);
        o.metadata.generation = Some(generation);
        o
    }

    fn said(status: &BatchNotificationStatus, type_: &str) -> (String, String) {
        let c = conditions::find_condition(&status.conditions, type_).expect(type_);
        (c.status.clone(), c.reason.clone())
    }

    #[test]
    fn kstatus_conditions_for_ready_retrying_and_stalled() {
        let o = obj(3);
        let mut s = BatchNotificationStatus::default();
        set_conditions(&o, &mut s, None);
        assert_eq!(s.observed_generation, Some(3));
        assert_eq!(said(&s, READY).0, "True");
        assert_eq!(said(&s, RECONCILING).0, "False");
        let waiting = Problem::new(Reason::RolePropagating, "IAM role bn-x");
        set_conditions(&o, &mut s, Some(&waiting));
        assert_eq!(said(&s, READY), ("False".into(), "RolePropagating".into()));
        assert_eq!(said(&s, RECONCILING).0, "True");
        assert_eq!(said(&s, STALLED).0, "False");
        let stuck = Problem::new(Reason::CrossAccountReference, "spec.topic.arn");
        set_conditions(&o, &mut s, Some(&stuck));
        assert_eq!(said(&s, RECONCILING).0, "False");
        assert_eq!(
            said(&s, STALLED),
            ("True".into(), "CrossAccountReference".into())
        );
    }

    #[test]
    fn a_problem_is_new_unless_ready_already_says_it_word_for_word() {
        let o = obj(1);
        let p = Problem::new(Reason::RolePropagating, "IAM role bn-x");
        let mut s = BatchNotificationStatus::default();
        assert!(problem_is_new(&s, &p), "no condition yet");
        set_conditions(&o, &mut s, Some(&p));
        assert!(!problem_is_new(&s, &p));
        let reworded = Problem::new(Reason::RolePropagating, "IAM role bn-y");
        assert!(problem_is_new(&s, &reworded));
        set_conditions(&o, &mut s, None);
        assert!(
            problem_is_new(&s, &p),
            "Ready again: the same problem is new"
        );
    }
}
