//! The state machine's IAM role: who may assume it, and the least privilege it needs.

use serde_json::{Value, json};

use super::arns::{Arn, Scope};

/// The IAM policy language version.
pub const POLICY_VERSION: &str = "2012-10-17";
/// The managed EventBridge rule Step Functions uses to learn when a Batch job ends
/// (`submitJob.sync`); it creates the rule itself on first use.
pub const BATCH_EVENTS_RULE: &str = "StepFunctionsGetEventsForBatchJobsRule";
/// The Step Functions service principal.
pub const STATES_PRINCIPAL: &str = "states.amazonaws.com";

/// The role's trust policy: only Step Functions may assume it, and only on behalf of
/// this account's state machine of that name (the confused-deputy guard).
pub fn trust_policy(scope: &Scope, state_machine_name: &str) -> Value {
    json!({
        "Version": POLICY_VERSION,
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": { "Service": STATES_PRINCIPAL },
                "Action": "sts:AssumeRole",
                "Condition": {
                    "StringEquals": { "aws:SourceAccount": scope.account() },
                    "ArnLike": { "aws:SourceArn": scope.state_machine_arn(state_machine_name) },
                },
            }
        ],
    })
}

/// The ECS tasks service principal: Fargate jobs' task execution role trusts it.
pub const ECS_TASKS_PRINCIPAL: &str = "ecs-tasks.amazonaws.com";

/// Trust policy of the task execution role the operator creates: ECS tasks
/// (the Fargate containers of Batch jobs) assume it to pull the image and write
/// logs, as AWS documents it.
/// https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task_execution_IAM_role.html
pub fn execution_role_trust_policy() -> Value {
    json!({
        "Version": POLICY_VERSION,
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": { "Service": ECS_TASKS_PRINCIPAL },
                "Action": "sts:AssumeRole",
            }
        ],
    })
}

/// AWS's managed policy for task execution roles (pull from ECR, write
/// CloudWatch Logs), in the scope's partition.
pub fn execution_role_policy_arn(scope: &Scope) -> String {
    format!(
        "arn:{}:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy",
        scope.partition().as_str()
    )
}

/// The Batch service-linked role: what AWS uses when a compute environment names none.
pub fn batch_service_linked_role(scope: &Scope) -> String {
    format!(
        "arn:{}:iam::{}:role/aws-service-role/batch.amazonaws.com/AWSServiceRoleForBatch",
        scope.partition().as_str(),
        scope.account()
    )
}

/// The resources the inline policy grants access to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PolicyInputs<'a> {
    /// The job queue jobs are submitted to.
    pub job_queue_arn: &'a str,
    /// The job definition submitted, with or without a revision.
    pub job_definition_arn: &'a str,
    /// The topic notified.
    pub topic_arn: &'a str,
}

/// The role's inline policy: exactly the actions of the AWS sample's policy, each on the
/// narrowest resource the action supports (the sample grants the Batch actions on `*`).
pub fn inline_policy(scope: &Scope, inputs: &PolicyInputs<'_>) -> Value {
    json!({
        "Version": POLICY_VERSION,
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["sns:Publish"],
                "Resource": [inputs.topic_arn],
            },
            {
                "Effect": "Allow",
                "Action": ["batch:SubmitJob"],
                "Resource": submit_job_resources(inputs),
            },
            {
                // batch:DescribeJobs supports no resource-level permissions (Service
                // Authorization Reference, "Actions defined by AWS Batch": its Resource
                // types column is empty), so "*" is the only resource that works.
                "Effect": "Allow",
                "Action": ["batch:DescribeJobs"],
                "Resource": ["*"],
            },
            {
                // Lets Step Functions stop the job when the execution is stopped or times out.
                "Effect": "Allow",
                "Action": ["batch:TerminateJob"],
                "Resource": [scope.batch_jobs_arn()],
            },
            {
                "Effect": "Allow",
                "Action": ["events:PutTargets", "events:PutRule", "events:DescribeRule"],
                "Resource": [scope.events_rule_arn(BATCH_EVENTS_RULE)],
            },
        ],
    })
}

