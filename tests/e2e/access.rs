//! AccessGrants (issue #23) against the real bed: a namespace reaches exactly
//! what its grant names — each kind of reference, each managed kind, another
//! object's resource, a job definition's roles — refusals name the field, the
//! ARN and the missing grant, nothing is created in AWS before the check
//! passes, and a change of the grant takes effect without a restart.

use std::time::Duration;

use batchnotify::api::AccessGrant;
use batchnotify::desired::names::Names;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use serde_json::{Value, json};

use crate::support::{Ctx, Operator, Principal, Root, batch_stack, batch_stack_in, example};

/// A cluster-scoped AccessGrant named after the test's namespace (tests share
/// one API server), applied with server-side apply as an admin would.
pub async fn grant(ctx: &Ctx, spec: Value) -> String {
    let api: Api<AccessGrant> = Api::all(ctx.client.clone());
    let name = ctx.ns.clone();
    let obj = json!({
        "apiVersion": "batchnotify.dev/v1alpha1",
        "kind": "AccessGrant",
        "metadata": {"name": name},
        "spec": spec,
    });
    api.patch(
        &name,
        &PatchParams::apply("test-admin").force(),
        &Patch::Apply(&obj),
    )
    .await
    .unwrap_or_else(|e| panic!("apply AccessGrant {name}: {e}"));
    name
}

pub async fn delete_grant(ctx: &Ctx, name: &str) {
    let api: Api<AccessGrant> = Api::all(ctx.client.clone());
    let _ = api.delete(name, &DeleteParams::default()).await;
}

/// Waits for `Stalled=True` with `reason`; its message.
pub async fn stalled(ctx: &Ctx, name: &str, reason: &str) -> String {
    let obj = ctx
        .wait(
            name,
            &format!("Stalled=True {reason}"),
            Duration::from_secs(60),
            |o| Ctx::condition(o, "Stalled").is_some_and(|c| c.0 == "True" && c.1 == reason),
        )
        .await;
    Ctx::condition(&obj, "Stalled")
        .map(|c| c.2)
        .unwrap_or_default()
}

/// Whether the object's state machine or role exists in the emulator's account A.
async fn anything_created(ctx: &Ctx, name: &str) -> bool {
    let names = Names::new("test", &ctx.ns, name).expect("names");
    let iam = aws_sdk_iam::Client::new(&ctx.aws);
    let role = iam.get_role().role_name(&names.role).send().await.is_ok();
    let sfn = aws_sdk_sfn::Client::new(&ctx.aws);
    let arn = format!(
        "arn:aws:states:us-east-1:123456789012:stateMachine:{}",
        names.state_machine
    );
    let machine = sfn
        .describe_state_machine()
        .state_machine_arn(arn)
        .send()
        .await
        .is_ok();
    role || machine
}

async fn topic(ctx: &Ctx, name: &str, owner: Option<(&str, &str)>) -> String {
    let sns = aws_sdk_sns::Client::new(&ctx.aws);
    let tag = |k: &str, v: &str| {
        aws_sdk_sns::types::Tag::builder()
            .key(k)
            .value(v)
            .build()
            .expect("tag")
    };
    let mut create = sns.create_topic().name(name);
    if let Some((ns, obj)) = owner {
        create = create
            .tags(tag("batchnotify.dev/cluster", "test"))
            .tags(tag("batchnotify.dev/namespace", ns))
            .tags(tag("batchnotify.dev/name", obj))
            .tags(tag("batchnotify.dev/uid", "0000"));
    }
    create
        .send()
        .await
        .expect("create topic")
        .topic_arn()
        .unwrap_or_default()
        .to_string()
}

/// A job definition whose jobs run as `role`.
async fn job_definition_with_role(ctx: &Ctx, name: &str, role: &str) -> String {
    use aws_sdk_batch::types::{
        ContainerProperties, JobDefinitionType, ResourceRequirement, ResourceType,
    };
    let batch = aws_sdk_batch::Client::new(&ctx.aws);
    let req = |t: ResourceType, v: &str| ResourceRequirement::builder().r#type(t).value(v).build();
    batch
        .register_job_definition()
        .job_definition_name(name)
        .r#type(JobDefinitionType::Container)
        .container_properties(
            ContainerProperties::builder()
                .image("busybox")
                .command("true")
                .job_role_arn(role)
                .resource_requirements(req(ResourceType::Vcpu, "1"))
                .resource_requirements(req(ResourceType::Memory, "2048"))
                .build(),
        )
        .send()
        .await
        .expect("register job definition")
        .job_definition_arn()
        .unwrap_or_default()
        .to_string()
}

