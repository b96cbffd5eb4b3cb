//! Issue #28: objects stored by an earlier release survive a CRD upgrade.
//! A message written when braces were plain text (0.2, before placeholders)
//! is stored with 0.2's CRD; then today's CRD is applied and the operator
//! started. The text is sent as it was written, the object is Ready, a Normal
//! Event and `status.literalMessages` say so, and the API server's
//! validation ratcheting lets other fields change while a new message must
//! satisfy today's rule. The bed is this binary's own: swapping the CRD
//! under other tests would prune their fields.

#[path = "../support/mod.rs"]
mod support;

use std::time::Duration;

use k8s_openapi::api::events::v1::Event;
use kube::api::Api;
use serde_json::{Value, json};

use support::{Ctx, batch_stack, delivered, example, subscriber};

/// Texts 0.2 accepted and published byte for byte; today's rule refuses each.
const OLD_SUCCESS: &str = "done {braces} as JSON {\"ok\": true}";
const OLD_FAILURE: &str = "failed } {jobid} ✓ 'q' \\ $.x";

fn apply_crd(file: &str, crd: &str) {
    let bed = support::bed_with(false);
    let path = support::repo(file);
    let out = bed
        .kubectl()
        .args(["apply", "--server-side", "--force-conflicts", "-f"])
        .arg(&path)
        .output()
        .expect("run kubectl apply");
    assert!(
        out.status.success(),
        "apply {file}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = bed
        .kubectl()
        .args(["wait", "--for=condition=Established", "--timeout=30s", crd])
        .output()
        .expect("run kubectl wait");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `kubectl apply` of `obj` as a user types it: its exit status and output.
fn kubectl_apply(ctx: &Ctx, obj: &Value) -> (bool, String) {
    let (ok, out, err) = support::cli::run(
        support::cli::with(ctx.kubectl(), &["apply", "--server-side", "-f", "-"]),
        &obj.to_string(),
    );
    (ok, format!("{out}{err}"))
}

async fn state_machine_messages(ctx: &Ctx, arn: &str) -> (Value, Value) {
    let sfn = aws_sdk_sfn::Client::new(&ctx.aws);
    let described = sfn
        .describe_state_machine()
        .state_machine_arn(arn)
        .send()
        .await
        .expect("describe state machine");
    let definition: Value =
        serde_json::from_str(described.definition()).expect("definition is JSON");
    let message = |state: &str| definition["States"][state]["Parameters"].clone();
    (message("Notify Success"), message("Notify Failure"))
}

#[tokio::test]
async fn a_message_stored_before_placeholders_is_sent_as_written_after_the_upgrade() {
    // 0.2's CRD, and an object it accepts.
    support::bed_with(false);
    apply_crd(
        "tests/fixtures/crd-0.2/batchnotify.dev_batchnotifications.yaml",
        "crd/batchnotifications.batchnotify.dev",
    );
    let ctx = Ctx::new("upgrade-literal").await;
    let (queue_arn, job_definition) =
        batch_stack(&ctx.aws, &format!("{}-old", ctx.prefix), "report").await;
    let (url, endpoint) = subscriber(&ctx, "old-sub").await;
    let mut obj = example("existing-arns.yaml");
    obj["metadata"]["name"] = json!("old");
    obj["spec"]["jobQueue"] = json!({"arn": queue_arn});
    obj["spec"]["jobDefinition"] = json!({"arn": job_definition});
    obj["spec"]["topic"] =
        json!({"managed": {"subscriptions": [{"protocol": "sqs", "endpoint": endpoint}]}});
    obj["spec"]["messages"] = json!({"success": OLD_SUCCESS, "failure": OLD_FAILURE});
    obj["spec"]["run"] = json!({"trigger": "1"});
    let (ok, out) = kubectl_apply(&ctx, &obj);
    assert!(ok, "0.2's CRD accepts braces as text: {out}");

    // Today's CRD refuses such a text in a new object...
    apply_crd(
        "crds/batchnotify.dev_batchnotifications.yaml",
        "crd/batchnotifications.batchnotify.dev",
    );
    apply_crd(
        "crds/batchnotify.dev_accessgrants.yaml",
        "crd/accessgrants.batchnotify.dev",
    );
    let mut fresh = obj.clone();
    fresh["metadata"]["name"] = json!("new");
    let (ok, out) = kubectl_apply(&ctx, &fresh);
    assert!(
        !ok && out.contains(
            "spec.messages.success: Invalid value: \"string\": unknown placeholder {braces} at character 6"
        ),
        "{out}"
    );

    // ...and the operator sends the stored one as it was written.
    let _op = ctx.operator(&[]);
    let ready = ctx.wait_ready("old").await;
    let status = ready.status.clone().unwrap_or_default();
    assert_eq!(
        status.literal_messages,
        ["spec.messages.success", "spec.messages.failure"],
        "{status:?}"
    );
    let arn = status.state_machine_arn.clone().expect("state machine");
    // The definition 0.2 made: the texts verbatim, no context states.
    let (success, failure) = state_machine_messages(&ctx, &arn).await;
    assert_eq!(success["Message"], json!(OLD_SUCCESS), "{success}");
    assert_eq!(failure["Message"], json!(OLD_FAILURE), "{failure}");
    let o = ctx
        .wait("old", "the run's outcome", Duration::from_secs(90), |o| {
            o.status
                .as_ref()
                .and_then(|s| s.last_run.as_ref())
                .is_some_and(|r| r.outcome.is_some())
        })
        .await;
    let runs = o.status.clone().unwrap_or_default().runs;
    assert_eq!(runs.len(), 1, "one run, started once: {runs:?}");
    assert_eq!(delivered(&ctx, &url, 1).await, [OLD_SUCCESS]);

    // One Normal Event per field, no Warning.
    let events: Api<Event> = Api::namespaced(ctx.client.clone(), &ctx.ns);
    let about: Vec<Event> = events
        .list(&Default::default())
        .await
        .expect("events")
        .items
        .into_iter()
        .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some("old"))
        .collect();
    let literal: Vec<&Event> = about
        .iter()
        .filter(|e| e.reason.as_deref() == Some("LiteralMessage"))
        .collect();
    assert_eq!(literal.len(), 1, "{about:?}");
    assert_eq!(literal[0].type_.as_deref(), Some("Normal"));
    let note = literal[0].note.as_deref().unwrap_or_default();
    assert!(
        note.starts_with(
            "published as written, braces literal, because stored before placeholders existed and refused by today's rule: spec.messages.success (unknown placeholder {braces} at character 6;"
        ) && note.contains("; spec.messages.failure (a lone } at character 8:")
            && note.ends_with("To use placeholders, edit the text (write {{ or }} for a literal brace)"),
        "{note}"
    );
    // IAM propagating after the role's creation is still a Warning (issue
    // #24 makes routine waits Normal); nothing else may be.
    let warnings: Vec<_> = about
        .iter()
        .filter(|e| e.type_.as_deref() == Some("Warning"))
        .filter(|e| e.reason.as_deref() != Some("RolePropagating"))
        .map(|e| (e.reason.clone(), e.note.clone()))
        .collect();
    assert!(warnings.is_empty(), "{warnings:?}");

    // Ratcheting: another field may change while the stored text stays...
    let mut edit = obj.clone();
    edit["spec"]["tags"] = json!({"team": "data", "edited": "yes"});
    let (ok, out) = kubectl_apply(&ctx, &edit);
    assert!(
        ok,
        "an unchanged stored message does not block other edits: {out}"
    );
    // ...but a changed message must satisfy today's rule, in words.
    edit["spec"]["messages"]["success"] = json!("still { wrong");
    let (ok, out) = kubectl_apply(&ctx, &edit);
    assert!(
        !ok && out.contains(
            "spec.messages.success: Invalid value: \"string\": a lone { at character 7: write {{ or }} for a literal brace"
        ),
        "{out}"
    );
    // Opting in: the literal mode ends for that field, nothing else changes.
    edit["spec"]["messages"]["success"] = json!("done {{braces}} for {name}");
    let (ok, out) = kubectl_apply(&ctx, &edit);
    assert!(ok, "{out}");
    let o = ctx
        .wait(
            "old",
            "only the failure text literal",
            Duration::from_secs(60),
            |o| {
                let s = o.status.clone().unwrap_or_default();
                s.observed_generation == o.metadata.generation
                    && s.literal_messages == ["spec.messages.failure"]
            },
        )
        .await;
    assert!(
        batchnotify::api::conditions::is_true(
            &o.status.clone().unwrap_or_default().conditions,
            "Ready"
        ),
        "{o:?}"
    );
    edit["spec"]["run"]["trigger"] = json!("2");
    let (ok, out) = kubectl_apply(&ctx, &edit);
    assert!(ok, "{out}");
    let o = ctx
        .wait(
            "old",
            "the second run's outcome",
            Duration::from_secs(90),
            |o| {
                o.status.as_ref().is_some_and(|s| {
                    s.last_trigger.as_deref() == Some("2")
                        && s.last_run.as_ref().is_some_and(|r| r.outcome.is_some())
                })
            },
        )
        .await;
    assert_eq!(o.status.unwrap_or_default().runs.len(), 2);
    assert_eq!(delivered(&ctx, &url, 1).await, ["done {braces} for old"]);
}
