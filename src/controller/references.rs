//! Resources a spec names by ARN: they must exist (a job definition: be
//! ACTIVE). Many objects often share one queue and job definition: a
//! positive answer is remembered for a minute, so N objects cost one lookup.

use std::time::Duration;

use super::Context;
use super::error::Problem;
use crate::aws::RegionClients;

/// A resource a spec may name by ARN.
#[derive(Clone, Copy, Debug)]
pub enum Reference {
    JobQueue,
    ComputeEnvironment,
    JobDefinition,
    Topic,
}

impl Reference {
    /// The spec field that names it.
    fn field(self) -> &'static str {
        match self {
            Reference::JobQueue => "spec.jobQueue.arn",
            Reference::ComputeEnvironment => "spec.jobQueue.managed.computeEnvironment.arn",
            Reference::JobDefinition => "spec.jobDefinition.arn",
            Reference::Topic => "spec.topic.arn",
        }
    }

    fn kind(self) -> &'static str {
        match self {
            Reference::JobQueue => "job queue",
            Reference::ComputeEnvironment => "compute environment",
            Reference::JobDefinition => "job definition",
            Reference::Topic => "SNS topic",
        }
    }
}

pub async fn check(
    ctx: &Context,
    clients: &RegionClients,
    reference: Reference,
    arn: &str,
) -> Result<(), Problem> {
    if ctx.reference_recently_seen(arn) {
        return Ok(());
    }
    let (field, kind) = (reference.field(), reference.kind());
    let missing = |state: &str| {
        Problem::transient(
            "ReferenceNotFound",
            format!("{field}: {kind} {arn} {state}"),
            Duration::from_secs(10),
        )
    };
    let found = match reference {
        Reference::JobQueue => clients.batch.job_queue(arn).await.map(|o| o.is_some()),
        Reference::ComputeEnvironment => clients
            .batch
            .compute_environment(arn)
            .await
            .map(|o| o.is_some()),
        Reference::JobDefinition => match clients.batch.job_definition(arn).await {
            Ok(Some(def)) if def.status != "ACTIVE" => {
                return Err(missing(&format!("is {}", def.status)));
            }
            other => other.map(|o| o.is_some()),
        },
        Reference::Topic => clients.topics.observe(arn).await.map(|o| o.is_some()),
    };
    match found {
        Ok(true) => {
            ctx.reference_seen(arn);
            Ok(())
        }
        Ok(false) => Err(missing("does not exist")),
        Err(e) => Err(Problem::aws(&format!("{field}: {kind} {arn}"), &e)),
    }
}
