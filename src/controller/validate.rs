//! The validate stage: what the schema and CEL could not check at admission.

use super::error::Problem;
use crate::api::BatchNotificationSpec;
use crate::api::reason::Reason;
use crate::desired::resources::ReferenceError;
use crate::desired::{Desired, schedule};

/// The cron expression and time zone parse.
pub fn schedule(spec: &BatchNotificationSpec) -> Result<(), Problem> {
    let Some(run) = spec.run.as_ref() else {
        return Ok(());
    };
    if let Some(cron) = run.schedule.as_deref() {
        schedule::validate(cron, run.time_zone()).map_err(|e| {
            Problem::new(Reason::InvalidSchedule, format!("spec.run.schedule: {e}"))
        })?;
    }
    Ok(())
}

/// Referenced ARNs are in the object's region and the account its namespace
/// acts in (its AccessGrant's role's, or the operator's own):
/// the role we create can only be granted resources of its own account, and
/// a state machine calls Batch and SNS in its own region.
pub fn references(spec: &BatchNotificationSpec, desired: &Desired) -> Result<(), Problem> {
    for (field, arn, regional) in desired.references(spec) {
        match desired.check_reference(arn, regional) {
            Ok(()) => {}
            Err(ReferenceError::NotAnArn) => {
                return Err(Problem::new(
                    Reason::InvalidSpec,
                    format!("{field}: {arn} is not an ARN"),
                ));
            }
            Err(ReferenceError::Account(account)) => {
                return Err(Problem::new(
                    Reason::CrossAccountReference,
                    format!(
                        "{field}: {arn} is in account {account}, not an account this namespace may use: its objects act in account {} (its AccessGrant's role, or the operator's own identity without a grant)",
                        desired.scope.account()
                    ),
                ));
            }
            Err(ReferenceError::Region(region)) => {
                return Err(Problem::new(
                    Reason::RegionMismatch,
                    format!(
                        "{field}: {arn} is in region {region}, but this object's region is {}",
                        desired.scope.region()
                    ),
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::BatchNotificationSpec;
    use crate::desired::Identity;
    use serde_json::{Value, json};

    const ACCOUNT: &str = "123456789012";

    fn check(spec: Value) -> Result<(), Problem> {
        let spec: BatchNotificationSpec = serde_json::from_value(spec).expect("a spec");
        let identity = Identity {
            cluster: "test".into(),
            namespace: "data".into(),
            name: "report".into(),
            uid: "u-1".into(),
            region: "us-east-1".into(),
            account: ACCOUNT.into(),
        };
        let desired = Desired::new(&spec, &identity).expect("desired");
        references(&spec, &desired)
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
            assert!(p.stalled());
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
            p.message.contains(
                "not an account this namespace may use: its objects act in account 123456789012"
            ),
            "{}",
            p.message
        );
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
