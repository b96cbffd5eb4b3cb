//! Upgrades. Issue #24: this build takes over from the previous release
//! (tests/upgrade/previous-release, built by scripts/previous-release.sh)
//! with objects in every state, and nothing is done twice or lost.
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

use std::collections::BTreeMap;
use std::time::Duration;

use batchnotify::api::{BatchNotification, RunOutcome};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::events::v1::Event;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, WatchEvent, WatchParams};
use serde_json::{Value, json};

use support::{
    Ctx, HOLD_MARKER, Operator, Principal, batch_stack, delivered, example, operator_policy,
    subscriber,
};

/// The tests of this binary swap the CRD under the bed: one at a time.
static CRD: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

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
    support::wait_established(bed, crd);
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
    let _crd = CRD.lock().await;
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
    // No Warning: IAM propagating is a routine wait, a Normal Event (#24).
    let warnings: Vec<_> = about
        .iter()
        .filter(|e| e.type_.as_deref() == Some("Warning"))
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

// ------------------------------------------------------------ issue #24

/// An object over a queue and job definition the test makes (`job` names
/// the emulator's marker), with a managed topic.
async fn over_a_stack(ctx: &Ctx, name: &str, job: &str) -> Value {
    let (queue_arn, job_definition) =
        batch_stack(&ctx.aws, &format!("{}-{name}", ctx.prefix), job).await;
    let mut obj = example("existing-arns.yaml");
    obj["metadata"]["name"] = json!(name);
    obj["spec"]["jobQueue"] = json!({"arn": queue_arn});
    obj["spec"]["jobDefinition"] = json!({"arn": job_definition});
    obj["spec"]["topic"] = json!({"managed": {}});
    obj["spec"]["deletionPolicy"] = json!("Delete");
    if let Some(spec) = obj["spec"].as_object_mut() {
        spec.remove("run");
    }
    obj
}

/// Per object: its status as the previous release left it.
type Statuses = BTreeMap<String, Value>;

async fn statuses(ctx: &Ctx) -> (Statuses, String) {
    let list = ctx.api().list(&Default::default()).await.expect("list");
    let version = list.metadata.resource_version.clone().unwrap_or_default();
    let statuses = list
        .items
        .iter()
        .map(|o| (o.name_any(), json!(o.status)))
        .collect();
    (statuses, version)
}

/// Counts, per object, the writes that changed its status, from
/// `version` on, until the task is aborted.
fn count_status_writes(
    ctx: &Ctx,
    version: String,
    before: Statuses,
) -> (
    tokio::task::JoinHandle<()>,
    std::sync::Arc<std::sync::Mutex<BTreeMap<String, usize>>>,
) {
    let counts = std::sync::Arc::new(std::sync::Mutex::new(BTreeMap::new()));
    let api = ctx.api();
    let seen = counts.clone();
    let task = tokio::spawn(async move {
        let mut last = before;
        let mut stream = api
            .watch(&WatchParams::default(), &version)
            .await
            .expect("watch from the upgrade's resourceVersion")
            .boxed();
        while let Ok(Some(event)) = stream.try_next().await {
            if let WatchEvent::Modified(o) = event {
                let status = json!(o.status);
                let name = o.name_any();
                if last.get(&name) != Some(&status) {
                    *seen
                        .lock()
                        .expect("counts")
                        .entry(name.clone())
                        .or_insert(0) += 1;
                    last.insert(name, status);
                }
            }
        }
    });
    (task, counts)
}

/// The Warning Events of the namespace: (object, reason) → the Events'
/// names with their counts (series included).
type Warnings = BTreeMap<(String, String), BTreeMap<String, i32>>;

async fn warnings(ctx: &Ctx) -> Warnings {
    let mut out = Warnings::new();
    for e in ctx.all_events().await.expect("events") {
        if e.type_.as_deref() != Some("Warning") {
            continue;
        }
        let count = e.series.as_ref().map_or(1, |s| s.count);
        let about = e
            .regarding
            .as_ref()
            .and_then(|r| r.name.clone())
            .unwrap_or_default();
        let reason = e.reason.clone().unwrap_or_default();
        out.entry((about, reason))
            .or_default()
            .insert(e.name_any(), count);
    }
    out
}

