//! Building and reading ARNs. Built ARNs follow each service's documented format; the
//! partition follows from the region.

use std::fmt;

/// An AWS partition.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Partition {
    /// Commercial regions.
    Aws,
    /// China (`cn-*`).
    AwsCn,
    /// GovCloud (`us-gov-*`).
    AwsUsGov,
}

impl Partition {
    /// The partition a region belongs to: `cn-*` → aws-cn, `us-gov-*` → aws-us-gov, else aws.
    pub fn for_region(region: &str) -> Partition {
        if region.starts_with("cn-") {
            Partition::AwsCn
        } else if region.starts_with("us-gov-") {
            Partition::AwsUsGov
        } else {
            Partition::Aws
        }
    }

    /// The partition by its ARN spelling.
    pub fn from_name(name: &str) -> Option<Partition> {
        match name {
            "aws" => Some(Partition::Aws),
            "aws-cn" => Some(Partition::AwsCn),
            "aws-us-gov" => Some(Partition::AwsUsGov),
            _ => None,
        }
    }

    /// The partition as ARNs spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Partition::Aws => "aws",
            Partition::AwsCn => "aws-cn",
            Partition::AwsUsGov => "aws-us-gov",
        }
    }
}

impl fmt::Display for Partition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An input that is not a region, account or ARN.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArnError {
    /// Not a region name like `us-east-1`.
    #[error("{0:?} is not an AWS region")]
    Region(String),
    /// Not a 12-digit account ID.
    #[error("{0:?} is not a 12-digit AWS account ID")]
    Account(String),
    /// Not of the form `arn:partition:service:region:account:resource`.
    #[error("{0:?} is not an ARN")]
    Malformed(String),
}

/// Where resources live: a region (and so a partition) and an account. Builds their ARNs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scope {
    region: String,
    account: String,
    partition: Partition,
}

impl Scope {
    /// Checks that `region` looks like a region (lower-case letters, digits and `-`, with a
    /// letter first and a digit last) and `account` is 12 digits.
    pub fn new(region: impl Into<String>, account: impl Into<String>) -> Result<Scope, ArnError> {
        let (region, account) = (region.into(), account.into());
        if !is_region(&region) {
            return Err(ArnError::Region(region));
        }
        if !is_account(&account) {
            return Err(ArnError::Account(account));
        }
        let partition = Partition::for_region(&region);
        Ok(Scope {
            region,
            account,
            partition,
        })
    }

    /// The region.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// The account ID.
    pub fn account(&self) -> &str {
        &self.account
    }

    /// The region's partition.
    pub fn partition(&self) -> Partition {
        self.partition
    }

    fn arn(&self, service: &str, resource: fmt::Arguments<'_>) -> String {
        format!(
            "arn:{}:{service}:{}:{}:{resource}",
            self.partition, self.region, self.account
        )
    }

    /// `arn:P:states:R:A:stateMachine:NAME`.
    pub fn state_machine_arn(&self, name: &str) -> String {
        self.arn("states", format_args!("stateMachine:{name}"))
    }

    /// `arn:P:states:R:A:execution:STATE_MACHINE:EXECUTION`.
    pub fn execution_arn(&self, state_machine: &str, execution: &str) -> String {
        self.arn(
            "states",
            format_args!("execution:{state_machine}:{execution}"),
        )
    }

    /// `arn:P:iam::A:role/NAME` (IAM is global: no region).
    pub fn role_arn(&self, name: &str) -> String {
        format!("arn:{}:iam::{}:role/{name}", self.partition, self.account)
    }

    /// `arn:P:sns:R:A:NAME`.
    pub fn topic_arn(&self, name: &str) -> String {
        self.arn("sns", format_args!("{name}"))
    }

    /// `arn:P:batch:R:A:job-queue/NAME`.
    pub fn job_queue_arn(&self, name: &str) -> String {
        self.arn("batch", format_args!("job-queue/{name}"))
    }

