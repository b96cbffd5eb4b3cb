//! SNS: the topic and its subscriptions.

use std::collections::BTreeMap;

use aws_sdk_sns::types::Tag;

use super::budget::RegionBudget;
use super::error::{Result, call, call_gone, found, pages};

const S: &str = "sns";

/// A topic as observed.
#[derive(Clone, Debug, PartialEq)]
pub struct ObservedTopic {
    pub display_name: Option<String>,
}

/// A subscription as observed.
#[derive(Clone, Debug, PartialEq)]
pub struct ObservedSubscription {
    /// `PendingConfirmation` until an email/http endpoint confirms.
    pub arn: String,
    pub protocol: String,
    pub endpoint: String,
}

impl ObservedSubscription {
    pub fn is_pending(&self) -> bool {
        !self.arn.starts_with("arn:")
    }
}

#[derive(Clone)]
pub struct Topics {
    client: aws_sdk_sns::Client,
    budget: RegionBudget,
}

fn tags(operation: &'static str, tags: &BTreeMap<String, String>) -> Result<Vec<Tag>> {
    super::tags_as(S, operation, tags, |k, v| {
        Tag::builder().key(k).value(v).build()
    })
}

impl Topics {
    pub fn new(client: aws_sdk_sns::Client, budget: RegionBudget) -> Self {
        Topics { client, budget }
    }

    /// CreateTopic with tags and attributes in one call. AWS answers with the
    /// existing ARN when a topic of that name exists with the same tags, and
    /// with InvalidParameter when its tags differ (someone else's).
    pub async fn create(
        &self,
        name: &str,
        display_name: Option<&str>,
        tag_map: &BTreeMap<String, String>,
    ) -> Result<String> {
        let mut req = self
            .client
            .create_topic()
            .name(name)
            .set_tags(Some(tags("CreateTopic", tag_map)?));
        if let Some(d) = display_name {
            req = req.attributes("DisplayName", d);
        }
        let out = call(&self.budget, S, "CreateTopic", req.send()).await?;
        Ok(out.topic_arn().unwrap_or_default().to_string())
    }

    pub async fn observe(&self, arn: &str) -> Result<Option<ObservedTopic>> {
        let r = call(
            &self.budget,
            S,
            "GetTopicAttributes",
            self.client.get_topic_attributes().topic_arn(arn).send(),
        )
        .await;
        Ok(found(r)?.map(|out| ObservedTopic {
            display_name: out
                .attributes()
                .and_then(|a| a.get("DisplayName"))
                .filter(|d| !d.is_empty())
                .cloned(),
        }))
    }

    pub async fn tags(&self, arn: &str) -> Result<BTreeMap<String, String>> {
        let out = call(
            &self.budget,
            S,
            "ListTagsForResource",
            self.client
                .list_tags_for_resource()
                .resource_arn(arn)
                .send(),
        )
        .await?;
        Ok(super::tag_map(
            out.tags().iter().map(|t| (t.key(), t.value())),
        ))
    }

    pub async fn tag(&self, arn: &str, tag_map: &BTreeMap<String, String>) -> Result<()> {
        call(
            &self.budget,
            S,
            "TagResource",
            self.client
                .tag_resource()
                .resource_arn(arn)
                .set_tags(Some(tags("TagResource", tag_map)?))
                .send(),
        )
        .await?;
        Ok(())
    }

    pub async fn set_display_name(&self, arn: &str, display_name: &str) -> Result<()> {
        call(
            &self.budget,
            S,
            "SetTopicAttributes",
            self.client
                .set_topic_attributes()
                .topic_arn(arn)
                .attribute_name("DisplayName")
                .attribute_value(display_name)
                .send(),
        )
        .await?;
        Ok(())
    }

    /// Every subscription of the topic, across all pages.
    pub async fn subscriptions(&self, arn: &str) -> Result<Vec<ObservedSubscription>> {
        let pages = pages(
            &self.budget,
            S,
            "ListSubscriptionsByTopic",
            self.client
                .list_subscriptions_by_topic()
                .topic_arn(arn)
                .into_paginator()
                .send(),
        )
        .await?;
        Ok(pages
            .iter()
            .flat_map(|p| p.subscriptions())
            .map(|s| ObservedSubscription {
                arn: s.subscription_arn().unwrap_or_default().to_string(),
                protocol: s.protocol().unwrap_or_default().to_string(),
                endpoint: s.endpoint().unwrap_or_default().to_string(),
            })
            .collect())
    }

    pub async fn subscribe(&self, topic_arn: &str, protocol: &str, endpoint: &str) -> Result<()> {
        call(
            &self.budget,
            S,
            "Subscribe",
            self.client
                .subscribe()
                .topic_arn(topic_arn)
                .protocol(protocol)
                .endpoint(endpoint)
                .send(),
        )
        .await?;
        Ok(())
    }

    pub async fn unsubscribe(&self, subscription_arn: &str) -> Result<()> {
        call_gone(
            &self.budget,
            S,
            "Unsubscribe",
            self.client
                .unsubscribe()
                .subscription_arn(subscription_arn)
                .send(),
        )
        .await
    }

    pub async fn delete(&self, arn: &str) -> Result<()> {
        call_gone(
            &self.budget,
            S,
            "DeleteTopic",
            self.client.delete_topic().topic_arn(arn).send(),
        )
        .await
    }
}
