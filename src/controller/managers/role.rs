//! IAM roles: the state machine's (with its inline policy) and a Fargate
//! job's task execution role (with AWS's managed policy attached). One
//! manager, [`RoleManager`], over what differs: the role's [`Permissions`].

use std::collections::BTreeMap;
use std::marker::PhantomData;

use serde_json::Value;

use super::{Created, Delta, Manager, Removal};
use crate::aws::iam::ObservedRole;
use crate::aws::{AwsError, RegionClients};
use crate::desired::{ExecutionRole, Meta, Role, iam_policy_matches};

/// What one kind of role is granted, and how.
pub(crate) trait Permissions {
    type Desired;
    /// What observing the grant returns.
    type Grant;
    /// Shown in the IAM console.
    const DESCRIPTION: &'static str;
    const CREATE_FIRST: bool;
    /// The delta's field for the grant, and the operation that puts it back.
    const FIELD: &'static str;
    const OPERATION: &'static str;

    fn meta(desired: &Self::Desired) -> &Meta;
    fn trust(desired: &Self::Desired) -> &Value;
    async fn observe(aws: &RegionClients, desired: &Self::Desired)
    -> Result<Self::Grant, AwsError>;
    fn matches(desired: &Self::Desired, grant: &Self::Grant) -> bool;
    async fn grant(aws: &RegionClients, desired: &Self::Desired) -> Result<(), AwsError>;
    /// Removes the grant, then the role.
    async fn delete(aws: &RegionClients, desired: &Self::Desired) -> Result<(), AwsError>;
}

/// The state machine's role: an inline policy (URL-encoded as IAM returns
/// it; `None` when missing).
pub struct InlinePolicy;

impl Permissions for InlinePolicy {
    type Desired = Role;
    type Grant = Option<String>;
    const DESCRIPTION: &'static str = "Step Functions role managed by batchnotify";
    const CREATE_FIRST: bool = true;
    const FIELD: &'static str = "inline policy";
    const OPERATION: &'static str = "PutRolePolicy";

    fn meta(desired: &Role) -> &Meta {
        &desired.meta
    }
    fn trust(desired: &Role) -> &Value {
        &desired.trust
    }
    async fn observe(aws: &RegionClients, desired: &Role) -> Result<Option<String>, AwsError> {
        aws.roles
            .inline_policy(&desired.meta.name, &desired.policy_name)
            .await
    }
    fn matches(desired: &Role, grant: &Option<String>) -> bool {
        grant
            .as_deref()
            .is_some_and(|p| iam_policy_matches(p, &desired.policy))
    }
    async fn grant(aws: &RegionClients, desired: &Role) -> Result<(), AwsError> {
        aws.roles
            .put_inline_policy(
                &desired.meta.name,
                &desired.policy_name,
                &desired.policy.to_string(),
            )
            .await
    }
    async fn delete(aws: &RegionClients, desired: &Role) -> Result<(), AwsError> {
        aws.roles
            .delete(&desired.meta.name, &desired.policy_name)
            .await
    }
}

/// A Fargate job's task execution role (`managedExecutionRole: true`):
/// trusted by ECS tasks, AWS's managed execution policy attached, so a new
/// account needs no role made by hand. The grant: the attached policies.
pub struct AttachedPolicy;

impl Permissions for AttachedPolicy {
    type Desired = ExecutionRole;
    type Grant = Vec<String>;
    const DESCRIPTION: &'static str =
        "ECS task execution role of a Batch job, managed by batchnotify";
    const CREATE_FIRST: bool = false;
    const FIELD: &'static str = "attached policy";
    const OPERATION: &'static str = "AttachRolePolicy";