    /// `arn:P:batch:R:A:job-definition/NAME:REVISION`, or without `:REVISION`.
    pub fn job_definition_arn(&self, name: &str, revision: Option<u32>) -> String {
        match revision {
            Some(revision) => self.arn("batch", format_args!("job-definition/{name}:{revision}")),
            None => self.arn("batch", format_args!("job-definition/{name}")),
        }
    }

    /// `arn:P:batch:R:A:compute-environment/NAME`.
    pub fn compute_environment_arn(&self, name: &str) -> String {
        self.arn("batch", format_args!("compute-environment/{name}"))
    }

    /// `arn:P:batch:R:A:job/*`: every Batch job of the account in the region.
    pub fn batch_jobs_arn(&self) -> String {
        self.arn("batch", format_args!("job/*"))
    }

    /// `arn:P:events:R:A:rule/NAME`.
    pub fn events_rule_arn(&self, name: &str) -> String {
        self.arn("events", format_args!("rule/{name}"))
    }
}

/// The parts of an ARN, borrowed from it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Arn<'a> {
    /// `aws`, `aws-cn`, `aws-us-gov` (or another partition: parsing does not judge).
    pub partition: &'a str,
    /// `batch`, `sns`, `states`, `iam`, ...
    pub service: &'a str,
    /// Empty for global services such as IAM.
    pub region: &'a str,
    /// The account ID.
    pub account: &'a str,
    /// Everything after the account, for example `job-queue/reports`.
    pub resource: &'a str,
}

impl<'a> Arn<'a> {
    /// Splits `arn:partition:service:region:account:resource`.
    pub fn parse(text: &'a str) -> Result<Arn<'a>, ArnError> {
        let mut parts = text.splitn(6, ':');
        let malformed = || ArnError::Malformed(text.to_owned());
        if parts.next() != Some("arn") {
            return Err(malformed());
        }
        let (Some(partition), Some(service), Some(region), Some(account), Some(resource)) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(malformed());
        };
        if partition.is_empty() || service.is_empty() || resource.is_empty() {
            return Err(malformed());
        }
        Ok(Arn {
            partition,
            service,
            region,
            account,
            resource,
        })
    }

    /// The name after the resource type, for `job-queue/NAME`, `stateMachine:NAME` and
    /// the like; for a job definition without the revision. `None` for a bare resource
    /// (an SNS topic: use `resource`).
    pub fn resource_name(&self) -> Option<&'a str> {
        let (_, name) = self.resource.split_once(['/', ':'])?;
        if self.resource.starts_with("job-definition/") {
            Some(name.rsplit_once(':').map_or(name, |(name, _)| name))
        } else {
            Some(name)
        }
    }

    /// The revision of a job definition ARN (`job-definition/NAME:REVISION`), if any.
    pub fn job_definition_revision(&self) -> Option<u32> {
        let rest = self.resource.strip_prefix("job-definition/")?;
        rest.rsplit_once(':')?.1.parse().ok()
    }
}

fn is_region(region: &str) -> bool {
    let bytes = region.as_bytes();
    region.len() <= 32
        && bytes.first().is_some_and(u8::is_ascii_lowercase)
        && bytes.last().is_some_and(u8::is_ascii_digit)
        && region.contains('-')
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
}

