//! The Batch compute environment (managed Fargate).

use std::collections::BTreeMap;

use super::{Created, Delta, Manager, Removal, what};
use crate::api::reason::Reason;
use crate::aws::batch::ObservedComputeEnvironment;
use crate::aws::{AwsError, RegionClients};
use crate::controller::error::Problem;
use crate::desired::{ComputeEnvironment, Meta};

pub struct ComputeEnvironmentManager;

/// Batch accepts no change, and no queue, while it is working on it.
/// https://docs.aws.amazon.com/batch/latest/userguide/compute_environment_parameters.html
fn not_ready(desired: &ComputeEnvironment, status: &str) -> Problem {
    Problem::new(
        Reason::ComputeEnvironmentNotReady,
        format!(
            "{} is {status}; the job queue follows once it is VALID",
            what::<ComputeEnvironmentManager>(desired)
        ),
    )
}

fn busy(status: &str) -> bool {
    matches!(status, "CREATING" | "UPDATING" | "DELETING")
}

fn sorted(v: &[String]) -> Vec<&String> {
    let mut v: Vec<&String> = v.iter().collect();
    v.sort();
    v
}

impl Manager for ComputeEnvironmentManager {
    type Desired = ComputeEnvironment;
    type Observed = ObservedComputeEnvironment;
    const KIND: &'static str = "compute environment";
    const CREATE: &'static str = "CreateComputeEnvironment";
    const CREATE_FIRST: bool = false;
    const TAGS_OBSERVED: bool = true;

    fn meta(desired: &ComputeEnvironment) -> &Meta {
        &desired.meta
    }

    async fn observe(
        aws: &RegionClients,
        desired: &ComputeEnvironment,
    ) -> Result<Option<ObservedComputeEnvironment>, AwsError> {
        aws.batch.compute_environment(&desired.meta.name).await
    }

    fn observed_tags(observed: &ObservedComputeEnvironment) -> Option<&BTreeMap<String, String>> {
        Some(&observed.tags)
    }

    async fn tag(
        aws: &RegionClients,
        desired: &ComputeEnvironment,
        observed: &ObservedComputeEnvironment,
    ) -> Result<(), AwsError> {
        aws.batch.tag(&observed.arn, &desired.meta.tags).await
    }

    fn compare(desired: &ComputeEnvironment, observed: &ObservedComputeEnvironment) -> Delta {
        let mut delta = Delta::default();
        let op = "UpdateComputeEnvironment";
        delta.check(
            observed.max_vcpus != Some(desired.max_vcpus),
            "maxvCpus",
            op,
        );
        delta.check(
            sorted(&observed.subnets) != sorted(&desired.subnets),
            "subnets",
            op,
        );
        delta.check(
            sorted(&observed.security_group_ids) != sorted(&desired.security_group_ids),
            "securityGroupIds",
            op,
        );
        delta.check(observed.state != "ENABLED", "state", op);
        delta
    }

    async fn create(
        aws: &RegionClients,
        desired: &ComputeEnvironment,
    ) -> Result<Created, AwsError> {
        let arn = aws.batch.create_compute_environment(desired).await?;
        Ok(Created::New(arn))
    }

    async fn update(
        aws: &RegionClients,
        desired: &ComputeEnvironment,
        observed: &ObservedComputeEnvironment,
        _: &Delta,
    ) -> Result<Option<String>, AwsError> {
        aws.batch
            .update_compute_environment(&observed.arn, desired)
            .await?;
        Ok(None)
    }

    async fn delete(
        aws: &RegionClients,
        desired: &ComputeEnvironment,
    ) -> Result<Removal, AwsError> {
        Ok(
            if aws
                .batch
                .delete_compute_environment(&desired.meta.arn)
                .await?
            {
                Removal::Done
            } else {
                Removal::Pending
            },
        )
    }

    fn arn(_: &ComputeEnvironment, observed: &ObservedComputeEnvironment) -> String {
        observed.arn.clone()
    }

    fn settled(
        desired: &ComputeEnvironment,
        observed: &ObservedComputeEnvironment,
    ) -> Result<(), Problem> {
        if busy(&observed.status) {
            return Err(not_ready(desired, &observed.status));
        }
        Ok(())
    }

    /// A new compute environment is CREATING.
    fn after_create(desired: &ComputeEnvironment) -> Result<(), Problem> {
        Err(not_ready(desired, "CREATING"))
    }

    fn ready(
        desired: &ComputeEnvironment,
        observed: &ObservedComputeEnvironment,
        updated: bool,
    ) -> Result<(), Problem> {
        if updated {
            return Err(not_ready(desired, "UPDATING"));
        }
        if busy(&observed.status) {
            return Err(not_ready(desired, &observed.status));
        }
        if observed.status == "INVALID" {
            return Err(Problem::new(
                Reason::ComputeEnvironmentInvalid,
                format!(
                    "{} is INVALID: {}",
                    what::<Self>(desired),
                    observed
                        .status_reason
                        .as_deref()
                        .unwrap_or("AWS Batch gave no reason")
                ),
            ));
        }
        Ok(())
    }
}
