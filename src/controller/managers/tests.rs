//! Each manager's paths (create, already exists, adopt, conflict, drift,
//! delete) and AWS's error answers, against the SDK's own mock support
//! (`aws-smithy-mocks`): real SDK clients whose HTTP answers are scripted,
//! errors given as the bodies AWS sends, so the error mapping runs too.

use std::collections::BTreeMap;

use aws_smithy_mocks::{MockResponseInterceptor, Rule, RuleMode, create_mock_http_client, mock};
use serde_json::json;

use super::compute_environment::ComputeEnvironmentManager;
use super::job_definition::JobDefinitionManager;
use super::job_queue::JobQueueManager;
use super::role::StateMachineRoleManager as RoleManager;
use super::state_machine::StateMachineManager;
use super::topic::TopicManager;
use super::{Judge, Removal, apply, remove};
use crate::aws::RegionClients;
use crate::controller::report::Report;
use crate::desired::{Desired, Identity, Wanted};

const ACCOUNT: &str = "123456789012";

macro_rules! client {
    ($sdk:ident, $rules:expr) => {{
        let mut mock = MockResponseInterceptor::new().rule_mode(RuleMode::MatchAny);
        for rule in $rules {
            mock = mock.with_rule(rule);
        }
        $sdk::Client::from_conf(
            $sdk::Config::builder()
                .behavior_version($sdk::config::BehaviorVersion::latest())
                .region($sdk::config::Region::new("us-east-1"))
                .credentials_provider($sdk::config::Credentials::new("a", "b", None, None, "t"))
                .http_client(create_mock_http_client())
                .retry_config($sdk::config::retry::RetryConfig::disabled())
                .interceptor(mock)
                .build(),
        )
    }};
}

/// Clients of every service answering with `rules` (each rule only matches
/// its own service's operation).
fn clients(rules: &[&Rule]) -> RegionClients {
    let budget = || {
        crate::aws::budget::RegionBudget::new(
            std::sync::Arc::new(crate::aws::budget::Budget::new(
                Default::default(),
                Default::default(),
            )),
            "us-east-1",
        )
    };
    RegionClients {
        topics: crate::aws::sns::Topics::new(client!(aws_sdk_sns, rules.iter().copied()), budget()),
        roles: crate::aws::iam::Roles::new(client!(aws_sdk_iam, rules.iter().copied()), budget()),
        state_machines: crate::aws::sfn::StateMachines::new(
            client!(aws_sdk_sfn, rules.iter().copied()),
            budget(),
        ),
        batch: crate::aws::batch::Batch::new(
            client!(aws_sdk_batch, rules.iter().copied()),
            budget(),
        ),
        queues: crate::aws::sqs::Queues::new(client!(aws_sdk_sqs, rules.iter().copied()), budget()),
        rules: crate::aws::eventbridge::Rules::new(
            client!(aws_sdk_eventbridge, rules.iter().copied()),
            budget(),
        ),
    }
}

/// The sample, everything managed, one SQS subscription.
fn desired() -> Desired {
    let spec = serde_json::from_value(json!({
        "jobQueue": {"managed": {"computeEnvironment": {"managed": {
            "type": "FARGATE", "maxvCpus": 16,
            "subnets": ["subnet-1"], "securityGroupIds": ["sg-1"]}}}},
        "jobDefinition": {"managed": {"image": "busybox", "command": ["echo", "hello"],
            "platform": "FARGATE", "managedExecutionRole": true, "assignPublicIp": "ENABLED"}},
        "topic": {"managed": {"displayName": "Manage a Batch Job", "subscriptions": [
            {"protocol": "sqs", "endpoint": "arn:aws:sqs:us-east-1:123456789012:q"}]}},
    }))
    .expect("spec");
    Desired::new(&spec, &identity()).expect("desired")
}

fn identity() -> Identity {
    Identity {
        cluster: "test".into(),
        namespace: "data".into(),
        name: "report".into(),
        uid: "uid-1".into(),
        region: "us-east-1".into(),
        account: ACCOUNT.into(),
    }
}

fn judge(desired: &Desired, adopt: bool, spec_changed: bool) -> Judge<'_> {
    Judge {
        owner: &desired.owner,
        adopt,
        spec_changed,
    }
}

/// Tags of another object of the same cluster.
fn foreign_tags() -> BTreeMap<String, String> {
    BTreeMap::from([
        ("batchnotify.dev/cluster".into(), "test".into()),
        ("batchnotify.dev/namespace".into(), "other".into()),
        ("batchnotify.dev/name".into(), "theirs".into()),
        ("batchnotify.dev/uid".into(), "uid-2".into()),
    ])
}

fn query_error(code: &str, message: &str) -> String {
    format!(
        "<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>r</RequestId></ErrorResponse>"
    )
}

fn json_error(code: &str, message: &str) -> String {
    json!({"__type": code, "message": message}).to_string()
}

// ------------------------------------------------------------------ topic

fn sns_tags(tags: &BTreeMap<String, String>) -> Vec<aws_sdk_sns::types::Tag> {
    tags.iter()
        .map(|(k, v)| {
            aws_sdk_sns::types::Tag::builder()
                .key(k)
                .value(v)
                .build()
                .expect("tag")
        })
        .collect()
}

