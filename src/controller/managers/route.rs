//! Event mode's SQS queue and EventBridge rule ([`crate::desired::events`]):
//! managers like the others, except whose they are. The pair belongs to the
//! cluster, not to one object: it carries only the cluster's tag, is never
//! adopted, and one carrying another cluster's tag (or none) is left alone.

use std::collections::BTreeMap;

use super::{Created, Delta, Judge, Manager, Removal};
use crate::aws::eventbridge::ObservedRule;
use crate::aws::{AwsError, RegionClients};
use crate::controller::error::Problem;
use crate::desired::Meta;
use crate::desired::events::{EventQueue, EventRule, TARGET_ID};

/// The cluster's (`Ok(false)`: nothing to adopt), or a conflict: the route
/// is never adopted, whatever the object's annotation says.
fn cluster_claim(owned: bool, what: &str) -> Result<bool, Problem> {
    if owned {
        Ok(false)
    } else {
        Err(Problem::conflict(format!(
            "{what} exists without this cluster's tag; it is left untouched"
        )))
    }
}

pub struct EventQueueManager;

/// A queue as observed: its URL (what SQS calls it by) and attributes.
#[derive(Clone, Debug, PartialEq)]
pub struct ObservedQueue {
    pub url: String,
    pub attributes: BTreeMap<String, String>,
}

impl Manager for EventQueueManager {
    type Desired = EventQueue;
    type Observed = ObservedQueue;
    const KIND: &'static str = "SQS queue";
    const CREATE: &'static str = "CreateQueue";
    const CREATE_FIRST: bool = false;
    const TAGS_OBSERVED: bool = false;

    fn meta(desired: &EventQueue) -> &Meta {
        &desired.meta
    }

    async fn observe(
        aws: &RegionClients,
        desired: &EventQueue,
    ) -> Result<Option<ObservedQueue>, AwsError> {
        let Some(url) = aws.queues.url(&desired.meta.name).await? else {
            return Ok(None);
        };
        let Some(attributes) = aws.queues.attributes(&url).await? else {
            return Ok(None);
        };
        Ok(Some(ObservedQueue { url, attributes }))
    }

    async fn tags(
        aws: &RegionClients,
        desired: &EventQueue,
        observed: Option<&ObservedQueue>,
    ) -> Result<Option<BTreeMap<String, String>>, AwsError> {
        let url = match observed {
            Some(o) => o.url.clone(),
            None => match aws.queues.url(&desired.meta.name).await? {
                Some(url) => url,
                None => return Ok(None),
            },
        };
        aws.queues.tags(&url).await
    }

    fn claim(
        _: &Judge<'_>,
        desired: &EventQueue,
        what: &str,
        tags: &BTreeMap<String, String>,
    ) -> Result<bool, Problem> {
        cluster_claim(desired.owns(tags), what)
    }

    fn ours(_: &Judge<'_>, desired: &EventQueue, tags: &BTreeMap<String, String>) -> bool {
        desired.owns(tags)
    }

    /// Never called: [`EventQueueManager::claim`] adopts nothing.
    async fn tag(_: &RegionClients, _: &EventQueue, _: &ObservedQueue) -> Result<(), AwsError> {
        Ok(())
    }

    fn compare(desired: &EventQueue, observed: &ObservedQueue) -> Delta {
        let mut delta = Delta::default();
        delta.check(
            !desired
                .attributes_differing(&observed.attributes)
                .is_empty(),
            "attributes",
            "SetQueueAttributes",
        );
        delta
    }

    async fn create(aws: &RegionClients, desired: &EventQueue) -> Result<Created, AwsError> {
        aws.queues
            .create(&desired.meta.name, &desired.attributes, &desired.meta.tags)
            .await?;
        Ok(Created::New(desired.meta.arn.clone()))
    }

