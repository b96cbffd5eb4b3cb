//! Event mode's two AWS resources, one pair per cluster and region: the
//! EventBridge rule that matches the terminal "Step Functions Execution
//! Status Change" events of this cluster's state machines, and the SQS queue
//! it delivers them to. Pure: names, ARNs, the pattern, the queue's
//! attributes and policy, the tags.
//! https://docs.aws.amazon.com/step-functions/latest/dg/eventbridge-integration.html

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::arns::Scope;
use super::fingerprint::{fingerprint, sanitise};
use super::names::{HASH_LEN, PREFIX, STATE_MACHINE_MAX};
use super::resources::Meta;
use super::tags::CLUSTER;

/// The event's `source` and `detail-type`, as Step Functions sends them.
pub const SOURCE: &str = "aws.states";
pub const DETAIL_TYPE: &str = "Step Functions Execution Status Change";
/// The statuses an execution ends in: the only events the rule routes.
pub const TERMINAL: [&str; 4] = ["SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"];
/// The rule's target ID for the queue.
pub const TARGET_ID: &str = "batchnotify-queue";
/// Tags the pair carries besides the cluster's.
pub const COMPONENT_TAG: &str = "batchnotify.dev/component";
pub const COMPONENT: &str = "execution-events";

/// SQS: "A queue name can have up to 80 characters"; EventBridge rule names
/// are at most 64. The readable cluster part keeps within both.
/// https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_CreateQueue.html
/// https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutRule.html
const CLUSTER_PART_MAX: usize = 40;
/// A cluster name this short is never shortened inside a state machine's
/// name (each of cluster, namespace and name keeps at least a third of what
/// is left of 80 characters), so the rule can match this cluster's machines
/// by their prefix; a longer one matches every `bn-` machine of the account
/// and the operator ignores the others' events.
const CLUSTER_PREFIX_MAX: usize = (STATE_MACHINE_MAX - PREFIX.len() - 4 - HASH_LEN) / 3;

/// Attribute names of the queue, as SQS spells them.
pub const POLICY: &str = "Policy";
pub const WAIT: &str = "ReceiveMessageWaitTimeSeconds";
pub const VISIBILITY: &str = "VisibilityTimeout";
pub const RETENTION: &str = "MessageRetentionPeriod";
pub const SSE: &str = "SqsManagedSseEnabled";

/// Long polling's longest wait (SQS: 0 to 20 seconds).
pub const WAIT_SECONDS: i32 = 20;
/// The most messages one ReceiveMessage answers (SQS: 1 to 10).
pub const RECEIVE_MAX: usize = 10;
/// How long a received message stays invisible before SQS hands it out again.
pub const VISIBILITY_SECONDS: u32 = 60;
/// How long an undelivered event waits for the operator: 4 days (SQS's default;
/// at most 14). An operator down longer falls back to polling.
pub const RETENTION_SECONDS: u32 = 4 * 24 * 3600;

/// The rule and queue of one cluster in one region.
#[derive(Clone, Debug, PartialEq)]
pub struct Route {
    pub queue: EventQueue,
    pub rule: EventRule,
}

/// The SQS queue the rule delivers to.
#[derive(Clone, Debug, PartialEq)]
pub struct EventQueue {
    pub meta: Meta,
    /// Its attributes, the policy as JSON text.
    pub attributes: BTreeMap<String, String>,
}

/// The EventBridge rule, and its one target: the queue.
#[derive(Clone, Debug, PartialEq)]
pub struct EventRule {
    pub meta: Meta,
    /// The event pattern (JSON).
    pub pattern: Value,
    pub description: &'static str,
    /// The queue's ARN, target [`TARGET_ID`].
    pub target_arn: String,
}

/// The rule's description.
pub const RULE_DESCRIPTION: &str =
    "batchnotify: Step Functions execution ends, for the operator's queue";

