//! SQS: the queue Step Functions' status-change events arrive in (event mode).

use std::collections::{BTreeMap, HashMap};

use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, QueueAttributeName};

use super::budget::RegionBudget;
use super::error::{Result, call, call_gone, found};
use crate::desired::events::RECEIVE_MAX;

const S: &str = "sqs";

/// One message as received.
#[derive(Clone, Debug, PartialEq)]
pub struct Message {
    pub body: String,
    pub receipt_handle: String,
}

#[derive(Clone)]
pub struct Queues {
    client: aws_sdk_sqs::Client,
    budget: RegionBudget,
}

impl Queues {
    pub fn new(client: aws_sdk_sqs::Client, budget: RegionBudget) -> Self {
        Queues { client, budget }
    }

    /// The queue's URL, `None` when there is no queue of that name.
    pub async fn url(&self, name: &str) -> Result<Option<String>> {
        let out = found(
            call(
                &self.budget,
                S,
                "GetQueueUrl",
                self.client.get_queue_url().queue_name(name).send(),
            )
            .await,
        )?;
        Ok(out.and_then(|o| o.queue_url().map(str::to_string)))
    }

    /// CreateQueue with its attributes and tags in one call; answers the URL.
    /// AWS answers the existing URL when a queue of that name has the same
    /// attributes, QueueAlreadyExists (here AlreadyExists) when they differ.
    pub async fn create(
        &self,
        name: &str,
        attributes: &BTreeMap<String, String>,
        tags: &BTreeMap<String, String>,
    ) -> Result<String> {
        let mut req = self.client.create_queue().queue_name(name);
        for (k, v) in attributes {
            req = req.attributes(QueueAttributeName::from(k.as_str()), v);
        }
        for (k, v) in tags {
            req = req.tags(k, v);
        }
        let out = call(&self.budget, S, "CreateQueue", req.send()).await?;
        Ok(out.queue_url().unwrap_or_default().to_string())
    }

    /// Every attribute of the queue, `None` when it is gone.
    pub async fn attributes(&self, url: &str) -> Result<Option<BTreeMap<String, String>>> {
        let out = found(
            call(
                &self.budget,
                S,
                "GetQueueAttributes",
                self.client
                    .get_queue_attributes()
                    .queue_url(url)
                    .attribute_names(QueueAttributeName::All)
                    .send(),
            )
            .await,
        )?;
        Ok(out.map(|o| {
            o.attributes()
                .map(|a| {
                    a.iter()
                        .map(|(k, v)| (k.as_str().to_string(), v.clone()))
                        .collect()
                })
                .unwrap_or_default()
        }))
    }

    pub async fn set_attributes(
        &self,
        url: &str,
        attributes: &BTreeMap<String, String>,
    ) -> Result<()> {
        let map: HashMap<QueueAttributeName, String> = attributes
            .iter()
            .map(|(k, v)| (QueueAttributeName::from(k.as_str()), v.clone()))
            .collect();
        call(
            &self.budget,
            S,
            "SetQueueAttributes",
            self.client
                .set_queue_attributes()
                .queue_url(url)
                .set_attributes(Some(map))
                .send(),
        )
        .await
        .map(|_| ())
    }

    pub async fn tags(&self, url: &str) -> Result<Option<BTreeMap<String, String>>> {
        let out = found(
            call(
                &self.budget,
                S,
                "ListQueueTags",
                self.client.list_queue_tags().queue_url(url).send(),
            )
            .await,
        )?;
        Ok(out.map(|o| {
            super::tag_map(
                o.tags()
                    .into_iter()
                    .flatten()
                    .map(|(k, v)| (k.as_str(), v.as_str())),
            )
        }))
    }

    /// Up to [`RECEIVE_MAX`] messages, waiting up to `wait_seconds` for the first (long polling).
    pub async fn receive(&self, url: &str, wait_seconds: i32) -> Result<Vec<Message>> {
        let out = call(
            &self.budget,
            S,
            "ReceiveMessage",
            self.client
                .receive_message()
                .queue_url(url)
                .max_number_of_messages(RECEIVE_MAX as i32)
                .wait_time_seconds(wait_seconds)
                .send(),
        )
        .await?;
        Ok(out
            .messages()
            .iter()
            .filter_map(|m| {
                Some(Message {
                    body: m.body()?.to_string(),
                    receipt_handle: m.receipt_handle()?.to_string(),
                })
            })
            .collect())
    }

    /// Deletes up to 10 received messages in one call.
    pub async fn delete_batch(&self, url: &str, handles: &[String]) -> Result<()> {
        if handles.is_empty() {
            return Ok(());
        }
        let entries = handles
            .iter()
            .enumerate()
            .filter_map(|(i, h)| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(h)
                    .build()
                    .ok()
            })
            .collect();
        call(
            &self.budget,
            S,
            "DeleteMessageBatch",
            self.client
                .delete_message_batch()
                .queue_url(url)
                .set_entries(Some(entries))
                .send(),
        )
        .await
        .map(|_| ())
    }

    pub async fn delete(&self, url: &str) -> Result<()> {
        call_gone(
            &self.budget,
            S,
            "DeleteQueue",
            self.client.delete_queue().queue_url(url).send(),
        )
        .await
    }
}
