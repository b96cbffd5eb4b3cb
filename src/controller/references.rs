//! Resources a spec names by ARN: they must exist (a job definition: be
//! ACTIVE) and, under an AccessGrant, be neither another BatchNotification's
//! (by their ownership tags) nor, for a job definition, run as a role the
//! grant does not cover. Many objects often share one queue and job
//! definition: what an observation found is remembered for a minute, so N
//! objects cost one lookup.

use std::collections::BTreeMap;

use super::Context;
use super::access::Access;
use super::error::Problem;
use crate::api::reason::Reason;
use crate::aws::{AwsError, RegionClients};
use crate::desired::tags::Owner;

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

/// What a referenced resource's observation says that a grant judges: its
/// tags (ownership) and, for a job definition, the roles its jobs run as.
#[derive(Clone, Debug, Default)]
pub struct Facts {
    tags: BTreeMap<String, String>,
    roles: Vec<(&'static str, String)>,
}

/// Who judges references: where to read them, and what the namespace's
/// AccessGrant and the object's ownership allow.
pub struct Referee<'a> {
    pub ctx: &'a Context,
    pub clients: &'a RegionClients,
    pub access: &'a Access,
    pub owner: &'a Owner,
}

impl Referee<'_> {
    /// The referenced resource exists (a job definition: is ACTIVE) and,
    /// under an AccessGrant, is not another object's and runs as granted
    /// roles only.
    pub async fn check(&self, reference: Reference, arn: &str) -> Result<(), Problem> {
        let (ctx, access) = (self.ctx, self.access);
        let facts = match ctx.reference_recently_seen(arn) {
            Some(facts) => facts,
            None => {
                let facts =
                    observe(self.clients, reference, arn, access.checks_references()).await?;
                ctx.reference_seen(arn, facts.clone());
                facts
            }
        };
        let field = reference.field();
        access.check_owner(field, arn, &facts.tags, self.owner)?;
        let roles: Vec<(&'static str, &str)> =
            facts.roles.iter().map(|(k, r)| (*k, r.as_str())).collect();
        access.check_job_definition_roles(arn, &roles)
    }
}

async fn observe(
    clients: &RegionClients,
    reference: Reference,
    arn: &str,
    with_tags: bool,
) -> Result<Facts, Problem> {
    let (field, kind) = (reference.field(), reference.kind());
    let missing = |state: &str| {
        Problem::new(
            Reason::ReferenceNotFound,
            format!("{field}: {kind} {arn} {state}"),
        )
    };
    let failed = |e: AwsError| Problem::aws(&format!("{field}: {kind} {arn}"), &e);
    let facts = match reference {
        Reference::JobQueue => clients
            .batch
            .job_queue(arn)
            .await
            .map_err(failed)?
            .map(|q| Facts {
                tags: q.tags,
                roles: Vec::new(),
            }),
        Reference::ComputeEnvironment => clients
            .batch
            .compute_environment(arn)
            .await
            .map_err(failed)?
            .map(|c| Facts {
                tags: c.tags,
                roles: Vec::new(),
            }),
        Reference::JobDefinition => {
            match clients.batch.job_definition(arn).await.map_err(failed)? {
                Some(def) if def.status != "ACTIVE" => {
                    return Err(missing(&format!("is {}", def.status)));
                }
                Some(def) => {
                    let roles = [
                        ("jobRoleArn", def.job_role_arn),
                        ("executionRoleArn", def.execution_role_arn),
                    ]
                    .into_iter()
                    .filter_map(|(k, r)| r.map(|r| (k, r)))
                    .collect();
                    Some(Facts {
                        tags: def.tags,
                        roles,
                    })
                }
                None => None,
            }
        }
        Reference::Topic => match clients.topics.observe(arn).await.map_err(failed)? {
            // A topic's tags are one more call: only a grant judges them.
            Some(_) if with_tags => Some(Facts {
                tags: clients.topics.tags(arn).await.map_err(failed)?,
                roles: Vec::new(),
            }),
            Some(_) => Some(Facts::default()),
            None => None,
        },
    };
    facts.ok_or_else(|| missing("does not exist"))
}
