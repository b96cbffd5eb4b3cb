//! The Step Functions state machine.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{Created, Delta, Manager, Removal, what};
use crate::api::reason::Reason;
use crate::aws::sfn::{ObservedStateMachine, role_not_assumable};
use crate::aws::{AwsError, ErrorKind, RegionClients};
use crate::controller::error::Problem;
use crate::desired::{Meta, StateMachine, documents_equal};

pub struct StateMachineManager;

impl Manager for StateMachineManager {
    type Desired = StateMachine;
    type Observed = ObservedStateMachine;
    const KIND: &'static str = "state machine";
    const CREATE: &'static str = "CreateStateMachine";
    const CREATE_FIRST: bool = true;
    const TAGS_OBSERVED: bool = false;

    fn meta(desired: &StateMachine) -> &Meta {
        &desired.meta
    }

    async fn observe(
        aws: &RegionClients,
        desired: &StateMachine,
    ) -> Result<Option<ObservedStateMachine>, AwsError> {
        aws.state_machines.observe(&desired.meta.arn).await
    }

    async fn tags(
        aws: &RegionClients,
        desired: &StateMachine,
        _: Option<&ObservedStateMachine>,
    ) -> Result<Option<BTreeMap<String, String>>, AwsError> {
        match aws.state_machines.tags(&desired.meta.arn).await {
            Ok(tags) => Ok(Some(tags)),
            Err(e) if e.is(ErrorKind::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn tag(
        aws: &RegionClients,
        desired: &StateMachine,
        _: &ObservedStateMachine,
    ) -> Result<(), AwsError> {
        aws.state_machines
            .tag(&desired.meta.arn, &desired.meta.tags)
            .await
    }

    fn compare(desired: &StateMachine, observed: &ObservedStateMachine) -> Delta {
        let same_definition = serde_json::from_str::<Value>(&observed.definition)
            .is_ok_and(|d| documents_equal(&d, &desired.definition));
        let mut delta = Delta::default();
        delta.check(!same_definition, "definition", "UpdateStateMachine");
        delta.check(
            observed.role_arn != desired.role_arn,
            "roleArn",
            "UpdateStateMachine",
        );
        delta
    }

    async fn create(aws: &RegionClients, desired: &StateMachine) -> Result<Created, AwsError> {
        let meta = &desired.meta;
        let arn = aws
            .state_machines
            .create(
                &meta.name,
                &desired.definition.to_string(),
                &desired.role_arn,
                &meta.tags,
            )
            .await?;
        Ok(Created::New(arn))
    }

    async fn update(
        aws: &RegionClients,
        desired: &StateMachine,
        _: &ObservedStateMachine,
        _: &Delta,
    ) -> Result<Option<String>, AwsError> {
        aws.state_machines
            .update(
                &desired.meta.arn,
                &desired.definition.to_string(),
                &desired.role_arn,
            )
            .await?;
        Ok(None)
    }

    /// Stops the machine's running executions first: a deleted object's runs
    /// must not go on notifying.
    async fn delete(aws: &RegionClients, desired: &StateMachine) -> Result<Removal, AwsError> {
        let arn = &desired.meta.arn;
        let running = match aws.state_machines.running_executions(arn).await {
            Err(e) if e.is(ErrorKind::NotFound) => Vec::new(),
            other => other?,
        };
        for execution in running {
            aws.state_machines
                .stop_execution(&execution, "the BatchNotification was deleted")
                .await?;
            tracing::info!(execution, "stopped: the BatchNotification was deleted");
        }
        aws.state_machines.delete(arn).await?;
        Ok(Removal::Done)
    }

    /// Step Functions refuses a role IAM has not yet made assumable by
    /// states.amazonaws.com (IAM is eventually consistent): wait, that is
    /// all. Any other denial is a permission the operator lacks.
    fn problem(desired: &StateMachine, err: &AwsError) -> Problem {
        if role_not_assumable(err) {
            Problem::new(
                Reason::RolePropagating,
                format!(
                    "{}: the new IAM role is not yet assumable by Step Functions ({err}); retrying",
                    what::<Self>(desired)
                ),
            )
        } else {
            Problem::aws(&what::<Self>(desired), err)
        }
    }
}
