//! The state machine's IAM role and its inline policy.

use std::collections::BTreeMap;

use super::{Created, Delta, Manager, Removal};
use crate::aws::iam::ObservedRole;
use crate::aws::{AwsError, RegionClients};
use crate::desired::{Meta, Role, iam_policy_matches};

/// Shown in the IAM console.
const DESCRIPTION: &str = "Step Functions role managed by batchnotify";

pub struct RoleManager;

/// The role and its inline policy (URL-encoded as IAM returns it; `None`
/// when missing).
#[derive(Clone, Debug, PartialEq)]
pub struct Observed {
    pub role: ObservedRole,
    pub policy: Option<String>,
}

impl Manager for RoleManager {
    type Desired = Role;
    type Observed = Observed;
    const KIND: &'static str = "IAM role";
    const CREATE: &'static str = "CreateRole";
    const CREATE_FIRST: bool = true;
    const TAGS_OBSERVED: bool = true;

    fn meta(desired: &Role) -> &Meta {
        &desired.meta
    }

    async fn observe(aws: &RegionClients, desired: &Role) -> Result<Option<Observed>, AwsError> {
        let Some(role) = aws.roles.observe(&desired.meta.name).await? else {
            return Ok(None);
        };
        let policy = aws
            .roles
            .inline_policy(&desired.meta.name, &desired.policy_name)
            .await?;
        Ok(Some(Observed { role, policy }))
    }

    async fn tags(
        aws: &RegionClients,
        desired: &Role,
        observed: Option<&Observed>,
    ) -> Result<Option<BTreeMap<String, String>>, AwsError> {
        Ok(match observed {
            Some(o) => Some(o.role.tags.clone()),
            None => aws.roles.observe(&desired.meta.name).await?.map(|r| r.tags),
        })
    }

    async fn tag(aws: &RegionClients, desired: &Role, _: &Observed) -> Result<(), AwsError> {
        aws.roles.tag(&desired.meta.name, &desired.meta.tags).await
    }

    fn compare(desired: &Role, observed: &Observed) -> Delta {
        let mut delta = Delta::default();
        delta.check(
            !iam_policy_matches(&observed.role.trust_policy_encoded, &desired.trust),
            "trust policy",
            "UpdateAssumeRolePolicy",
        );
        delta.check(
            !observed
                .policy
                .as_deref()
                .is_some_and(|p| iam_policy_matches(p, &desired.policy)),
            "inline policy",
            "PutRolePolicy",
        );
        delta
    }

    async fn create(aws: &RegionClients, desired: &Role) -> Result<Created, AwsError> {
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
            .put_inline_policy(
                &meta.name,
                &desired.policy_name,
                &desired.policy.to_string(),
            )
            .await?;
        Ok(Created::New(arn))
    }

    async fn update(
        aws: &RegionClients,
        desired: &Role,
        _: &Observed,
        delta: &Delta,
    ) -> Result<Option<String>, AwsError> {
        let name = &desired.meta.name;
        if delta.has("trust policy") {
            aws.roles
                .update_trust_policy(name, &desired.trust.to_string())
                .await?;
        }
        if delta.has("inline policy") {
            aws.roles
                .put_inline_policy(name, &desired.policy_name, &desired.policy.to_string())
                .await?;
        }
        Ok(None)
    }

    async fn delete(aws: &RegionClients, desired: &Role) -> Result<Removal, AwsError> {
        aws.roles
            .delete(&desired.meta.name, &desired.policy_name)
            .await?;
        Ok(Removal::Done)
    }

    fn arn(_: &Role, observed: &Observed) -> String {
        observed.role.arn.clone()
    }
}