#[tokio::test]
async fn a_new_topic_is_created_with_its_tags_and_subscriptions_without_observing() {
    let d = desired();
    let Wanted::Managed(topic) = &d.topic else {
        panic!("managed")
    };
    let arn = topic.meta.arn.clone();
    let create = mock!(aws_sdk_sns::Client::create_topic)
        .match_requests(|r| r.tags().len() == 4 && r.attributes().is_some())
        .then_output(move || {
            aws_sdk_sns::operation::create_topic::CreateTopicOutput::builder()
                .topic_arn(arn.clone())
                .build()
        });
    let tags = sns_tags(&topic.meta.tags);
    let list_tags = mock!(aws_sdk_sns::Client::list_tags_for_resource).then_output(move || {
        aws_sdk_sns::operation::list_tags_for_resource::ListTagsForResourceOutput::builder()
            .set_tags(Some(tags.clone()))
            .build()
    });
    let subscribe = mock!(aws_sdk_sns::Client::subscribe)
        .match_requests(|r| r.protocol() == Some("sqs"))
        .then_output(|| aws_sdk_sns::operation::subscribe::SubscribeOutput::builder().build());
    let observe = mock!(aws_sdk_sns::Client::get_topic_attributes).then_output(|| {
        aws_sdk_sns::operation::get_topic_attributes::GetTopicAttributesOutput::builder().build()
    });
    let aws = clients(&[&create, &list_tags, &subscribe, &observe]);
    let mut report = Report::default();
    let applied = apply::<TopicManager>(&aws, topic, false, &judge(&d, false, true), &mut report)
        .await
        .expect("created");
    assert_eq!(applied.arn, topic.meta.arn);
    assert!(applied.observed.is_none());
    assert_eq!(report.created, [format!("SNS topic {}", topic.meta.name)]);
    assert_eq!(
        (
            create.num_calls(),
            subscribe.num_calls(),
            observe.num_calls()
        ),
        (1, 1, 0)
    );
}

#[tokio::test]
async fn a_topic_of_another_object_is_a_conflict_and_left_untouched() {
    let d = desired();
    let Wanted::Managed(topic) = &d.topic else {
        panic!("managed")
    };
    // AWS: same name, other tags → InvalidParameter.
    let create = mock!(aws_sdk_sns::Client::create_topic)
        .sequence()
        .http_status(
            400,
            Some(query_error(
                "InvalidParameter",
                "Invalid parameter: Tags Reason: Topic already exists with different tags",
            )),
        )
        .build();
    let observe = mock!(aws_sdk_sns::Client::get_topic_attributes).then_output(|| {
        aws_sdk_sns::operation::get_topic_attributes::GetTopicAttributesOutput::builder().build()
    });
    let subscriptions = mock!(aws_sdk_sns::Client::list_subscriptions_by_topic).then_output(|| {
        aws_sdk_sns::operation::list_subscriptions_by_topic::ListSubscriptionsByTopicOutput::builder()
            .build()
    });
    let tags = sns_tags(&foreign_tags());
    let list_tags = mock!(aws_sdk_sns::Client::list_tags_for_resource).then_output(move || {
        aws_sdk_sns::operation::list_tags_for_resource::ListTagsForResourceOutput::builder()
            .set_tags(Some(tags.clone()))
            .build()
    });
    let tag = mock!(aws_sdk_sns::Client::tag_resource)
        .then_output(|| aws_sdk_sns::operation::tag_resource::TagResourceOutput::builder().build());
    let aws = clients(&[&create, &observe, &subscriptions, &list_tags, &tag]);
    let mut report = Report::default();
    // Even with the adopt annotation: another object's topic is never taken.
    let problem = apply::<TopicManager>(&aws, topic, false, &judge(&d, true, true), &mut report)
        .await
        .err()
        .expect("a conflict");
    assert_eq!(problem.reason, "OwnershipConflict");
    assert!(problem.stalled());
    assert!(
        problem
            .message
            .contains("belongs to BatchNotification other/theirs of cluster test"),
        "{}",
        problem.message
    );
    assert_eq!(tag.num_calls(), 0);
}

#[tokio::test]
async fn a_known_topic_with_drift_is_put_back_and_reported_as_drift() {
    let d = desired();
    let Wanted::Managed(topic) = &d.topic else {
        panic!("managed")
    };
    let observe = mock!(aws_sdk_sns::Client::get_topic_attributes).then_output(|| {
        aws_sdk_sns::operation::get_topic_attributes::GetTopicAttributesOutput::builder()
            .attributes("DisplayName", "changed by hand")
            .build()
    });
    let subscriptions = mock!(aws_sdk_sns::Client::list_subscriptions_by_topic).then_output(|| {
        aws_sdk_sns::operation::list_subscriptions_by_topic::ListSubscriptionsByTopicOutput::builder()
            .subscriptions(
                aws_sdk_sns::types::Subscription::builder()
                    .subscription_arn("arn:aws:sns:us-east-1:123456789012:t:1")
                    .protocol("sqs")
                    .endpoint("arn:aws:sqs:us-east-1:123456789012:q")
                    .build(),
            )
            .build()
    });
    let set = mock!(aws_sdk_sns::Client::set_topic_attributes)
        .match_requests(|r| r.attribute_value() == Some("Manage a Batch Job"))
        .then_output(|| {
            aws_sdk_sns::operation::set_topic_attributes::SetTopicAttributesOutput::builder()
                .build()
        });
    let list_tags = mock!(aws_sdk_sns::Client::list_tags_for_resource).then_output(|| {
        aws_sdk_sns::operation::list_tags_for_resource::ListTagsForResourceOutput::builder().build()
    });
    let aws = clients(&[&observe, &subscriptions, &set, &list_tags]);
    let mut report = Report::default();
    let applied = apply::<TopicManager>(&aws, topic, true, &judge(&d, false, false), &mut report)
        .await
        .expect("put back");
    assert_eq!(set.num_calls(), 1);
    // Known: ownership is not read again.
    assert_eq!(list_tags.num_calls(), 0);
    assert_eq!(report.drift.len(), 1);
    assert_eq!(report.drift[0].0, "SetTopicAttributes");
    assert!(report.drift[0].1.ends_with("DisplayName put back"));
    let status = super::topic::subscription_status(topic, applied.observed.as_ref());
    assert_eq!(status[0].state, "Confirmed");
}

