//! AWS Batch: compute environments, job queues and job definitions, both the
//! ones we manage and the ones a spec references by ARN.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_batch::types::{
    AssignPublicIp, CeState, CeType, ComputeEnvironmentOrder, ComputeResource,
    ComputeResourceUpdate, ContainerProperties, CrType, FargatePlatformConfiguration,
    JobDefinitionType, JobStateTimeLimitAction, JobStateTimeLimitActionsAction,
    JobStateTimeLimitActionsState, JobTimeout, JqState, KeyValuePair, NetworkConfiguration,
    PlatformCapability, ResourceRequirement, ResourceType, RetryStrategy,
};

use super::budget::RegionBudget;
use super::error::{Result, call, call_gone, pages};
use crate::desired::{ComputeEnvironment, JobDefinition, JobQueue};

const S: &str = "batch";

#[derive(Clone, Debug, PartialEq)]
pub struct ObservedJobDefinition {
    pub arn: String,
    pub name: String,
    pub revision: i32,
    /// ACTIVE or INACTIVE.
    pub status: String,
    pub tags: BTreeMap<String, String>,
    /// The role its jobs' containers run as (`containerProperties.jobRoleArn`).
    pub job_role_arn: Option<String>,
    /// The role ECS starts its containers with (`containerProperties.executionRoleArn`).
    pub execution_role_arn: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ObservedJobQueue {
    pub arn: String,
    pub state: String,
    pub status: String,
    pub priority: i32,
    pub compute_environments: Vec<String>,
    /// (reason, maxTimeSeconds) of each CANCEL action on RUNNABLE jobs.
    pub runnable_time_limits: Vec<(String, i32)>,
    pub tags: BTreeMap<String, String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ObservedComputeEnvironment {
    pub arn: String,
    pub state: String,
    pub status: String,
    pub status_reason: Option<String>,
    pub max_vcpus: Option<i32>,
    pub subnets: Vec<String>,
    pub security_group_ids: Vec<String>,
    pub tags: BTreeMap<String, String>,
}

/// A Batch job as a run reports it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct JobDetails {
    /// SUBMITTED, PENDING, RUNNABLE, STARTING, RUNNING, SUCCEEDED or FAILED.
    pub status: Option<String>,
    pub status_reason: Option<String>,
    pub exit_code: Option<i32>,
    pub attempts: Option<u32>,
    pub log_stream_name: Option<String>,
}

impl JobDetails {
    /// From the job description a `submitJob.sync` task returns (or puts in
    /// its failure's cause): DescribeJobs's fields, PascalCase.
    /// https://docs.aws.amazon.com/step-functions/latest/dg/connect-batch.html
    pub fn from_sync_output(job: &serde_json::Value) -> JobDetails {
        let text = |v: &serde_json::Value| v.as_str().map(str::to_string);
        let container = &job["Container"];
        JobDetails {
            status: text(&job["Status"]),
            status_reason: text(&job["StatusReason"]),
            exit_code: container["ExitCode"]
                .as_i64()
                .and_then(|c| i32::try_from(c).ok()),
            attempts: job["Attempts"]
                .as_array()
                .and_then(|a| u32::try_from(a.len()).ok()),
            log_stream_name: text(&container["LogStreamName"]),
        }
    }
}

#[derive(Clone)]
pub struct Batch {
    client: aws_sdk_batch::Client,
    budget: RegionBudget,
}

fn tag_map(tags: Option<&HashMap<String, String>>) -> BTreeMap<String, String> {
    super::tag_map(
        tags.into_iter()
            .flatten()
            .map(|(k, v)| (k.as_str(), v.as_str())),
    )
}

fn hash_tags(tags: &BTreeMap<String, String>) -> HashMap<String, String> {
    tags.clone().into_iter().collect()
}

impl Batch {
    pub fn new(client: aws_sdk_batch::Client, budget: RegionBudget) -> Self {
        Batch { client, budget }
    }

