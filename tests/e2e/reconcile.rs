//! Issue #5: the AWS side is created, updated, corrected and deleted — and
//! nothing that is not ours is touched. Real API server, real operator
//! process, the emulator.

use std::collections::BTreeMap;
use std::time::Duration;

use batchnotify::desired::documents::{decode_iam_policy, documents_equal};
use kube::ResourceExt;
use kube::api::DeleteParams;
use serde_json::{Value, json};

use crate::support::{Ctx, emulator_requests, eventually, example, writes};

const SEED_DEFINITION: &str = include_str!("../fixtures/seed/state_machine.json");
const SEED_QUEUE: &str =
    "arn:aws:batch:us-east-1:123456789012:job-queue/BatchJobQueue-7049d367474b4dd";
const SEED_JOB_DEFINITION: &str =
    "arn:aws:batch:us-east-1:123456789012:job-definition/BatchJobDefinition-74d55ec34c4643c:1";
const SEED_TOPIC: &str =
    "arn:aws:sns:us-east-1:123456789012:batchjobnotificatiointemplate-SNSTopic-1J757CVBQ2KHM";

fn seed_definition(queue: &str, job_definition: &str, topic: &str) -> Value {
    let text = SEED_DEFINITION
        .replace(SEED_QUEUE, queue)
        .replace(SEED_JOB_DEFINITION, job_definition)
        .replace(SEED_TOPIC, topic);
    serde_json::from_str(&text).expect("seed definition")
}

async fn sfn_tags(ctx: &Ctx, arn: &str) -> BTreeMap<String, String> {
    let sfn = aws_sdk_sfn::Client::new(&ctx.aws);
    let out = sfn
        .list_tags_for_resource()
        .resource_arn(arn)
        .send()
        .await
        .expect("sfn tags");
    out.tags()
        .iter()
        .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
        .collect()
}

async fn sns_tags(ctx: &Ctx, arn: &str) -> BTreeMap<String, String> {
    let sns = aws_sdk_sns::Client::new(&ctx.aws);
    let out = sns
        .list_tags_for_resource()
        .resource_arn(arn)
        .send()
        .await
        .expect("sns tags");
    out.tags()
        .iter()
        .map(|t| (t.key().to_string(), t.value().to_string()))
        .collect()
}

async fn role_policy(ctx: &Ctx, role_arn: &str) -> Value {
    let iam = aws_sdk_iam::Client::new(&ctx.aws);
    let role = role_arn.rsplit('/').next().expect("role name");
    let names = iam
        .list_role_policies()
        .role_name(role)
        .send()
        .await
        .expect("list policies");
    let name = names
        .policy_names()
        .first()
        .expect("one inline policy")
        .clone();
    let out = iam
        .get_role_policy()
        .role_name(role)
        .policy_name(name)
        .send()
        .await
        .expect("get role policy");
    decode_iam_policy(out.policy_document()).expect("policy json")
}

