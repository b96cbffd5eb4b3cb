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
/// CEL: Batch refuses Fargate job definitions without an execution role:
/// one given by ARN, or the one the operator creates.
pub const FARGATE_NEEDS_EXECUTION_ROLE: &str = "(has(self.platform) && self.platform == 'EC2') || has(self.executionRoleArn) || (has(self.managedExecutionRole) && self.managedExecutionRole)";
/// CEL: one execution role, not two.
pub const ONE_EXECUTION_ROLE: &str =
    "!(has(self.executionRoleArn) && has(self.managedExecutionRole) && self.managedExecutionRole)";
/// CEL: `assignPublicIp` is a Fargate setting (EC2 jobs take the instance's network).
pub const ASSIGN_PUBLIC_IP_FARGATE_ONLY: &str =
    "!has(self.assignPublicIp) || !has(self.platform) || self.platform == 'FARGATE'";
macro_rules! fargate_v {
    () => {
        "(has(self.vcpus) ? self.vcpus : '1')"
    };
}
macro_rules! fargate_m {
    () => {
        "(has(self.memoryMiB) ? self.memoryMiB : 2048)"
    };
}
/// CEL: Fargate runs only certain vCPU/memory pairs; Batch refuses the rest at
/// RegisterJobDefinition.
/// https://docs.aws.amazon.com/batch/latest/APIReference/API_ResourceRequirement.html
pub const FARGATE_RESOURCES: &str = concat!(
    "(has(self.platform) && self.platform == 'EC2') || (",
    fargate_v!(),
    " == '0.25' && (",
    fargate_m!(),
    " == 512 || ",
    fargate_m!(),
    " == 1024 || ",
    fargate_m!(),
    " == 2048)) || (",
    fargate_v!(),
    " == '0.5' && ",
    fargate_m!(),
    " >= 1024 && ",
    fargate_m!(),
    " <= 4096 && ",
    fargate_m!(),
    " % 1024 == 0) || (",
    fargate_v!(),
    " == '1' && ",
    fargate_m!(),
    " >= 2048 && ",
    fargate_m!(),
    " <= 8192 && ",
    fargate_m!(),
    " % 1024 == 0) || (",
    fargate_v!(),
    " == '2' && ",
    fargate_m!(),
    " >= 4096 && ",
    fargate_m!(),
    " <= 16384 && ",
    fargate_m!(),
    " % 1024 == 0) || (",
    fargate_v!(),
    " == '4' && ",
    fargate_m!(),
    " >= 8192 && ",
    fargate_m!(),
    " <= 30720 && ",
    fargate_m!(),
    " % 1024 == 0) || (",
    fargate_v!(),
    " == '8' && ",
    fargate_m!(),
    " >= 16384 && ",
    fargate_m!(),
    " <= 61440 && ",
    fargate_m!(),
    " % 4096 == 0) || (",
    fargate_v!(),
    " == '16' && ",
    fargate_m!(),
    " >= 32768 && ",
    fargate_m!(),
    " <= 122880 && ",
    fargate_m!(),
    " % 8192 == 0)"
);
/// The message of [`FARGATE_RESOURCES`].
pub const FARGATE_RESOURCES_MESSAGE: &str = "Fargate accepts only these vcpus/memoryMiB pairs: 0.25 with 512, 1024 or 2048; 0.5 with 1024-4096; 1 with 2048-8192; 2 with 4096-16384; 4 with 8192-30720 (1024 MiB steps); 8 with 16384-61440 (4096 MiB steps); 16 with 32768-122880 (8192 MiB steps)";
/// CEL: SNS checks a subscription's endpoint against its protocol at Subscribe.
/// https://docs.aws.amazon.com/sns/latest/api/API_Subscribe.html
pub const SUBSCRIPTION_ENDPOINT: &str = concat!(
    "self.protocol in ['email', 'email-json'] ? self.endpoint.matches('^[^@ ]+@[^@ ]+[.][^@ ]+$') : ",
    "self.protocol == 'sms' ? self.endpoint.matches('^[+]?[1-9][0-9]{1,14}$') : ",
    "self.protocol == 'sqs' ? self.endpoint.matches('^arn:aws[a-z-]*:sqs:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,80}([.]fifo)?$') : ",
    "self.protocol == 'lambda' ? self.endpoint.matches('^arn:aws[a-z-]*:lambda:[a-z0-9-]+:[0-9]{12}:function:[A-Za-z0-9_-]{1,64}(:[A-Za-z0-9$_-]{1,128})?$') : ",
    "self.protocol == 'http' ? self.endpoint.startsWith('http://') : ",
    "self.protocol == 'https' ? self.endpoint.startsWith('https://') : ",
    "self.protocol == 'application' ? self.endpoint.matches('^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:endpoint/') : true"
);
/// CEL: a time zone only means something for a schedule.
pub const PARAMETER_NAMES: &str =
    "self.all(k, k.matches('^[A-Za-z0-9_-]{1,128}$') && self[k].size() <= 4096)";

pub const TIME_ZONE_NEEDS_SCHEDULE: &str = "!has(self.timeZone) || has(self.schedule)";
/// CEL: tag keys AWS or the operator reserve, and AWS's key length limit.
pub const USER_TAG_KEYS: &str =
    "self.all(k, k.size() <= 128 && !k.startsWith('aws:') && !k.startsWith('batchnotify.dev/'))";
/// CEL: environment variable names AWS Batch reserves.
pub const ENVIRONMENT_NAMES: &str = "self.all(k, k.size() <= 256 && !k.startsWith('AWS_BATCH'))";