// ------------------------------------------------------------------ role

fn iam_role(name: &str, trust: &str, tags: &BTreeMap<String, String>) -> aws_sdk_iam::types::Role {
    aws_sdk_iam::types::Role::builder()
        .path("/")
        .role_name(name)
        .role_id("AROA")
        .arn(format!("arn:aws:iam::{ACCOUNT}:role/{name}"))
        .create_date(aws_smithy_types::DateTime::from_secs(0))
        .assume_role_policy_document(trust)
        .set_tags(Some(
            tags.iter()
                .map(|(k, v)| {
                    aws_sdk_iam::types::Tag::builder()
                        .key(k)
                        .value(v)
                        .build()
                        .expect("tag")
                })
                .collect(),
        ))
        .build()
        .expect("role")
}

/// What IAM hands back: the document URL-encoded, one-element lists as
/// scalars where it was sent as one (IAM keeps the author's form; a policy
/// written by hand or by another tool often has scalars).
fn as_iam_returns(policy: &serde_json::Value) -> String {
    let mut policy = policy.clone();
    for statement in policy["Statement"].as_array_mut().expect("statements") {
        for key in ["Action", "Resource"] {
            if let Some(list) = statement[key].as_array()
                && list.len() == 1
            {
                statement[key] = list[0].clone();
            }
        }
    }
    percent_encoding::utf8_percent_encode(&policy.to_string(), percent_encoding::NON_ALPHANUMERIC)
        .to_string()
}

fn role_rules(
    d: &Desired,
    tags: BTreeMap<String, String>,
    policy: String,
) -> (Rule, Rule, Rule, Rule) {
    let role = &d.role;
    let already = mock!(aws_sdk_iam::Client::create_role)
        .sequence()
        .http_status(
            409,
            Some(query_error(
                "EntityAlreadyExists",
                "Role with name x already exists.",
            )),
        )
        .build();
    let (name, trust) = (role.meta.name.clone(), as_iam_returns(&role.trust));
    let get = mock!(aws_sdk_iam::Client::get_role).then_output(move || {
        aws_sdk_iam::operation::get_role::GetRoleOutput::builder()
            .role(iam_role(&name, &trust, &tags))
            .build()
    });
    let (name, policy_name) = (role.meta.name.clone(), role.policy_name.clone());
    let get_policy = mock!(aws_sdk_iam::Client::get_role_policy).then_output(move || {
        aws_sdk_iam::operation::get_role_policy::GetRolePolicyOutput::builder()
            .role_name(&name)
            .policy_name(&policy_name)
            .policy_document(&policy)
            .build()
            .expect("policy")
    });
    let put = mock!(aws_sdk_iam::Client::put_role_policy).then_output(|| {
        aws_sdk_iam::operation::put_role_policy::PutRolePolicyOutput::builder().build()
    });
    (already, get, get_policy, put)
}

#[tokio::test]
async fn a_policy_as_iam_returns_it_is_no_drift() {
    let d = desired();
    let policy = as_iam_returns(&d.role.policy);
    assert!(policy.contains("%22sns%3APublish%22"), "{policy}");
    let (_, get, get_policy, put) = role_rules(&d, d.tags.clone(), policy);
    let aws = clients(&[&get, &get_policy, &put]);
    let mut report = Report::default();
    apply::<RoleManager>(&aws, &d.role, true, &judge(&d, false, false), &mut report)
        .await
        .expect("no change");
    assert_eq!(put.num_calls(), 0, "{report:?}");
    assert!(report.drift.is_empty() && report.updated.is_empty());
}

