//! The desired state a user writes: `BatchNotification.spec`.
//!
//! Every optional field is an `Option` without a schema default (a default in
//! the schema would show up as a diff in GitOps tools); the defaults live in
//! the accessor methods below, and the doc comments say what they are.

use std::collections::BTreeMap;

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::status::BatchNotificationStatus;
use super::validation as v;

/// The job name when `spec.jobName` is not set (the AWS sample's).
pub const DEFAULT_JOB_NAME: &str = "BatchJobNotification";
/// The message published when the job succeeded (the AWS sample's text).
pub const DEFAULT_SUCCESS_MESSAGE: &str = "Batch job submitted through Step Functions succeeded";
/// The message published when the job failed (the AWS sample's text).
pub const DEFAULT_FAILURE_MESSAGE: &str = "Batch job submitted through Step Functions failed";
/// The state machine's `TimeoutSeconds` when `spec.timeoutSeconds` is not set (the AWS sample's).
pub const DEFAULT_TIMEOUT_SECONDS: u32 = 3600;
/// Step Functions' limit on a standard workflow's duration: one year.
pub const MAX_TIMEOUT_SECONDS: u32 = 31_536_000;
/// How many runs `status.runs` keeps when `spec.run.historyLimit` is not set.
pub const DEFAULT_HISTORY_LIMIT: u32 = 10;
/// Priority of a managed job queue when not set.
pub const DEFAULT_QUEUE_PRIORITY: i32 = 1;
/// `maxvCpus` of a managed compute environment when not set.
pub const DEFAULT_MAX_VCPUS: u32 = 16;
/// vCPUs of a managed job definition when not set.
pub const DEFAULT_VCPUS: &str = "1";
/// Memory (MiB) of a managed job definition when not set; valid with 1 vCPU on Fargate.
pub const DEFAULT_MEMORY_MIB: u32 = 2048;

/// A BatchNotification runs an AWS Batch job through an AWS Step Functions state machine and
/// publishes to an Amazon SNS topic whether the job succeeded or failed (the AWS "Manage a Batch
/// Job" sample). The operator creates and owns the state machine, its IAM role, and whichever of
/// the job queue, compute environment, job definition and topic are `managed`; ones given by `arn`
/// are used as they are and never modified or deleted.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, JsonSchema, PartialEq)]
// The printcolumn lists repeat `type_ = "string"`, which clippy takes for duplicates.
#[allow(clippy::duplicated_attributes)]
#[kube(
    group = "batchnotify.dev",
    version = "v1alpha1",
    kind = "BatchNotification",
    plural = "batchnotifications",
    namespaced,
    doc = "A BatchNotification runs an AWS Batch job through a Step Functions state machine and publishes to an SNS topic whether the job succeeded (the AWS \"Manage a Batch Job\" sample).",
    status = "BatchNotificationStatus",
    shortname = "bn",
    category = "batchnotify",
    printcolumn(
        name = "Ready",
        type_ = "string",
        description = "Whether the AWS resources match the spec",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Reason",
        type_ = "string",
        description = "Why the object is or is not Ready (the Ready condition's reason)",
        json_path = ".status.conditions[?(@.type==\"Ready\")].reason"
    ),
    printcolumn(
        name = "Last Run",
        type_ = "string",
        description = "Outcome of the most recent run: Succeeded or Failed",
        json_path = ".status.lastRun.outcome"
    ),
    printcolumn(
        name = "Last Run At",
        type_ = "date",
        description = "When the most recent run started",
        json_path = ".status.lastRun.startTime"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    ),
    printcolumn(
        name = "Message",
        type_ = "string",
        description = "What the Ready condition says: the field or AWS resource at fault",
        json_path = ".status.conditions[?(@.type==\"Ready\")].message",
        priority = 1
    ),
    printcolumn(
        name = "Access",
        type_ = "string",
        description = "The AccessGrant that applies (empty: none, the operator's own identity)",
        json_path = ".status.access.grant",
        priority = 1
    ),
    printcolumn(
        name = "Account",
        type_ = "string",
        description = "The AWS account of the resources",
        json_path = ".status.accountId",
        priority = 1
    ),
    printcolumn(
        name = "State Machine",
        type_ = "string",
        description = "ARN of the Step Functions state machine",
        json_path = ".status.stateMachineArn",
        priority = 1
    ),
    printcolumn(
        name = "Topic",
        type_ = "string",
        description = "ARN of the SNS topic notified",
        json_path = ".status.topicArn",
        priority = 1
    )
)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = super::unwrap_descriptions)]
#[schemars(extend("x-kubernetes-validations" = [
    {
        "rule": v::REGION_IMMUTABLE,
        "message": "region cannot be changed or removed once set; create a new BatchNotification instead",
        "fieldPath": ".region",
        "reason": "FieldValueForbidden"
    },
    {
        "rule": v::JOB_QUEUE_IN_REGION,
        "message": "the job queue ARN must be in spec.region and its partition",
        "fieldPath": ".jobQueue.arn"
    },
    {
        "rule": v::COMPUTE_ENVIRONMENT_IN_REGION,
        "message": "the compute environment ARN must be in spec.region and its partition",
        "fieldPath": ".jobQueue.managed.computeEnvironment.arn"
    },
    {
        "rule": v::JOB_DEFINITION_IN_REGION,
        "message": "the job definition ARN must be in spec.region and its partition",
        "fieldPath": ".jobDefinition.arn"
    },
    {
        "rule": v::TOPIC_IN_REGION,
        "message": "the topic ARN must be in spec.region and its partition",
        "fieldPath": ".topic.arn"
    }
]))]
pub struct BatchNotificationSpec {
    /// AWS region of every resource, for example `us-east-1`. Default: the operator's region
    /// (its `AWS_REGION`). Once set it cannot be changed: the resources would have to move.
    /// ARNs given elsewhere in the spec must be in this region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 32), pattern(v::REGION))]
    pub region: Option<String>,