fn object(name: &str, queue: &str, definition: &str, topic: Value) -> Value {
    let mut obj = example("existing-arns.yaml");
    obj["metadata"]["name"] = json!(name);
    obj["spec"]["jobQueue"] = json!({"arn": queue});
    obj["spec"]["jobDefinition"] = json!({"arn": definition});
    obj["spec"]["topic"] = topic;
    obj["spec"]["run"] = Value::Null;
    obj
}

#[tokio::test]
async fn a_grant_lets_a_namespace_reach_what_it_names_and_nothing_else() {
    let ctx = Ctx::new("access-grant").await;
    let p = ctx.prefix.clone();
    let (queue, definition) = batch_stack(&ctx.aws, &p, "job").await;
    let (other_queue, _) = batch_stack(&ctx.aws, &format!("{p}o"), "job").await;
    let granted_topic = topic(&ctx, &format!("{p}-alerts"), None).await;
    let theirs = topic(
        &ctx,
        &format!("{p}-theirs"),
        Some(("someone-else", "theirs")),
    )
    .await;
    let admin_role = format!("arn:aws:iam::123456789012:role/{p}-admin");
    let borrowing = job_definition_with_role(&ctx, &format!("{p}-borrow"), &admin_role).await;
    let mut spec = json!({
        "namespaces": {"names": [ctx.ns]},
        "references": {
            "jobQueues": [queue],
            "jobDefinitions": [format!("arn:aws:batch:*:123456789012:job-definition/{p}-*")],
            "topics": [format!("arn:aws:sns:*:123456789012:{p}-*")],
        },
    });
    let grant_name = grant(&ctx, spec.clone()).await;
    let _op = ctx.operator(&[]);

    // What the grant names: Ready, and status (and -o wide) says which grant.
    ctx.apply(&object(
        "granted",
        &queue,
        &definition,
        json!({"arn": granted_topic}),
    ))
    .await;
    let ready = ctx.wait_ready("granted").await;
    let access = ready.status.and_then(|s| s.access).expect("status.access");
    assert_eq!(access.grant.as_deref(), Some(grant_name.as_str()));
    assert_eq!(access.role_arn, None);
    let wide = ctx
        .kubectl()
        .args(["get", "batchnotifications", "granted", "-o", "wide"])
        .output()
        .expect("kubectl get");
    let wide = String::from_utf8_lossy(&wide.stdout).to_string();
    assert!(
        wide.contains("ACCESS") && wide.contains(&grant_name),
        "{wide}"
    );

    // A queue the grant does not name.
    ctx.apply(&object(
        "queue",
        &other_queue,
        &definition,
        json!({"arn": granted_topic}),
    ))
    .await;
    let message = stalled(&ctx, "queue", "ReferenceNotGranted").await;
    assert!(message.contains("spec.jobQueue.arn"), "{message}");
    assert!(message.contains(&other_queue), "{message}");
    assert!(message.contains("spec.references.jobQueues"), "{message}");
    assert!(
        message.contains(&format!("AccessGrant {grant_name}")),
        "{message}"
    );

    // A managed topic: the grant lets the operator create nothing.
    ctx.apply(&object(
        "managed",
        &queue,
        &definition,
        json!({"managed": {}}),
    ))
    .await;
    let message = stalled(&ctx, "managed", "ManagedNotGranted").await;
    assert!(message.contains("spec.topic.managed"), "{message}");
    assert!(message.contains("Topic in spec.managed"), "{message}");

    // Another object's topic, although its ARN matches the topic pattern.
    ctx.apply(&object(
        "owned",
        &queue,
        &definition,
        json!({"arn": theirs}),
    ))
    .await;
    let message = stalled(&ctx, "owned", "OwnedByAnother").await;
    assert!(message.contains(&theirs), "{message}");
    assert!(message.contains("someone-else/theirs"), "{message}");
    assert!(message.contains("ownedByOthers"), "{message}");

    // A job definition whose jobs run as a role the grant does not cover.
    ctx.apply(&object(
        "borrow",
        &queue,
        &borrowing,
        json!({"arn": granted_topic}),
    ))
    .await;
    let message = stalled(&ctx, "borrow", "RoleNotGranted").await;
    assert!(message.contains(&admin_role), "{message}");
    assert!(message.contains("jobRoleArn"), "{message}");
    assert!(message.contains("spec.references.roles"), "{message}");

    // Nothing was created in AWS for any refused object, and each said so in a Warning.
    for (name, reason) in [
        ("queue", "ReferenceNotGranted"),
        ("managed", "ManagedNotGranted"),
        ("owned", "OwnedByAnother"),
        ("borrow", "RoleNotGranted"),
    ] {
        assert!(
            !anything_created(&ctx, name).await,
            "{name}: created before the check"
        );
        let events = ctx.events(name).await;
        assert!(
            events.iter().any(|(r, _)| r == reason),
            "{name}: {events:?}"
        );
    }
    assert!(anything_created(&ctx, "granted").await);

    // The admin widens the grant: the objects it now covers become Ready,
    // with no restart and no change to them.
    spec["references"]["ownedByOthers"] = json!([theirs]);
    spec["references"]["roles"] = json!([admin_role]);
    spec["managed"] = json!(["Topic"]);
    grant(&ctx, spec.clone()).await;
    for name in ["owned", "borrow", "managed"] {
        ctx.wait_ready(name).await;
    }
    // And narrows it: an object it no longer covers is Stalled again, at
    // once — a spec-level check and an observed one (another's topic) alike.
    spec["managed"] = json!([]);
    spec["references"]["ownedByOthers"] = json!([]);
    grant(&ctx, spec).await;
    stalled(&ctx, "managed", "ManagedNotGranted").await;
    stalled(&ctx, "owned", "OwnedByAnother").await;
    delete_grant(&ctx, &grant_name).await;
}

