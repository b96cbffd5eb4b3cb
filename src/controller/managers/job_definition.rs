//! The Batch job definition. Revisions are immutable: a spec change
//! registers a new one (tagged with the desired state's fingerprint) and
//! deregisters the older revisions we own.

use std::collections::BTreeMap;

use super::{Created, Delta, Manager, Removal};
use crate::aws::batch::ObservedJobDefinition;
use crate::aws::{AwsError, RegionClients};
use crate::desired::{FINGERPRINT_TAG, JobDefinition, Meta};

pub struct JobDefinitionManager;

fn fingerprint(desired: &JobDefinition) -> Option<&String> {
    desired.meta.tags.get(FINGERPRINT_TAG)
}

/// The revision carries our ownership tags (the fingerprint aside).
fn carries_our_tags(desired: &JobDefinition, revision: &ObservedJobDefinition) -> bool {
    desired
        .meta
        .tags
        .iter()
        .filter(|(k, _)| k.as_str() != FINGERPRINT_TAG)
        .all(|(k, v)| revision.tags.get(k) == Some(v))
}

/// The newest ACTIVE revision registered from the desired state, if any.
fn current<'a>(
    desired: &JobDefinition,
    revisions: &'a [ObservedJobDefinition],
) -> Option<&'a ObservedJobDefinition> {
    revisions
        .iter()
        .rev()
        .find(|d| d.tags.get(FINGERPRINT_TAG) == fingerprint(desired))
}

impl Manager for JobDefinitionManager {
    type Desired = JobDefinition;
    /// Every ACTIVE revision of the name, oldest first.
    type Observed = Vec<ObservedJobDefinition>;
    const KIND: &'static str = "job definition";
    const CREATE: &'static str = "RegisterJobDefinition";
    const CREATE_FIRST: bool = false;
    const TAGS_OBSERVED: bool = true;

    fn meta(desired: &JobDefinition) -> &Meta {
        &desired.meta
    }

    async fn observe(
        aws: &RegionClients,
        desired: &JobDefinition,
    ) -> Result<Option<Self::Observed>, AwsError> {
        let revisions = aws.batch.active_job_definitions(&desired.meta.name).await?;
        Ok((!revisions.is_empty()).then_some(revisions))
    }

    /// The tags of the first revision that is not ours (the one ownership is
    /// decided on), or of the newest when all are.
    async fn tags(
        aws: &RegionClients,
        desired: &JobDefinition,
        observed: Option<&Self::Observed>,
    ) -> Result<Option<BTreeMap<String, String>>, AwsError> {
        let owner_tags = |revisions: &Self::Observed| {
            revisions
                .iter()
                .find(|d| !carries_our_tags(desired, d))
                .or(revisions.last())
                .map(|d| d.tags.clone())
        };
        Ok(match observed {
            Some(o) => owner_tags(o),
            None => Self::observe(aws, desired)
                .await?
                .and_then(|o| owner_tags(&o)),
        })
    }

    /// Adopting tags every revision that is not ours yet, without the
    /// fingerprint: what they were registered from is unknown, so the desired
    /// state gets a revision of its own and they are deregistered.
    async fn tag(
        aws: &RegionClients,
        desired: &JobDefinition,
        observed: &Self::Observed,
    ) -> Result<(), AwsError> {
        let mut tags = desired.meta.tags.clone();
        tags.remove(FINGERPRINT_TAG);
        for revision in observed.iter().filter(|d| !carries_our_tags(desired, d)) {
            aws.batch.tag(&revision.arn, &tags).await?;
        }
        Ok(())
    }

    fn compare(desired: &JobDefinition, observed: &Self::Observed) -> Delta {
        let current = current(desired, observed);
        let mut delta = Delta::default();
        delta.check(current.is_none(), "revision", "RegisterJobDefinition");
        delta.check(
            observed
                .iter()
                .any(|d| Some(&d.arn) != current.map(|c| &c.arn)),
            "older revisions",
            "DeregisterJobDefinition",
        );
        delta
    }

    async fn create(aws: &RegionClients, desired: &JobDefinition) -> Result<Created, AwsError> {
        Ok(Created::New(
            aws.batch.register_job_definition(desired).await?,
        ))
    }

    async fn update(
        aws: &RegionClients,
        desired: &JobDefinition,
        observed: &Self::Observed,
        delta: &Delta,
    ) -> Result<Option<String>, AwsError> {
        let new = if delta.has("revision") {
            Some(aws.batch.register_job_definition(desired).await?)
        } else {
            None
        };
        let keep = new
            .clone()
            .or_else(|| current(desired, observed).map(|c| c.arn.clone()));
        for old in observed.iter().filter(|d| Some(&d.arn) != keep.as_ref()) {
            aws.batch.deregister_job_definition(&old.arn).await?;
        }
        Ok(new)
    }

    async fn delete(aws: &RegionClients, desired: &JobDefinition) -> Result<Removal, AwsError> {
        let revisions = aws.batch.active_job_definitions(&desired.meta.name).await?;
        for revision in revisions.iter().filter(|d| carries_our_tags(desired, d)) {
            aws.batch.deregister_job_definition(&revision.arn).await?;
        }
        Ok(Removal::Done)
    }

    fn arn(desired: &JobDefinition, observed: &Self::Observed) -> String {
        current(desired, observed)
            .map(|c| c.arn.clone())
            .unwrap_or_else(|| desired.meta.arn.clone())
    }
}