    /// TagResource: used when adopting a resource.
    pub async fn tag(&self, arn: &str, tags: &BTreeMap<String, String>) -> Result<()> {
        call(
            &self.budget,
            S,
            "TagResource",
            self.client
                .tag_resource()
                .resource_arn(arn)
                .set_tags(Some(hash_tags(tags)))
                .send(),
        )
        .await?;
        Ok(())
    }

    // ---- job definitions ----

    /// One job definition by ARN (`…:job-definition/name:rev`), or `None`.
    pub async fn job_definition(&self, arn: &str) -> Result<Option<ObservedJobDefinition>> {
        let out = call(
            &self.budget,
            S,
            "DescribeJobDefinitions",
            self.client
                .describe_job_definitions()
                .job_definitions(arn)
                .send(),
        )
        .await?;
        Ok(out.job_definitions().first().map(observed_job_definition))
    }

    /// Every ACTIVE revision of a job-definition name, across all pages.
    pub async fn active_job_definitions(&self, name: &str) -> Result<Vec<ObservedJobDefinition>> {
        let pages = pages(
            &self.budget,
            S,
            "DescribeJobDefinitions",
            self.client
                .describe_job_definitions()
                .job_definition_name(name)
                .status("ACTIVE")
                .into_paginator()
                .send(),
        )
        .await?;
        let mut defs: Vec<_> = pages
            .iter()
            .flat_map(|p| p.job_definitions())
            .map(observed_job_definition)
            .collect();
        defs.sort_by_key(|d| d.revision);
        Ok(defs)
    }

    pub async fn register_job_definition(&self, input: &JobDefinition) -> Result<String> {
        let requirement =
            |t: ResourceType, v: String| ResourceRequirement::builder().r#type(t).value(v).build();
        let mut container = ContainerProperties::builder()
            .image(&input.image)
            .set_command(Some(input.command.clone()))
            .resource_requirements(requirement(ResourceType::Vcpu, input.vcpus.clone()))
            .resource_requirements(requirement(
                ResourceType::Memory,
                input.memory_mib.to_string(),
            ))
            .set_environment(Some(
                input
                    .environment
                    .iter()
                    .map(|(k, v)| KeyValuePair::builder().name(k).value(v).build())
                    .collect(),
            ))
            .set_execution_role_arn(input.execution_role_arn.clone())
            .set_job_role_arn(input.job_role_arn.clone());
        if input.platform == "FARGATE" {
            container = container
                .fargate_platform_configuration(
                    FargatePlatformConfiguration::builder()
                        .platform_version("LATEST")
                        .build(),
                )
                .network_configuration(
                    NetworkConfiguration::builder()
                        .assign_public_ip(AssignPublicIp::from(input.assign_public_ip.as_str()))
                        .build(),
                );
        }
        let mut req = self
            .client
            .register_job_definition()
            .job_definition_name(&input.meta.name)
            .r#type(JobDefinitionType::Container)
            .platform_capabilities(PlatformCapability::from(input.platform.as_str()))
            .container_properties(container.build())
            .set_tags(Some(hash_tags(&input.meta.tags)))
            .propagate_tags(true);
        if let Some(t) = input.timeout_seconds {
            req = req.timeout(
                JobTimeout::builder()
                    .attempt_duration_seconds(t as i32)
                    .build(),
            );
        }
        if let Some(a) = input.retry_attempts {
            req = req.retry_strategy(RetryStrategy::builder().attempts(a as i32).build());
        }
        let out = call(&self.budget, S, "RegisterJobDefinition", req.send()).await?;
        Ok(out.job_definition_arn().unwrap_or_default().to_string())
    }

    pub async fn deregister_job_definition(&self, arn: &str) -> Result<()> {
        call_gone(
            &self.budget,
            S,
            "DeregisterJobDefinition",
            self.client
                .deregister_job_definition()
                .job_definition(arn)
                .send(),
        )
        .await
    }