    /// The Batch job queue the job is submitted to: exactly one of `arn` (an existing queue) or
    /// `managed` (a queue the operator creates and deletes).
    pub job_queue: JobQueue,

    /// The Batch job definition to run: exactly one of `arn` (an existing definition) or
    /// `managed` (a definition the operator registers).
    pub job_definition: JobDefinition,

    /// Name given to each submitted Batch job (`SubmitJob`'s `jobName`): 1-128 letters, digits,
    /// `-` and `_`, starting with a letter or digit. Default: `BatchJobNotification`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128), pattern(v::JOB_NAME))]
    pub job_name: Option<String>,

    /// The SNS topic told about each run: exactly one of `arn` (an existing standard topic) or
    /// `managed` (a topic the operator creates, with its subscriptions).
    pub topic: Topic,

    /// The texts published to the topic. Default: the AWS sample's texts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messages: Option<Messages>,

    /// Limit on a whole run (the state machine's `TimeoutSeconds`), in seconds, 1-31536000
    /// (one year, Step Functions' maximum). A run that exceeds it ends as TIMED_OUT without a
    /// notification. Default: 3600.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = MAX_TIMEOUT_SECONDS))]
    pub timeout_seconds: Option<u32>,

    /// When to start runs (Step Functions executions). Without it the operator builds the
    /// resources but never starts a run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<Run>,

    /// What happens to the AWS resources the operator created when this object is deleted:
    /// `Delete` removes them, `Retain` leaves them in place (untouched, still tagged).
    /// Resources given by ARN are never deleted. Default: `Delete`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_policy: Option<DeletionPolicy>,

    /// Tags added to every AWS resource the operator creates, at most 46 (AWS allows 50; the
    /// operator adds 4 of its own). Keys are at most 128 characters, values at most 256; keys
    /// starting with `aws:` or `batchnotify.dev/` are reserved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        extend(
            "maxProperties" = 46,
            "additionalProperties" = {"type": "string", "maxLength": 256},
            "x-kubernetes-validations" = [{
                "rule": v::USER_TAG_KEYS,
                "message": "tag keys must be at most 128 characters and must not start with aws: or batchnotify.dev/"
            }]
        )
    )]
    pub tags: Option<BTreeMap<String, String>>,
}

/// The Batch job queue: exactly one of `arn` or `managed`.
#[derive(Serialize, Deserialize, Clone, Debug, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [{
    "rule": v::EXACTLY_ONE_ARN_OR_MANAGED,
    "message": "exactly one of arn or managed must be set"
}]))]
pub struct JobQueue {
    /// ARN of an existing job queue, for example
    /// `arn:aws:batch:us-east-1:123456789012:job-queue/reports`. The operator only submits jobs
    /// to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 256), pattern(v::JOB_QUEUE_ARN))]
    pub arn: Option<String>,