/// The pair carries this cluster's tag: the cluster owns it, not one object.
fn owned_by_cluster(meta: &Meta, tags: &BTreeMap<String, String>) -> bool {
    tags.get(CLUSTER) == meta.tags.get(CLUSTER)
}

impl Route {
    pub fn new(cluster: &str, scope: &Scope) -> Route {
        let clean = sanitise(cluster);
        let mut part: String = clean.chars().take(CLUSTER_PART_MAX).collect();
        if part.len() < clean.len() || part != cluster {
            part = format!(
                "{}-{}",
                part.trim_end_matches('-'),
                fingerprint(&[cluster], HASH_LEN)
            );
        }
        let queue_name = format!("{PREFIX}-{part}-executions");
        let rule_name = queue_name.clone();
        let queue_arn = format!(
            "arn:{}:sqs:{}:{}:{queue_name}",
            scope.partition(),
            scope.region(),
            scope.account()
        );
        let rule_arn = scope.events_rule_arn(&rule_name);
        // The prefix of this cluster's state machines' ARNs (see names.rs:
        // `bn-<cluster>-<namespace>-<name>-<hash8>`).
        let machines = if clean.len() <= CLUSTER_PREFIX_MAX && !clean.is_empty() {
            scope.state_machine_arn(&format!("{PREFIX}-{clean}-"))
        } else {
            scope.state_machine_arn(&format!("{PREFIX}-"))
        };
        let pattern = json!({
            "source": [SOURCE],
            "detail-type": [DETAIL_TYPE],
            "detail": {
                "stateMachineArn": [{"prefix": machines}],
                "status": TERMINAL,
            }
        });
        // Only this rule may send to the queue.
        // https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-use-resource-based.html#eb-sqs-permissions
        let policy = json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Sid": "StepFunctionsEventsFromTheRule",
                "Effect": "Allow",
                "Principal": {"Service": "events.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": rule_arn}}
            }]
        });
        let attributes = BTreeMap::from([
            (POLICY.to_string(), policy.to_string()),
            (WAIT.to_string(), WAIT_SECONDS.to_string()),
            (VISIBILITY.to_string(), VISIBILITY_SECONDS.to_string()),
            (RETENTION.to_string(), RETENTION_SECONDS.to_string()),
            (SSE.to_string(), "true".to_string()),
        ]);
        let tags = BTreeMap::from([
            (CLUSTER.to_string(), cluster.to_string()),
            (COMPONENT_TAG.to_string(), COMPONENT.to_string()),
        ]);
        Route {
            rule: EventRule {
                meta: Meta {
                    name: rule_name,
                    arn: rule_arn,
                    tags: tags.clone(),
                },
                pattern,
                description: RULE_DESCRIPTION,
                target_arn: queue_arn.clone(),
            },
            queue: EventQueue {
                meta: Meta {
                    name: queue_name,
                    arn: queue_arn,
                    tags,
                },
                attributes,
            },
        }
    }
}

impl EventQueue {
    /// The attributes that differ from `observed` (the policy compared
    /// as a policy, not as text).
    pub fn attributes_differing(&self, observed: &BTreeMap<String, String>) -> Vec<&'static str> {
        [POLICY, WAIT, VISIBILITY, RETENTION, SSE]
            .into_iter()
            .filter(|k| {
                let want = self.attributes.get(*k);
                let have = observed.get(*k);
                match (*k, want, have) {
                    (POLICY, Some(w), Some(h)) => {
                        match (serde_json::from_str(w), serde_json::from_str(h)) {
                            (Ok(w), Ok(h)) => !super::policies_equal(&w, &h),
                            _ => true,
                        }
                    }
                    (_, w, h) => w != h,
                }
            })
            .collect()
    }

    /// The queue carries this cluster's tag.
    pub fn owns(&self, tags: &BTreeMap<String, String>) -> bool {
        owned_by_cluster(&self.meta, tags)
    }
}