#[tokio::test]
async fn deny_unless_granted_and_grants_never_add_up() {
    let ctx = Ctx::new("access-deny").await;
    let p = ctx.prefix.clone();
    let (queue, definition) = batch_stack(&ctx.aws, &p, "job").await;
    let topic_arn = topic(&ctx, &format!("{p}-alerts"), None).await;
    let _op = ctx.operator(&["--require-grant"]);
    ctx.apply(&object(
        "ungranted",
        &queue,
        &definition,
        json!({"arn": topic_arn}),
    ))
    .await;
    let message = stalled(&ctx, "ungranted", "AccessNotGranted").await;
    assert!(
        message.contains(&format!("namespace {}", ctx.ns)),
        "{message}"
    );
    assert!(message.contains("--require-grant"), "{message}");
    assert!(!anything_created(&ctx, "ungranted").await);

    // Two grants select the namespace (by name and by label): neither applies.
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(ctx.client.clone());
    namespaces
        .patch(
            &ctx.ns,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"batchnotify.dev/test-team": ctx.ns}}})),
        )
        .await
        .expect("label the namespace");
    let all = json!({
        "jobQueues": [queue],
        "jobDefinitions": [definition],
        "topics": [topic_arn],
    });
    let by_name = grant(
        &ctx,
        json!({"namespaces": {"names": [ctx.ns]}, "references": all}),
    )
    .await;
    let api: Api<AccessGrant> = Api::all(ctx.client.clone());
    let second = format!("{}-label", ctx.ns);
    let obj = json!({
        "apiVersion": "batchnotify.dev/v1alpha1",
        "kind": "AccessGrant",
        "metadata": {"name": second},
        "spec": {
            "namespaces": {"selector": {"matchLabels": {"batchnotify.dev/test-team": ctx.ns}}},
            "references": all,
        },
    });
    api.patch(
        &second,
        &PatchParams::apply("test-admin").force(),
        &Patch::Apply(&obj),
    )
    .await
    .expect("second grant");
    // (The first object may have been created under the first grant
    // meanwhile: an object made after both exist shows the refusal alone.)
    stalled(&ctx, "ungranted", "AccessAmbiguous").await;
    ctx.apply(&object(
        "later",
        &queue,
        &definition,
        json!({"arn": topic_arn}),
    ))
    .await;
    let message = stalled(&ctx, "later", "AccessAmbiguous").await;
    assert!(
        message.contains(&by_name) && message.contains(&second),
        "{message}"
    );
    assert!(!anything_created(&ctx, "later").await);

    // The admin removes one: the other applies, without a restart.
    let _ = api.delete(&second, &DeleteParams::default()).await;
    let ready = ctx.wait_ready("later").await;
    assert_eq!(
        ready.status.and_then(|s| s.access).and_then(|a| a.grant),
        Some(by_name.clone())
    );
    delete_grant(&ctx, &by_name).await;
}