    /// Sets the attributes that differ, and only those.
    async fn update(
        aws: &RegionClients,
        desired: &EventQueue,
        observed: &ObservedQueue,
        _: &Delta,
    ) -> Result<Option<String>, AwsError> {
        let differing = desired.attributes_differing(&observed.attributes);
        let put = desired
            .attributes
            .iter()
            .filter(|(k, _)| differing.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        aws.queues.set_attributes(&observed.url, &put).await?;
        Ok(None)
    }

    async fn delete(aws: &RegionClients, desired: &EventQueue) -> Result<Removal, AwsError> {
        if let Some(url) = aws.queues.url(&desired.meta.name).await? {
            aws.queues.delete(&url).await?;
        }
        Ok(Removal::Done)
    }
}

pub struct EventRuleManager;

/// A rule as observed, with its targets' (ID, ARN).
#[derive(Clone, Debug, PartialEq)]
pub struct ObservedRoute {
    pub rule: ObservedRule,
    pub targets: Vec<(String, String)>,
}

impl ObservedRoute {
    fn targets_the_queue(&self, desired: &EventRule) -> bool {
        self.targets
            .iter()
            .any(|(id, arn)| id == TARGET_ID && *arn == desired.target_arn)
    }
}

impl Manager for EventRuleManager {
    type Desired = EventRule;
    type Observed = ObservedRoute;
    const KIND: &'static str = "EventBridge rule";
    const CREATE: &'static str = "PutRule";
    const CREATE_FIRST: bool = false;
    const TAGS_OBSERVED: bool = false;

    fn meta(desired: &EventRule) -> &Meta {
        &desired.meta
    }

    async fn observe(
        aws: &RegionClients,
        desired: &EventRule,
    ) -> Result<Option<ObservedRoute>, AwsError> {
        let Some(rule) = aws.rules.describe(&desired.meta.name).await? else {
            return Ok(None);
        };
        let targets = aws.rules.targets(&desired.meta.name).await?;
        Ok(Some(ObservedRoute { rule, targets }))
    }

    async fn tags(
        aws: &RegionClients,
        desired: &EventRule,
        observed: Option<&ObservedRoute>,
    ) -> Result<Option<BTreeMap<String, String>>, AwsError> {
        let arn = match observed {
            Some(o) => o.rule.arn.clone(),
            None => match aws.rules.describe(&desired.meta.name).await? {
                Some(rule) => rule.arn,
                None => return Ok(None),
            },
        };
        aws.rules.tags(&arn).await
    }

    fn claim(
        _: &Judge<'_>,
        desired: &EventRule,
        what: &str,
        tags: &BTreeMap<String, String>,
    ) -> Result<bool, Problem> {
        cluster_claim(desired.owns(tags), what)
    }

    fn ours(_: &Judge<'_>, desired: &EventRule, tags: &BTreeMap<String, String>) -> bool {
        desired.owns(tags)
    }

    /// Never called: [`EventRuleManager::claim`] adopts nothing.
    async fn tag(_: &RegionClients, _: &EventRule, _: &ObservedRoute) -> Result<(), AwsError> {
        Ok(())
    }

    fn compare(desired: &EventRule, observed: &ObservedRoute) -> Delta {
        let mut delta = Delta::default();
        delta.check(
            !observed.rule.enabled
                || !desired.pattern_matches(observed.rule.event_pattern.as_deref()),
            "eventPattern",
            "PutRule",
        );
        delta.check(
            !observed.targets_the_queue(desired),
            "targets",
            "PutTargets",
        );
        delta
    }

    /// The rule with its tags, then its target: a rule without one routes
    /// nothing.
    async fn create(aws: &RegionClients, desired: &EventRule) -> Result<Created, AwsError> {
        let arn = put_rule(aws, desired).await?;
        aws.rules
            .put_target(&desired.meta.name, TARGET_ID, &desired.target_arn)
            .await?;
        Ok(Created::New(arn))
    }

    async fn update(
        aws: &RegionClients,
        desired: &EventRule,
        _: &ObservedRoute,
        delta: &Delta,
    ) -> Result<Option<String>, AwsError> {
        if delta.has("eventPattern") {
            put_rule(aws, desired).await?;
        }
        if delta.has("targets") {
            aws.rules
                .put_target(&desired.meta.name, TARGET_ID, &desired.target_arn)
                .await?;
        }
        Ok(None)
    }

    /// Its targets first: AWS refuses to delete a rule that has any.
    async fn delete(aws: &RegionClients, desired: &EventRule) -> Result<Removal, AwsError> {
        let ids: Vec<String> = aws
            .rules
            .targets(&desired.meta.name)
            .await?
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        aws.rules.delete(&desired.meta.name, &ids).await?;
        Ok(Removal::Done)
    }
}

/// PutRule: creates the rule or puts its pattern and state back (AWS
/// ignores the tags of an existing rule).
async fn put_rule(aws: &RegionClients, desired: &EventRule) -> Result<String, AwsError> {
    let pattern = desired.pattern.to_string();
    aws.rules
        .put(
            &desired.meta.name,
            &pattern,
            desired.description,
            &desired.meta.tags,
        )
        .await
}
