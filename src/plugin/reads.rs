//! The plugin's AWS calls, all of them reads: Batch DescribeJobs, CloudWatch
//! Logs GetLogEvents, Step Functions GetExecutionHistory, STS
//! GetCallerIdentity (and AssumeRole when the run's account is not the
//! caller's). The identity is the user's: the SDK's default chain, or the
//! role `--role-arn` or the namespace's AccessGrant names, assumed with the
//! user's credentials. The operator's policy does not grow for any of this.

use aws_config::SdkConfig;
use aws_config::sts::AssumeRoleProvider;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_sdk_batch::types::JobDetail;
use aws_sdk_cloudwatchlogs::operation::get_log_events::GetLogEventsOutput;
use aws_sdk_sfn::types::HistoryEventType;
use kube::Api;

use super::Error;
use crate::api::{AccessGrant, BatchNotification};
use crate::aws::{AwsError, ErrorKind};

/// Who the plugin reads AWS as.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct AwsArgs {
    /// Assume this IAM role (with your own credentials) to read the run's
    /// AWS resources. Default: your own identity, or the namespace's
    /// AccessGrant role when the run's account is not yours.
    #[arg(long, global = true)]
    pub role_arn: Option<String>,
    /// The sts:ExternalId the role's trust policy asks for (default: the
    /// AccessGrant's, when you may read it).
    #[arg(long, global = true)]
    pub external_id: Option<String>,
}

/// Clients for the object's account and region.
pub struct Reader {
    batch: aws_sdk_batch::Client,
    logs: aws_sdk_cloudwatchlogs::Client,
    sfn: aws_sdk_sfn::Client,
    /// The identity's ARN, for messages (from GetCallerIdentity).
    pub caller: String,
}

/// A page of log events and the token that reads on from it.
pub struct Page {
    pub events: Vec<(i64, String)>,
    pub forward: Option<String>,
    pub backward: Option<String>,
}

/// Where a page starts.
pub enum From<'a> {
    /// The stream's beginning (or `since`'s time).
    Head,
    /// The stream's end: its newest `limit` events.
    Tail { limit: i32 },
    /// On from a page's token.
    Token(&'a str),
}

impl Reader {
    /// Clients for `obj`'s region and account, as `args` (or the object's
    /// grant) says.
    pub async fn for_object(
        kube: &kube::Client,
        obj: &BatchNotification,
        args: &AwsArgs,
    ) -> Result<Reader, Error> {
        let status = obj.status.clone().unwrap_or_default();
        let not_reconciled = || Error::NotReconciled {
            namespace: obj.metadata.namespace.clone().unwrap_or_default(),
            name: obj.metadata.name.clone().unwrap_or_default(),
        };
        let region = status.region.clone().ok_or_else(not_reconciled)?;
        let account = status.account_id.clone().ok_or_else(not_reconciled)?;
        let own = crate::aws::sdk_config(Some(region)).await;
        let (own_arn, own_account) = caller(&own).await?;
        let grant = status.access.unwrap_or_default();
        let role = match (&args.role_arn, grant.role_arn) {
            (Some(role), _) => Some((role.clone(), args.external_id.clone())),
            (None, Some(role)) if own_account != account => {
                let external_id = match &args.external_id {
                    Some(id) => Some(id.clone()),
                    None => grant_external_id(kube, grant.grant.as_deref()).await,
                };
                Some((role, external_id))
            }
            _ => None,
        };
        let config = match role {
            None => own,
            Some((role, external_id)) => assume(own, &own_arn, &role, external_id).await?,
        };
        let (arn, _) = caller(&config).await?;
        Ok(Reader {
            batch: aws_sdk_batch::Client::new(&config),
            logs: aws_sdk_cloudwatchlogs::Client::new(&config),
            sfn: aws_sdk_sfn::Client::new(&config),
            caller: arn,
        })
    }

    /// The Batch job, or None when Batch no longer describes it.
    pub async fn job(&self, job_id: &str) -> Result<Option<JobDetail>, Error> {
        let out = self
            .batch
            .describe_jobs()
            .jobs(job_id)
            .send()
            .await
            .map_err(|e| crate::aws::error::from_sdk("batch", "DescribeJobs", e))
            .map_err(|e| self.error("batch:DescribeJobs", job_id, e))?;
        Ok(out.jobs.unwrap_or_default().into_iter().next())
    }