    /// A job queue the operator creates, updates and (with deletionPolicy Delete) deletes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed: Option<ManagedJobQueue>,
}

/// A job queue created by the operator.
#[derive(Serialize, Deserialize, Clone, Debug, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ManagedJobQueue {
    /// Queue priority, 0-1000; higher runs first among queues sharing a compute environment.
    /// Default: 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 1000))]
    pub priority: Option<i32>,

    /// Where the queue's jobs run: exactly one of `arn` or `managed`.
    pub compute_environment: ComputeEnvironment,

    /// What AWS Batch does with a job stuck RUNNABLE (no capacity can place it) after
    /// `maxTimeSeconds`: `CANCEL` it, with `reason` as its status reason. At most 5.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 5))]
    pub job_state_time_limit_actions: Option<Vec<JobStateTimeLimitAction>>,
}

/// One of AWS Batch's time limits on a state of the queue's jobs.
/// https://docs.aws.amazon.com/batch/latest/APIReference/API_JobStateTimeLimitAction.html
#[derive(Serialize, Deserialize, Clone, Debug, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct JobStateTimeLimitAction {
    /// The status reason the job gets, 1-256 characters, e.g.
    /// `CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY`.
    #[schemars(length(min = 1, max = 256))]
    pub reason: String,
    /// How long a job may stay RUNNABLE, 600-86400 seconds.
    #[schemars(range(min = 600, max = 86400))]
    pub max_time_seconds: u32,
}

/// The queue's compute environment: exactly one of `arn` or `managed`.
#[derive(Serialize, Deserialize, Clone, Debug, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [{
    "rule": v::EXACTLY_ONE_ARN_OR_MANAGED,
    "message": "exactly one of arn or managed must be set"
}]))]
pub struct ComputeEnvironment {
    /// ARN of an existing compute environment, for example
    /// `arn:aws:batch:us-east-1:123456789012:compute-environment/fargate`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 256), pattern(v::COMPUTE_ENVIRONMENT_ARN))]
    pub arn: Option<String>,

    /// A managed Fargate compute environment the operator creates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed: Option<ManagedComputeEnvironment>,
}

/// A Fargate compute environment created by the operator.
#[derive(Serialize, Deserialize, Clone, Debug, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ManagedComputeEnvironment {
    /// `FARGATE` (on-demand) or `FARGATE_SPOT` (cheaper, may be interrupted). Default: `FARGATE`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub type_: Option<ComputeType>,

    /// Most vCPUs the environment runs at once, 1-10000. Default: 16.
    #[serde(rename = "maxvCpus", default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 10000))]
    pub max_vcpus: Option<u32>,

    /// VPC subnet IDs (`subnet-…`) the jobs run in, 1-16. Jobs that pull public images need a
    /// route to the internet (NAT gateway, or a public subnet with public IPs).
    #[schemars(
        length(min = 1, max = 16),
        inner(length(max = 32), pattern(v::SUBNET_ID))
    )]
    pub subnets: Vec<String>,

    /// VPC security group IDs (`sg-…`) given to the jobs, 1-5 (Fargate's limit).
    #[schemars(
        length(min = 1, max = 5),
        inner(length(max = 32), pattern(v::SECURITY_GROUP_ID))
    )]
    pub security_group_ids: Vec<String>,

    /// IAM role AWS Batch uses to manage the environment. Default: the Batch
    /// service-linked role (`aws-service-role/batch.amazonaws.com/AWSServiceRoleForBatch`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024), pattern(v::ROLE_ARN))]
    pub service_role_arn: Option<String>,
}

// Fargate capacity type of a managed compute environment.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, JsonSchema, PartialEq, Eq, Default)]
pub enum ComputeType {
    /// On-demand Fargate capacity.
    #[default]
    #[serde(rename = "FARGATE")]
    Fargate,
    /// Spare Fargate capacity: cheaper, but jobs may be interrupted.
    #[serde(rename = "FARGATE_SPOT")]
    FargateSpot,
}