impl EventRule {
    /// Whether an observed pattern means ours.
    pub fn pattern_matches(&self, observed: Option<&str>) -> bool {
        observed
            .and_then(|p| serde_json::from_str::<Value>(p).ok())
            .is_some_and(|p| super::documents_equal(&p, &self.pattern))
    }

    /// The rule carries this cluster's tag.
    pub fn owns(&self, tags: &BTreeMap<String, String>) -> bool {
        owned_by_cluster(&self.meta, tags)
    }
}

/// A terminal status change of an execution, from an event's detail.
#[derive(Clone, Debug, PartialEq)]
pub struct Finished {
    pub execution_arn: String,
    pub state_machine_arn: String,
    pub status: String,
    pub start_time: Option<String>,
    pub stop_time: Option<String>,
    pub error: Option<String>,
    pub cause: Option<String>,
}

/// What a message from the queue holds.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    Finished(Finished),
    /// A Step Functions status change that is not an end (the rule routes
    /// none; a hand-made rule might).
    NotTerminal,
    /// Not a Step Functions status change event, or not readable.
    Malformed(String),
}

fn millis(v: &Value) -> Option<String> {
    let ms = v.as_i64()?;
    jiff::Timestamp::from_millisecond(ms)
        .ok()
        .map(|t| t.to_string())
}