#[tokio::test]
async fn seed_sample_everything_managed_becomes_ready_and_is_deleted() {
    let ctx = Ctx::new("reconcile-sample").await;
    let op = ctx.operator(&[]);
    let mut sample = example("sample.yaml");
    sample["spec"]["run"] = Value::Null; // runs are #6's; this test is about the infrastructure
    let obj = ctx.apply(&sample).await;
    let name = obj.name_any();
    let uid = obj.uid().expect("uid");
    let obj = ctx.wait_ready(&name).await;
    let status = obj.status.clone().expect("status");

    // Every ARN is recorded; every resource exists with our tags.
    let machine = status.state_machine_arn.clone().expect("state machine arn");
    let topic = status.topic_arn.clone().expect("topic arn");
    let queue = status.job_queue_arn.clone().expect("queue arn");
    let job_definition = status
        .job_definition_arn
        .clone()
        .expect("job definition arn");
    let role = status.role_arn.clone().expect("role arn");
    assert!(status.compute_environment_arn.is_some());
    assert_eq!(status.account_id.as_deref(), Some("123456789012"));
    assert_eq!(
        sfn_tags(&ctx, &machine).await.get("batchnotify.dev/uid"),
        Some(&uid)
    );
    assert_eq!(
        sns_tags(&ctx, &topic)
            .await
            .get("batchnotify.dev/namespace"),
        Some(&ctx.ns)
    );

    // The state machine's definition is the seed's, ARNs substituted; a
    // managed job definition is named without its revision (Batch runs the
    // latest ACTIVE one), so a new revision changes neither the definition
    // nor the policy.
    let (job_definition_unrevisioned, _) = job_definition.rsplit_once(':').expect("revision");
    let sfn = aws_sdk_sfn::Client::new(&ctx.aws);
    let described = sfn
        .describe_state_machine()
        .state_machine_arn(&machine)
        .send()
        .await
        .expect("describe state machine");
    let definition: Value = serde_json::from_str(described.definition()).expect("definition json");
    assert!(
        documents_equal(
            &definition,
            &seed_definition(&queue, job_definition_unrevisioned, &topic)
        ),
        "{definition:#}"
    );
    assert_eq!(described.role_arn(), role);

    // The sample's limit on RUNNABLE jobs is on the queue, as Batch takes it.
    let batch = aws_sdk_batch::Client::new(&ctx.aws);
    let described = batch
        .describe_job_queues()
        .job_queues(&queue)
        .send()
        .await
        .expect("describe queue");
    let limits = described.job_queues()[0].job_state_time_limit_actions();
    assert_eq!(limits.len(), 1, "{described:?}");
    assert_eq!(limits[0].max_time_seconds(), Some(3600));
    assert_eq!(limits[0].action().map(|a| a.as_str()), Some("CANCEL"));

    // The role's policy is the scoped one: `*` only for DescribeJobs.
    let policy = role_policy(&ctx, &role).await;
    for statement in policy["Statement"].as_array().expect("statements") {
        let resources: Vec<&str> = match &statement["Resource"] {
            Value::String(s) => vec![s.as_str()],
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            other => panic!("resource {other}"),
        };
        let actions = statement["Action"].to_string();
        if resources.contains(&"*") {
            assert_eq!(
                actions,
                json!(["batch:DescribeJobs"]).to_string(),
                "{policy:#}"
            );
        }
        if actions.contains("sns:Publish") {
            assert_eq!(resources, [topic.as_str()]);
        }
        if actions.contains("batch:SubmitJob") {
            let every_revision = format!("{job_definition_unrevisioned}:*");
            assert!(
                resources.contains(&queue.as_str()) && resources.contains(&every_revision.as_str()),
                "{policy:#}"
            );
        }
    }

    // The sample asks for a task execution role and a public IP (the default
    // VPC has no NAT gateway): the operator made the role, trusted by ECS
    // tasks with AWS's execution policy, and the job definition uses both.
    let execution_role = status
        .execution_role_arn
        .clone()
        .expect("execution role arn");
    let execution_role_name = execution_role.rsplit('/').next().expect("role name");
    assert!(execution_role_name.starts_with("bn-") && execution_role_name.ends_with("-exec"));
    let iam = aws_sdk_iam::Client::new(&ctx.aws);
    let got = iam
        .get_role()
        .role_name(execution_role_name)
        .send()
        .await
        .expect("get execution role");
    let trust = decode_iam_policy(
        got.role()
            .and_then(|r| r.assume_role_policy_document())
            .expect("trust policy"),
    )
    .expect("trust json");
    assert_eq!(
        trust["Statement"][0]["Principal"]["Service"],
        json!("ecs-tasks.amazonaws.com")
    );
    let attached = iam
        .list_attached_role_policies()
        .role_name(execution_role_name)
        .send()
        .await
        .expect("attached policies");
    assert_eq!(
        attached
            .attached_policies()
            .iter()
            .filter_map(|p| p.policy_arn())
            .collect::<Vec<_>>(),
        ["arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"]
    );
    let batch = aws_sdk_batch::Client::new(&ctx.aws);
    let described = batch
        .describe_job_definitions()
        .job_definitions(&job_definition)
        .send()
        .await
        .expect("describe job definition");
    let container = described
        .job_definitions()
        .first()
        .and_then(|d| d.container_properties())
        .expect("container properties");
    assert_eq!(
        container.execution_role_arn(),
        Some(execution_role.as_str())
    );
    assert_eq!(
        container
            .network_configuration()
            .and_then(|n| n.assign_public_ip())
            .map(|a| a.as_str()),
        Some("ENABLED")
    );

    // Conditions say so, for this generation.
    assert_eq!(
        Ctx::condition(&obj, "Ready").map(|c| c.0).as_deref(),
        Some("True")
    );
    assert_eq!(
        Ctx::condition(&obj, "Stalled").map(|c| c.0).as_deref(),
        Some("False")
    );
    assert_eq!(
        Ctx::condition(&obj, "Reconciling").map(|c| c.0).as_deref(),
        Some("False")
    );
    let events = ctx.events(&name).await;
    assert!(
        events
            .iter()
            .any(|(r, n)| r == "Created" && n.contains("state machine")),
        "{events:?}"
    );
    // AWS Batch keeps a new compute environment CREATING for a while (the
    // strict emulator too): the queue waited for it, and the log says so;
    // a routine wait is no Event, and a clean creation raises no Warning.
    let logs = op.logs();
    assert!(
        logs.lines()
            .any(|l| l.contains("ComputeEnvironmentNotReady") && l.contains("is CREATING")),
        "{logs}"
    );
    assert!(
        !events
            .iter()
            .any(|(r, _)| r == "ComputeEnvironmentNotReady"),
        "{events:?}"
    );
    let warnings = ctx.warnings(&name).await;
    assert!(warnings.is_empty(), "{warnings:?}");

    // Delete: everything we created goes.
    ctx.api()
        .delete(&name, &DeleteParams::default())
        .await
        .expect("delete");
    ctx.wait_gone(&name).await;
    let gone = sfn
        .describe_state_machine()
        .state_machine_arn(&machine)
        .send()
        .await;
    assert!(gone.is_err(), "state machine still there");
    let sns = aws_sdk_sns::Client::new(&ctx.aws);
    assert!(
        sns.get_topic_attributes()
            .topic_arn(&topic)
            .send()
            .await
            .is_err(),
        "topic still there"
    );
    let role_name = role.rsplit('/').next().expect("role name");
    assert!(
        iam.get_role().role_name(role_name).send().await.is_err(),
        "role still there"
    );
    assert!(
        iam.get_role()
            .role_name(execution_role_name)
            .send()
            .await
            .is_err(),
        "execution role still there"
    );
    let queues = batch
        .describe_job_queues()
        .job_queues(&queue)
        .send()
        .await
        .expect("queues");
    // AWS lists a deleted queue for a while, as DELETING then DELETED.
    assert!(
        queues
            .job_queues()
            .iter()
            .all(|q| matches!(q.status().map(|s| s.as_str()), Some("DELETING" | "DELETED"))),
        "queue still there: {queues:?}"
    );
    let defs = batch
        .describe_job_definitions()
        .job_definitions(&job_definition)
        .send()
        .await
        .expect("job definitions");
    assert!(
        defs.job_definitions()
            .iter()
            .all(|d| d.status() == Some("INACTIVE")),
        "job definition still active"
    );
}