/// The Batch job definition: exactly one of `arn` or `managed`.
#[derive(Serialize, Deserialize, Clone, Debug, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [{
    "rule": v::EXACTLY_ONE_ARN_OR_MANAGED,
    "message": "exactly one of arn or managed must be set"
}]))]
pub struct JobDefinition {
    /// ARN of an existing job definition, with a revision
    /// (`arn:aws:batch:us-east-1:123456789012:job-definition/report:3`) or without one (Batch
    /// then uses the latest active revision).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 256), pattern(v::JOB_DEFINITION_ARN))]
    pub arn: Option<String>,

    /// A container job definition the operator registers; a changed spec registers a new
    /// revision and deregisters the old one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed: Option<ManagedJobDefinition>,
}

/// A container job definition registered by the operator.
#[derive(Serialize, Deserialize, Clone, Debug, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {
        "rule": v::FARGATE_NEEDS_EXECUTION_ROLE,
        "message": "executionRoleArn (or managedExecutionRole: true) is required when platform is FARGATE (the default)",
        "fieldPath": ".executionRoleArn",
        "reason": "FieldValueRequired"
    },
    {
        "rule": v::ONE_EXECUTION_ROLE,
        "message": "set executionRoleArn or managedExecutionRole: true, not both",
        "fieldPath": ".managedExecutionRole"
    },
    {
        "rule": v::ASSIGN_PUBLIC_IP_FARGATE_ONLY,
        "message": "assignPublicIp applies to FARGATE job definitions only",
        "fieldPath": ".assignPublicIp"
    },
    {
        "rule": v::FARGATE_RESOURCES,
        "message": v::FARGATE_RESOURCES_MESSAGE,
        "fieldPath": ".vcpus"
    }
]))]
pub struct ManagedJobDefinition {
    /// Container image, for example `busybox` or
    /// `123456789012.dkr.ecr.us-east-1.amazonaws.com/report:1.2` (at most 255 characters).
    #[schemars(length(min = 1, max = 255))]
    pub image: String,

    /// Command run in the container (exec form, no shell), at most 64 arguments of at most
    /// 4096 characters. Default: the image's CMD.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64), inner(length(max = 4096)))]
    pub command: Option<Vec<String>>,

    /// vCPUs per job, as a string: `0.25`, `0.5`, `1`, `2`, `4`, `8` or `16` on Fargate; a
    /// whole number on EC2. Fargate only accepts certain memoryMiB values for each. Default: `1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 4), pattern(v::VCPUS))]
    pub vcpus: Option<String>,

    /// Memory per job in MiB, 512-122880 (Fargate accepts 512-122880 depending on vCPUs, for
    /// example 2048-8192 with 1 vCPU). Default: 2048.
    #[serde(rename = "memoryMiB", default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 512, max = 122_880))]
    pub memory_mib: Option<u32>,

    /// Environment variables of the container, at most 100. Names starting with `AWS_BATCH`
    /// are reserved by AWS Batch; values are at most 4096 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        extend(
            "maxProperties" = 100,
            "additionalProperties" = {"type": "string", "maxLength": 4096},
            "x-kubernetes-validations" = [{
                "rule": v::ENVIRONMENT_NAMES,
                "message": "environment variable names must be at most 256 characters and must not start with AWS_BATCH"
            }]
        )
    )]
    pub environment: Option<BTreeMap<String, String>>,

    /// Where jobs run: `FARGATE` (needs a Fargate compute environment and executionRoleArn)
    /// or `EC2`. Default: `FARGATE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,

    /// IAM role ECS uses to pull the image and write logs (the task execution role).
    /// Fargate needs one: this, or `managedExecutionRole: true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024), pattern(v::ROLE_ARN))]
    pub execution_role_arn: Option<String>,

    /// When true, the operator creates and owns the task execution role: trusted by
    /// `ecs-tasks.amazonaws.com`, with AWS's managed `AmazonECSTaskExecutionRolePolicy` (pull
    /// from ECR, write CloudWatch logs), deleted with this object. For a new account that has no
    /// `ecsTaskExecutionRole` yet. Not together with `executionRoleArn`. Default: false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed_execution_role: Option<bool>,

    /// Whether each Fargate job gets a public IP address. `ENABLED` in a public subnet (one
    /// whose route to the internet is an internet gateway, such as the default VPC's): without
    /// it the job cannot pull its image. `DISABLED` in a private subnet that reaches the
    /// internet through a NAT gateway. Fargate only. Default: `DISABLED` (AWS Batch's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assign_public_ip: Option<AssignPublicIp>,

    /// IAM role the job's own code runs as. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024), pattern(v::ROLE_ARN))]
    pub job_role_arn: Option<String>,

    /// Batch stops an attempt after this many seconds, at least 60 (Batch's minimum) and at
    /// most 31536000. Default: no limit on the attempt (spec.timeoutSeconds still bounds the run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 60, max = MAX_TIMEOUT_SECONDS))]
    pub timeout_seconds: Option<u32>,

    /// Number of attempts Batch makes, 1-10 (Batch's limits). Default: 1 (no retry).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 10))]
    pub retry_attempts: Option<u32>,
}