#[tokio::test]
async fn an_inline_policy_changed_by_hand_is_put_back_as_drift_and_a_spec_change_is_an_update() {
    for (spec_changed, drift) in [(false, true), (true, false)] {
        let d = desired();
        let tampered = as_iam_returns(&json!({"Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}));
        let (_, get, get_policy, put) = role_rules(&d, d.tags.clone(), tampered);
        let aws = clients(&[&get, &get_policy, &put]);
        let mut report = Report::default();
        apply::<RoleManager>(
            &aws,
            &d.role,
            true,
            &judge(&d, false, spec_changed),
            &mut report,
        )
        .await
        .expect("put back");
        assert_eq!(put.num_calls(), 1);
        assert_eq!(report.drift.len(), usize::from(drift), "{report:?}");
        assert_eq!(report.updated.len(), usize::from(!drift), "{report:?}");
        if drift {
            assert_eq!(report.drift[0].0, "PutRolePolicy");
            assert!(report.drift[0].1.contains("inline policy"));
        }
    }
}

#[tokio::test]
async fn an_untagged_role_is_adopted_only_when_asked() {
    for adopt in [false, true] {
        let d = desired();
        let (already, get, get_policy, put) =
            role_rules(&d, BTreeMap::new(), as_iam_returns(&d.role.policy));
        let tag = mock!(aws_sdk_iam::Client::tag_role)
            .then_output(|| aws_sdk_iam::operation::tag_role::TagRoleOutput::builder().build());
        let aws = clients(&[&already, &get, &get_policy, &put, &tag]);
        let mut report = Report::default();
        let result =
            apply::<RoleManager>(&aws, &d.role, false, &judge(&d, adopt, true), &mut report).await;
        if adopt {
            result.expect("adopted");
            assert_eq!(tag.num_calls(), 1);
            assert_eq!(report.adopted.len(), 1);
        } else {
            let p = result.err().expect("conflict");
            assert_eq!(p.reason, "OwnershipConflict");
            assert!(p.message.contains("batchnotify.dev/adopt"), "{}", p.message);
            assert_eq!(tag.num_calls(), 0);
        }
    }
}

// ------------------------------------------------------------------ state machine

#[tokio::test]
async fn a_role_not_yet_assumable_is_role_propagating_and_any_other_denial_is_access_denied() {
    let cases = [
        (
            "Neither the global service principal states.amazonaws.com, nor the regional one is authorized to assume the provided role.",
            "RolePropagating",
            false,
        ),
        (
            "User: arn:aws:iam::123456789012:user/op is not authorized to perform: states:CreateStateMachine",
            "AwsAccessDenied",
            true,
        ),
    ];
    for (message, reason, stalled) in cases {
        let d = desired();
        let create = mock!(aws_sdk_sfn::Client::create_state_machine)
            .sequence()
            .http_status(400, Some(json_error("AccessDeniedException", message)))
            .build();
        let aws = clients(&[&create]);
        let mut report = Report::default();
        let p = apply::<StateMachineManager>(
            &aws,
            &d.state_machine,
            false,
            &judge(&d, false, true),
            &mut report,
        )
        .await
        .err()
        .expect("refused");
        assert_eq!(
            (p.reason.as_str(), p.stalled()),
            (reason, stalled),
            "{}",
            p.message
        );
        assert!(p.message.contains(&d.state_machine.meta.name));
        assert!(report.created.is_empty());
    }
}

#[tokio::test]
async fn throttling_after_the_sdks_retries_is_aws_throttled() {
    let d = desired();
    let describe = mock!(aws_sdk_sfn::Client::describe_state_machine)
        .sequence()
        .http_status(
            400,
            Some(json_error("ThrottlingException", "Rate exceeded")),
        )
        .build();
    let aws = clients(&[&describe]);
    let p = apply::<StateMachineManager>(
        &aws,
        &d.state_machine,
        true,
        &judge(&d, false, false),
        &mut Report::default(),
    )
    .await
    .err()
    .expect("throttled");
    assert_eq!(p.reason, "AwsThrottled");
    assert!(!p.stalled() && p.retry.is_some());
}

fn sfn_tags(tags: BTreeMap<String, String>) -> Rule {
    mock!(aws_sdk_sfn::Client::list_tags_for_resource).then_output(move || {
        aws_sdk_sfn::operation::list_tags_for_resource::ListTagsForResourceOutput::builder()
            .set_tags(Some(
                tags.iter()
                    .map(|(k, v)| aws_sdk_sfn::types::Tag::builder().key(k).value(v).build())
                    .collect(),
            ))
            .build()
    })
}

#[tokio::test]
async fn deleting_stops_our_running_executions_first_and_never_touches_anothers_machine() {
    for ours in [true, false] {
        let d = desired();
        let tags = sfn_tags(if ours { d.tags.clone() } else { foreign_tags() });
        let running = mock!(aws_sdk_sfn::Client::list_executions).then_output(|| {
            aws_sdk_sfn::operation::list_executions::ListExecutionsOutput::builder()
                .executions(
                    aws_sdk_sfn::types::ExecutionListItem::builder()
                        .execution_arn("arn:aws:states:us-east-1:123456789012:execution:m:e1")
                        .state_machine_arn("arn:aws:states:us-east-1:123456789012:stateMachine:m")
                        .name("e1")
                        .status(aws_sdk_sfn::types::ExecutionStatus::Running)
                        .start_date(aws_smithy_types::DateTime::from_secs(0))
                        .build()
                        .expect("item"),
                )
                .build()
                .expect("executions")
        });
        let stop = mock!(aws_sdk_sfn::Client::stop_execution).then_output(|| {
            aws_sdk_sfn::operation::stop_execution::StopExecutionOutput::builder()
                .stop_date(aws_smithy_types::DateTime::from_secs(1))
                .build()
                .expect("stop")
        });
        let delete = mock!(aws_sdk_sfn::Client::delete_state_machine).then_output(|| {
            aws_sdk_sfn::operation::delete_state_machine::DeleteStateMachineOutput::builder()
                .build()
        });
        let aws = clients(&[&tags, &running, &stop, &delete]);
        let mut report = Report::default();
        let removal = remove::<StateMachineManager>(
            &aws,
            &d.state_machine,
            &judge(&d, true, false),
            &mut report,
        )
        .await
        .expect("removed");
        assert_eq!(removal, Removal::Done);
        assert_eq!(delete.num_calls(), usize::from(ours));
        assert_eq!(report.deleted.len(), usize::from(ours));
    }
}

// ------------------------------------------------------------------ Batch

fn compute_environment(
    d: &Desired,
    status: &str,
    max: i32,
) -> aws_sdk_batch::types::ComputeEnvironmentDetail {
    let Some(Wanted::Managed(ce)) = &d.compute_environment else {
        panic!("managed")
    };
    aws_sdk_batch::types::ComputeEnvironmentDetail::builder()
        .compute_environment_name(&ce.meta.name)
        .compute_environment_arn(&ce.meta.arn)
        .status(aws_sdk_batch::types::CeStatus::from(status))
        .status_reason("no subnet subnet-1")
        .state(aws_sdk_batch::types::CeState::Enabled)
        .set_tags(Some(ce.meta.tags.clone().into_iter().collect()))
        .compute_resources(
            aws_sdk_batch::types::ComputeResource::builder()
                .r#type(aws_sdk_batch::types::CrType::Fargate)
                .maxv_cpus(max)
                .subnets("subnet-1")
                .security_group_ids("sg-1")
                .build(),
        )
        .build()
}

#[tokio::test]
async fn a_compute_environment_waits_while_creating_stalls_when_invalid_and_updates_when_changed() {
    let cases = [
        ("CREATING", 16, Some("ComputeEnvironmentNotReady"), 0),
        ("INVALID", 16, Some("ComputeEnvironmentInvalid"), 0),
        ("VALID", 4, Some("ComputeEnvironmentNotReady"), 1),
        ("VALID", 16, None, 0),
    ];
    for (status, max, reason, updates) in cases {
        let d = desired();
        let Some(Wanted::Managed(ce)) = &d.compute_environment else {
            panic!("managed")
        };
        let detail = compute_environment(&d, status, max);
        let describe = mock!(aws_sdk_batch::Client::describe_compute_environments).then_output(
            move || {
                aws_sdk_batch::operation::describe_compute_environments::DescribeComputeEnvironmentsOutput::builder()
                    .compute_environments(detail.clone())
                    .build()
            },
        );
        let update = mock!(aws_sdk_batch::Client::update_compute_environment)
            .match_requests(|r| r.compute_resources().and_then(|c| c.maxv_cpus()) == Some(16))
            .then_output(|| {
                aws_sdk_batch::operation::update_compute_environment::UpdateComputeEnvironmentOutput::builder()
                    .build()
            });
        let aws = clients(&[&describe, &update]);
        let result = apply::<ComputeEnvironmentManager>(
            &aws,
            ce,
            true,
            &judge(&d, false, true),
            &mut Report::default(),
        )
        .await;
        assert_eq!(
            result.as_ref().err().map(|p| p.reason.as_str()),
            reason,
            "{status}"
        );
        if status == "INVALID" {
            let p = result.err().expect("invalid");
            assert!(
                p.stalled() && p.message.contains("no subnet subnet-1"),
                "{}",
                p.message
            );
        }
        assert_eq!(update.num_calls(), updates, "{status} {max}");
    }
}

#[tokio::test]
async fn a_new_compute_environment_is_created_and_waited_for() {
    let d = desired();
    let Some(Wanted::Managed(ce)) = &d.compute_environment else {
        panic!("managed")
    };
    let describe = mock!(aws_sdk_batch::Client::describe_compute_environments).then_output(|| {
        aws_sdk_batch::operation::describe_compute_environments::DescribeComputeEnvironmentsOutput::builder()
            .build()
    });
    let arn = ce.meta.arn.clone();
    let create = mock!(aws_sdk_batch::Client::create_compute_environment).then_output(move || {
        aws_sdk_batch::operation::create_compute_environment::CreateComputeEnvironmentOutput::builder()
            .compute_environment_arn(arn.clone())
            .build()
    });
    let aws = clients(&[&describe, &create]);
    let mut report = Report::default();
    let p =
        apply::<ComputeEnvironmentManager>(&aws, ce, false, &judge(&d, false, true), &mut report)
            .await
            .err()
            .expect("creating");
    assert_eq!(p.reason, "ComputeEnvironmentNotReady");
    assert_eq!(create.num_calls(), 1);
    assert_eq!(report.created.len(), 1);
}

#[tokio::test]
async fn a_job_queue_in_use_is_deleted_later() {
    let d = desired();
    let Wanted::Managed(queue) = &d.job_queue else {
        panic!("managed")
    };
    let detail = aws_sdk_batch::types::JobQueueDetail::builder()
        .job_queue_name(&queue.meta.name)
        .job_queue_arn(&queue.meta.arn)
        .state(aws_sdk_batch::types::JqState::Disabled)
        .status(aws_sdk_batch::types::JqStatus::Updating)
        .priority(1)
        .set_tags(Some(queue.meta.tags.clone().into_iter().collect()))
        .build();
    let describe = mock!(aws_sdk_batch::Client::describe_job_queues).then_output(move || {
        aws_sdk_batch::operation::describe_job_queues::DescribeJobQueuesOutput::builder()
            .job_queues(detail.clone())
            .build()
    });
    let delete = mock!(aws_sdk_batch::Client::delete_job_queue).then_output(|| {
        aws_sdk_batch::operation::delete_job_queue::DeleteJobQueueOutput::builder().build()
    });
    let aws = clients(&[&describe, &delete]);
    let mut report = Report::default();
    let removal = remove::<JobQueueManager>(&aws, queue, &judge(&d, false, false), &mut report)
        .await
        .expect("pending");
    assert_eq!(removal, Removal::Pending);
    assert_eq!(
        delete.num_calls(),
        0,
        "DISABLED but still UPDATING: not yet"
    );
    assert!(report.deleted.is_empty());
}

fn job_definition(
    d: &Desired,
    revision: i32,
    tags: BTreeMap<String, String>,
) -> aws_sdk_batch::types::JobDefinition {
    let Wanted::Managed(def) = &d.job_definition else {
        panic!("managed")
    };
    aws_sdk_batch::types::JobDefinition::builder()
        .job_definition_name(&def.meta.name)
        .job_definition_arn(format!("{}:{revision}", def.meta.arn))
        .revision(revision)
        .status("ACTIVE")
        .r#type("container")
        .set_tags(Some(tags.into_iter().collect()))
        .build()
}

#[tokio::test]
async fn a_job_definition_registers_a_revision_only_when_its_fingerprint_is_missing() {
    for current in [false, true] {
        let d = desired();
        let Wanted::Managed(def) = &d.job_definition else {
            panic!("managed")
        };
        let mut old_tags = def.meta.tags.clone();
        old_tags.insert(crate::desired::FINGERPRINT_TAG.into(), "0000".into());
        let mut revisions = vec![job_definition(&d, 1, old_tags)];
        if current {
            revisions = vec![job_definition(&d, 2, def.meta.tags.clone())];
        }
        let describe = mock!(aws_sdk_batch::Client::describe_job_definitions).then_output(move || {
            aws_sdk_batch::operation::describe_job_definitions::DescribeJobDefinitionsOutput::builder()
                .set_job_definitions(Some(revisions.clone()))
                .build()
        });
        let arn = format!("{}:2", def.meta.arn);
        let register = mock!(aws_sdk_batch::Client::register_job_definition).then_output(move || {
            aws_sdk_batch::operation::register_job_definition::RegisterJobDefinitionOutput::builder()
                .job_definition_name("x")
                .job_definition_arn(arn.clone())
                .revision(2)
                .build()
        });
        let deregister = mock!(aws_sdk_batch::Client::deregister_job_definition)
            .match_requests(|r| r.job_definition().is_some_and(|a| a.ends_with(":1")))
            .then_output(|| {
                aws_sdk_batch::operation::deregister_job_definition::DeregisterJobDefinitionOutput::builder()
                    .build()
            });
        let aws = clients(&[&describe, &register, &deregister]);
        let mut report = Report::default();
        let applied =
            apply::<JobDefinitionManager>(&aws, def, true, &judge(&d, false, true), &mut report)
                .await
                .expect("applied");
        assert_eq!(applied.arn, format!("{}:2", def.meta.arn));
        let expected = if current { (0, 0) } else { (1, 1) };
        assert_eq!((register.num_calls(), deregister.num_calls()), expected);
    }
}

// ------------------------------------------------------------------ event mode's route

mod route {
    use super::*;
    use crate::controller::managers::Delta;
    use crate::controller::managers::Manager;
    use crate::controller::managers::route::{
        EventQueueManager, EventRuleManager, ObservedQueue, ObservedRoute,
    };
    use crate::desired::Owner;
    use crate::desired::events::{Route, TARGET_ID, VISIBILITY};

    fn route() -> Route {
        let scope = crate::desired::Scope::new("us-east-1", ACCOUNT).expect("scope");
        Route::new("test", &scope)
    }

    fn cluster_judge(owner: &Owner) -> Judge<'_> {
        Judge {
            owner,
            adopt: true,
            spec_changed: false,
        }
    }

    fn observed_rule(r: &Route, enabled: bool, targets: bool) -> ObservedRoute {
        ObservedRoute {
            rule: crate::aws::eventbridge::ObservedRule {
                arn: r.rule.meta.arn.clone(),
                event_pattern: Some(r.rule.pattern.to_string()),
                enabled,
            },
            targets: if targets {
                vec![(TARGET_ID.to_string(), r.rule.target_arn.clone())]
            } else {
                Vec::new()
            },
        }
    }

    fn eb_tags(tags: &BTreeMap<String, String>) -> Vec<aws_sdk_eventbridge::types::Tag> {
        tags.iter()
            .map(|(k, v)| {
                aws_sdk_eventbridge::types::Tag::builder()
                    .key(k)
                    .value(v)
                    .build()
                    .expect("tag")
            })
            .collect()
    }

    #[test]
    fn the_rule_compares_its_state_pattern_and_target() {
        let r = route();
        assert!(EventRuleManager::compare(&r.rule, &observed_rule(&r, true, true)).is_empty());
        let disabled = EventRuleManager::compare(&r.rule, &observed_rule(&r, false, true));
        assert!(disabled.has("eventPattern") && !disabled.has("targets"));
        let untargeted = EventRuleManager::compare(&r.rule, &observed_rule(&r, true, false));
        assert_eq!(untargeted.0.len(), 1);
        assert_eq!(untargeted.0[0].operation, "PutTargets");
        let mut other = observed_rule(&r, true, true);
        other.rule.event_pattern = Some(r#"{"source":["aws.batch"]}"#.into());
        assert!(EventRuleManager::compare(&r.rule, &other).has("eventPattern"));
    }

    #[test]
    fn the_queue_compares_its_attributes_by_meaning() {
        let r = route();
        let mut observed = ObservedQueue {
            url: "https://sqs/q".into(),
            attributes: r.queue.attributes.clone(),
        };
        assert_eq!(
            EventQueueManager::compare(&r.queue, &observed),
            Delta::default()
        );
        // The same policy, reformatted by SQS: no change.
        let policy: serde_json::Value =
            serde_json::from_str(&r.queue.attributes["Policy"]).expect("policy");
        observed.attributes.insert(
            "Policy".into(),
            serde_json::to_string_pretty(&policy).expect("json"),
        );
        assert!(EventQueueManager::compare(&r.queue, &observed).is_empty());
        observed.attributes.insert(VISIBILITY.into(), "5".into());
        assert!(EventQueueManager::compare(&r.queue, &observed).has("attributes"));
    }

    #[test]
    fn the_cluster_owns_the_route_and_nothing_is_adopted() {
        let r = route();
        let owner = Owner::cluster("test");
        let judge = cluster_judge(&owner);
        let ours = r.rule.meta.tags.clone();
        assert_eq!(
            EventRuleManager::claim(&judge, &r.rule, "rule", &ours).ok(),
            Some(false)
        );
        assert!(EventQueueManager::ours(&judge, &r.queue, &ours));
        // Untagged, or another cluster's: a conflict even with adopt set.
        for tags in [
            BTreeMap::new(),
            BTreeMap::from([("batchnotify.dev/cluster".to_string(), "other".to_string())]),
        ] {
            let problem = EventQueueManager::claim(&judge, &r.queue, "SQS queue q", &tags)
                .expect_err("not ours");
            assert_eq!(problem.reason, "OwnershipConflict");
            assert!(problem.message.contains("without this cluster's tag"));
            assert!(!EventRuleManager::ours(&judge, &r.rule, &tags));
        }
    }

    #[tokio::test]
    async fn a_new_route_is_the_queue_then_the_rule_with_its_target() {
        let r = route();
        let no_queue = mock!(aws_sdk_sqs::Client::get_queue_url)
            .sequence()
            .http_status(
                400,
                Some(json_error(
                    "QueueDoesNotExist",
                    "The specified queue does not exist.",
                )),
            )
            .build();
        let create_queue = mock!(aws_sdk_sqs::Client::create_queue)
            .match_requests(|q| q.tags().is_some_and(|t| t.len() == 2))
            .then_output(|| {
                aws_sdk_sqs::operation::create_queue::CreateQueueOutput::builder()
                    .queue_url("https://sqs/q")
                    .build()
            });
        let no_rule = mock!(aws_sdk_eventbridge::Client::describe_rule)
            .sequence()
            .http_status(
                400,
                Some(json_error(
                    "ResourceNotFoundException",
                    "Rule does not exist.",
                )),
            )
            .build();
        let put_rule = mock!(aws_sdk_eventbridge::Client::put_rule)
            .match_requests(|p| p.tags().len() == 2 && p.event_pattern().is_some())
            .then_output(|| {
                aws_sdk_eventbridge::operation::put_rule::PutRuleOutput::builder()
                    .rule_arn("arn:aws:events:us-east-1:123456789012:rule/bn-test-executions")
                    .build()
            });
        let target = r.rule.target_arn.clone();
        let put_targets = mock!(aws_sdk_eventbridge::Client::put_targets)
            .match_requests(move |p| p.targets().iter().any(|t| t.arn() == target))
            .then_output(|| {
                aws_sdk_eventbridge::operation::put_targets::PutTargetsOutput::builder().build()
            });
        let aws = clients(&[&no_queue, &create_queue, &no_rule, &put_rule, &put_targets]);
        let owner = Owner::cluster("test");
        let mut report = Report::default();
        apply::<EventQueueManager>(&aws, &r.queue, false, &cluster_judge(&owner), &mut report)
            .await
            .expect("queue");
        apply::<EventRuleManager>(&aws, &r.rule, false, &cluster_judge(&owner), &mut report)
            .await
            .expect("rule");
        assert_eq!(
            report.created,
            [
                "SQS queue bn-test-executions",
                "EventBridge rule bn-test-executions"
            ]
        );
        assert_eq!(
            (
                create_queue.num_calls(),
                put_rule.num_calls(),
                put_targets.num_calls()
            ),
            (1, 1, 1)
        );
    }

    #[tokio::test]
    async fn a_rule_of_another_cluster_is_left_untouched() {
        let r = route();
        let arn = r.rule.meta.arn.clone();
        let describe = mock!(aws_sdk_eventbridge::Client::describe_rule).then_output(move || {
            aws_sdk_eventbridge::operation::describe_rule::DescribeRuleOutput::builder()
                .arn(arn.clone())
                .state(aws_sdk_eventbridge::types::RuleState::Enabled)
                .build()
        });
        let targets = mock!(aws_sdk_eventbridge::Client::list_targets_by_rule).then_output(|| {
            aws_sdk_eventbridge::operation::list_targets_by_rule::ListTargetsByRuleOutput::builder()
                .build()
        });
        let tags = eb_tags(&BTreeMap::from([(
            "batchnotify.dev/cluster".to_string(),
            "other".to_string(),
        )]));
        let list_tags = mock!(aws_sdk_eventbridge::Client::list_tags_for_resource).then_output(
            move || {
                aws_sdk_eventbridge::operation::list_tags_for_resource::ListTagsForResourceOutput::builder()
                    .set_tags(Some(tags.clone()))
                    .build()
            },
        );
        let put_rule = mock!(aws_sdk_eventbridge::Client::put_rule).then_output(|| {
            aws_sdk_eventbridge::operation::put_rule::PutRuleOutput::builder().build()
        });
        let delete = mock!(aws_sdk_eventbridge::Client::delete_rule).then_output(|| {
            aws_sdk_eventbridge::operation::delete_rule::DeleteRuleOutput::builder().build()
        });
        let aws = clients(&[&describe, &targets, &list_tags, &put_rule, &delete]);
        let owner = Owner::cluster("test");
        let mut report = Report::default();
        let problem =
            apply::<EventRuleManager>(&aws, &r.rule, false, &cluster_judge(&owner), &mut report)
                .await
                .err()
                .expect("a conflict");
        assert!(problem.stalled(), "{problem:?}");
        let removal =
            remove::<EventRuleManager>(&aws, &r.rule, &cluster_judge(&owner), &mut report)
                .await
                .expect("remove");
        assert_eq!(removal, Removal::Done);
        assert_eq!((put_rule.num_calls(), delete.num_calls()), (0, 0));
        assert!(report.deleted.is_empty());
    }

    #[tokio::test]
    async fn a_known_rule_that_lost_its_target_gets_it_back_as_drift() {
        let r = route();
        let arn = r.rule.meta.arn.clone();
        let pattern = r.rule.pattern.to_string();
        let describe = mock!(aws_sdk_eventbridge::Client::describe_rule).then_output(move || {
            aws_sdk_eventbridge::operation::describe_rule::DescribeRuleOutput::builder()
                .arn(arn.clone())
                .event_pattern(pattern.clone())
                .state(aws_sdk_eventbridge::types::RuleState::Enabled)
                .build()
        });
        let targets = mock!(aws_sdk_eventbridge::Client::list_targets_by_rule).then_output(|| {
            aws_sdk_eventbridge::operation::list_targets_by_rule::ListTargetsByRuleOutput::builder()
                .build()
        });
        let put_rule = mock!(aws_sdk_eventbridge::Client::put_rule).then_output(|| {
            aws_sdk_eventbridge::operation::put_rule::PutRuleOutput::builder().build()
        });
        let put_targets = mock!(aws_sdk_eventbridge::Client::put_targets).then_output(|| {
            aws_sdk_eventbridge::operation::put_targets::PutTargetsOutput::builder().build()
        });
        let aws = clients(&[&describe, &targets, &put_rule, &put_targets]);
        let owner = Owner::cluster("test");
        let mut report = Report::default();
        apply::<EventRuleManager>(&aws, &r.rule, true, &cluster_judge(&owner), &mut report)
            .await
            .expect("rule");
        assert_eq!((put_rule.num_calls(), put_targets.num_calls()), (0, 1));
        assert_eq!(report.drift.len(), 1, "{:?}", report.drift);
        assert_eq!(report.drift[0].0, "PutTargets");
    }

    #[tokio::test]
    async fn a_changed_queue_attribute_is_set_back_alone() {
        let r = route();
        let url = mock!(aws_sdk_sqs::Client::get_queue_url).then_output(|| {
            aws_sdk_sqs::operation::get_queue_url::GetQueueUrlOutput::builder()
                .queue_url("https://sqs/q")
                .build()
        });
        let mut attributes = r.queue.attributes.clone();
        attributes.insert(VISIBILITY.into(), "5".into());
        let get = mock!(aws_sdk_sqs::Client::get_queue_attributes).then_output(move || {
            let mut out =
                aws_sdk_sqs::operation::get_queue_attributes::GetQueueAttributesOutput::builder();
            for (k, v) in &attributes {
                out = out.attributes(aws_sdk_sqs::types::QueueAttributeName::from(k.as_str()), v);
            }
            out.build()
        });
        let set = mock!(aws_sdk_sqs::Client::set_queue_attributes)
            .match_requests(|s| {
                s.attributes().is_some_and(|a| {
                    a.len() == 1
                        && a.get(&aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout)
                            == Some(&"60".to_string())
                })
            })
            .then_output(|| {
                aws_sdk_sqs::operation::set_queue_attributes::SetQueueAttributesOutput::builder()
                    .build()
            });
        let aws = clients(&[&url, &get, &set]);
        let owner = Owner::cluster("test");
        let mut report = Report::default();
        let applied =
            apply::<EventQueueManager>(&aws, &r.queue, true, &cluster_judge(&owner), &mut report)
                .await
                .expect("queue");
        assert_eq!(
            applied.observed.map(|o| o.url).as_deref(),
            Some("https://sqs/q")
        );
        assert_eq!(set.num_calls(), 1);
        assert_eq!(report.drift[0].0, "SetQueueAttributes");
    }

    #[tokio::test]
    async fn our_rule_is_deleted_after_its_targets() {
        let r = route();
        let arn = r.rule.meta.arn.clone();
        let describe = mock!(aws_sdk_eventbridge::Client::describe_rule).then_output(move || {
            aws_sdk_eventbridge::operation::describe_rule::DescribeRuleOutput::builder()
                .arn(arn.clone())
                .build()
        });
        let tags = eb_tags(&r.rule.meta.tags);
        let list_tags = mock!(aws_sdk_eventbridge::Client::list_tags_for_resource).then_output(
            move || {
                aws_sdk_eventbridge::operation::list_tags_for_resource::ListTagsForResourceOutput::builder()
                    .set_tags(Some(tags.clone()))
                    .build()
            },
        );
        let queue = r.rule.target_arn.clone();
        let targets = mock!(aws_sdk_eventbridge::Client::list_targets_by_rule).then_output(
            move || {
                aws_sdk_eventbridge::operation::list_targets_by_rule::ListTargetsByRuleOutput::builder()
                    .targets(
                        aws_sdk_eventbridge::types::Target::builder()
                            .id(TARGET_ID)
                            .arn(queue.clone())
                            .build()
                            .expect("target"),
                    )
                    .build()
            },
        );
        let remove_targets = mock!(aws_sdk_eventbridge::Client::remove_targets)
            .match_requests(|r| r.ids() == [TARGET_ID])
            .then_output(|| {
                aws_sdk_eventbridge::operation::remove_targets::RemoveTargetsOutput::builder()
                    .build()
            });
        let delete = mock!(aws_sdk_eventbridge::Client::delete_rule).then_output(|| {
            aws_sdk_eventbridge::operation::delete_rule::DeleteRuleOutput::builder().build()
        });
        let aws = clients(&[&describe, &list_tags, &targets, &remove_targets, &delete]);
        let owner = Owner::cluster("test");
        let mut report = Report::default();
        remove::<EventRuleManager>(&aws, &r.rule, &cluster_judge(&owner), &mut report)
            .await
            .expect("removed");
        assert_eq!((remove_targets.num_calls(), delete.num_calls()), (1, 1));
        assert_eq!(report.deleted, ["EventBridge rule bn-test-executions"]);
    }
}