/// Queue, job definition and topic referenced by ARN: nothing is created for
/// them, nothing is done to them, and they survive the object's deletion.
#[tokio::test]
async fn referenced_resources_are_used_but_never_touched() {
    let ctx = Ctx::new("reconcile-refs").await;
    let existing = crate::testbed_aws::existing_stack(&ctx).await;
    let _op = ctx.operator(&[]);
    let mut obj = example("existing-arns.yaml");
    obj["spec"]["jobQueue"] = json!({"arn": existing.queue});
    obj["spec"]["jobDefinition"] = json!({"arn": existing.job_definition});
    obj["spec"]["topic"] = json!({"arn": existing.topic});
    obj["spec"]["run"] = Value::Null;
    let applied = ctx.apply(&obj).await;
    let name = applied.name_any();
    let ready = ctx.wait_ready(&name).await;
    let status = ready.status.clone().expect("status");
    assert_eq!(status.topic_arn.as_deref(), Some(existing.topic.as_str()));
    assert_eq!(
        status.job_queue_arn.as_deref(),
        Some(existing.queue.as_str())
    );

    let counts = emulator_requests(&_op.access_key);
    for forbidden in [
        "sns:CreateTopic",
        "sns:TagResource",
        "batch:CreateJobQueue",
        "batch:RegisterJobDefinition",
        "batch:UpdateJobQueue",
    ] {
        assert!(
            !counts.contains_key(forbidden),
            "{forbidden} was called: {counts:?}"
        );
    }
    // Our tags are not on what we merely reference.
    assert!(
        !sns_tags(&ctx, &existing.topic)
            .await
            .contains_key("batchnotify.dev/uid")
    );

    ctx.api()
        .delete(&name, &DeleteParams::default())
        .await
        .expect("delete");
    ctx.wait_gone(&name).await;
    let sns = aws_sdk_sns::Client::new(&ctx.aws);
    sns.get_topic_attributes()
        .topic_arn(&existing.topic)
        .send()
        .await
        .expect("the referenced topic survives");
    let batch = aws_sdk_batch::Client::new(&ctx.aws);
    let q = batch
        .describe_job_queues()
        .job_queues(&existing.queue)
        .send()
        .await
        .expect("queues");
    assert_eq!(
        q.job_queues()
            .first()
            .and_then(|q| q.state())
            .map(|s| s.as_str()),
        Some("ENABLED")
    );
    let d = batch
        .describe_job_definitions()
        .job_definitions(&existing.job_definition)
        .send()
        .await
        .expect("defs");
    assert_eq!(
        d.job_definitions().first().and_then(|d| d.status()),
        Some("ACTIVE")
    );
}