/// Reads one message body: the event EventBridge delivered.
/// https://docs.aws.amazon.com/step-functions/latest/dg/eventbridge-integration.html#cw-events-events
pub fn parse(body: &str) -> Event {
    let Ok(event) = serde_json::from_str::<Value>(body) else {
        return Event::Malformed("not JSON".into());
    };
    if event["source"] != SOURCE || event["detail-type"] != DETAIL_TYPE {
        return Event::Malformed(format!(
            "source {} / detail-type {}",
            event["source"], event["detail-type"]
        ));
    }
    let d = &event["detail"];
    let text = |k: &str| d[k].as_str().map(str::to_string);
    let (Some(execution_arn), Some(state_machine_arn), Some(status)) = (
        text("executionArn"),
        text("stateMachineArn"),
        text("status"),
    ) else {
        return Event::Malformed("detail without executionArn, stateMachineArn or status".into());
    };
    if !TERMINAL.contains(&status.as_str()) {
        return Event::NotTerminal;
    }
    Event::Finished(Finished {
        execution_arn,
        state_machine_arn,
        status,
        start_time: millis(&d["startDate"]),
        stop_time: millis(&d["stopDate"]),
        error: text("error"),
        cause: text("cause"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desired::Names;

    fn scope() -> Scope {
        Scope::new("us-east-1", "123456789012").unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn the_rule_matches_this_clusters_machines_and_only_their_ends() {
        let r = Route::new("prod", &scope());
        assert_eq!(r.queue.meta.name, "bn-prod-executions");
        assert_eq!(
            r.rule.meta.arn,
            "arn:aws:events:us-east-1:123456789012:rule/bn-prod-executions"
        );
        assert_eq!(
            r.queue.meta.arn,
            "arn:aws:sqs:us-east-1:123456789012:bn-prod-executions"
        );
        assert_eq!(
            r.rule.pattern["detail"]["stateMachineArn"][0]["prefix"],
            "arn:aws:states:us-east-1:123456789012:stateMachine:bn-prod-"
        );
        assert_eq!(r.rule.pattern["detail"]["status"], json!(TERMINAL));
        // Every machine of the cluster starts with the prefix, however long
        // its namespace and name.
        let long = "n".repeat(63);
        let names = Names::new("prod", &long, &long).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            names.state_machine.starts_with("bn-prod-"),
            "{}",
            names.state_machine
        );
        let cluster = "c".repeat(CLUSTER_PREFIX_MAX);
        let names = Names::new(&cluster, &long, &long).unwrap_or_else(|e| panic!("{e}"));
        assert!(names.state_machine.starts_with(&format!("bn-{cluster}-")));
    }

    #[test]
    fn a_long_or_unusual_cluster_name_still_fits_and_stays_unique() {
        let long = "x".repeat(200);
        let r = Route::new(&long, &scope());
        assert!(
            r.queue.meta.name.len() <= 80 && r.rule.meta.name.len() <= 64,
            "{}",
            r.rule.meta.name
        );
        assert_ne!(
            r.queue.meta.name,
            Route::new(&"x".repeat(199), &scope()).queue.meta.name
        );
        assert_eq!(
            r.rule.pattern["detail"]["stateMachineArn"][0]["prefix"],
            "arn:aws:states:us-east-1:123456789012:stateMachine:bn-"
        );
        let odd = Route::new("a.b", &scope());
        assert_ne!(
            odd.queue.meta.name,
            Route::new("a-b", &scope()).queue.meta.name
        );
    }

    #[test]
    fn the_queue_policy_lets_only_the_rule_send() {
        let r = Route::new("prod", &scope());
        let policy: Value = serde_json::from_str(&r.queue.attributes[POLICY]).unwrap_or_default();
        let s = &policy["Statement"][0];
        assert_eq!(s["Principal"]["Service"], "events.amazonaws.com");
        assert_eq!(s["Action"], "sqs:SendMessage");
        assert_eq!(
            s["Condition"]["ArnEquals"]["aws:SourceArn"],
            r.rule.meta.arn.as_str()
        );
        // As SQS hands it back (other spacing, a one-element list): no drift.
        let mut observed = r.queue.attributes.clone();
        let mut back = policy.clone();
        back["Statement"][0]["Action"] = json!(["sqs:SendMessage"]);
        observed.insert(
            POLICY.into(),
            serde_json::to_string_pretty(&back).unwrap_or_default(),
        );
        assert!(r.queue.attributes_differing(&observed).is_empty());
        observed.insert(WAIT.into(), "0".into());
        observed.remove(POLICY);
        assert_eq!(r.queue.attributes_differing(&observed), vec![POLICY, WAIT]);
    }

    /// The documented example event (Step Functions developer guide,
    /// "Step Functions Execution Status Change", SUCCEEDED).
    #[test]
    fn the_documented_event_reads_as_a_finished_execution() {
        let body = r#"{
          "version": "0", "id": "315c1398-40ff-a850-213b-158f73e60175",
          "detail-type": "Step Functions Execution Status Change", "source": "aws.states",
          "account": "123456789012", "time": "2019-02-26T19:42:21Z", "region": "us-east-1",
          "resources": ["arn:aws:states:us-east-1:123456789012:execution:state-machine-name:execution-name"],
          "detail": {
            "executionArn": "arn:aws:states:us-east-1:123456789012:execution:state-machine-name:execution-name",
            "stateMachineArn": "arn:aws:states:us-east-1:123456789012:stateMachine:state-machine",
            "name": "execution-name", "status": "SUCCEEDED",
            "startDate": 1551225146847, "stopDate": 1551225151881,
            "input": "{}", "output": "\"Hello World!\"",
            "inputDetails": {"included": true}, "outputDetails": {"included": true},
            "error": null, "cause": null
          }
        }"#;
        let Event::Finished(f) = parse(body) else {
            panic!("{:?}", parse(body));
        };
        assert_eq!(f.status, "SUCCEEDED");
        assert_eq!(f.start_time.as_deref(), Some("2019-02-26T23:52:26.847Z"));
        assert_eq!(f.stop_time.as_deref(), Some("2019-02-26T23:52:31.881Z"));
        assert_eq!(f.error, None);
        let running = body.replace("\"SUCCEEDED\"", "\"RUNNING\"");
        assert_eq!(parse(&running), Event::NotTerminal);
        assert!(matches!(parse("{}"), Event::Malformed(_)));
        assert!(matches!(parse("nope"), Event::Malformed(_)));
    }
}
