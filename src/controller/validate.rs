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