    /// A job's current state (DescribeJobs), `None` when Batch no longer knows it.
    pub async fn job(&self, job_id: &str) -> Result<Option<JobDetails>> {
        let out = call(
            &self.budget,
            S,
            "DescribeJobs",
            self.client.describe_jobs().jobs(job_id).send(),
        )
        .await?;
        Ok(out.jobs().first().map(|j| JobDetails {
            status: j.status().map(|s| s.as_str().to_string()),
            status_reason: j.status_reason().map(str::to_string),
            exit_code: j.container().and_then(|c| c.exit_code()),
            attempts: u32::try_from(j.attempts().len()).ok(),
            log_stream_name: j
                .container()
                .and_then(|c| c.log_stream_name())
                .map(str::to_string),
        }))
    }

    /// The first job named `job_name` created in `queue` at or after
    /// `after_ms` (epoch milliseconds) that is not one of `claimed` (jobs
    /// other runs hold): how a run finds its job when the execution's
    /// history does not name it yet.
    pub async fn first_job_after(
        &self,
        queue: &str,
        job_name: &str,
        after_ms: i64,
        claimed: &[String],
    ) -> Result<Option<String>> {
        let pages = pages(
            &self.budget,
            S,
            "ListJobs",
            self.client
                .list_jobs()
                .job_queue(queue)
                .filters(
                    aws_sdk_batch::types::KeyValuesPair::builder()
                        .name("JOB_NAME")
                        .values(job_name)
                        .build(),
                )
                .into_paginator()
                .send(),
        )
        .await?;
        Ok(pages
            .iter()
            .flat_map(|p| p.job_summary_list())
            .filter(|j| j.created_at().is_some_and(|c| c >= after_ms))
            .filter(|j| !claimed.iter().any(|c| Some(c.as_str()) == j.job_id()))
            .min_by_key(|j| j.created_at())
            .and_then(|j| j.job_id().map(str::to_string)))
    }

    // ---- job queues ----

    /// One job queue by ARN or name, or `None`.
    pub async fn job_queue(&self, arn_or_name: &str) -> Result<Option<ObservedJobQueue>> {
        let pages = pages(
            &self.budget,
            S,
            "DescribeJobQueues",
            self.client
                .describe_job_queues()
                .job_queues(arn_or_name)
                .into_paginator()
                .send(),
        )
        .await?;
        // AWS lists a deleted queue for a while after: that is absence.
        let live = pages
            .iter()
            .flat_map(|p| p.job_queues())
            .find(|q| q.status().is_none_or(|s| s.as_str() != "DELETED"));
        Ok(live.map(|q| ObservedJobQueue {
            arn: q.job_queue_arn().unwrap_or_default().to_string(),
            state: q
                .state()
                .map(|s| s.as_str().to_string())
                .unwrap_or_default(),
            status: q
                .status()
                .map(|s| s.as_str().to_string())
                .unwrap_or_default(),
            priority: q.priority().unwrap_or_default(),
            compute_environments: q
                .compute_environment_order()
                .iter()
                .map(|o| o.compute_environment().unwrap_or_default().to_string())
                .collect(),
            runnable_time_limits: q
                .job_state_time_limit_actions()
                .iter()
                .map(|a| {
                    (
                        a.reason().unwrap_or_default().to_string(),
                        a.max_time_seconds().unwrap_or_default(),
                    )
                })
                .collect(),
            tags: tag_map(q.tags()),
        }))
    }