    /// One page of a stream's events at `since` (ms) or later; None when the
    /// stream (or its group) does not exist. Every page of a read repeats
    /// its `startTime`, as the SDK's paginators repeat their input.
    pub async fn page(
        &self,
        group: &str,
        stream: &str,
        from: From<'_>,
        since: Option<i64>,
    ) -> Result<Option<Page>, Error> {
        let mut req = self
            .logs
            .get_log_events()
            .log_group_name(group)
            .log_stream_name(stream)
            .set_start_time(since);
        req = match from {
            From::Head => req.start_from_head(true),
            From::Tail { limit } => req.start_from_head(false).limit(limit),
            From::Token(token) => req.next_token(token),
        };
        match req.send().await {
            Ok(out) => Ok(Some(page_of(out))),
            Err(e) => {
                let e = crate::aws::error::from_sdk("logs", "GetLogEvents", e);
                if e.is(ErrorKind::NotFound) {
                    return Ok(None);
                }
                Err(self.error("logs:GetLogEvents", &format!("{group} {stream}"), e))
            }
        }
    }

    /// The topic and text the run's notification was published with, from
    /// the execution's history (newest events first; the publish is near
    /// the end). None when the run published nothing.
    pub async fn sent_message(
        &self,
        execution_arn: &str,
    ) -> Result<Option<(String, String)>, Error> {
        let mut pages = self
            .sfn
            .get_execution_history()
            .execution_arn(execution_arn)
            .reverse_order(true)
            .max_results(50)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page
                .map_err(|e| crate::aws::error::from_sdk("states", "GetExecutionHistory", e))
                .map_err(|e| self.error("states:GetExecutionHistory", execution_arn, e))?;
            if let Some(sent) = page.events().iter().find_map(published) {
                return Ok(Some(sent));
            }
        }
        Ok(None)
    }

    fn error(&self, action: &str, resource: &str, e: AwsError) -> Error {
        if e.is(ErrorKind::AccessDenied) {
            return Error::Denied {
                action: action.to_string(),
                resource: resource.to_string(),
                caller: self.caller.clone(),
                message: e.message,
            };
        }
        Error::Aws {
            action: action.to_string(),
            resource: resource.to_string(),
            message: e.to_string(),
        }
    }
}

/// The topic and message of an SNS Publish task's TaskScheduled event.
fn published(e: &aws_sdk_sfn::types::HistoryEvent) -> Option<(String, String)> {
    let d = e.task_scheduled_event_details()?;
    if e.r#type() != &HistoryEventType::TaskScheduled || d.resource_type() != "sns" {
        return None;
    }
    let p: serde_json::Value = serde_json::from_str(d.parameters()).ok()?;
    let text = |k: &str| p.get(k).and_then(|v| v.as_str()).map(str::to_string);
    Some((text("TopicArn").unwrap_or_default(), text("Message")?))
}

fn page_of(out: GetLogEventsOutput) -> Page {
    Page {
        events: out
            .events
            .unwrap_or_default()
            .into_iter()
            .map(|e| (e.timestamp.unwrap_or(0), e.message.unwrap_or_default()))
            .collect(),
        forward: out.next_forward_token,
        backward: out.next_backward_token,
    }
}

/// The identity's ARN and account.
async fn caller(config: &SdkConfig) -> Result<(String, String), Error> {
    let out = aws_sdk_sts::Client::new(config)
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| crate::aws::error::from_sdk("sts", "GetCallerIdentity", e))
        .map_err(|e| {
            Error::Identity(format!(
                "no usable AWS credentials (the SDK's default chain: AWS_PROFILE, \
                 AWS_ACCESS_KEY_ID, SSO, ...): {e}"
            ))
        })?;
    Ok((
        out.arn().unwrap_or_default().to_string(),
        out.account().unwrap_or_default().to_string(),
    ))
}

/// `own` with the credentials of `role`, assumed as `own_arn`; the first
/// call proves the role can be assumed.
async fn assume(
    own: SdkConfig,
    own_arn: &str,
    role: &str,
    external_id: Option<String>,
) -> Result<SdkConfig, Error> {
    let mut provider = AssumeRoleProvider::builder(role)
        .session_name("kubectl-batchnotify")
        .configure(&own);
    if let Some(id) = external_id {
        provider = provider.external_id(id);
    }
    let provider = provider.build().await;
    let config = own
        .into_builder()
        .credentials_provider(SharedCredentialsProvider::new(provider))
        .build();
    match caller(&config).await {
        Ok(_) => Ok(config),
        Err(e) => Err(Error::Identity(format!(
            "the run's resources are read as role {role}, which {own_arn} cannot assume \
             ({e}); pass --role-arn, or use credentials of the run's account"
        ))),
    }
}

/// The external ID of the AccessGrant `name`, if the user may read it.
async fn grant_external_id(kube: &kube::Client, name: Option<&str>) -> Option<String> {
    let grant = Api::<AccessGrant>::all(kube.clone())
        .get_opt(name?)
        .await
        .ok()??;
    grant.spec.identity.assume_role?.external_id
}
