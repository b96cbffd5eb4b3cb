//! The task execution role of a managed Fargate job definition
//! (`managedExecutionRole: true`): trusted by ECS tasks, with AWS's managed
//! execution policy attached, so a new account needs no role made by hand.

use std::collections::BTreeMap;

use super::{Created, Delta, Manager, Removal};
use crate::aws::iam::ObservedRole;
use crate::aws::{AwsError, RegionClients};
use crate::desired::{ExecutionRole, Meta, iam_policy_matches};

/// Shown in the IAM console.
const DESCRIPTION: &str = "ECS task execution role of a Batch job, managed by batchnotify";

pub struct ExecutionRoleManager;

/// The role and the managed policies attached to it.
#[derive(Clone, Debug, PartialEq)]
pub struct Observed {
    pub role: ObservedRole,
    pub attached: Vec<String>,
}

impl Manager for ExecutionRoleManager {
    type Desired = ExecutionRole;
    type Observed = Observed;
    const KIND: &'static str = "IAM role";
    const CREATE: &'static str = "CreateRole";
    const CREATE_FIRST: bool = false;
    const TAGS_OBSERVED: bool = true;

    fn meta(desired: &ExecutionRole) -> &Meta {
        &desired.meta
    }

    async fn observe(
        aws: &RegionClients,
        desired: &ExecutionRole,
    ) -> Result<Option<Observed>, AwsError> {
        let Some(role) = aws.roles.observe(&desired.meta.name).await? else {
            return Ok(None);
        };
        let attached = aws.roles.attached_policies(&desired.meta.name).await?;
        Ok(Some(Observed { role, attached }))
    }

    async fn tags(
        aws: &RegionClients,
        desired: &ExecutionRole,
        observed: Option<&Observed>,
    ) -> Result<Option<BTreeMap<String, String>>, AwsError> {
        Ok(match observed {
            Some(o) => Some(o.role.tags.clone()),
            None => aws.roles.observe(&desired.meta.name).await?.map(|r| r.tags),
        })
    }

    async fn tag(
        aws: &RegionClients,
        desired: &ExecutionRole,
        _: &Observed,
    ) -> Result<(), AwsError> {
        aws.roles.tag(&desired.meta.name, &desired.meta.tags).await
    }

    fn compare(desired: &ExecutionRole, observed: &Observed) -> Delta {
        let mut delta = Delta::default();
        delta.check(
            !iam_policy_matches(&observed.role.trust_policy_encoded, &desired.trust),
            "trust policy",
            "UpdateAssumeRolePolicy",
        );
        delta.check(
            !observed.attached.contains(&desired.policy_arn),
            "attached policy",
            "AttachRolePolicy",
        );
        delta
    }

    async fn create(aws: &RegionClients, desired: &ExecutionRole) -> Result<Created, AwsError> {
        let meta = &desired.meta;
        let arn = aws
            .roles
            .create(
                &meta.name,
                &desired.trust.to_string(),
                DESCRIPTION,
                &meta.tags,
            )
            .await?;
        aws.roles
            .attach_policy(&meta.name, &desired.policy_arn)
            .await?;
        Ok(Created::New(arn))
    }

    async fn update(
        aws: &RegionClients,
        desired: &ExecutionRole,
        _: &Observed,
        delta: &Delta,
    ) -> Result<Option<String>, AwsError> {
        let name = &desired.meta.name;
        if delta.has("trust policy") {
            aws.roles
                .update_trust_policy(name, &desired.trust.to_string())
                .await?;
        }
        if delta.has("attached policy") {
            aws.roles.attach_policy(name, &desired.policy_arn).await?;
        }
        Ok(None)
    }

    async fn delete(aws: &RegionClients, desired: &ExecutionRole) -> Result<Removal, AwsError> {
        aws.roles
            .delete_with_attached(&desired.meta.name, &desired.policy_arn)
            .await?;
        Ok(Removal::Done)
    }
}