// Whether a Fargate job gets a public IP address.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, JsonSchema, PartialEq, Eq, Default)]
pub enum AssignPublicIp {
    /// A public IP: for public subnets (internet gateway, no NAT).
    #[serde(rename = "ENABLED")]
    Enabled,
    /// No public IP: for private subnets with a NAT gateway.
    #[default]
    #[serde(rename = "DISABLED")]
    Disabled,
}

impl AssignPublicIp {
    pub fn as_str(self) -> &'static str {
        match self {
            AssignPublicIp::Enabled => "ENABLED",
            AssignPublicIp::Disabled => "DISABLED",
        }
    }
}

// Platform a managed job definition targets.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, JsonSchema, PartialEq, Eq, Default)]
pub enum Platform {
    /// AWS Fargate.
    #[default]
    #[serde(rename = "FARGATE")]
    Fargate,
    /// EC2 instances of an EC2 compute environment.
    #[serde(rename = "EC2")]
    Ec2,
}

/// The SNS topic: exactly one of `arn` or `managed`.
#[derive(Serialize, Deserialize, Clone, Debug, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [{
    "rule": v::EXACTLY_ONE_ARN_OR_MANAGED,
    "message": "exactly one of arn or managed must be set"
}]))]
pub struct Topic {
    /// ARN of an existing standard topic, for example
    /// `arn:aws:sns:us-east-1:123456789012:reports`. FIFO topics are not supported (the
    /// notification carries no message group ID).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 320), pattern(v::TOPIC_ARN))]
    pub arn: Option<String>,

    /// A standard topic the operator creates, with the subscriptions listed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed: Option<ManagedTopic>,
}

/// A topic created by the operator.
#[derive(Serialize, Deserialize, Clone, Debug, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ManagedTopic {
    /// Display name of the topic, shown as the sender of email and SMS notifications; at most
    /// 100 characters. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 100))]
    pub display_name: Option<String>,

    /// Subscriptions the operator keeps on the topic (added and removed to match), at most 100,
    /// each (protocol, endpoint) pair once. Email subscriptions stay pending until the
    /// recipient confirms; see status.subscriptions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        length(max = 100),
        extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["protocol", "endpoint"])
    )]
    pub subscriptions: Vec<Subscription>,
}

/// One subscription of a managed topic.
#[derive(Serialize, Deserialize, Clone, Debug, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [{
    "rule": v::SUBSCRIPTION_ENDPOINT,
    "message": "endpoint must suit the protocol: an email address (email, email-json), a phone number in E.164 form such as +15555550100 (sms), an SQS queue ARN (sqs), a Lambda function ARN (lambda), an http:// or https:// URL (http, https), a platform endpoint ARN (application)",
    "fieldPath": ".endpoint"
}]))]
pub struct Subscription {
    /// How SNS delivers: `email`, `email-json`, `sms`, `sqs`, `lambda`, `http`, `https` or
    /// `application`.
    pub protocol: SubscriptionProtocol,

    /// Where SNS delivers, as the protocol expects: an email address, a phone number in E.164
    /// form, an SQS queue or Lambda function ARN, or a URL; at most 2048 characters.
    #[schemars(length(min = 1, max = 2048))]
    pub endpoint: String,
}

// An SNS subscription protocol.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, JsonSchema, PartialEq, Eq, PartialOrd, Ord,
)]
pub enum SubscriptionProtocol {
    /// Email with a plain-text body.
    #[serde(rename = "email")]
    Email,
    /// Email with a JSON body.
    #[serde(rename = "email-json")]
    EmailJson,
    /// Text message to a phone number.
    #[serde(rename = "sms")]
    Sms,
    /// An SQS queue ARN.
    #[serde(rename = "sqs")]
    Sqs,
    /// A Lambda function ARN.
    #[serde(rename = "lambda")]
    Lambda,
    /// An HTTP URL.
    #[serde(rename = "http")]
    Http,
    /// An HTTPS URL.
    #[serde(rename = "https")]
    Https,
    /// A mobile platform endpoint ARN.
    #[serde(rename = "application")]
    Application,
}