    pub async fn create_job_queue(&self, queue: &JobQueue) -> Result<String> {
        let out = call(
            &self.budget,
            S,
            "CreateJobQueue",
            self.client
                .create_job_queue()
                .job_queue_name(&queue.meta.name)
                .state(JqState::Enabled)
                .priority(queue.priority)
                .compute_environment_order(
                    ComputeEnvironmentOrder::builder()
                        .order(1)
                        .compute_environment(&queue.compute_environment_arn)
                        .build(),
                )
                .set_job_state_time_limit_actions(time_limits(queue))
                .set_tags(Some(hash_tags(&queue.meta.tags)))
                .send(),
        )
        .await?;
        Ok(out.job_queue_arn().unwrap_or_default().to_string())
    }

    pub async fn update_job_queue(&self, arn: &str, queue: &JobQueue) -> Result<()> {
        call(
            &self.budget,
            S,
            "UpdateJobQueue",
            self.client
                .update_job_queue()
                .job_queue(arn)
                .state(JqState::Enabled)
                .set_job_state_time_limit_actions(time_limits(queue).or(Some(Vec::new())))
                .priority(queue.priority)
                .compute_environment_order(
                    ComputeEnvironmentOrder::builder()
                        .order(1)
                        .compute_environment(&queue.compute_environment_arn)
                        .build(),
                )
                .send(),
        )
        .await?;
        Ok(())
    }

    /// Disables, then deletes: AWS deletes a queue only once it is DISABLED and
    /// VALID again (disabling makes it UPDATING for a while).
    /// https://docs.aws.amazon.com/batch/latest/APIReference/API_DeleteJobQueue.html
    /// `Ok(false)` when the disable has not settled yet: call again later.
    pub async fn delete_job_queue(&self, arn: &str) -> Result<bool> {
        let Some(mut q) = self.job_queue(arn).await? else {
            return Ok(true);
        };
        if q.state != "DISABLED" {
            call(
                &self.budget,
                S,
                "UpdateJobQueue",
                self.client
                    .update_job_queue()
                    .job_queue(arn)
                    .state(JqState::Disabled)
                    .send(),
            )
            .await?;
            match self.job_queue(arn).await? {
                Some(now) => q = now,
                None => return Ok(true),
            }
        }
        if q.status != "VALID" && q.status != "INVALID" {
            return Ok(false);
        }
        call_gone(
            &self.budget,
            S,
            "DeleteJobQueue",
            self.client.delete_job_queue().job_queue(arn).send(),
        )
        .await?;
        Ok(true)
    }

    // ---- compute environments ----

    pub async fn compute_environment(
        &self,
        arn_or_name: &str,
    ) -> Result<Option<ObservedComputeEnvironment>> {
        let pages = pages(
            &self.budget,
            S,
            "DescribeComputeEnvironments",
            self.client
                .describe_compute_environments()
                .compute_environments(arn_or_name)
                .into_paginator()
                .send(),
        )
        .await?;
        // AWS lists a deleted compute environment for a while after: that is absence.
        Ok(pages
            .iter()
            .flat_map(|p| p.compute_environments())
            .find(|c| c.status().is_none_or(|s| s.as_str() != "DELETED"))
            .map(|c| ObservedComputeEnvironment {
                arn: c.compute_environment_arn().unwrap_or_default().to_string(),
                state: c
                    .state()
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_default(),
                status: c
                    .status()
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_default(),
                status_reason: c.status_reason().map(str::to_string),
                max_vcpus: c.compute_resources().and_then(|r| r.maxv_cpus()),
                subnets: c
                    .compute_resources()
                    .map(|r| r.subnets().to_vec())
                    .unwrap_or_default(),
                security_group_ids: c
                    .compute_resources()
                    .map(|r| r.security_group_ids().to_vec())
                    .unwrap_or_default(),
                tags: tag_map(c.tags()),
            }))
    }