/// Updates land in place; drift is put back on resync with Events; a
/// resync without drift writes nothing, to AWS or to the API server.
#[tokio::test]
async fn updates_in_place_drift_is_corrected_and_steady_state_writes_nothing() {
    let ctx = Ctx::new("reconcile-update").await;
    let op = ctx.operator(&["--resync", "2s"]);
    let mut sample = example("sample.yaml");
    sample["spec"]["run"] = Value::Null;
    let name = sample["metadata"]["name"]
        .as_str()
        .expect("name")
        .to_string();
    ctx.apply(&sample).await;
    let first = ctx.wait_ready(&name).await.status.expect("status");
    let machine = first.state_machine_arn.clone().expect("machine");
    let old_def = first.job_definition_arn.clone().expect("job definition");

    // Steady state: two resyncs with no drift make no AWS write and no status write.
    let before = op.settled_requests().await;
    let rv_before = ctx.api().get(&name).await.expect("get").resource_version();
    let passes = op.reconciles();
    op.reconciled_beyond(passes + 1).await;
    let after = op.settled_requests().await;
    let delta: BTreeMap<String, u64> = after
        .iter()
        .map(|(k, v)| (k.clone(), v - before.get(k).copied().unwrap_or(0)))
        .filter(|(_, v)| *v > 0)
        .collect();
    assert!(!delta.is_empty(), "the resync observed nothing: {after:?}");
    assert_eq!(
        writes(&delta),
        0,
        "writes during a no-drift resync: {delta:?}"
    );
    assert_eq!(
        ctx.api().get(&name).await.expect("get").resource_version(),
        rv_before,
        "status was rewritten"
    );

    // Update: new messages and image → same state machine ARN, a new job definition revision.
    sample["spec"]["messages"] = json!({"success": "all good", "failure": "all bad"});
    sample["spec"]["jobDefinition"]["managed"]["image"] = json!("busybox:1.36");
    ctx.apply(&sample).await;
    let updated = ctx.wait_ready(&name).await.status.expect("status");
    assert_eq!(updated.state_machine_arn.as_deref(), Some(machine.as_str()));
    let new_def = updated.job_definition_arn.clone().expect("job definition");
    assert_ne!(new_def, old_def);
    let batch = aws_sdk_batch::Client::new(&ctx.aws);
    let old = batch
        .describe_job_definitions()
        .job_definitions(&old_def)
        .send()
        .await
        .expect("old def");
    assert_eq!(
        old.job_definitions().first().and_then(|d| d.status()),
        Some("INACTIVE")
    );
    let sfn = aws_sdk_sfn::Client::new(&ctx.aws);
    let d = sfn
        .describe_state_machine()
        .state_machine_arn(&machine)
        .send()
        .await
        .expect("describe");
    // The definition names the job definition without its revision (Batch
    // runs the latest ACTIVE one): a new revision changes neither it nor the
    // role's policy.
    let unrevisioned = new_def
        .rsplit_once(':')
        .map_or(new_def.as_str(), |(name, _)| name);
    assert!(
        d.definition().contains("all good")
            && d.definition().contains(&format!("\"{unrevisioned}\"")),
        "{}",
        d.definition()
    );

    // Drift: change the definition and the role policy out of band.
    let role = updated.role_arn.clone().expect("role");
    let role_name = role.rsplit('/').next().expect("role name").to_string();
    let tampered = d.definition().replace("all good", "tampered");
    sfn.update_state_machine()
        .state_machine_arn(&machine)
        .definition(tampered)
        .send()
        .await
        .expect("tamper definition");
    let iam = aws_sdk_iam::Client::new(&ctx.aws);
    let policies = iam
        .list_role_policies()
        .role_name(&role_name)
        .send()
        .await
        .expect("policies");
    let policy_name = policies.policy_names().first().expect("policy").clone();
    iam.put_role_policy()
        .role_name(&role_name)
        .policy_name(&policy_name)
        .policy_document(json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}).to_string())
        .send()
        .await
        .expect("tamper policy");
    eventually(
        "the drift to be put back",
        Duration::from_secs(30),
        || async {
            let d = sfn
                .describe_state_machine()
                .state_machine_arn(&machine)
                .send()
                .await
                .ok()?;
            let p = role_policy(&ctx, &role).await;
            (d.definition().contains("all good") && !p.to_string().contains("\"Action\":\"*\""))
                .then_some(())
        },
    )
    .await;
    // Events are published right after the AWS calls of the same reconcile.
    eventually(
        "a DriftCorrected Event for each",
        Duration::from_secs(10),
        || async {
            let events = ctx.events(&name).await;
            let drift: Vec<_> = events
                .iter()
                .filter(|(r, _)| r == "DriftCorrected")
                .collect();
            (drift.iter().any(|(_, n)| n.contains("definition"))
                && drift.iter().any(|(_, n)| n.contains("inline policy")))
            .then_some(())
        },
    )
    .await;
}