fn is_account(account: &str) -> bool {
    account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ACCOUNT: &str = "123456789012";

    #[test]
    fn partition_follows_region() {
        assert_eq!(Partition::for_region("us-east-1"), Partition::Aws);
        assert_eq!(Partition::for_region("cn-north-1"), Partition::AwsCn);
        assert_eq!(Partition::for_region("us-gov-west-1"), Partition::AwsUsGov);
        assert_eq!(Partition::for_region("eu-central-2"), Partition::Aws);
        for p in [Partition::Aws, Partition::AwsCn, Partition::AwsUsGov] {
            assert_eq!(Partition::from_name(p.as_str()), Some(p));
        }
    }

    #[test]
    fn builds_each_arn() {
        let s = Scope::new("us-east-1", ACCOUNT).unwrap();
        assert_eq!(
            s.state_machine_arn("sm"),
            "arn:aws:states:us-east-1:123456789012:stateMachine:sm"
        );
        assert_eq!(
            s.execution_arn("sm", "run-1"),
            "arn:aws:states:us-east-1:123456789012:execution:sm:run-1"
        );
        assert_eq!(s.role_arn("r"), "arn:aws:iam::123456789012:role/r");
        assert_eq!(s.topic_arn("t"), "arn:aws:sns:us-east-1:123456789012:t");
        assert_eq!(
            s.job_queue_arn("q"),
            "arn:aws:batch:us-east-1:123456789012:job-queue/q"
        );
        assert_eq!(
            s.job_definition_arn("d", Some(3)),
            "arn:aws:batch:us-east-1:123456789012:job-definition/d:3"
        );
        assert_eq!(
            s.job_definition_arn("d", None),
            "arn:aws:batch:us-east-1:123456789012:job-definition/d"
        );
        assert_eq!(
            s.compute_environment_arn("ce"),
            "arn:aws:batch:us-east-1:123456789012:compute-environment/ce"
        );
        assert_eq!(
            s.batch_jobs_arn(),
            "arn:aws:batch:us-east-1:123456789012:job/*"
        );
        assert_eq!(
            s.events_rule_arn("x"),
            "arn:aws:events:us-east-1:123456789012:rule/x"
        );
    }

    #[test]
    fn other_partitions() {
        let cn = Scope::new("cn-northwest-1", ACCOUNT).unwrap();
        assert_eq!(cn.role_arn("r"), "arn:aws-cn:iam::123456789012:role/r");
        assert_eq!(
            cn.topic_arn("t"),
            "arn:aws-cn:sns:cn-northwest-1:123456789012:t"
        );
        let gov = Scope::new("us-gov-east-1", ACCOUNT).unwrap();
        assert_eq!(
            gov.state_machine_arn("sm"),
            "arn:aws-us-gov:states:us-gov-east-1:123456789012:stateMachine:sm"
        );
    }

    #[test]
    fn rejects_bad_scope() {
        assert_eq!(
            Scope::new("", ACCOUNT),
            Err(ArnError::Region(String::new()))
        );
        assert!(Scope::new("US-EAST-1", ACCOUNT).is_err());
        assert!(Scope::new("us-east-1:x", ACCOUNT).is_err());
        assert_eq!(
            Scope::new("us-east-1", "1234"),
            Err(ArnError::Account("1234".into()))
        );
        assert!(Scope::new("us-east-1", "12345678901x").is_err());
    }

    #[test]
    fn parses_arns() {
        let arn =
            Arn::parse("arn:aws:batch:us-east-1:123456789012:job-definition/report:7").unwrap();
        assert_eq!(
            (arn.partition, arn.service, arn.region, arn.account),
            ("aws", "batch", "us-east-1", ACCOUNT)
        );
        assert_eq!(arn.resource, "job-definition/report:7");
        assert_eq!(arn.resource_name(), Some("report"));
        assert_eq!(arn.job_definition_revision(), Some(7));

        let unrevised =
            Arn::parse("arn:aws:batch:us-east-1:123456789012:job-definition/report").unwrap();
        assert_eq!(unrevised.resource_name(), Some("report"));
        assert_eq!(unrevised.job_definition_revision(), None);

        let role = Arn::parse("arn:aws:iam::123456789012:role/path/r").unwrap();
        assert_eq!((role.region, role.resource_name()), ("", Some("path/r")));

        let sm = Arn::parse("arn:aws:states:us-east-1:123456789012:stateMachine:sm").unwrap();
        assert_eq!(sm.resource_name(), Some("sm"));

        let topic = Arn::parse("arn:aws:sns:us-east-1:123456789012:t").unwrap();
        assert_eq!((topic.resource, topic.resource_name()), ("t", None));
    }

    #[test]
    fn rejects_malformed_arns() {
        for bad in [
            "",
            "arn",
            "arn:aws:sns",
            "urn:aws:sns:r:a:t",
            "arn::sns:r:a:t",
            "arn:aws:sns:r:a:",
        ] {
            assert_eq!(
                Arn::parse(bad),
                Err(ArnError::Malformed(bad.into())),
                "{bad}"
            );
        }
    }
}
