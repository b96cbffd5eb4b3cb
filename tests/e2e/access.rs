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

use crate::support::{Ctx, batch_stack, example};

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
    // And narrows it: an object it no longer covers is Stalled again.
    spec["managed"] = json!([]);
    grant(&ctx, spec).await;
    stalled(&ctx, "managed", "ManagedNotGranted").await;
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