/// A resource under our deterministic name that belongs to someone else is
/// never touched; an untagged one is adopted only when asked.
#[tokio::test]
async fn ownership_conflicts_stall_and_adoption_is_explicit() {
    let ctx = Ctx::new("reconcile-owner").await;
    let existing = crate::testbed_aws::existing_stack(&ctx).await;
    let names = batchnotify::desired::Names::new("test", &ctx.ns, "owned").expect("names");
    // Someone else's topic under our name, tagged for another object.
    let sns = aws_sdk_sns::Client::new(&ctx.aws);
    let tag = |k: &str, v: &str| {
        aws_sdk_sns::types::Tag::builder()
            .key(k)
            .value(v)
            .build()
            .expect("tag")
    };
    let foreign = sns
        .create_topic()
        .name(&names.topic)
        .tags(tag("batchnotify.dev/cluster", "test"))
        .tags(tag("batchnotify.dev/namespace", "someone-else"))
        .tags(tag("batchnotify.dev/name", "theirs"))
        .tags(tag("batchnotify.dev/uid", "0000"))
        .send()
        .await
        .expect("foreign topic");
    let foreign_arn = foreign.topic_arn().unwrap_or_default().to_string();

    let op = ctx.operator(&[]);
    let mut obj = example("existing-arns.yaml");
    obj["metadata"]["name"] = json!("owned");
    obj["spec"]["jobQueue"] = json!({"arn": existing.queue});
    obj["spec"]["jobDefinition"] = json!({"arn": existing.job_definition});
    obj["spec"]["topic"] = json!({"managed": {"displayName": "mine"}});
    obj["spec"]["run"] = Value::Null;
    ctx.apply(&obj).await;
    let stalled = ctx
        .wait(
            "owned",
            "Stalled=True OwnershipConflict",
            Duration::from_secs(30),
            |o| {
                Ctx::condition(o, "Stalled")
                    .is_some_and(|c| c.0 == "True" && c.1 == "OwnershipConflict")
            },
        )
        .await;
    let (_, _, message) = Ctx::condition(&stalled, "Stalled").expect("stalled");
    assert!(message.contains("someone-else/theirs"), "{message}");
    assert_eq!(
        Ctx::condition(&stalled, "Ready").map(|c| c.0).as_deref(),
        Some("False")
    );
    // Untouched: still their tags, no display name of ours.
    assert_eq!(
        sns_tags(&ctx, &foreign_arn)
            .await
            .get("batchnotify.dev/name")
            .map(String::as_str),
        Some("theirs")
    );
    let attrs = sns
        .get_topic_attributes()
        .topic_arn(&foreign_arn)
        .send()
        .await
        .expect("attrs");
    assert_ne!(
        attrs
            .attributes()
            .and_then(|a| a.get("DisplayName"))
            .map(String::as_str),
        Some("mine")
    );
    let events = ctx.events("owned").await;
    assert!(
        events.iter().any(|(r, _)| r == "OwnershipConflict"),
        "{events:?}"
    );

    // Adoption is refused for another object's resource even when asked...
    obj["metadata"]["annotations"] = json!({"batchnotify.dev/adopt": "true"});
    let reconciled = op.reconciles();
    ctx.apply(&obj).await;
    // The annotation's reconcile has ended (and refused again).
    op.reconciled_beyond(reconciled).await;
    assert_eq!(
        sns_tags(&ctx, &foreign_arn)
            .await
            .get("batchnotify.dev/name")
            .map(String::as_str),
        Some("theirs")
    );

    // ...but an untagged one (made by hand) is adopted and retagged when asked.
    obj["metadata"]["annotations"] = json!({});
    let reconciled = op.reconciles();
    ctx.apply(&obj).await;
    op.reconciled_beyond(reconciled).await;
    sns.delete_topic()
        .topic_arn(&foreign_arn)
        .send()
        .await
        .expect("delete foreign");
    sns.create_topic()
        .name(&names.topic)
        .send()
        .await
        .expect("untagged topic");
    obj["metadata"]["annotations"] = json!({"batchnotify.dev/adopt": "true"});
    ctx.apply(&obj).await;
    let adopted = ctx.wait_ready("owned").await;
    let uid = adopted.uid().expect("uid");
    assert_eq!(
        sns_tags(&ctx, &foreign_arn)
            .await
            .get("batchnotify.dev/uid"),
        Some(&uid)
    );
    let events = ctx.events("owned").await;
    assert!(events.iter().any(|(r, _)| r == "Adopted"), "{events:?}");
}