const TEAM_ACCOUNT: &str = "222222222222";

/// A shipped IAM document with its placeholders filled in.
fn shipped(file: &str, replace: &[(&str, &str)]) -> Value {
    let mut text = std::fs::read_to_string(crate::support::repo(file))
        .unwrap_or_else(|e| panic!("read {file}: {e}"));
    for (from, to) in replace {
        text = text.replace(from, to);
    }
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"))
}

/// The operator's user: the shipped operator policy and the shipped
/// assume-role policy together (operator identity and team roles).
fn operator_with_assume_role() -> Value {
    let mut policy = crate::support::operator_policy();
    let assume = shipped("deploy/iam/operator-assume-role-policy.json", &[]);
    if let (Some(all), Some(more)) = (
        policy["Statement"].as_array_mut(),
        assume["Statement"].as_array(),
    ) {
        all.extend(more.iter().cloned());
    }
    policy
}

/// Sets the team role's trust policy: the operator's user, with `external_id`.
async fn trust(team: &Root, role: &str, operator_arn: &str, external_id: &str) {
    let policy = shipped(
        "deploy/iam/team-role-trust-policy.json",
        &[
            (
                "arn:aws:iam::111111111111:role/batchnotify-operator",
                operator_arn,
            ),
            ("prod-team-a-4f7d2c91", external_id),
            ("\"prod\"", "\"test\""),
        ],
    );
    team.iam
        .update_assume_role_policy()
        .role_name(role)
        .policy_document(policy.to_string())
        .send()
        .await
        .expect("update the team role's trust policy");
}