impl SubscriptionProtocol {
    /// The protocol as SNS spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::EmailJson => "email-json",
            Self::Sms => "sms",
            Self::Sqs => "sqs",
            Self::Lambda => "lambda",
            Self::Http => "http",
            Self::Https => "https",
            Self::Application => "application",
        }
    }
}

/// The texts published to the topic. They may name fields of the run in braces, rendered
/// by Step Functions when it publishes: `{jobId}`, `{jobName}`, `{status}` (the Batch job's
/// SUCCEEDED or FAILED), `{statusReason}`, `{exitCode}`, `{attempts}`, `{logStreamName}`,
/// `{jobUrl}` and `{executionUrl}` (AWS console links), `{executionName}`, `{namespace}`,
/// `{name}`, `{trigger}`, `{scheduledTime}` and `{error}` (the Step Functions error, e.g.
/// `States.TaskFailed`). A field the run does not have renders `null`. `{{` and `}}` are
/// literal braces, with or without placeholders; any other brace is refused, naming its
/// character. A text stored before placeholders existed (0.2) that the rule refuses is
/// published as written; `status.literalMessages` names it.
#[derive(Serialize, Deserialize, Clone, Debug, JsonSchema, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct Messages {
    /// Published when the Batch job succeeded, 1-16384 characters (room for every character
    /// taking 4 bytes in UTF-8 within SNS's 256 KiB message limit, twice over, and well inside
    /// the state machine definition's 1 MiB). Default: "Batch job submitted through Step
    /// Functions succeeded".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(min = 1, max = 16384),
        extend("x-kubernetes-validations" = [crate::desired::messages::admission_rule()])
    )]
    pub success: Option<String>,

    /// Published when the Batch job failed, could not be submitted, or the run failed
    /// otherwise; 1-16384 characters. Default: "Batch job submitted through Step Functions
    /// failed".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(min = 1, max = 16384),
        extend("x-kubernetes-validations" = [crate::desired::messages::admission_rule()])
    )]
    pub failure: Option<String>,

    /// `Text` publishes the texts above; `Json` publishes one JSON document with every field
    /// of the run (the names above as keys), for machine subscribers. Default: `Text`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<MessageFormat>,
}

// How notifications are published.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, JsonSchema, PartialEq, Eq, Default)]
pub enum MessageFormat {
    /// The texts of success and failure.
    #[default]
    Text,
    /// One JSON document with every field of the run.
    Json,
}

/// When runs (Step Functions executions) start.
#[derive(Serialize, Deserialize, Clone, Debug, JsonSchema, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [{
    "rule": v::TIME_ZONE_NEEDS_SCHEDULE,
    "message": "timeZone needs schedule",
    "fieldPath": ".timeZone"
}]))]
pub struct Run {
    /// Any string, at most 256 characters: each new value starts exactly one run (also the
    /// first value, on creation); re-applying the same value starts nothing. Use a new value
    /// for each run, for example a date, a counter or a Git SHA.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 256))]
    pub trigger: Option<String>,

    /// Cron schedule in the CronJob format (five fields, or @hourly, @daily, ...), for example
    /// `0 2 * * *`: a run starts at each time it names. Default: none (no scheduled runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 128), pattern(v::SCHEDULE))]
    pub schedule: Option<String>,

    /// IANA time zone the schedule is read in, for example `Europe/Berlin`. Default: UTC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64), pattern(v::TIME_ZONE))]
    pub time_zone: Option<String>,

    /// What a scheduled run does while an earlier run is still going: `Forbid` skips the new
    /// run, `Allow` starts it anyway, `Replace` stops the running one first. Default: `Forbid`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency_policy: Option<ConcurrencyPolicy>,

    /// A scheduled run that could not start within this many seconds of its time (operator
    /// down, for example) is skipped, 0-31536000. Default: no deadline, but only the latest
    /// missed time is ever started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = MAX_TIMEOUT_SECONDS))]
    pub starting_deadline_seconds: Option<i64>,

