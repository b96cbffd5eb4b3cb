//! Security: the role the operator makes is least-privilege and guarded
//! against the confused deputy; an object in one namespace can never modify,
//! adopt or delete what an object in another namespace owns; and neither the
//! operator's AWS secret key nor a subscription endpoint shows up in its log
//! or in Events. (That the operator runs under deploy/'s RBAC alone is
//! tests/e2e/deploy.rs's.)

use std::collections::BTreeMap;

use batchnotify::desired::Names;
use batchnotify::desired::documents::{decode_iam_policy, documents_equal};
use batchnotify::desired::tags;
use batchnotify_testbed::ACCOUNT_ID;
use k8s_openapi::api::events::v1::Event;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams};
use serde_json::{Value, json};

use crate::common::{
    CONVERGE, assert_no_panic, condition, managed, referenced_stack, runnable, wait_gone, wait_ran,
};
use crate::figures::Record;
use crate::support::faults::seed_for;
use crate::support::{Ctx, Operator};

fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a
            .iter()
            .filter_map(|s| s.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}

/// Checks the role's trust and inline policies; returns the statements checked.
async fn check_role(ctx: &Ctx, role_arn: &str, machine_arn: &str) -> usize {
    let iam = aws_sdk_iam::Client::new(&ctx.aws);
    let role = role_arn.rsplit('/').next().expect("role name");
    let got = iam
        .get_role()
        .role_name(role)
        .send()
        .await
        .expect("get role");
    let trust = decode_iam_policy(
        got.role()
            .and_then(|r| r.assume_role_policy_document())
            .expect("trust policy"),
    )
    .expect("trust json");
    let mut checked = 0;
    for s in trust["Statement"].as_array().expect("trust statements") {
        assert_eq!(s["Effect"], "Allow", "{trust:#}");
        assert_eq!(
            strings(&s["Principal"]["Service"]),
            ["states.amazonaws.com"],
            "{trust:#}"
        );
        // The confused-deputy guard: only this account's state machine.
        assert_eq!(
            s["Condition"]["StringEquals"]["aws:SourceAccount"],
            json!(ACCOUNT_ID),
            "{trust:#}"
        );
        let source = s["Condition"]["ArnLike"]["aws:SourceArn"]
            .as_str()
            .or_else(|| s["Condition"]["ArnEquals"]["aws:SourceArn"].as_str())
            .unwrap_or_else(|| panic!("no aws:SourceArn condition: {trust:#}"));
        assert_eq!(source, machine_arn, "{trust:#}");
        checked += 1;
    }
    let attached = iam
        .list_attached_role_policies()
        .role_name(role)
        .send()
        .await
        .expect("attached policies");
    assert!(
        attached.attached_policies().is_empty(),
        "managed policies attached"
    );
    let names = iam
        .list_role_policies()
        .role_name(role)
        .send()
        .await
        .expect("list role policies");
    assert_eq!(names.policy_names().len(), 1, "one inline policy");
    for name in names.policy_names() {
        let doc = iam
            .get_role_policy()
            .role_name(role)
            .policy_name(name)
            .send()
            .await
            .expect("get role policy");
        let policy = decode_iam_policy(doc.policy_document()).expect("policy json");
        for s in policy["Statement"].as_array().expect("statements") {
            assert!(
                s.get("NotAction").is_none() && s.get("NotResource").is_none(),
                "{s}"
            );
            let actions = strings(&s["Action"]);
            let resources = strings(&s["Resource"]);
            assert!(
                actions.iter().all(|a| a != "*" && !a.ends_with(":*")),
                "wildcard action: {s}"
            );
            if resources.iter().any(|r| r == "*") {
                // The one action AWS gives no resource-level permission.
                assert_eq!(actions, ["batch:DescribeJobs"], "`*` resource: {s}");
            }
            assert!(
                resources.iter().all(|r| r == "*" || r.contains(ACCOUNT_ID)),
                "a resource outside the account: {s}"
            );
            checked += 1;
        }
    }
    checked
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_role_is_least_privilege_and_no_secret_reaches_logs_or_events() {
    let seed = seed_for("security");
    let mut rec = Record::new("security", seed);
    let ctx = Ctx::new("rel-security").await;
    let stack = referenced_stack(&ctx).await;
    let emails = [
        format!("canary-{seed}@reliability.example"),
        format!("canary-{seed}-2@reliability.example"),
    ];
    // The operator's own IAM user: its secret key (random, 40 characters) is
    // the canary that must reach no log line and no Event.
    let op = Operator::start_with_env(&ctx.ns, &format!("op-{}", ctx.ns), &[], &[]);
    let secret = op.secret.clone();
    let mut objects = vec![
        runnable("guarded", &stack, "1"),
        managed("guarded-managed", "1"),
    ];
    for o in objects.iter_mut() {
        o["spec"]["topic"]["managed"]["subscriptions"] =
            json!([{"protocol": "email", "endpoint": emails[0]}]);
        ctx.apply(o).await;
    }
    rec.objects = objects.len() as u64;
    let mut statements = 0;
    for o in &objects {
        let name = o["metadata"]["name"].as_str().expect("name");
        let done = wait_ran(&ctx, name, "1").await;
        let status = done.status.expect("status");
        statements += check_role(
            &ctx,
            status.role_arn.as_deref().expect("roleArn"),
            status
                .state_machine_arn
                .as_deref()
                .expect("stateMachineArn"),
        )
        .await;
    }
    // Change the endpoint (subscribe, unsubscribe), then delete: every path
    // that handles an endpoint runs.
    for o in objects.iter_mut() {
        o["spec"]["topic"]["managed"]["subscriptions"] =
            json!([{"protocol": "email", "endpoint": emails[1]}]);
        ctx.apply(o).await;
    }
    for o in &objects {
        let name = o["metadata"]["name"].as_str().expect("name");
        ctx.wait(name, "the new subscription", CONVERGE, |b| {
            crate::common::converged(b)
                && b.status
                    .as_ref()
                    .is_some_and(|s| s.subscriptions.iter().any(|x| x.endpoint == emails[1]))
        })
        .await;
        ctx.api()
            .delete(name, &DeleteParams::default())
            .await
            .expect("delete");
    }
    for o in &objects {
        wait_gone(&ctx, o["metadata"]["name"].as_str().expect("name")).await;
    }

    let logs = op.all_logs();
    let events: Api<Event> = Api::namespaced(ctx.client.clone(), &ctx.ns);
    let events = events
        .list(&Default::default())
        .await
        .expect("events")
        .items;
    let events_text = serde_json::to_string(&events).expect("events json");
    for (what, needle) in [
        ("the AWS secret key", secret.as_str()),
        ("a subscription endpoint", emails[0].as_str()),
        ("a subscription endpoint", emails[1].as_str()),
    ] {
        assert!(!logs.contains(needle), "{what} is in the operator's log");
        assert!(!events_text.contains(needle), "{what} is in an Event");
    }
    assert!(
        !events.is_empty() && logs.lines().count() > 10,
        "something to search"
    );
    rec.note(format!(
        "{statements} IAM statements checked; secret key and 2 endpoints absent from {} log lines and {} Events",
        logs.lines().count(),
        events.len()
    ));
    assert_no_panic(&op);
}

// ---------------------------------------------------------------- namespaces

fn sdk_tags(t: &BTreeMap<String, String>) -> Vec<(String, String)> {
    t.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// What can be observed of a topic, role and state machine, to compare before and after.
async fn snapshot(ctx: &Ctx, topic: &str, role: &str, machine: &str) -> Value {
    let sns = aws_sdk_sns::Client::new(&ctx.aws);
    let iam = aws_sdk_iam::Client::new(&ctx.aws);
    let sfn = aws_sdk_sfn::Client::new(&ctx.aws);
    let topic_attrs = sns
        .get_topic_attributes()
        .topic_arn(topic)
        .send()
        .await
        .ok()
        .and_then(|a| a.attributes().and_then(|m| m.get("DisplayName").cloned()));
    let topic_tags: BTreeMap<String, String> = sns
        .list_tags_for_resource()
        .resource_arn(topic)
        .send()
        .await
        .map(|t| {
            t.tags()
                .iter()
                .map(|t| (t.key().to_string(), t.value().to_string()))
                .collect()
        })
        .unwrap_or_default();
    let subscriptions = sns
        .list_subscriptions_by_topic()
        .topic_arn(topic)
        .send()
        .await
        .map(|s| s.subscriptions().len())
        .unwrap_or(usize::MAX);
    let role_out = iam.get_role().role_name(role).send().await.ok();
    let trust = role_out
        .as_ref()
        .and_then(|r| r.role()?.assume_role_policy_document())
        .and_then(|d| decode_iam_policy(d).ok());
    let role_tags: BTreeMap<String, String> = iam
        .list_role_tags()
        .role_name(role)
        .send()
        .await
        .map(|t| {
            t.tags()
                .iter()
                .map(|t| (t.key().to_string(), t.value().to_string()))
                .collect()
        })
        .unwrap_or_default();
    let mut inline = BTreeMap::new();
    if let Ok(names) = iam.list_role_policies().role_name(role).send().await {
        for n in names.policy_names() {
            if let Ok(p) = iam
                .get_role_policy()
                .role_name(role)
                .policy_name(n)
                .send()
                .await
            {
                inline.insert(n.clone(), decode_iam_policy(p.policy_document()).ok());
            }
        }
    }
    let described = sfn
        .describe_state_machine()
        .state_machine_arn(machine)
        .send()
        .await
        .ok();
    let machine_tags: BTreeMap<String, String> = sfn
        .list_tags_for_resource()
        .resource_arn(machine)
        .send()
        .await
        .map(|t| {
            t.tags()
                .iter()
                .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
                .collect()
        })
        .unwrap_or_default();
    json!({
        "topic": {"exists": topic_attrs.is_some(), "displayName": topic_attrs, "tags": topic_tags, "subscriptions": subscriptions},
        "role": {"exists": role_out.is_some(), "trust": trust, "tags": role_tags, "inline": inline},
        "machine": {
            "exists": described.is_some(),
            "definition": described.as_ref().and_then(|d| serde_json::from_str::<Value>(d.definition()).ok()),
            "roleArn": described.as_ref().map(|d| d.role_arn().to_string()),
            "tags": machine_tags,
        },
    })
}

fn same(a: &Value, b: &Value) -> bool {
    documents_equal(a, b)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_namespace_can_never_modify_adopt_or_delete_what_is_ours() {
    let seed = seed_for("namespaces");
    let mut rec = Record::new("namespaces", seed);

    // Namespace B: a real object with its own operator.
    let b = Ctx::new("rel-sec-owner").await;
    let stack = referenced_stack(&b).await;
    let _op_b = Operator::start(&b.ns, &format!("op-{}", b.ns), &[]);
    let mut victim = runnable("victim", &stack, "1");
    victim["spec"]["topic"]["managed"] = json!({"displayName": "owned by B"});
    b.apply(&victim).await;
    let victim_obj = wait_ran(&b, "victim", "1").await;
    let victim_uid = victim_obj.uid().expect("uid");
    let vs = victim_obj.status.clone().expect("status");
    let victim_topic = vs.topic_arn.clone().expect("topic");
    let victim_role = vs.role_arn.clone().expect("role");
    let victim_role = victim_role.rsplit('/').next().expect("name").to_string();
    let victim_machine = vs.state_machine_arn.clone().expect("machine");
    let victim_before = snapshot(&b, &victim_topic, &victim_role, &victim_machine).await;
    let b_tags = BTreeMap::from([
        (tags::CLUSTER.to_string(), "test".to_string()),
        (tags::NAMESPACE.to_string(), b.ns.clone()),
        (tags::NAME.to_string(), "victim".to_string()),
        (tags::UID.to_string(), victim_uid.clone()),
    ]);

    // Namespace A: resources under the names A's objects will use, owned by
    // B's object (its tags), as if B had made them.
    let a = Ctx::new("rel-sec-intruder").await;
    let names = |name: &str| Names::new("test", &a.ns, name).expect("names");
    let scope = batchnotify::desired::Scope::new("us-east-1", ACCOUNT_ID).expect("scope");
    let sns = aws_sdk_sns::Client::new(&a.aws);
    let iam = aws_sdk_iam::Client::new(&a.aws);
    let sfn = aws_sdk_sfn::Client::new(&a.aws);

    let topic_names = names("intruder-topic");
    let planted_topic = sns
        .create_topic()
        .name(&topic_names.topic)
        .attributes("DisplayName", "planted, owned by B")
        .set_tags(Some(
            sdk_tags(&b_tags)
                .into_iter()
                .map(|(k, v)| {
                    aws_sdk_sns::types::Tag::builder()
                        .key(k)
                        .value(v)
                        .build()
                        .expect("tag")
                })
                .collect(),
        ))
        .send()
        .await
        .expect("plant topic")
        .topic_arn()
        .unwrap_or_default()
        .to_string();

    let role_names = names("intruder-role");
    let planted_trust = json!({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "states.amazonaws.com"}, "Action": "sts:AssumeRole"}]});
    let planted_policy = json!({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": ["sns:Publish"], "Resource": [victim_topic.clone()]}]});
    iam.create_role()
        .role_name(&role_names.role)
        .assume_role_policy_document(planted_trust.to_string())
        .set_tags(Some(
            sdk_tags(&b_tags)
                .into_iter()
                .map(|(k, v)| {
                    aws_sdk_iam::types::Tag::builder()
                        .key(k)
                        .value(v)
                        .build()
                        .expect("tag")
                })
                .collect(),
        ))
        .send()
        .await
        .expect("plant role");
    iam.put_role_policy()
        .role_name(&role_names.role)
        .policy_name(&role_names.policy)
        .policy_document(planted_policy.to_string())
        .send()
        .await
        .expect("plant role policy");

    let machine_names = names("intruder-machine");
    let planted_definition =
        json!({"StartAt": "Planted", "States": {"Planted": {"Type": "Pass", "End": true}}});
    let planted_machine = crate::support::while_role_propagates("plant state machine", || {
        sfn.create_state_machine()
            .name(&machine_names.state_machine)
            .definition(planted_definition.to_string())
            .role_arn(scope.role_arn(&role_names.role))
            .set_tags(Some(
                sdk_tags(&b_tags)
                    .into_iter()
                    .map(|(k, v)| aws_sdk_sfn::types::Tag::builder().key(k).value(v).build())
                    .collect(),
            ))
            .send()
    })
    .await
    .state_machine_arn()
    .to_string();
    let planted = [(
        planted_topic.clone(),
        role_names.role.clone(),
        planted_machine.clone(),
    )];
    let planted_before = snapshot(&a, &planted[0].0, &planted[0].1, &planted[0].2).await;

    // A's objects, each asking to adopt, each meeting B's resource at its name;
    // and one that merely references B's topic.
    let _op_a = Operator::start(&a.ns, &format!("op-{}", a.ns), &[]);
    let adopt = |mut o: Value| {
        o["metadata"]["annotations"] = json!({"batchnotify.dev/adopt": "true"});
        o
    };
    let mut intruder_topic = runnable("intruder-topic", &stack, "1");
    intruder_topic["spec"]["topic"] = json!({"managed": {"displayName": "taken over"}});
    let mut intruder_role = runnable("intruder-role", &stack, "1");
    intruder_role["spec"]["topic"] = json!({"arn": victim_topic});
    let mut intruder_machine = runnable("intruder-machine", &stack, "1");
    intruder_machine["spec"]["topic"] = json!({"arn": victim_topic});
    let mut referencing = runnable("referencing", &stack, "1");
    referencing["spec"]["topic"] = json!({"arn": victim_topic});
    let conflicts = [
        adopt(intruder_topic),
        adopt(intruder_role),
        adopt(intruder_machine),
    ];
    for o in &conflicts {
        a.apply(o).await;
    }
    a.apply(&adopt(referencing)).await;
    rec.objects = 1 + conflicts.len() as u64 + 1;

    for o in &conflicts {
        let name = o["metadata"]["name"].as_str().expect("name");
        let stuck = a
            .wait(name, "Stalled, OwnershipConflict", CONVERGE, |x| {
                condition(x, "Stalled")
                    .is_some_and(|(s, r, _)| s == "True" && r == "OwnershipConflict")
            })
            .await;
        let (_, _, message) = condition(&stuck, "Ready").expect("Ready");
        assert!(
            message.contains(&format!("{}/victim", b.ns)),
            "{name}: the message names the owner: {message}"
        );
        let events = a.events(name).await;
        assert!(
            events.iter().any(|(r, _)| r == "OwnershipConflict"),
            "{name}: {events:?}"
        );
    }
    wait_ran(&a, "referencing", "1").await;

    // Nothing of B's changed; then A's objects are deleted, and still nothing did.
    let after_conflicts = snapshot(&a, &planted[0].0, &planted[0].1, &planted[0].2).await;
    assert!(
        same(&planted_before, &after_conflicts),
        "modified:\n{planted_before:#}\n{after_conflicts:#}"
    );
    for name in [
        "intruder-topic",
        "intruder-role",
        "intruder-machine",
        "referencing",
    ] {
        a.api()
            .delete(name, &DeleteParams::default())
            .await
            .expect("delete");
    }
    for name in [
        "intruder-topic",
        "intruder-role",
        "intruder-machine",
        "referencing",
    ] {
        wait_gone(&a, name).await;
    }
    let planted_after = snapshot(&a, &planted[0].0, &planted[0].1, &planted[0].2).await;
    assert!(
        same(&planted_before, &planted_after),
        "deleted or modified:\n{planted_before:#}\n{planted_after:#}"
    );
    let victim_after = snapshot(&b, &victim_topic, &victim_role, &victim_machine).await;
    assert!(
        same(&victim_before, &victim_after),
        "B's own resources changed:\n{victim_before:#}\n{victim_after:#}"
    );
    assert!(crate::common::converged(
        &b.api().get("victim").await.expect("victim")
    ));
    rec.note(format!(
        "{} adoptions of B's resources refused (OwnershipConflict), 3 references to B's topic: 0 changes, 0 deletions",
        conflicts.len()
    ));
    assert_no_panic(&_op_a);
    assert_no_panic(&_op_b);

    // Tidy up what the test planted.
    let _ = sns.delete_topic().topic_arn(&planted_topic).send().await;
    let _ = sfn
        .delete_state_machine()
        .state_machine_arn(&planted_machine)
        .send()
        .await;
    let _ = iam
        .delete_role_policy()
        .role_name(&role_names.role)
        .policy_name(&role_names.policy)
        .send()
        .await;
    let _ = iam.delete_role().role_name(&role_names.role).send().await;
    let _ = b.api().delete("victim", &DeleteParams::default()).await;
    wait_gone(&b, "victim").await;
}