/// `deletionPolicy: Retain` removes the object and leaves AWS as it is.
#[tokio::test]
async fn retain_leaves_aws_untouched_and_kubectl_wait_sees_ready() {
    let ctx = Ctx::new("reconcile-retain").await;
    let existing = crate::testbed_aws::existing_stack(&ctx).await;
    let _op = ctx.operator(&[]);
    let mut obj = example("existing-arns.yaml");
    obj["spec"]["jobQueue"] = json!({"arn": existing.queue});
    obj["spec"]["jobDefinition"] = json!({"arn": existing.job_definition});
    obj["spec"]["topic"] = json!({"managed": {}});
    obj["spec"]["run"] = Value::Null;
    obj["spec"]["deletionPolicy"] = json!("Retain");
    let name = obj["metadata"]["name"].as_str().expect("name").to_string();
    ctx.apply(&obj).await;
    let started = std::time::Instant::now();
    let out = ctx
        .kubectl()
        .args([
            "wait",
            "--for=condition=Ready",
            "--timeout=30s",
            &format!("batchnotification/{name}"),
        ])
        .output()
        .expect("kubectl wait");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(started.elapsed() < Duration::from_secs(30));
    let status = ctx
        .api()
        .get(&name)
        .await
        .expect("get")
        .status
        .expect("status");
    let machine = status.state_machine_arn.expect("machine");
    let topic = status.topic_arn.expect("topic");

    ctx.api()
        .delete(&name, &DeleteParams::default())
        .await
        .expect("delete");
    ctx.wait_gone(&name).await;
    let sfn = aws_sdk_sfn::Client::new(&ctx.aws);
    sfn.describe_state_machine()
        .state_machine_arn(&machine)
        .send()
        .await
        .expect("state machine retained");
    let sns = aws_sdk_sns::Client::new(&ctx.aws);
    sns.get_topic_attributes()
        .topic_arn(&topic)
        .send()
        .await
        .expect("topic retained");
}