    /// `true` stops new scheduled runs; runs already going continue and trigger changes still
    /// start runs. Default: false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspend: Option<bool>,

    /// How many runs status.runs keeps, newest first, 1-100. Default: 10.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 100))]
    pub history_limit: Option<u32>,

    /// Passed to each run's Batch job as its `Parameters` (the `Ref::name` substitutions in
    /// the job definition's command); each run records the parameters it ran with. At most
    /// 50; names of letters, digits, `_` and `-` (1-128), values at most 4096 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("maxProperties" = 50, "x-kubernetes-validations" = [{
        "rule": v::PARAMETER_NAMES,
        "message": "parameter names are 1-128 letters, digits, _ or -, values at most 4096 characters"
    }]))]
    pub parameters: Option<BTreeMap<String, String>>,

    /// A run whose Batch job waits RUNNABLE (no capacity to place it) longer than this many
    /// seconds raises a Warning Event and says so on RunSucceeded (still Unknown), 10-604800.
    /// Default: 1800.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 10, max = 604800))]
    pub runnable_warning_seconds: Option<u32>,
}

// What a scheduled run does while an earlier run is still going.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, JsonSchema, PartialEq, Eq, Default)]
pub enum ConcurrencyPolicy {
    /// Skip the new run.
    #[default]
    Forbid,
    /// Start the new run next to the running one.
    Allow,
    /// Stop the running one, then start the new run.
    Replace,
}

// What happens to the AWS resources the operator created when the object is deleted.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, JsonSchema, PartialEq, Eq, Default)]
pub enum DeletionPolicy {
    /// Delete them.
    #[default]
    Delete,
    /// Leave them in AWS.
    Retain,
}

/// A resource given either by ARN or as a managed definition, as [`JobQueue::source`] and the
/// like return it once the exactly-one-of rule has been checked.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Source<'a, M> {
    /// An existing resource, used as it is.
    Arn(&'a str),
    /// A resource the operator creates.
    Managed(&'a M),
}

/// A spec the API server should have rejected (objects created before a rule existed, or
/// built in code). Names the field, like the admission errors do.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SpecError {
    /// Both or neither of `arn` and `managed` are set.
    #[error("{field}: exactly one of arn or managed must be set")]
    ArnOrManaged {
        /// The field path, for example `spec.jobQueue`.
        field: &'static str,
    },
}

fn source<'a, M>(
    arn: &'a Option<String>,
    managed: &'a Option<M>,
    field: &'static str,
) -> Result<Source<'a, M>, SpecError> {
    match (arn, managed) {
        (Some(arn), None) => Ok(Source::Arn(arn)),
        (None, Some(managed)) => Ok(Source::Managed(managed)),
        _ => Err(SpecError::ArnOrManaged { field }),
    }
}

impl BatchNotificationSpec {
    /// `jobName`, or the sample's `BatchJobNotification`.
    pub fn job_name(&self) -> &str {
        self.job_name.as_deref().unwrap_or(DEFAULT_JOB_NAME)
    }

    /// `timeoutSeconds`, or 3600.
    pub fn timeout_seconds(&self) -> u32 {
        self.timeout_seconds.unwrap_or(DEFAULT_TIMEOUT_SECONDS)
    }

    /// `deletionPolicy`, or `Delete`.
    pub fn deletion_policy(&self) -> DeletionPolicy {
        self.deletion_policy.unwrap_or_default()
    }

    /// `messages.success`, or the sample's text.
    pub fn success_message(&self) -> &str {
        self.messages
            .as_ref()
            .and_then(|m| m.success.as_deref())
            .unwrap_or(DEFAULT_SUCCESS_MESSAGE)
    }

    /// `messages.failure`, or the sample's text.
    pub fn failure_message(&self) -> &str {
        self.messages
            .as_ref()
            .and_then(|m| m.failure.as_deref())
            .unwrap_or(DEFAULT_FAILURE_MESSAGE)
    }

    /// `messages.format`, or Text.
    pub fn message_format(&self) -> MessageFormat {
        self.messages
            .as_ref()
            .and_then(|m| m.format)
            .unwrap_or_default()
    }

    /// `tags`, or none.
    pub fn tags(&self) -> BTreeMap<String, String> {
        self.tags.clone().unwrap_or_default()
    }