/// What is new in `after`: Warnings of an (object, reason) the previous
/// release never warned of (fails), and the same trouble warned of again
/// because this release words it differently (printed).
fn new_warnings(before: &Warnings, after: &Warnings) -> Vec<(String, String)> {
    let mut new = Vec::new();
    for (key, events) in after {
        let Some(old) = before.get(key) else {
            new.push(key.clone());
            continue;
        };
        if events.iter().any(|(name, n)| old.get(name) != Some(n)) {
            println!(
                "{}: {} warned of again, in this release's words",
                key.0, key.1
            );
        }
    }
    new
}

fn machine_of(o: &BatchNotification) -> String {
    o.status
        .as_ref()
        .and_then(|s| s.state_machine_arn.clone())
        .expect("state machine in status")
}

fn topic_of(o: &BatchNotification) -> String {
    o.status
        .as_ref()
        .and_then(|s| s.topic_arn.clone())
        .expect("topic in status")
}

async fn topic_exists(ctx: &Ctx, arn: &str) -> bool {
    aws_sdk_sns::Client::new(&ctx.aws)
        .get_topic_attributes()
        .topic_arn(arn)
        .send()
        .await
        .is_ok()
}

/// The previous release runs objects that are Ready (the seed's sample, its
/// run finished), scheduled, running (a job held RUNNABLE), Stalled,
/// retained (`deletionPolicy: Retain`) and deleting (deleted while no
/// operator runs); it is stopped as Kubernetes stops a pod, today's CRD is
/// applied and this build started as another AWS principal, so that the
/// emulator counts its calls apart. This build re-creates and modifies
/// nothing, starts no run, writes each status at most once, warns of no
/// trouble the previous release did not (the same trouble in new words is
/// printed), follows the held run to its end and finishes the deletion.
#[tokio::test]
async fn this_build_takes_over_live_objects_from_the_previous_release() {
    let _crd = CRD.lock().await;
    let release = support::previous_release();
    support::bed_with(false);
    let crd = release.crd.to_string_lossy().into_owned();
    apply_crd(&crd, "crd/batchnotifications.batchnotify.dev");
    apply_crd(
        "crds/batchnotify.dev_accessgrants.yaml",
        "crd/accessgrants.batchnotify.dev",
    );
    let ctx = Ctx::new("upgrade-live").await;
    let short = &release.commit[..12];
    let previous = Principal::create(&format!("prev-{}", ctx.ns), &operator_policy());
    let mut old = Operator::start_binary(&release.bin, &ctx.ns, previous, &[], &[]);

    let mut sample = example("sample.yaml");
    sample["metadata"]["name"] = json!("ready");
    ctx.apply(&sample).await;
    let mut scheduled = over_a_stack(&ctx, "scheduled", "report").await;
    scheduled["spec"]["run"] = json!({"schedule": "0 2 1 1 *", "timeZone": "UTC"});
    ctx.apply(&scheduled).await;
    let mut running = over_a_stack(&ctx, "running", HOLD_MARKER).await;
    running["spec"]["run"] = json!({"trigger": "1"});
    ctx.apply(&running).await;
    let mut stalled = over_a_stack(&ctx, "stalled", "report").await;
    stalled["spec"]["topic"] =
        json!({"arn": "arn:aws:sns:us-east-1:999999999999:someone-elses-topic"});
    ctx.apply(&stalled).await;
    let mut retained = over_a_stack(&ctx, "retained", "report").await;
    retained["spec"]["deletionPolicy"] = json!("Retain");
    ctx.apply(&retained).await;
    let deleting = over_a_stack(&ctx, "deleting", "report").await;
    ctx.apply(&deleting).await;

    let ready = ctx
        .wait(
            "ready",
            "the sample's run to end",
            Duration::from_secs(150),
            |o| {
                o.status
                    .as_ref()
                    .and_then(|s| s.last_run.as_ref())
                    .is_some_and(|r| r.outcome == Some(RunOutcome::Succeeded))
            },
        )
        .await;
    for name in ["scheduled", "retained", "deleting"] {
        ctx.wait_ready(name).await;
    }
    let held = ctx
        .wait(
            "running",
            "the held run's job",
            Duration::from_secs(90),
            |o| {
                o.status
                    .as_ref()
                    .and_then(|s| s.last_run.as_ref())
                    .is_some_and(|r| r.job_status.as_deref() == Some("RUNNABLE"))
            },
        )
        .await;
    ctx.wait("stalled", "Stalled", Duration::from_secs(60), |o| {
        Ctx::condition(o, "Stalled").is_some_and(|(s, _, _)| s == "True")
    })
    .await;
    let deleting = ctx.wait_ready("deleting").await;
    let retained = ctx.api().get("retained").await.expect("retained");

    // The upgrade: the old pod stops; a deletion comes while none runs;
    // today's CRD goes in before the new build starts (as `helm upgrade`).
    old.stop();
    ctx.api()
        .delete("deleting", &DeleteParams::default())
        .await
        .expect("delete");
    apply_crd(
        "crds/batchnotify.dev_batchnotifications.yaml",
        "crd/batchnotifications.batchnotify.dev",
    );
    let warned = warnings(&ctx).await;
    let (before, version) = statuses(&ctx).await;
    let (watch, status_writes) = count_status_writes(&ctx, version, before.clone());
    let current = Principal::create(&format!("new-{}", ctx.ns), &operator_policy());
    let new = Operator::start_as(&ctx.ns, current, &[], &[]);

    // Every object looked at (the first list reconciles each), the deletion done.
    ctx.wait_gone("deleting").await;
    new.reconciled_beyond(6).await;
    let calls = new.settled_requests().await;
    let allowed = |op: &str| {
        op.starts_with("Describe")
            || op.starts_with("Get")
            || op.starts_with("List")
            || op.starts_with("Delete")
            || op == "sns:Unsubscribe"
    };
    let changed: Vec<_> = calls
        .iter()
        .filter(|(k, _)| !allowed(k.split(':').nth(1).unwrap_or(k)))
        .collect();
    assert!(
        changed.is_empty(),
        "after taking over from {short}, this build changed AWS: {changed:?} (all calls: {calls:?})"
    );
    let deleted: Vec<_> = calls
        .keys()
        .filter(|k| k.contains(":Delete"))
        .cloned()
        .collect();
    assert!(
        deleted
            .iter()
            .any(|k| k == "states:DeleteStateMachine" || k.ends_with(":DeleteStateMachine")),
        "the deleting object's state machine is deleted: {calls:?}"
    );
    assert!(!topic_exists(&ctx, &topic_of(&deleting)).await);
    assert!(topic_exists(&ctx, &topic_of(&retained)).await);

    // Runs: none started, none lost, the held one followed to its end.
    let (after, _) = statuses(&ctx).await;
    for (name, status) in &after {
        assert_eq!(
            status["runs"], before[name]["runs"],
            "{name}: the runs the previous release recorded"
        );
    }
    let machine = |o: &BatchNotification| machine_of(o);
    assert_eq!(
        support::execution_names(&ctx.aws, &machine(&ready), None)
            .await
            .len(),
        1
    );
    assert_eq!(
        support::execution_names(&ctx.aws, &machine(&held), None)
            .await
            .len(),
        1
    );
    let fresh = new_warnings(&warned, &warnings(&ctx).await);
    assert!(
        fresh.is_empty(),
        "new Warnings after the upgrade: {fresh:?}"
    );
    let job = held
        .status
        .as_ref()
        .and_then(|s| s.last_run.as_ref())
        .and_then(|r| r.batch_job_id.clone())
        .expect("held job");
    aws_sdk_batch::Client::new(&ctx.aws)
        .cancel_job()
        .job_id(&job)
        .reason("test: the held job ends after the upgrade")
        .send()
        .await
        .expect("cancel the held job");
    let ended = ctx
        .wait(
            "running",
            "the held run's end",
            Duration::from_secs(90),
            |o| {
                o.status
                    .as_ref()
                    .and_then(|s| s.last_run.as_ref())
                    .is_some_and(|r| r.outcome == Some(RunOutcome::Failed))
            },
        )
        .await;
    let runs = ended.status.clone().unwrap_or_default().runs;
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(
        support::execution_names(&ctx.aws, &machine(&held), None)
            .await
            .len(),
        1
    );

    // The held run's end is its one new Warning. Status: at most one write
    // per object, and one more for the run's end.
    let fresh = new_warnings(&warned, &warnings(&ctx).await);
    assert_eq!(fresh, [("running".to_string(), "RunFailed".to_string())]);
    watch.abort();
    let writes = status_writes.lock().expect("counts").clone();
    for (name, n) in &writes {
        let bar = if name == "running" { 2 } else { 1 };
        assert!(
            *n <= bar,
            "{name}: {n} status writes after the upgrade ({writes:?})"
        );
    }
    assert!(!new.logs().contains("panicked"), "{}", new.logs());
}
