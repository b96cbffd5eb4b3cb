//! The admission-time rules of the schema: regular expressions (Go RE2
//! syntax, as the API server compiles them) and CEL rules. Kept in one place
//! so the types stay readable and the tests can reuse the very same strings.

// Fragments, composed with `concat!` so every pattern is a `&'static str`.
macro_rules! partition {
    () => {
        "(aws|aws-cn|aws-us-gov)"
    };
}
macro_rules! region {
    () => {
        "[a-z]{2}(-gov)?-[a-z]+-[0-9]{1,2}"
    };
}
macro_rules! account {
    () => {
        "[0-9]{12}"
    };
}
macro_rules! batch_name {
    () => {
        "[A-Za-z0-9_-]{1,128}"
    };
}

/// An AWS region in one of the three supported partitions (aws, aws-cn, aws-us-gov).
pub const REGION: &str = concat!("^", region!(), "$");
/// A Batch job queue ARN.
pub const JOB_QUEUE_ARN: &str = concat!(
    "^arn:",
    partition!(),
    ":batch:",
    region!(),
    ":",
    account!(),
    ":job-queue/",
    batch_name!(),
    "$"
);
/// A Batch compute environment ARN.
pub const COMPUTE_ENVIRONMENT_ARN: &str = concat!(
    "^arn:",
    partition!(),
    ":batch:",
    region!(),
    ":",
    account!(),
    ":compute-environment/",
    batch_name!(),
    "$"
);
/// A Batch job definition ARN, with or without `:<revision>`.
pub const JOB_DEFINITION_ARN: &str = concat!(
    "^arn:",
    partition!(),
    ":batch:",
    region!(),
    ":",
    account!(),
    ":job-definition/",
    batch_name!(),
    "(:[1-9][0-9]{0,8})?$"
);
/// A standard (not FIFO) SNS topic ARN.
pub const TOPIC_ARN: &str = concat!(
    "^arn:",
    partition!(),
    ":sns:",
    region!(),
    ":",
    account!(),
    ":[A-Za-z0-9_-]{1,256}$"
);
/// An IAM role ARN (IAM is global: no region), with an optional path.
pub const ROLE_ARN: &str = concat!(
    "^arn:",
    partition!(),
    ":iam::",
    account!(),
    ":role/([!-~]{1,510}/)?[A-Za-z0-9+=,.@_-]{1,64}$"
);
/// A Batch job name: SubmitJob wants an alphanumeric first character.
pub const JOB_NAME: &str = "^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$";
/// A cron expression of five fields, or one of the `@` macros CronJob knows.
pub const SCHEDULE: &str =
    r"^(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|[^\s]+(\s+[^\s]+){4})$";
/// An IANA time zone name such as `Europe/Berlin` or `UTC`.
pub const TIME_ZONE: &str = "^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+){0,2}$";
/// Fargate's vCPU values (0.25, 0.5) or a whole number of vCPUs.
pub const VCPUS: &str = r"^(0\.25|0\.5|[1-9][0-9]{0,3})$";
/// A VPC subnet ID.
pub const SUBNET_ID: &str = "^subnet-[0-9a-f]{8,17}$";
/// A VPC security group ID.
pub const SECURITY_GROUP_ID: &str = "^sg-[0-9a-f]{8,17}$";

/// CEL: exactly one of the two ways to name a resource.
pub const EXACTLY_ONE_ARN_OR_MANAGED: &str = "has(self.arn) != has(self.managed)";
/// CEL (transition rule on spec): `region` may be added but never changed or removed.
pub const REGION_IMMUTABLE: &str =
    "!has(oldSelf.region) || (has(self.region) && self.region == oldSelf.region)";
/// CEL fragment: the ARN prefix (`arn:<partition>:`) of `spec.region`'s partition.
macro_rules! partition_prefix {
    () => {
        "('arn:' + (self.region.startsWith('cn-') ? 'aws-cn' : (self.region.startsWith('us-gov-') ? 'aws-us-gov' : 'aws')) + ':')"
    };
}

/// CEL: the job queue ARN is in `spec.region` and its partition. The ARN
/// patterns leave exactly one `:batch:` / `:sns:` segment, so `contains` is exact.
pub const JOB_QUEUE_IN_REGION: &str = concat!(
    "!has(self.region) || !has(self.jobQueue.arn) || (self.jobQueue.arn.contains(':batch:' + self.region + ':') && self.jobQueue.arn.startsWith(",
    partition_prefix!(),
    "))"
);
/// CEL: as [`JOB_QUEUE_IN_REGION`], for the compute environment of a managed queue.
pub const COMPUTE_ENVIRONMENT_IN_REGION: &str = concat!(
    "!has(self.region) || !has(self.jobQueue.managed) || !has(self.jobQueue.managed.computeEnvironment.arn) || (self.jobQueue.managed.computeEnvironment.arn.contains(':batch:' + self.region + ':') && self.jobQueue.managed.computeEnvironment.arn.startsWith(",
    partition_prefix!(),
    "))"
);
/// CEL: as [`JOB_QUEUE_IN_REGION`], for the job definition.
pub const JOB_DEFINITION_IN_REGION: &str = concat!(
    "!has(self.region) || !has(self.jobDefinition.arn) || (self.jobDefinition.arn.contains(':batch:' + self.region + ':') && self.jobDefinition.arn.startsWith(",
    partition_prefix!(),
    "))"
);
/// CEL: as [`JOB_QUEUE_IN_REGION`], for the topic.
pub const TOPIC_IN_REGION: &str = concat!(
    "!has(self.region) || !has(self.topic.arn) || (self.topic.arn.contains(':sns:' + self.region + ':') && self.topic.arn.startsWith(",
    partition_prefix!(),
    "))"
);
/// CEL: Batch refuses Fargate job definitions without an execution role.
pub const FARGATE_NEEDS_EXECUTION_ROLE: &str =
    "(has(self.platform) && self.platform == 'EC2') || has(self.executionRoleArn)";
/// CEL: a time zone only means something for a schedule.
pub const TIME_ZONE_NEEDS_SCHEDULE: &str = "!has(self.timeZone) || has(self.schedule)";
/// CEL: tag keys AWS or the operator reserve, and AWS's key length limit.
pub const USER_TAG_KEYS: &str =
    "self.all(k, k.size() <= 128 && !k.startsWith('aws:') && !k.startsWith('batchnotify.dev/'))";
/// CEL: environment variable names AWS Batch reserves.
pub const ENVIRONMENT_NAMES: &str = "self.all(k, k.size() <= 256 && !k.startsWith('AWS_BATCH'))";
