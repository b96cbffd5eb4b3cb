//! The Batch job queue.

use std::collections::BTreeMap;

use super::{Created, Delta, Manager, Removal, what};
use crate::api::reason::Reason;
use crate::aws::batch::ObservedJobQueue;
use crate::aws::{AwsError, RegionClients};
use crate::controller::error::Problem;
use crate::desired::{JobQueue, Meta};

pub struct JobQueueManager;

impl Manager for JobQueueManager {
    type Desired = JobQueue;
    type Observed = ObservedJobQueue;
    const KIND: &'static str = "job queue";
    const CREATE: &'static str = "CreateJobQueue";
    const CREATE_FIRST: bool = false;
    const TAGS_OBSERVED: bool = true;

    fn meta(desired: &JobQueue) -> &Meta {
        &desired.meta
    }

    async fn observe(
        aws: &RegionClients,
        desired: &JobQueue,
    ) -> Result<Option<ObservedJobQueue>, AwsError> {
        aws.batch.job_queue(&desired.meta.name).await
    }

    fn observed_tags(observed: &ObservedJobQueue) -> Option<&BTreeMap<String, String>> {
        Some(&observed.tags)
    }

    async fn tag(
        aws: &RegionClients,
        desired: &JobQueue,
        observed: &ObservedJobQueue,
    ) -> Result<(), AwsError> {
        aws.batch.tag(&observed.arn, &desired.meta.tags).await
    }

    fn compare(desired: &JobQueue, observed: &ObservedJobQueue) -> Delta {
        let mut delta = Delta::default();
        let op = "UpdateJobQueue";
        delta.check(observed.priority != desired.priority, "priority", op);
        delta.check(
            observed.compute_environments != [desired.compute_environment_arn.clone()],
            "computeEnvironmentOrder",
            op,
        );
        delta.check(observed.state != "ENABLED", "state", op);
        delta.check(
            observed.runnable_time_limits != desired.runnable_time_limits,
            "jobStateTimeLimitActions",
            op,
        );
        delta
    }

    async fn create(aws: &RegionClients, desired: &JobQueue) -> Result<Created, AwsError> {
        Ok(Created::New(aws.batch.create_job_queue(desired).await?))
    }

    async fn update(
        aws: &RegionClients,
        desired: &JobQueue,
        observed: &ObservedJobQueue,
        _: &Delta,
    ) -> Result<Option<String>, AwsError> {
        aws.batch.update_job_queue(&observed.arn, desired).await?;
        Ok(None)
    }

    async fn delete(aws: &RegionClients, desired: &JobQueue) -> Result<Removal, AwsError> {
        Ok(if aws.batch.delete_job_queue(&desired.meta.arn).await? {
            Removal::Done
        } else {
            Removal::Pending
        })
    }

    fn arn(_: &JobQueue, observed: &ObservedJobQueue) -> String {
        observed.arn.clone()
    }

    /// Batch accepts no update while the queue is CREATING/UPDATING.
    fn settled(desired: &JobQueue, observed: &ObservedJobQueue) -> Result<(), Problem> {
        if observed.status == "CREATING" || observed.status == "UPDATING" {
            return Err(Problem::new(
                Reason::JobQueueNotReady,
                format!(
                    "{} is {}; it is updated once VALID",
                    what::<Self>(desired),
                    observed.status
                ),
            ));
        }
        Ok(())
    }
}
