//! AWS's published per-account API rate quotas, as token buckets (size,
//! refill per second). The operator's budget ([`super::budget`]) spends a
//! fraction of them; the emulator's strict mode enforces the same figures
//! (`emulator/strict_access.py`, `emulator/strict_events.py`).

/// A token bucket: `burst` calls at once, `rate` more per second.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Quota {
    pub burst: f64,
    pub rate: f64,
}

const fn q(burst: f64, rate: f64) -> Quota {
    Quota { burst, rate }
}

/// Step Functions' own table ("Quotas related to API action throttling"):
/// the first figure for us-east-1, us-west-2 and eu-west-1, the second for
/// every other region.
/// https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html#service-limits-api-action-throttling-general
const SFN_BIG_REGIONS: [&str; 3] = ["us-east-1", "us-west-2", "eu-west-1"];
const SFN: &[(&str, Quota, Quota)] = &[
    ("CreateStateMachine", q(100.0, 1.0), q(100.0, 1.0)),
    ("DeleteStateMachine", q(100.0, 1.0), q(100.0, 1.0)),
    ("DescribeExecution", q(300.0, 15.0), q(250.0, 10.0)),
    ("DescribeStateMachine", q(200.0, 20.0), q(200.0, 20.0)),
    ("GetExecutionHistory", q(400.0, 20.0), q(400.0, 20.0)),
    ("ListExecutions", q(200.0, 5.0), q(100.0, 2.0)),
    ("ListStateMachines", q(100.0, 5.0), q(100.0, 5.0)),
    ("ListTagsForResource", q(100.0, 1.0), q(100.0, 1.0)),
    ("StartExecution", q(1300.0, 300.0), q(800.0, 150.0)),
    ("StopExecution", q(1000.0, 200.0), q(500.0, 25.0)),
    ("TagResource", q(200.0, 1.0), q(200.0, 1.0)),
    ("UntagResource", q(200.0, 1.0), q(200.0, 1.0)),
    ("UpdateStateMachine", q(100.0, 1.0), q(100.0, 1.0)),
];

/// Batch: "The maximum number of transactions per second (TPS) for each
/// account for AWS Batch API calls, including the SubmitJob operations, is 50."
/// https://repost.aws/knowledge-center/aws-batch-requests-error
const BATCH: Quota = q(50.0, 50.0);

/// SNS: the rates its API reference states per action; 10 TPS for the
/// other changes and 30 for the other reads, conservatively.
/// https://docs.aws.amazon.com/sns/latest/api/API_Subscribe.html (100),
/// API_ListSubscriptionsByTopic.html (30), API_TagResource.html (tagging: 10)
const SNS: &[(&str, Quota)] = &[
    ("Subscribe", q(100.0, 100.0)),
    ("Unsubscribe", q(100.0, 100.0)),
    ("ListSubscriptionsByTopic", q(30.0, 30.0)),
    ("ListTopics", q(30.0, 30.0)),
    ("ListSubscriptions", q(30.0, 30.0)),
    ("TagResource", q(10.0, 10.0)),
    ("UntagResource", q(10.0, 10.0)),
    ("ListTagsForResource", q(10.0, 10.0)),
];
const SNS_WRITE: Quota = q(10.0, 10.0);
const SNS_READ: Quota = q(30.0, 30.0);

/// IAM throttles per API but publishes no figures; conservative: 10 / 5 per
/// second for changes, 20 / 10 for reads. IAM is global: one bucket for
/// every region. https://repost.aws/knowledge-center/iam-sts-throttling-error
const IAM_WRITE: Quota = q(10.0, 5.0);
const IAM_READ: Quota = q(20.0, 10.0);

/// EventBridge: "All EventBridge APIs other than PutEvents are limited to 50
/// requests per second by default."
/// https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-quota.html
const EVENTS: Quota = q(50.0, 50.0);

/// SQS: standard queues take "a nearly unlimited number of API calls per
/// second, per API action"; only tagging is limited: 30 TPS per account.
/// https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/quotas-queues.html
const SQS_TAGGING: Quota = q(30.0, 30.0);

fn is_read(operation: &str) -> bool {
    ["Get", "List", "Describe"]
        .iter()
        .any(|p| operation.starts_with(p))
}

/// The published quota of one API in one region; `None` where AWS publishes
/// none worth budgeting (STS, most of SQS).
pub fn published(service: &str, operation: &str, region: &str) -> Option<Quota> {
    match service {
        "sfn" => SFN
            .iter()
            .find(|(op, _, _)| *op == operation)
            .map(|(_, big, other)| {
                if SFN_BIG_REGIONS.contains(&region) {
                    *big
                } else {
                    *other
                }
            }),
        "batch" => Some(BATCH),
        "sns" => Some(
            SNS.iter()
                .find(|(op, _)| *op == operation)
                .map(|(_, quota)| *quota)
                .unwrap_or(if is_read(operation) {
                    SNS_READ
                } else {
                    SNS_WRITE
                }),
        ),
        "iam" => Some(if is_read(operation) {
            IAM_READ
        } else {
            IAM_WRITE
        }),
        "events" => Some(EVENTS),
        "sqs" => ["TagQueue", "UntagQueue", "ListQueueTags"]
            .contains(&operation)
            .then_some(SQS_TAGGING),
        _ => None,
    }
}

/// The bucket's key: IAM's quotas are the account's, whatever the region.
pub fn scope<'a>(service: &str, region: &'a str) -> &'a str {
    if service == "iam" { "global" } else { region }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_published_figures_by_region_and_kind() {
        assert_eq!(
            published("sfn", "DescribeExecution", "us-east-1"),
            Some(q(300.0, 15.0))
        );
        assert_eq!(
            published("sfn", "DescribeExecution", "eu-central-1"),
            Some(q(250.0, 10.0))
        );
        assert_eq!(
            published("sfn", "CreateStateMachine", "eu-central-1"),
            Some(q(100.0, 1.0))
        );
        assert_eq!(published("iam", "GetRole", "us-east-1"), Some(IAM_READ));
        assert_eq!(published("iam", "CreateRole", "us-east-1"), Some(IAM_WRITE));
        assert_eq!(
            published("sns", "GetTopicAttributes", "us-east-1"),
            Some(SNS_READ)
        );
        assert_eq!(
            published("sns", "ListTagsForResource", "us-east-1"),
            Some(q(10.0, 10.0))
        );
        assert_eq!(published("sqs", "ReceiveMessage", "us-east-1"), None);
        assert_eq!(published("sts", "GetCallerIdentity", "us-east-1"), None);
        assert_eq!(scope("iam", "eu-west-1"), "global");
        assert_eq!(scope("sns", "eu-west-1"), "eu-west-1");
    }
}