/// A team in account B: its namespace's grant names a role there; the sample
/// is created, run and notified in B, and deleted from B — and a role that can
/// no longer be assumed keeps the finalizer, says why, and recovers.
#[tokio::test]
async fn a_team_in_another_account_runs_the_sample_there() {
    let ctx = Ctx::new("access-account-b").await;
    let p = ctx.prefix.clone();
    let team = Root::new(&ctx.aws, Some(TEAM_ACCOUNT));
    let operator = Principal::create(&format!("op-{}", ctx.ns), &operator_with_assume_role());
    let operator_arn = format!("arn:aws:iam::123456789012:user/{}", operator.user);

    // The team's admin, in B: the role the grant names, its permissions and
    // trust (the shipped templates), a queue and job definition, a subscriber.
    let role = format!("batchnotify-{p}");
    let external_id = format!("ext-{p}");
    let placeholder = json!({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": operator_arn}, "Action": "sts:AssumeRole"
    }]});
    let role_arn = team
        .iam
        .create_role()
        .role_name(&role)
        .assume_role_policy_document(placeholder.to_string())
        .send()
        .await
        .expect("create the team role")
        .role()
        .map(|r| r.arn().to_string())
        .unwrap_or_default();
    assert!(
        role_arn.starts_with(&format!("arn:aws:iam::{TEAM_ACCOUNT}:role/")),
        "{role_arn}"
    );
    team.iam
        .put_role_policy()
        .role_name(&role)
        .policy_name("batchnotify")
        .policy_document(shipped("deploy/iam/team-role-policy.json", &[]).to_string())
        .send()
        .await
        .expect("the team role's permissions");
    trust(&team, &role, &operator_arn, &external_id).await;
    let (queue, definition) = batch_stack_in(&ctx.aws, Some(TEAM_ACCOUNT), &p, "job").await;
    assert!(queue.contains(&format!(":{TEAM_ACCOUNT}:")), "{queue}");
    let subscriber = team
        .sqs
        .create_queue()
        .queue_name(format!("{p}-notified"))
        .send()
        .await
        .expect("subscriber queue")
        .queue_url()
        .unwrap_or_default()
        .to_string();
    let subscriber_arn = format!("arn:aws:sqs:us-east-1:{TEAM_ACCOUNT}:{p}-notified");

    let grant_name = grant(
        &ctx,
        json!({
            "namespaces": {"names": [ctx.ns]},
            "identity": {"assumeRole": {"roleArn": role_arn, "externalId": external_id}},
            "references": {
                "jobQueues": [format!("arn:aws:batch:*:{TEAM_ACCOUNT}:job-queue/{p}-*")],
                "jobDefinitions": [format!("arn:aws:batch:*:{TEAM_ACCOUNT}:job-definition/{p}-*")],
            },
            "managed": ["Topic"],
        }),
    )
    .await;
    let op = Operator::start_as(&ctx.ns, operator, &[], &[]);

    let mut obj = object(
        "team",
        &queue,
        &definition,
        json!({"managed": {"subscriptions": [{"protocol": "sqs", "endpoint": subscriber_arn}]}}),
    );
    obj["spec"]["run"] = json!({"trigger": "1"});
    obj["spec"]["deletionPolicy"] = json!("Delete");
    ctx.apply(&obj).await;
    let done = ctx
        .wait("team", "the run's outcome", Duration::from_secs(90), |o| {
            o.status
                .as_ref()
                .and_then(|s| s.last_run.as_ref())
                .is_some_and(|r| r.outcome.is_some())
        })
        .await;
    let status = done.status.clone().expect("status");
    assert_eq!(status.account_id.as_deref(), Some(TEAM_ACCOUNT));
    assert_eq!(
        status.access.as_ref().and_then(|a| a.role_arn.as_deref()),
        Some(role_arn.as_str())
    );
    let machine = status.state_machine_arn.clone().expect("machine");
    let topic_arn = status.topic_arn.clone().expect("topic");
    for arn in [
        &machine,
        &topic_arn,
        status.role_arn.as_ref().expect("role"),
    ] {
        assert!(arn.contains(&format!(":{TEAM_ACCOUNT}:")), "{arn} not in B");
    }
    assert_eq!(
        status
            .last_run
            .as_ref()
            .and_then(|r| r.outcome)
            .map(|o| format!("{o:?}")),
        Some("Succeeded".into()),
        "{status:?}"
    );
    // In B, with the ownership tags; not in A.
    let tags = team
        .sfn
        .list_tags_for_resource()
        .resource_arn(&machine)
        .send()
        .await
        .expect("the state machine in B");
    assert!(
        tags.tags()
            .iter()
            .any(|t| t.key() == Some("batchnotify.dev/namespace")
                && t.value() == Some(ctx.ns.as_str())),
        "{tags:?}"
    );
    let in_a = aws_sdk_sfn::Client::new(&ctx.aws)
        .describe_state_machine()
        .state_machine_arn(machine.replace(TEAM_ACCOUNT, "123456789012"))
        .send()
        .await;
    assert!(in_a.is_err(), "a state machine in A");
    // The notification reached B's subscriber.
    let delivered =
        crate::support::eventually("the notification in B", Duration::from_secs(30), || async {
            let got = team
                .sqs
                .receive_message()
                .queue_url(&subscriber)
                .send()
                .await
                .ok()?;
            let body = got.messages().first()?.body()?.to_string();
            Some(body)
        })
        .await;
    assert!(delivered.contains("succeeded"), "{delivered}");
    plugin_reads_account_b(&ctx, &team, &role_arn).await;

    // The team's admin withdraws the operator's trust (another external ID):
    // once the session expires, deletion keeps the finalizer and says why.
    trust(&team, &role, &operator_arn, "not-the-grants").await;
    sessions_expired(&role_arn).await;
    ctx.api()
        .delete("team", &DeleteParams::default())
        .await
        .expect("delete");
    let events = crate::support::eventually(
        "AssumeRoleFailed on deletion",
        Duration::from_secs(90),
        || async {
            let events = ctx.events("team").await;
            events
                .iter()
                .any(|(r, _)| r == "AssumeRoleFailed")
                .then_some(events)
        },
    )
    .await;
    let note = events
        .iter()
        .find(|(r, _)| r == "AssumeRoleFailed")
        .map(|(_, n)| n.clone())
        .unwrap_or_default();
    assert!(
        note.contains(&role_arn) || note.contains("AssumeRole"),
        "{note}"
    );
    let held = ctx.api().get("team").await.expect("still there");
    assert!(
        held.metadata
            .finalizers
            .as_ref()
            .is_some_and(|f| f.iter().any(|x| x == "batchnotify.dev/cleanup")),
        "the finalizer stays"
    );
    assert!(
        team.sfn
            .describe_state_machine()
            .state_machine_arn(&machine)
            .send()
            .await
            .is_ok()
    );

    // Trust restored: deletion completes, in B, leaving nothing there.
    trust(&team, &role, &operator_arn, &external_id).await;
    ctx.wait_gone("team").await;
    assert!(
        team.sfn
            .describe_state_machine()
            .state_machine_arn(&machine)
            .send()
            .await
            .is_err()
    );
    assert!(
        team.sns
            .get_topic_attributes()
            .topic_arn(&topic_arn)
            .send()
            .await
            .is_err()
    );
    let names = Names::new("test", &ctx.ns, "team").expect("names");
    assert!(
        team.iam
            .get_role()
            .role_name(&names.role)
            .send()
            .await
            .is_err()
    );
    assert!(!op.logs().contains("panicked"));
    delete_grant(&ctx, &grant_name).await;
}

