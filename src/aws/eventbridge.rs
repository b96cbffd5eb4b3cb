//! EventBridge: the rule that routes Step Functions' status-change events to
//! the operator's queue (event mode).

use std::collections::BTreeMap;

use aws_sdk_eventbridge::types::{RuleState, Tag, Target};

use super::budget::RegionBudget;
use super::error::{Result, call, call_gone, found};

const S: &str = "events";

/// A rule as observed.
#[derive(Clone, Debug, PartialEq)]
pub struct ObservedRule {
    pub arn: String,
    pub event_pattern: Option<String>,
    pub enabled: bool,
}

#[derive(Clone)]
pub struct Rules {
    client: aws_sdk_eventbridge::Client,
    budget: RegionBudget,
}

impl Rules {
    pub fn new(client: aws_sdk_eventbridge::Client, budget: RegionBudget) -> Self {
        Rules { client, budget }
    }

    pub async fn describe(&self, name: &str) -> Result<Option<ObservedRule>> {
        let out = found(
            call(
                &self.budget,
                S,
                "DescribeRule",
                self.client.describe_rule().name(name).send(),
            )
            .await,
        )?;
        Ok(out.map(|o| ObservedRule {
            arn: o.arn().unwrap_or_default().to_string(),
            event_pattern: o.event_pattern().map(str::to_string),
            enabled: o.state() == Some(&RuleState::Enabled),
        }))
    }

    /// PutRule: creates the rule (with tags) or puts its pattern and state
    /// back. AWS ignores tags on an existing rule. Answers the rule's ARN.
    pub async fn put(
        &self,
        name: &str,
        pattern: &str,
        description: &str,
        tags: &BTreeMap<String, String>,
    ) -> Result<String> {
        let tags = super::tags_as(S, "PutRule", tags, |k, v| {
            Tag::builder().key(k).value(v).build()
        })?;
        let out = call(
            &self.budget,
            S,
            "PutRule",
            self.client
                .put_rule()
                .name(name)
                .event_pattern(pattern)
                .state(RuleState::Enabled)
                .description(description)
                .set_tags(Some(tags))
                .send(),
        )
        .await?;
        Ok(out.rule_arn().unwrap_or_default().to_string())
    }

    pub async fn tags(&self, arn: &str) -> Result<Option<BTreeMap<String, String>>> {
        let out = found(
            call(
                &self.budget,
                S,
                "ListTagsForResource",
                self.client
                    .list_tags_for_resource()
                    .resource_arn(arn)
                    .send(),
            )
            .await,
        )?;
        Ok(out.map(|o| super::tag_map(o.tags().iter().map(|t| (t.key(), t.value())))))
    }

    /// The targets' (ID, ARN).
    pub async fn targets(&self, name: &str) -> Result<Vec<(String, String)>> {
        let out = found(
            call(
                &self.budget,
                S,
                "ListTargetsByRule",
                self.client.list_targets_by_rule().rule(name).send(),
            )
            .await,
        )?;
        Ok(out
            .map(|o| {
                o.targets()
                    .iter()
                    .map(|t| (t.id().to_string(), t.arn().to_string()))
                    .collect()
            })
            .unwrap_or_default())
    }

    pub async fn put_target(&self, rule: &str, id: &str, arn: &str) -> Result<()> {
        let target = Target::builder()
            .id(id)
            .arn(arn)
            .build()
            .map_err(|e| super::AwsError {
                service: S,
                operation: "PutTargets",
                kind: super::ErrorKind::InvalidInput,
                code: None,
                message: e.to_string(),
            })?;
        let out = call(
            &self.budget,
            S,
            "PutTargets",
            self.client.put_targets().rule(rule).targets(target).send(),
        )
        .await?;
        match out.failed_entries().first() {
            None => Ok(()),
            Some(f) => Err(super::AwsError {
                service: S,
                operation: "PutTargets",
                kind: super::ErrorKind::Other,
                code: f.error_code().map(str::to_string),
                message: f.error_message().unwrap_or_default().to_string(),
            }),
        }
    }

    /// Removes the targets, then the rule (AWS refuses to delete a rule with targets).
    pub async fn delete(&self, name: &str, target_ids: &[String]) -> Result<()> {
        if !target_ids.is_empty() {
            call_gone(
                &self.budget,
                S,
                "RemoveTargets",
                self.client
                    .remove_targets()
                    .rule(name)
                    .set_ids(Some(target_ids.to_vec()))
                    .send(),
            )
            .await?;
        }
        call_gone(
            &self.budget,
            S,
            "DeleteRule",
            self.client.delete_rule().name(name).send(),
        )
        .await
    }
}