    pub async fn create_compute_environment(&self, input: &ComputeEnvironment) -> Result<String> {
        let resources = ComputeResource::builder()
            .r#type(CrType::from(input.compute_type.as_str()))
            .maxv_cpus(input.max_vcpus)
            .set_subnets(Some(input.subnets.clone()))
            .set_security_group_ids(Some(input.security_group_ids.clone()))
            .build();
        let out = call(
            &self.budget,
            S,
            "CreateComputeEnvironment",
            self.client
                .create_compute_environment()
                .compute_environment_name(&input.meta.name)
                .r#type(CeType::Managed)
                .state(CeState::Enabled)
                .compute_resources(resources)
                .service_role(&input.service_role)
                .set_tags(Some(hash_tags(&input.meta.tags)))
                .send(),
        )
        .await?;
        Ok(out
            .compute_environment_arn()
            .unwrap_or_default()
            .to_string())
    }

    pub async fn update_compute_environment(
        &self,
        arn: &str,
        input: &ComputeEnvironment,
    ) -> Result<()> {
        call(
            &self.budget,
            S,
            "UpdateComputeEnvironment",
            self.client
                .update_compute_environment()
                .compute_environment(arn)
                .state(CeState::Enabled)
                .compute_resources(
                    ComputeResourceUpdate::builder()
                        .maxv_cpus(input.max_vcpus)
                        .set_subnets(Some(input.subnets.clone()))
                        .set_security_group_ids(Some(input.security_group_ids.clone()))
                        .build(),
                )
                .send(),
        )
        .await?;
        Ok(())
    }

    /// Disables, then deletes: AWS deletes a compute environment only once it
    /// is DISABLED, settled (not UPDATING) and no queue uses it.
    /// https://docs.aws.amazon.com/batch/latest/APIReference/API_DeleteComputeEnvironment.html
    /// `Ok(false)` when the disable has not settled yet: call again later.
    pub async fn delete_compute_environment(&self, arn: &str) -> Result<bool> {
        let Some(mut ce) = self.compute_environment(arn).await? else {
            return Ok(true);
        };
        if ce.state != "DISABLED" {
            call(
                &self.budget,
                S,
                "UpdateComputeEnvironment",
                self.client
                    .update_compute_environment()
                    .compute_environment(arn)
                    .state(CeState::Disabled)
                    .send(),
            )
            .await?;
            match self.compute_environment(arn).await? {
                Some(now) => ce = now,
                None => return Ok(true),
            }
        }
        if ce.status != "VALID" && ce.status != "INVALID" {
            return Ok(false);
        }
        call_gone(
            &self.budget,
            S,
            "DeleteComputeEnvironment",
            self.client
                .delete_compute_environment()
                .compute_environment(arn)
                .send(),
        )
        .await?;
        Ok(true)
    }
}

/// A queue's limits on RUNNABLE jobs, as Batch takes them (none: `None`).
/// https://docs.aws.amazon.com/batch/latest/APIReference/API_JobStateTimeLimitAction.html
fn time_limits(queue: &JobQueue) -> Option<Vec<JobStateTimeLimitAction>> {
    let actions: Vec<_> = queue
        .runnable_time_limits
        .iter()
        .map(|(reason, max)| {
            JobStateTimeLimitAction::builder()
                .reason(reason)
                .state(JobStateTimeLimitActionsState::Runnable)
                .max_time_seconds(*max)
                .action(JobStateTimeLimitActionsAction::Cancel)
                .build()
        })
        .collect();
    (!actions.is_empty()).then_some(actions)
}

fn observed_job_definition(d: &aws_sdk_batch::types::JobDefinition) -> ObservedJobDefinition {
    ObservedJobDefinition {
        arn: d.job_definition_arn().unwrap_or_default().to_string(),
        name: d.job_definition_name().unwrap_or_default().to_string(),
        revision: d.revision().unwrap_or_default(),
        status: d.status().unwrap_or_default().to_string(),
        tags: tag_map(d.tags()),
        job_role_arn: d
            .container_properties()
            .and_then(|c| c.job_role_arn())
            .map(str::to_string),
        execution_role_arn: d
            .container_properties()
            .and_then(|c| c.execution_role_arn())
            .map(str::to_string),
    }
}
