//! IAM: the state machine's role (trust policy, inline policy) and the
//! task execution role of a managed job definition (trust policy, AWS's
//! managed policy attached).

use std::collections::BTreeMap;

use aws_sdk_iam::types::Tag;

use super::budget::RegionBudget;
use super::error::{ErrorKind, Result, call, call_gone, found, pages};

const S: &str = "iam";

/// A role as observed. IAM returns policy documents URL-encoded.
#[derive(Clone, Debug, PartialEq)]
pub struct ObservedRole {
    pub arn: String,
    pub trust_policy_encoded: String,
    pub tags: BTreeMap<String, String>,
}

#[derive(Clone)]
pub struct Roles {
    client: aws_sdk_iam::Client,
    budget: RegionBudget,
}

fn tags(operation: &'static str, tags: &BTreeMap<String, String>) -> Result<Vec<Tag>> {
    super::tags_as(S, operation, tags, |k, v| {
        Tag::builder().key(k).value(v).build()
    })
}

impl Roles {
    pub fn new(client: aws_sdk_iam::Client, budget: RegionBudget) -> Self {
        Roles { client, budget }
    }

    /// CreateRole with its trust policy and tags; AlreadyExists if the name is taken.
    pub async fn create(
        &self,
        name: &str,
        trust_policy: &str,
        description: &str,
        tag_map: &BTreeMap<String, String>,
    ) -> Result<String> {
        let out = call(
            &self.budget,
            S,
            "CreateRole",
            self.client
                .create_role()
                .role_name(name)
                .assume_role_policy_document(trust_policy)
                .description(description)
                .set_tags(Some(tags("CreateRole", tag_map)?))
                .send(),
        )
        .await?;
        Ok(out.role().map(|r| r.arn().to_string()).unwrap_or_default())
    }

    /// GetRole: the ARN, trust policy and tags in one read.
    pub async fn observe(&self, name: &str) -> Result<Option<ObservedRole>> {
        let r = call(
            &self.budget,
            S,
            "GetRole",
            self.client.get_role().role_name(name).send(),
        )
        .await;
        Ok(found(r)?.and_then(|out| {
            out.role().map(|role| ObservedRole {
                arn: role.arn().to_string(),
                trust_policy_encoded: role
                    .assume_role_policy_document()
                    .unwrap_or_default()
                    .to_string(),
                tags: super::tag_map(role.tags().iter().map(|t| (t.key(), t.value()))),
            })
        }))
    }

    pub async fn tag(&self, name: &str, tag_map: &BTreeMap<String, String>) -> Result<()> {
        call(
            &self.budget,
            S,
            "TagRole",
            self.client
                .tag_role()
                .role_name(name)
                .set_tags(Some(tags("TagRole", tag_map)?))
                .send(),
        )
        .await?;
        Ok(())
    }

    pub async fn update_trust_policy(&self, name: &str, document: &str) -> Result<()> {
        call(
            &self.budget,
            S,
            "UpdateAssumeRolePolicy",
            self.client
                .update_assume_role_policy()
                .role_name(name)
                .policy_document(document)
                .send(),
        )
        .await?;
        Ok(())
    }

    /// The inline policy's document, URL-encoded as IAM returns it.
    pub async fn inline_policy(&self, role: &str, policy: &str) -> Result<Option<String>> {
        let r = call(
            &self.budget,
            S,
            "GetRolePolicy",
            self.client
                .get_role_policy()
                .role_name(role)
                .policy_name(policy)
                .send(),
        )
        .await;
        Ok(found(r)?.map(|out| out.policy_document().to_string()))
    }

    pub async fn put_inline_policy(&self, role: &str, policy: &str, document: &str) -> Result<()> {
        call(
            &self.budget,
            S,
            "PutRolePolicy",
            self.client
                .put_role_policy()
                .role_name(role)
                .policy_name(policy)
                .policy_document(document)
                .send(),
        )
        .await?;
        Ok(())
    }

    /// The ARNs of the managed policies attached to the role, across all pages.
    pub async fn attached_policies(&self, role: &str) -> Result<Vec<String>> {
        let pages = pages(
            &self.budget,
            S,
            "ListAttachedRolePolicies",
            self.client
                .list_attached_role_policies()
                .role_name(role)
                .into_paginator()
                .send(),
        )
        .await?;
        Ok(pages
            .iter()
            .flat_map(|p| p.attached_policies())
            .filter_map(|a| a.policy_arn().map(str::to_string))
            .collect())
    }

    pub async fn attach_policy(&self, role: &str, policy_arn: &str) -> Result<()> {
        call(
            &self.budget,
            S,
            "AttachRolePolicy",
            self.client
                .attach_role_policy()
                .role_name(role)
                .policy_arn(policy_arn)
                .send(),
        )
        .await?;
        Ok(())
    }

    /// Detaches the managed policy, then deletes the role; NotFound counts as done.
    pub async fn delete_with_attached(&self, role: &str, policy_arn: &str) -> Result<()> {
        call_gone(
            &self.budget,
            S,
            "DetachRolePolicy",
            self.client
                .detach_role_policy()
                .role_name(role)
                .policy_arn(policy_arn)
                .send(),
        )
        .await?;
        call_gone(
            &self.budget,
            S,
            "DeleteRole",
            self.client.delete_role().role_name(role).send(),
        )
        .await
    }

    /// Deletes the inline policy, then the role; NotFound counts as done.
    pub async fn delete(&self, role: &str, policy: &str) -> Result<()> {
        call_gone(
            &self.budget,
            S,
            "DeleteRolePolicy",
            self.client
                .delete_role_policy()
                .role_name(role)
                .policy_name(policy)
                .send(),
        )
        .await?;
        match call(
            &self.budget,
            S,
            "DeleteRole",
            self.client.delete_role().role_name(role).send(),
        )
        .await
        {
            Err(e) if e.is(ErrorKind::NotFound) => Ok(()),
            other => other.map(|_| ()),
        }
    }
}