    fn meta(desired: &ExecutionRole) -> &Meta {
        &desired.meta
    }
    fn trust(desired: &ExecutionRole) -> &Value {
        &desired.trust
    }
    async fn observe(
        aws: &RegionClients,
        desired: &ExecutionRole,
    ) -> Result<Vec<String>, AwsError> {
        aws.roles.attached_policies(&desired.meta.name).await
    }
    fn matches(desired: &ExecutionRole, grant: &Vec<String>) -> bool {
        grant.contains(&desired.policy_arn)
    }
    async fn grant(aws: &RegionClients, desired: &ExecutionRole) -> Result<(), AwsError> {
        aws.roles
            .attach_policy(&desired.meta.name, &desired.policy_arn)
            .await
    }
    async fn delete(aws: &RegionClients, desired: &ExecutionRole) -> Result<(), AwsError> {
        aws.roles
            .delete_with_attached(&desired.meta.name, &desired.policy_arn)
            .await
    }
}

/// An IAM role with the permissions `P`.
pub struct RoleManager<P>(PhantomData<P>);

/// The state machine's role.
pub type StateMachineRoleManager = RoleManager<InlinePolicy>;
/// The task execution role.
pub type ExecutionRoleManager = RoleManager<AttachedPolicy>;

/// The role and its grant.
#[derive(Clone, Debug, PartialEq)]
pub struct Observed<G> {
    pub role: ObservedRole,
    pub grant: G,
}

const TRUST: &str = "trust policy";

impl<P: Permissions> Manager for RoleManager<P> {
    type Desired = P::Desired;
    type Observed = Observed<P::Grant>;
    const KIND: &'static str = "IAM role";
    const CREATE: &'static str = "CreateRole";
    const CREATE_FIRST: bool = P::CREATE_FIRST;
    const TAGS_OBSERVED: bool = true;

    fn meta(desired: &P::Desired) -> &Meta {
        P::meta(desired)
    }

    async fn observe(
        aws: &RegionClients,
        desired: &P::Desired,
    ) -> Result<Option<Self::Observed>, AwsError> {
        let Some(role) = aws.roles.observe(&P::meta(desired).name).await? else {
            return Ok(None);
        };
        let grant = P::observe(aws, desired).await?;
        Ok(Some(Observed { role, grant }))
    }

    fn observed_tags(observed: &Self::Observed) -> Option<&BTreeMap<String, String>> {
        Some(&observed.role.tags)
    }

    async fn tag(
        aws: &RegionClients,
        desired: &P::Desired,
        _: &Self::Observed,
    ) -> Result<(), AwsError> {
        let meta = P::meta(desired);
        aws.roles.tag(&meta.name, &meta.tags).await
    }

    fn compare(desired: &P::Desired, observed: &Self::Observed) -> Delta {
        let mut delta = Delta::default();
        delta.check(
            !iam_policy_matches(&observed.role.trust_policy_encoded, P::trust(desired)),
            TRUST,
            "UpdateAssumeRolePolicy",
        );
        delta.check(
            !P::matches(desired, &observed.grant),
            P::FIELD,
            P::OPERATION,
        );
        delta
    }

    async fn create(aws: &RegionClients, desired: &P::Desired) -> Result<Created, AwsError> {
        let meta = P::meta(desired);
        let arn = aws
            .roles
            .create(
                &meta.name,
                &P::trust(desired).to_string(),
                P::DESCRIPTION,
                &meta.tags,
            )
            .await?;
        P::grant(aws, desired).await?;
        Ok(Created::New(arn))
    }

    async fn update(
        aws: &RegionClients,
        desired: &P::Desired,
        _: &Self::Observed,
        delta: &Delta,
    ) -> Result<Option<String>, AwsError> {
        if delta.has(TRUST) {
            aws.roles
                .update_trust_policy(&P::meta(desired).name, &P::trust(desired).to_string())
                .await?;
        }
        if delta.has(P::FIELD) {
            P::grant(aws, desired).await?;
        }
        Ok(None)
    }

    async fn delete(aws: &RegionClients, desired: &P::Desired) -> Result<Removal, AwsError> {
        P::delete(aws, desired).await?;
        Ok(Removal::Done)
    }

    fn arn(_: &P::Desired, observed: &Self::Observed) -> String {
        observed.role.arn.clone()
    }
}