/// `kubectl batchnotify logs` of the run in B by a person in A: the grant's
/// role (which trusts only the operator) refuses them, clearly; a read role
/// B's admin made for them, named with --role-arn, works.
async fn plugin_reads_account_b(ctx: &Ctx, team: &Root, grant_role: &str) {
    let p = &ctx.prefix;
    let reader = format!("{p}-reader");
    let mut policy = shipped("deploy/iam/plugin-policy.json", &[]);
    if let Some(all) = policy["Statement"].as_array_mut() {
        all.push(json!({"Effect": "Allow", "Action": ["sts:AssumeRole"],
            "Resource": format!("arn:aws:iam::{TEAM_ACCOUNT}:role/*")}));
    }
    let plugin = crate::plugin::Plugin::new(ctx, &policy);
    let person = format!("arn:aws:iam::123456789012:user/{}", plugin.user.user);
    let refused = plugin.run(&["logs", "team"]);
    assert_eq!(refused.code, 3, "{}", refused.stderr);
    assert!(
        refused.stderr.contains(grant_role) && refused.stderr.contains("cannot assume"),
        "{}",
        refused.stderr
    );
    let trust = json!({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": person}, "Action": "sts:AssumeRole"
    }]});
    let reader_arn = team
        .iam
        .create_role()
        .role_name(&reader)
        .assume_role_policy_document(trust.to_string())
        .send()
        .await
        .expect("create the reader role")
        .role()
        .map(|r| r.arn().to_string())
        .unwrap_or_default();
    team.iam
        .put_role_policy()
        .role_name(&reader)
        .policy_name("plugin")
        .policy_document(shipped("deploy/iam/plugin-policy.json", &[]).to_string())
        .send()
        .await
        .expect("the reader's permissions");
    let read = plugin.run(&["logs", "team", "--role-arn", &reader_arn]);
    assert_eq!(read.code, 0, "{}", read.stderr);
    assert!(read.stdout.contains("echo hello"), "{}", read.stdout);
}

/// Waits until every session of `role` the emulator granted has expired (the
/// bed caps sessions at 30 s: `--assumed-role-seconds`): from then on the
/// role's principal has credentials only if AssumeRole succeeds again.
async fn sessions_expired(role: &str) {
    let url = format!(
        "{}/_batchnotify/principals",
        crate::support::bed().aws_endpoint
    );
    crate::support::eventually(
        "the role's sessions to expire",
        Duration::from_secs(90),
        || async {
            let body = crate::support::try_http("GET", &url)?;
            let all: serde_json::Map<String, Value> = serde_json::from_str(&body).ok()?;
            let now = jiff::Timestamp::now();
            let live = all.values().any(|p| {
                p["role"].as_str() == Some(role)
                    && p["expiration"]
                        .as_str()
                        .and_then(|e| e.parse::<jiff::Timestamp>().ok())
                        .is_some_and(|e| e > now)
            });
            (!live).then_some(())
        },
    )
    .await
}