    /// Checks the exactly-one-of rules the API server also enforces (every place at once).
    pub fn validate(&self) -> Result<(), SpecError> {
        if let Source::Managed(queue) = self.job_queue.source()? {
            queue.compute_environment.source()?;
        }
        self.job_definition.source()?;
        self.topic.source()?;
        Ok(())
    }
}

impl JobQueue {
    /// The queue's ARN or its managed definition.
    pub fn source(&self) -> Result<Source<'_, ManagedJobQueue>, SpecError> {
        source(&self.arn, &self.managed, "spec.jobQueue")
    }
}

impl ManagedJobQueue {
    /// `priority`, or 1.
    pub fn priority(&self) -> i32 {
        self.priority.unwrap_or(DEFAULT_QUEUE_PRIORITY)
    }
}

impl ComputeEnvironment {
    /// The compute environment's ARN or its managed definition.
    pub fn source(&self) -> Result<Source<'_, ManagedComputeEnvironment>, SpecError> {
        source(
            &self.arn,
            &self.managed,
            "spec.jobQueue.managed.computeEnvironment",
        )
    }
}

impl ManagedComputeEnvironment {
    /// `type`, or `FARGATE`.
    pub fn compute_type(&self) -> ComputeType {
        self.type_.unwrap_or_default()
    }

    /// `maxvCpus`, or 16.
    pub fn max_vcpus(&self) -> u32 {
        self.max_vcpus.unwrap_or(DEFAULT_MAX_VCPUS)
    }
}

impl ComputeType {
    /// The type as Batch spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Fargate => "FARGATE",
            Self::FargateSpot => "FARGATE_SPOT",
        }
    }
}

impl JobDefinition {
    /// The job definition's ARN or its managed definition.
    pub fn source(&self) -> Result<Source<'_, ManagedJobDefinition>, SpecError> {
        source(&self.arn, &self.managed, "spec.jobDefinition")
    }
}

impl ManagedJobDefinition {
    /// `vcpus`, or `"1"`.
    pub fn vcpus(&self) -> &str {
        self.vcpus.as_deref().unwrap_or(DEFAULT_VCPUS)
    }

    /// `memoryMiB`, or 2048.
    pub fn memory_mib(&self) -> u32 {
        self.memory_mib.unwrap_or(DEFAULT_MEMORY_MIB)
    }

    /// `assignPublicIp`, or `DISABLED`.
    pub fn assign_public_ip(&self) -> AssignPublicIp {
        self.assign_public_ip.unwrap_or_default()
    }

    /// Whether the operator creates the task execution role.
    pub fn managed_execution_role(&self) -> bool {
        self.managed_execution_role.unwrap_or(false)
    }

    /// `platform`, or `FARGATE`.
    pub fn platform(&self) -> Platform {
        self.platform.unwrap_or_default()
    }

    /// `retryAttempts`, or 1.
    pub fn retry_attempts(&self) -> u32 {
        self.retry_attempts.unwrap_or(1)
    }
}

impl Platform {
    /// The platform capability as Batch spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Fargate => "FARGATE",
            Self::Ec2 => "EC2",
        }
    }
}

impl Topic {
    /// The topic's ARN or its managed definition.
    pub fn source(&self) -> Result<Source<'_, ManagedTopic>, SpecError> {
        source(&self.arn, &self.managed, "spec.topic")
    }
}

impl Run {
    /// `historyLimit`, or 10.
    /// `runnableWarningSeconds`, or 1800.
    pub fn runnable_warning_seconds(&self) -> u32 {
        self.runnable_warning_seconds.unwrap_or(1800)
    }

    /// `parameters`, or none.
    pub fn parameters(&self) -> BTreeMap<String, String> {
        self.parameters.clone().unwrap_or_default()
    }

    pub fn history_limit(&self) -> u32 {
        self.history_limit.unwrap_or(DEFAULT_HISTORY_LIMIT)
    }

    /// `concurrencyPolicy`, or `Forbid`.
    pub fn concurrency_policy(&self) -> ConcurrencyPolicy {
        self.concurrency_policy.unwrap_or_default()
    }

    /// `suspend`, or false.
    pub fn suspend(&self) -> bool {
        self.suspend.unwrap_or(false)
    }

    /// `timeZone`, or `UTC`.
    pub fn time_zone(&self) -> &str {
        self.time_zone.as_deref().unwrap_or("UTC")
    }
}
