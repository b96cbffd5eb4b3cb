//! The validate stage: what the schema and CEL could not check at admission.

use super::error::Problem;
use super::plan::Plan;
use crate::api::BatchNotificationSpec;
use crate::desired::schedule;

/// The cron expression and time zone parse.
pub fn schedule(spec: &BatchNotificationSpec) -> Result<(), Problem> {
    let Some(run) = spec.run.as_ref() else {
        return Ok(());
    };
    if let Some(cron) = run.schedule.as_deref() {
        schedule::validate(cron, run.time_zone())
            .map_err(|e| Problem::stalled("InvalidSchedule", format!("spec.run.schedule: {e}")))?;
    }
    Ok(())
}

/// Referenced ARNs are in the object's region and the operator's account:
/// the role we create can only be granted resources of its own account, and
/// a state machine calls Batch and SNS in its own region.
pub fn references(spec: &BatchNotificationSpec, plan: &Plan) -> Result<(), Problem> {
    let queue = spec.job_queue.managed.as_ref();
    let environment = queue.and_then(|q| q.compute_environment.managed.as_ref());
    let job = spec.job_definition.managed.as_ref();
    // IAM is global: its ARNs carry no region, but a role still cannot be
    // passed to a service in another account.
    let regional = [
        ("spec.jobQueue.arn", spec.job_queue.arn.as_deref()),
        (
            "spec.jobQueue.managed.computeEnvironment.arn",
            queue.and_then(|q| q.compute_environment.arn.as_deref()),
        ),
        ("spec.jobDefinition.arn", spec.job_definition.arn.as_deref()),
        ("spec.topic.arn", spec.topic.arn.as_deref()),
    ];
    let roles = [
        (
            "spec.jobQueue.managed.computeEnvironment.managed.serviceRoleArn",
            environment.and_then(|e| e.service_role_arn.as_deref()),
        ),
        (
            "spec.jobDefinition.managed.executionRoleArn",
            job.and_then(|j| j.execution_role_arn.as_deref()),
        ),
        (
            "spec.jobDefinition.managed.jobRoleArn",
            job.and_then(|j| j.job_role_arn.as_deref()),
        ),
    ];
    let refs = regional
        .into_iter()
        .map(|(field, arn)| (field, arn, true))
        .chain(roles.into_iter().map(|(field, arn)| (field, arn, false)));
    for (field, arn, has_region) in refs {
        let Some(arn) = arn else { continue };
        // arn:partition:service:region:account:resource
        let parts: Vec<&str> = arn.splitn(6, ':').collect();
        let (Some(region), Some(account)) = (parts.get(3), parts.get(4)) else {
            return Err(Problem::stalled(
                "InvalidSpec",
                format!("{field}: {arn} is not an ARN"),
            ));
        };
        if *account != plan.account {
            return Err(Problem::stalled(
                "CrossAccountReference",
                format!(
                    "{field}: {arn} is in account {account}, but the operator's credentials are for account {}",
                    plan.account
                ),
            ));
        }
        if has_region && *region != plan.region {
            return Err(Problem::stalled(
                "RegionMismatch",
                format!(
                    "{field}: {arn} is in region {region}, but this object's region is {}",
                    plan.region
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{BatchNotification, BatchNotificationStatus};
    use serde_json::{Value, json};

    const ACCOUNT: &str = "123456789012";

    fn object(spec: Value) -> BatchNotification {
        serde_json::from_value(json!({
            "apiVersion": "batchnotify.dev/v1alpha1",
            "kind": "BatchNotification",
            "metadata": {"name": "report", "namespace": "data", "uid": "u-1"},
            "spec": spec,
        }))
        .expect("a BatchNotification")
    }

    fn check(spec: Value) -> Result<(), Problem> {
        let obj = object(spec);
        let status = BatchNotificationStatus::default();
        let plan = Plan::new(&obj, "test", "us-east-1", ACCOUNT, &status)?;
        references(&obj.spec, &plan)
    }

    fn with_job_role(field: &str, arn: &str) -> Value {
        json!({
            "jobQueue": {"arn": "arn:aws:batch:us-east-1:123456789012:job-queue/q"},
            "jobDefinition": {"managed": {"image": "busybox", field: arn}},
            "topic": {"managed": {}},
        })
    }

    #[test]
    fn a_role_in_this_account_is_fine_though_iam_arns_have_no_region() {
        for field in ["executionRoleArn", "jobRoleArn"] {
            let arn = format!("arn:aws:iam::{ACCOUNT}:role/r");
            assert!(check(with_job_role(field, &arn)).is_ok(), "{field}");
        }
    }

    #[test]
    fn a_role_in_another_account_is_a_cross_account_reference_naming_the_field() {
        for field in ["executionRoleArn", "jobRoleArn"] {
            let p = check(with_job_role(field, "arn:aws:iam::999999999999:role/r"))
                .expect_err("another account");
            assert_eq!(p.reason, "CrossAccountReference");
            assert!(p.stalled);
            assert!(
                p.message
                    .starts_with(&format!("spec.jobDefinition.managed.{field}:")),
                "{}",
                p.message
            );
        }
        let p = check(json!({
            "jobQueue": {"managed": {"computeEnvironment": {"managed": {
                "subnets": ["subnet-1"], "securityGroupIds": ["sg-1"],
                "serviceRoleArn": "arn:aws:iam::999999999999:role/batch"}}}},
            "jobDefinition": {"arn": "arn:aws:batch:us-east-1:123456789012:job-definition/d:1"},
            "topic": {"managed": {}},
        }))
        .expect_err("another account");
        assert_eq!(p.reason, "CrossAccountReference");
        assert!(
            p.message
                .starts_with("spec.jobQueue.managed.computeEnvironment.managed.serviceRoleArn:"),
            "{}",
            p.message
        );
    }

    #[test]
    fn a_regional_arn_in_another_region_is_a_region_mismatch() {
        let p = check(json!({
            "jobQueue": {"arn": "arn:aws:batch:eu-west-1:123456789012:job-queue/q"},
            "jobDefinition": {"arn": "arn:aws:batch:us-east-1:123456789012:job-definition/d:1"},
            "topic": {"managed": {}},
        }))
        .expect_err("another region");
        assert_eq!(p.reason, "RegionMismatch");
        assert!(p.message.starts_with("spec.jobQueue.arn:"), "{}", p.message);
    }
}