/// `batch:SubmitJob` is authorised against both the queue and the job definition. A
/// definition named without a revision runs its latest revision, whose ARN carries one, so
/// the grant covers `NAME:*` as well as the ARN as given.
fn submit_job_resources(inputs: &PolicyInputs<'_>) -> Vec<String> {
    let mut resources = vec![
        inputs.job_queue_arn.to_owned(),
        inputs.job_definition_arn.to_owned(),
    ];
    let revisionless = Arn::parse(inputs.job_definition_arn).is_ok_and(|arn| {
        arn.resource.starts_with("job-definition/") && arn.job_definition_revision().is_none()
    });
    if revisionless {
        resources.push(format!("{}:*", inputs.job_definition_arn));
    }
    resources
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use super::*;
    use crate::desired::documents::{documents_equal, policies_equal};

    const SEED: &str = include_str!("../../tests/fixtures/seed/iam_policy.json");

    /// action → resources granted, over all Allow statements.
    fn grants(policy: &Value) -> BTreeMap<String, BTreeSet<String>> {
        let one_or_many = |v: &Value| -> Vec<String> {
            match v {
                Value::String(s) => vec![s.clone()],
                Value::Array(items) => items
                    .iter()
                    .filter_map(|i| i.as_str().map(str::to_owned))
                    .collect(),
                _ => vec![],
            }
        };
        let mut grants: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for statement in policy["Statement"].as_array().unwrap() {
            assert_eq!(statement["Effect"], "Allow");
            for action in one_or_many(&statement["Action"]) {
                grants
                    .entry(action)
                    .or_default()
                    .extend(one_or_many(&statement["Resource"]));
            }
        }
        grants
    }

    fn set(items: &[&str]) -> BTreeSet<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    /// The seed's policy is in ap-northeast-1 with a topic of that stack.
    fn golden(region: &str) {
        let seed: Value = serde_json::from_str(SEED).unwrap();
        let account = "123456789012";
        let scope = Scope::new(region, account).unwrap();
        let seed_topic = seed["Statement"][0]["Resource"][0].as_str().unwrap();
        let topic = if region == "ap-northeast-1" {
            seed_topic.to_owned()
        } else {
            scope.topic_arn("ManageBatchJob-SNSTopic-JHLYYG7AZPZI")
        };
        let queue = scope.job_queue_arn("BatchJobQueue-7049d367474b4dd");
        let job_definition =
            scope.job_definition_arn("BatchJobDefinition-74d55ec34c4643c", Some(1));
        let policy = inline_policy(
            &scope,
            &PolicyInputs {
                job_queue_arn: &queue,
                job_definition_arn: &job_definition,
                topic_arn: &topic,
            },
        );
        assert_eq!(policy["Version"], seed["Version"]);

        let ours = grants(&policy);
        let theirs = grants(&seed);
        assert_eq!(
            ours.keys().collect::<Vec<_>>(),
            theirs.keys().collect::<Vec<_>>(),
            "exactly the seed's actions"
        );
        let expected = BTreeMap::from([
            ("sns:Publish".to_owned(), set(&[&topic])),
            (
                "batch:SubmitJob".to_owned(),
                set(&[&queue, &job_definition]),
            ),
            ("batch:DescribeJobs".to_owned(), set(&["*"])),
            (
                "batch:TerminateJob".to_owned(),
                set(&[&format!("arn:aws:batch:{region}:{account}:job/*")]),
            ),
        ]);
        let rule = format!(
            "arn:aws:events:{region}:{account}:rule/StepFunctionsGetEventsForBatchJobsRule"
        );
        for (action, resources) in &ours {
            let want = match action.as_str() {
                "events:PutTargets" | "events:PutRule" | "events:DescribeRule" => set(&[&rule]),
                other => expected[other].clone(),
            };
            assert_eq!(resources, &want, "{action}");
        }
        if region == "ap-northeast-1" {
            // Same topic and EventBridge rule as the seed: only the Batch grants narrowed.
            assert_eq!(ours["sns:Publish"], theirs["sns:Publish"]);
            assert_eq!(ours["events:PutRule"], theirs["events:PutRule"]);
        }
    }

    #[test]
    fn golden_policy_in_the_seeds_region() {
        golden("ap-northeast-1");
    }

    #[test]
    fn golden_policy_in_the_samples_region() {
        golden("us-east-1");
    }

    #[test]
    fn revisionless_job_definition_covers_every_revision() {
        let scope = Scope::new("us-east-1", "123456789012").unwrap();
        let job_definition = scope.job_definition_arn("report", None);
        let policy = inline_policy(
            &scope,
            &PolicyInputs {
                job_queue_arn: &scope.job_queue_arn("q"),
                job_definition_arn: &job_definition,
                topic_arn: &scope.topic_arn("t"),
            },
        );
        assert_eq!(
            grants(&policy)["batch:SubmitJob"],
            set(&[
                "arn:aws:batch:us-east-1:123456789012:job-queue/q",
                "arn:aws:batch:us-east-1:123456789012:job-definition/report",
                "arn:aws:batch:us-east-1:123456789012:job-definition/report:*",
            ])
        );
    }

    #[test]
    fn other_partitions_in_every_built_arn() {
        let scope = Scope::new("us-gov-west-1", "123456789012").unwrap();
        let policy = inline_policy(
            &scope,
            &PolicyInputs {
                job_queue_arn: &scope.job_queue_arn("q"),
                job_definition_arn: &scope.job_definition_arn("d", Some(2)),
                topic_arn: &scope.topic_arn("t"),
            },
        );
        let g = grants(&policy);
        assert_eq!(
            g["batch:TerminateJob"],
            set(&["arn:aws-us-gov:batch:us-gov-west-1:123456789012:job/*"])
        );
        assert_eq!(
            g["events:DescribeRule"],
            set(&[
                "arn:aws-us-gov:events:us-gov-west-1:123456789012:rule/StepFunctionsGetEventsForBatchJobsRule"
            ])
        );
    }

    #[test]
    fn trust_policy_guards_against_the_confused_deputy() {
        let scope = Scope::new("eu-west-1", "210987654321").unwrap();
        let trust = trust_policy(&scope, "bn-prod-data-nightly-0123abcd");
        let expected = json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Effect": "Allow",
                "Principal": {"Service": "states.amazonaws.com"},
                "Action": "sts:AssumeRole",
                "Condition": {
                    "StringEquals": {"aws:SourceAccount": "210987654321"},
                    "ArnLike": {"aws:SourceArn": "arn:aws:states:eu-west-1:210987654321:stateMachine:bn-prod-data-nightly-0123abcd"}
                }
            }]
        });
        assert!(documents_equal(&trust, &expected));
        // As IAM hands it back: one-element arrays where we sent strings.
        let returned = json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Effect": "Allow",
                "Principal": {"Service": ["states.amazonaws.com"]},
                "Action": ["sts:AssumeRole"],
                "Condition": {
                    "StringEquals": {"aws:SourceAccount": ["210987654321"]},
                    "ArnLike": {"aws:SourceArn": "arn:aws:states:eu-west-1:210987654321:stateMachine:bn-prod-data-nightly-0123abcd"}
                }
            }]
        });
        assert!(policies_equal(&trust, &returned));
    }
}
