//! The SNS topic and its subscriptions.

use std::collections::BTreeMap;

use super::{Created, Delta, Manager, Removal};
use crate::api::SubscriptionStatus;
use crate::aws::sns::{ObservedSubscription, ObservedTopic};
use crate::aws::{AwsError, ErrorKind, RegionClients};
use crate::desired::{Meta, Subscription, Topic};

pub struct TopicManager;

/// A topic as observed, with its subscriptions.
#[derive(Clone, Debug, PartialEq)]
pub struct Observed {
    pub topic: ObservedTopic,
    pub subscriptions: Vec<ObservedSubscription>,
}

fn observed_sub<'a>(
    observed: &'a [ObservedSubscription],
    wanted: &Subscription,
) -> Option<&'a ObservedSubscription> {
    observed
        .iter()
        .find(|s| s.protocol == wanted.protocol && s.endpoint == wanted.endpoint)
}

/// Confirmed subscriptions the spec no longer lists. Pending ones cannot be
/// unsubscribed (they have no ARN yet); AWS drops them after three days.
fn unwanted<'a>(desired: &'a Topic, observed: &'a Observed) -> impl Iterator<Item = &'a str> {
    observed
        .subscriptions
        .iter()
        .filter(|s| {
            !s.is_pending()
                && !desired
                    .subscriptions
                    .iter()
                    .any(|w| w.protocol == s.protocol && w.endpoint == s.endpoint)
        })
        .map(|s| s.arn.as_str())
}

impl Manager for TopicManager {
    type Desired = Topic;
    type Observed = Observed;
    const KIND: &'static str = "SNS topic";
    const CREATE: &'static str = "CreateTopic";
    const CREATE_FIRST: bool = true;
    const TAGS_OBSERVED: bool = false;

    fn meta(desired: &Topic) -> &Meta {
        &desired.meta
    }

    async fn observe(aws: &RegionClients, desired: &Topic) -> Result<Option<Observed>, AwsError> {
        let Some(topic) = aws.topics.observe(&desired.meta.arn).await? else {
            return Ok(None);
        };
        let subscriptions = aws.topics.subscriptions(&desired.meta.arn).await?;
        Ok(Some(Observed {
            topic,
            subscriptions,
        }))
    }

    async fn tags(
        aws: &RegionClients,
        desired: &Topic,
        _observed: Option<&Observed>,
    ) -> Result<Option<BTreeMap<String, String>>, AwsError> {
        match aws.topics.tags(&desired.meta.arn).await {
            Ok(tags) => Ok(Some(tags)),
            Err(e) if e.is(ErrorKind::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn tag(aws: &RegionClients, desired: &Topic, _: &Observed) -> Result<(), AwsError> {
        aws.topics.tag(&desired.meta.arn, &desired.meta.tags).await
    }

    fn compare(desired: &Topic, observed: &Observed) -> Delta {
        let mut delta = Delta::default();
        delta.check(
            observed.topic.display_name != desired.display_name,
            "DisplayName",
            "SetTopicAttributes",
        );
        delta.check(
            desired
                .subscriptions
                .iter()
                .any(|w| observed_sub(&observed.subscriptions, w).is_none()),
            "subscriptions missing",
            "Subscribe",
        );
        delta.check(
            unwanted(desired, observed).next().is_some(),
            "subscriptions no longer listed",
            "Unsubscribe",
        );
        delta
    }

    /// CreateTopic is idempotent: AWS answers with the ARN of a topic that
    /// already existed with the same tags (the emulator: with any tags), and
    /// InvalidParameter when the tags differ. Reading the tags back tells a
    /// new topic from someone's.
    async fn create(aws: &RegionClients, desired: &Topic) -> Result<Created, AwsError> {
        let meta = &desired.meta;
        match aws
            .topics
            .create(&meta.name, desired.display_name.as_deref(), &meta.tags)
            .await
        {
            Ok(arn) => {
                let tags = aws.topics.tags(&arn).await?;
                if meta.tags.iter().any(|(k, v)| tags.get(k) != Some(v)) {
                    return Ok(Created::Existed);
                }
                // A new topic has no subscriptions.
                for sub in &desired.subscriptions {
                    aws.topics
                        .subscribe(&arn, &sub.protocol, &sub.endpoint)
                        .await?;
                }
                Ok(Created::New(arn))
            }
            Err(e) if matches!(e.kind, ErrorKind::InvalidInput | ErrorKind::AlreadyExists) => {
                Ok(Created::Existed)
            }
            Err(e) => Err(e),
        }
    }

    async fn update(
        aws: &RegionClients,
        desired: &Topic,
        observed: &Observed,
        delta: &Delta,
    ) -> Result<Option<String>, AwsError> {
        let arn = &desired.meta.arn;
        if delta.has("DisplayName") {
            aws.topics
                .set_display_name(arn, desired.display_name.as_deref().unwrap_or(""))
                .await?;
        }
        for sub in &desired.subscriptions {
            if observed_sub(&observed.subscriptions, sub).is_none() {
                aws.topics
                    .subscribe(arn, &sub.protocol, &sub.endpoint)
                    .await?;
            }
        }
        for subscription in unwanted(desired, observed) {
            aws.topics.unsubscribe(subscription).await?;
        }
        Ok(None)
    }

    async fn delete(aws: &RegionClients, desired: &Topic) -> Result<Removal, AwsError> {
        let arn = &desired.meta.arn;
        let subscriptions = match aws.topics.subscriptions(arn).await {
            Err(e) if e.is(ErrorKind::NotFound) => Vec::new(),
            other => other?,
        };
        for sub in subscriptions.iter().filter(|s| !s.is_pending()) {
            aws.topics.unsubscribe(&sub.arn).await?;
        }
        aws.topics.delete(arn).await?;
        Ok(Removal::Done)
    }
}

/// Each listed subscription's state: as observed, or for one subscribed by
/// this pass, what AWS starts it as (email and HTTP wait for confirmation).
pub fn subscription_status(
    desired: &Topic,
    observed: Option<&Observed>,
) -> Vec<SubscriptionStatus> {
    desired
        .subscriptions
        .iter()
        .map(|wanted| {
            let pending = match observed.and_then(|o| observed_sub(&o.subscriptions, wanted)) {
                Some(found) => found.is_pending(),
                None => wanted.needs_confirmation(),
            };
            SubscriptionStatus {
                protocol: wanted.protocol.clone(),
                endpoint: wanted.endpoint.clone(),
                state: if pending {
                    "PendingConfirmation"
                } else {
                    "Confirmed"
                }
                .to_string(),
            }
        })
        .collect()
}