/// A reference to nothing: Ready=False, ReferenceNotFound naming the field;
/// it recovers by itself once the resource exists.
#[tokio::test]
async fn a_missing_reference_is_reported_and_retried() {
    let ctx = Ctx::new("reconcile-missing").await;
    let existing = crate::testbed_aws::existing_stack(&ctx).await;
    let _op = ctx.operator(&[]);
    let mut obj = example("existing-arns.yaml");
    let missing_topic = format!("arn:aws:sns:us-east-1:123456789012:{}-later", ctx.prefix);
    obj["spec"]["jobQueue"] = json!({"arn": existing.queue});
    obj["spec"]["jobDefinition"] = json!({"arn": existing.job_definition});
    obj["spec"]["topic"] = json!({"arn": missing_topic});
    obj["spec"]["run"] = Value::Null;
    let name = obj["metadata"]["name"].as_str().expect("name").to_string();
    ctx.apply(&obj).await;
    let waiting = ctx
        .wait(&name, "ReferenceNotFound", Duration::from_secs(30), |o| {
            Ctx::condition(o, "Ready").is_some_and(|c| c.1 == "ReferenceNotFound")
        })
        .await;
    let (status, _, message) = Ctx::condition(&waiting, "Ready").expect("ready");
    assert_eq!(status, "False");
    assert!(
        message.contains("spec.topic.arn") && message.contains(&missing_topic),
        "{message}"
    );
    assert_eq!(
        Ctx::condition(&waiting, "Stalled").map(|c| c.0).as_deref(),
        Some("False")
    );
    let sns = aws_sdk_sns::Client::new(&ctx.aws);
    sns.create_topic()
        .name(format!("{}-later", ctx.prefix))
        .send()
        .await
        .expect("create the topic");
    // Retried with backoff from 10 s.
    ctx.wait(
        &name,
        "Ready after the reference appears",
        Duration::from_secs(60),
        |o| Ctx::condition(o, "Ready").is_some_and(|c| c.0 == "True"),
    )
    .await;
}

/// Adding spec.region later (CEL allows adding it) must not move resources.
#[tokio::test]
async fn a_region_added_later_that_differs_stalls() {
    let ctx = Ctx::new("reconcile-region").await;
    let _op = ctx.operator(&[]);
    let mut sample = example("sample.yaml");
    sample["spec"]["run"] = Value::Null;
    let name = sample["metadata"]["name"]
        .as_str()
        .expect("name")
        .to_string();
    ctx.apply(&sample).await;
    ctx.wait_ready(&name).await;
    sample["spec"]["region"] = json!("us-west-2");
    ctx.apply(&sample).await;
    let stalled = ctx
        .wait(
            &name,
            "Stalled=True RegionChanged",
            Duration::from_secs(30),
            |o| {
                Ctx::condition(o, "Stalled")
                    .is_some_and(|c| c.0 == "True" && c.1 == "RegionChanged")
            },
        )
        .await;
    let (_, _, message) = Ctx::condition(&stalled, "Ready").expect("ready");
    assert!(
        message.contains("spec.region") && message.contains("us-east-1"),
        "{message}"
    );
}
