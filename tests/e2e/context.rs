//! Issue #14: runs people can act on — notifications with the run's context,
//! the job's own details in status, stuck jobs, per-run parameters, and
//! triggers that tell the truth.

use std::time::Duration;

use batchnotify::api::{BatchNotification, RunStatus};
use serde_json::{Value, json};

use crate::support::{Ctx, FAIL_MARKER, HOLD_MARKER, batch_stack, delivered, example};

const TEXT: &str = "Job {jobName} ({jobId}) {status}: {statusReason}\nexit {exitCode} after {attempts} attempt(s), logs {logStreamName}\n{namespace}/{name} trigger {trigger} execution {executionName} error {error} {{braces}} 'quoted'";

/// A BatchNotification over its own queue and job definition (named after
/// `job`, so the emulator's markers apply), notifying an SQS queue.
async fn object(ctx: &Ctx, name: &str, job: &str) -> (Value, String) {
    let (queue_arn, job_definition) =
        batch_stack(&ctx.aws, &format!("{}-{name}", ctx.prefix), job).await;
    let (url, subscriber) = crate::support::subscriber(ctx, &format!("{name}-sub")).await;
    let mut obj = example("existing-arns.yaml");
    obj["metadata"]["name"] = json!(name);
    obj["spec"]["jobQueue"] = json!({"arn": queue_arn});
    obj["spec"]["jobDefinition"] = json!({"arn": job_definition});
    obj["spec"]["topic"] =
        json!({"managed": {"subscriptions": [{"protocol": "sqs", "endpoint": subscriber}]}});
    obj["spec"]["run"] = json!({"trigger": "1"});
    (obj, url)
}

fn last_run(o: &BatchNotification) -> Option<RunStatus> {
    o.status.as_ref()?.last_run.clone()
}

async fn finished(ctx: &Ctx, name: &str, trigger: &str) -> RunStatus {
    let o = ctx
        .wait(name, "the run's outcome", Duration::from_secs(90), |o| {
            let s = o.status.clone().unwrap_or_default();
            s.last_trigger.as_deref() == Some(trigger)
                && last_run(o).is_some_and(|r| r.outcome.is_some())
        })
        .await;
    last_run(&o).expect("run")
}

fn null_or<T: ToString>(v: &Option<T>) -> String {
    v.as_ref().map_or("null".into(), ToString::to_string)
}

/// The template rendered from what status says of the run: the message
/// and status must agree to the byte.
fn rendered(run: &RunStatus, ns: &str, name: &str, error: &str) -> String {
    format!(
        "Job {job_name} ({job_id}) {status}: {reason}\nexit {exit} after {attempts} attempt(s), logs {logs}\n{ns}/{name} trigger {trigger} execution {execution} error {error} {{braces}} 'quoted'",
        job_name = "BatchJobNotification",
        job_id = null_or(&run.batch_job_id),
        status = null_or(&run.job_status),
        reason = null_or(&run.job_status_reason),
        exit = null_or(&run.exit_code),
        attempts = run.attempts.unwrap_or(0),
        logs = null_or(&run.log_stream_name),
        trigger = null_or(&run.trigger),
        execution = run.name,
    )
}

#[tokio::test]
async fn context_messages_carry_the_jobs_details_and_status_holds_them() {
    let ctx = Ctx::new("context-text").await;
    let _op = ctx.operator(&[]);
    let (mut ok, ok_url) = object(&ctx, "ok", "report").await;
    let (mut bad, bad_url) = object(&ctx, "bad", FAIL_MARKER).await;
    for obj in [&mut ok, &mut bad] {
        obj["spec"]["messages"] = json!({"success": TEXT, "failure": TEXT});
        ctx.apply(obj).await;
    }

    let run = finished(&ctx, "ok", "1").await;
    assert_eq!(run.job_status.as_deref(), Some("SUCCEEDED"), "{run:?}");
    assert_eq!(run.exit_code, Some(0));
    assert_eq!(run.attempts, Some(1));
    assert!(
        run.log_stream_name.is_some() && run.batch_job_id.is_some(),
        "{run:?}"
    );
    assert_eq!(
        delivered(&ctx, &ok_url, 1).await,
        [rendered(&run, &ctx.ns, "ok", "null")]
    );

    let run = finished(&ctx, "bad", "1").await;
    assert_eq!(run.job_status.as_deref(), Some("FAILED"), "{run:?}");
    assert_eq!(run.exit_code, Some(1), "{run:?}");
    assert_eq!(
        delivered(&ctx, &bad_url, 1).await,
        [rendered(&run, &ctx.ns, "bad", "States.TaskFailed")]
    );
}

#[tokio::test]
async fn json_messages_hold_every_field_and_parameters_reach_the_job() {
    let ctx = Ctx::new("context-json").await;
    let _op = ctx.operator(&[]);
    let (mut bad, url) = object(&ctx, "bad", FAIL_MARKER).await;
    bad["spec"]["messages"] = json!({"format": "Json"});
    bad["spec"]["run"]["parameters"] = json!({"day": "2026-11-30", "mode": "full"});
    ctx.apply(&bad).await;
    let run = finished(&ctx, "bad", "1").await;
    let messages = delivered(&ctx, &url, 1).await;
    assert_eq!(messages.len(), 1, "{messages:?}");
    let doc: Value = serde_json::from_str(&messages[0]).expect("a JSON message");
    let mut keys: Vec<&str> = doc
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort();
    let mut expected: Vec<&str> = batchnotify::desired::messages::Placeholder::ALL
        .iter()
        .map(|p| p.name())
        .collect();
    expected.sort();
    assert_eq!(keys, expected);
    assert_eq!(doc["jobId"], json!(run.batch_job_id));
    assert_eq!(doc["exitCode"], json!(run.exit_code));
    assert_eq!(doc["status"], "FAILED");
    assert_eq!(doc["error"], "States.TaskFailed");
    assert_eq!(doc["namespace"], json!(ctx.ns));
    assert_eq!(doc["trigger"], "1");
    assert!(
        doc["jobUrl"].as_str().is_some_and(|u| u.ends_with(&format!(
            "#jobs/detail/{}",
            doc["jobId"].as_str().unwrap_or("?")
        ))),
        "{doc}"
    );

    // The parameters went to the Batch job, and the run records them.
    let parameters = run.parameters.clone().expect("recorded parameters");
    assert_eq!(
        parameters.get("day").map(String::as_str),
        Some("2026-11-30")
    );
    let batch = aws_sdk_batch::Client::new(&ctx.aws);
    let job = batch
        .describe_jobs()
        .jobs(run.batch_job_id.clone().expect("job"))
        .send()
        .await
        .expect("describe job");
    let got = job.jobs()[0].parameters().cloned().unwrap_or_default();
    assert_eq!(got.get("mode").map(String::as_str), Some("full"), "{got:?}");
}

/// Events about `name` with their aggregated counts: (reason, note, count).
async fn events(ctx: &Ctx, name: &str) -> Vec<(String, String, i32)> {
    ctx.events_about(name)
        .await
        .into_iter()
        .map(|e| {
            let count = e.series.as_ref().map_or(1, |s| s.count);
            (
                e.reason.unwrap_or_default(),
                e.note.unwrap_or_default(),
                count,
            )
        })
        .collect()
}

fn count(events: &[(String, String, i32)], reason: &str) -> i32 {
    events
        .iter()
        .filter(|(r, _, _)| r == reason)
        .map(|(_, _, c)| *c)
        .sum()
}

#[tokio::test]
async fn a_trigger_given_again_starts_a_new_run_and_suspend_stops_only_the_schedule() {
    let ctx = Ctx::new("context-triggers").await;
    let _op = ctx.operator(&[]);
    let (mut obj, _url) = object(&ctx, "again", "report").await;
    // Suspended, with a schedule: the trigger still runs.
    obj["spec"]["run"] = json!({"trigger": "1", "suspend": true, "schedule": "* * * * *"});
    ctx.apply(&obj).await;
    let first = finished(&ctx, "again", "1").await;
    for trigger in ["2", "1"] {
        obj["spec"]["run"]["trigger"] = json!(trigger);
        ctx.apply(&obj).await;
        finished(&ctx, "again", trigger).await;
    }
    let o = ctx.wait_ready("again").await;
    let status = o.status.clone().expect("status");
    let names: Vec<&str> = status.runs.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names.len(), 3, "{names:?}");
    assert_ne!(names[0], first.name, "1 → 2 → 1 ran the third time");
    let sequences: Vec<Option<u64>> = status.runs.iter().map(|r| r.sequence).collect();
    assert_eq!(sequences, [Some(3), Some(2), Some(1)]);
    assert_eq!(status.run_sequence, Some(3));
    assert!(
        status.next_scheduled_run.is_none(),
        "suspended: no scheduled run"
    );
    let machine = status.state_machine_arn.clone().expect("machine");
    let executions = crate::support::execution_names(&ctx.aws, &machine, None).await;
    assert_eq!(executions.len(), 3, "{executions:?}");
    // Each Event tells the truth: three started, three succeeded (the last
    // run's Event follows the status write that recorded its end).
    crate::support::eventually(
        "the third RunSucceeded",
        Duration::from_secs(30),
        || async { (count(&events(&ctx, "again").await, "RunSucceeded") >= 3).then_some(()) },
    )
    .await;
    let evs = events(&ctx, "again").await;
    assert_eq!(count(&evs, "RunStarted"), 3, "{evs:?}");
    assert_eq!(count(&evs, "RunSucceeded"), 3, "{evs:?}");
}

#[tokio::test]
async fn kubectl_wait_after_a_new_trigger_answers_for_that_run() {
    let ctx = Ctx::new("context-wait").await;
    let _op = ctx.operator(&[]);
    let (mut obj, _url) = object(&ctx, "waited", "report").await;
    let (_, failing) = batch_stack(&ctx.aws, &format!("{}-f", ctx.prefix), FAIL_MARKER).await;
    ctx.apply(&obj).await;
    finished(&ctx, "waited", "1").await;
    // The previous run succeeded; the new one (a failing job) must not be
    // answered by it.
    obj["spec"]["run"]["trigger"] = json!("2");
    obj["spec"]["jobDefinition"] = json!({"arn": failing});
    ctx.apply(&obj).await;
    let mut wait = ctx.kubectl();
    wait.args([
        "wait",
        "batchnotification/waited",
        "--for=condition=RunSucceeded",
        "--timeout=25s",
    ]);
    let out = wait.output().expect("kubectl wait");
    assert!(
        !out.status.success(),
        "kubectl wait returned on the previous run's result: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let mut wait = ctx.kubectl();
    wait.args([
        "wait",
        "batchnotification/waited",
        "--for=condition=RunSucceeded=False",
        "--timeout=60s",
    ]);
    let out = wait.output().expect("kubectl wait");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run = finished(&ctx, "waited", "2").await;
    assert_eq!(run.job_status.as_deref(), Some("FAILED"));
}

#[tokio::test]
async fn a_job_stuck_runnable_is_said_and_warned_about() {
    let ctx = Ctx::new("context-runnable").await;
    let _op = ctx.operator(&[]);
    let (mut obj, _url) = object(&ctx, "stuck", HOLD_MARKER).await;
    obj["spec"]["run"]["runnableWarningSeconds"] = json!(10);
    ctx.apply(&obj).await;
    let o = ctx
        .wait(
            "stuck",
            "RunSucceeded to say JobRunnable",
            Duration::from_secs(90),
            |o| {
                Ctx::condition(o, "RunSucceeded")
                    .is_some_and(|(s, r, _)| s == "Unknown" && r == "JobRunnable")
            },
        )
        .await;
    let run = last_run(&o).expect("run");
    assert_eq!(run.job_status.as_deref(), Some("RUNNABLE"), "{run:?}");
    assert!(run.job_status_since.is_some());
    let (_, _, message) = Ctx::condition(&o, "RunSucceeded").expect("condition");
    assert!(
        message.contains(run.batch_job_id.as_deref().unwrap_or("?"))
            && message.contains("RUNNABLE since"),
        "{message}"
    );
    crate::support::eventually("a JobRunnable Warning", Duration::from_secs(10), || async {
        let evs = events(&ctx, "stuck").await;
        (count(&evs, "JobRunnable") == 1).then_some(())
    })
    .await;
}

/// The external Amazon States Language validator (npm `asl-validator`,
/// installed by scripts/testbed-deps.sh) accepts the sample's definition and
/// one using every placeholder, both formats and parameters.
#[test]
fn the_definitions_pass_the_amazon_states_language_validator() {
    let cache = std::env::var("BATCHNOTIFY_CACHE").unwrap_or_else(|_| {
        format!(
            "{}/.cache/batchnotify",
            std::env::var("HOME").unwrap_or_default()
        )
    });
    let validator = std::env::var("BATCHNOTIFY_ASL_VALIDATOR")
        .unwrap_or_else(|_| format!("{cache}/asl-validator-4.0.0"));
    let validator = format!("{validator}/node_modules/.bin/asl-validator");
    let sample = example("sample.yaml");
    let mut every = sample.clone();
    let all: String = batchnotify::desired::messages::Placeholder::ALL
        .iter()
        .map(|p| format!("{}={{{}}} ", p.name(), p.name()))
        .collect();
    every["spec"]["messages"] =
        json!({"success": format!("ok {all}{{{{x}}}} 'q'"), "failure": format!("bad\n{all}")});
    every["spec"]["run"]["parameters"] = json!({"day": "1"});
    let mut as_json = every.clone();
    as_json["spec"]["messages"]["format"] = json!("Json");
    let dir = std::env::temp_dir().join(format!("asl-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    for (name, obj) in [("sample", &sample), ("every", &every), ("json", &as_json)] {
        let obj: BatchNotification = serde_json::from_value(obj.clone()).expect("object");
        let identity = batchnotify::desired::Identity {
            cluster: "c".into(),
            namespace: "ns".into(),
            name: "n".into(),
            uid: "u".into(),
            region: "us-east-1".into(),
            account: "123456789012".into(),
        };
        let desired = batchnotify::desired::Desired::new(&obj.spec, &identity).expect("desired");
        let file = dir.join(format!("{name}.json"));
        std::fs::write(&file, desired.state_machine.definition.to_string()).expect("write");
        let out = std::process::Command::new(&validator)
            .arg("--json-path")
            .arg(&file)
            .output()
            .unwrap_or_else(|e| panic!("{validator}: {e}"));
        assert!(
            out.status.success(),
            "{name}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // Not vacuous: a broken definition fails.
    let broken = dir.join("broken.json");
    std::fs::write(&broken, r#"{"StartAt":"Nowhere","States":{}}"#).expect("write");
    let out = std::process::Command::new(&validator)
        .arg("--json-path")
        .arg(&broken)
        .output()
        .expect("validator");
    assert!(!out.status.success());
}

/// Issue #28: one escaping rule — `{{` and `}}` arrive as single braces with
/// or without placeholders; unicode, quotes, backslashes and `$.` as written.
#[tokio::test]
async fn doubled_braces_arrive_single_with_or_without_placeholders() {
    let ctx = Ctx::new("context-braces").await;
    let _op = ctx.operator(&[]);
    let (mut plain, plain_url) = object(&ctx, "plain", "report").await;
    plain["spec"]["messages"] =
        json!({"success": "{{braces}} ✓ \"double\" 'single' back\\slash $.x"});
    ctx.apply(&plain).await;
    let (mut templated, templated_url) = object(&ctx, "templated", FAIL_MARKER).await;
    templated["spec"]["messages"] =
        json!({"failure": "{{braces}} {status} ✓ \"double\" 'single' back\\slash $.x }}"});
    ctx.apply(&templated).await;

    finished(&ctx, "plain", "1").await;
    assert_eq!(
        delivered(&ctx, &plain_url, 1).await,
        ["{braces} ✓ \"double\" 'single' back\\slash $.x"]
    );
    let run = finished(&ctx, "templated", "1").await;
    assert_eq!(run.job_status.as_deref(), Some("FAILED"), "{run:?}");
    assert_eq!(
        delivered(&ctx, &templated_url, 1).await,
        ["{braces} FAILED ✓ \"double\" 'single' back\\slash $.x }"]
    );
    for name in ["plain", "templated"] {
        let o = ctx.wait_ready(name).await;
        assert!(
            o.status.unwrap_or_default().literal_messages.is_empty(),
            "{name}"
        );
    }
}

/// Issue #24: every run without an outcome is followed, wherever it is in
/// `status.runs`: a run overtaken by a newer trigger's run, and one pushed
/// past `historyLimit` while still going, each get their outcome and their
/// Event. (Held jobs stay RUNNABLE until cancelled.)
#[tokio::test]
async fn overtaken_runs_are_followed_to_their_end_also_past_the_history_limit() {
    let ctx = Ctx::new("context-overlap").await;
    let _op = ctx.operator(&[]);
    let batch = aws_sdk_batch::Client::new(&ctx.aws);
    let job_of = |o: &BatchNotification, i: usize| {
        o.status
            .as_ref()
            .and_then(|s| s.runs.get(i))
            .and_then(|r| r.batch_job_id.clone())
    };
    for (name, limit) in [("overlap", 10), ("limited", 1)] {
        let (mut obj, _url) = object(&ctx, name, HOLD_MARKER).await;
        obj["spec"]["run"]["historyLimit"] = json!(limit);
        ctx.apply(&obj).await;
        let first = ctx
            .wait(name, "run 1's job", Duration::from_secs(90), |o| {
                job_of(o, 0).is_some()
            })
            .await;
        let first_job = job_of(&first, 0).expect("job");
        let first_run = last_run(&first).expect("run").name;
        obj["spec"]["run"]["trigger"] = json!("2");
        ctx.apply(&obj).await;
        let both = ctx
            .wait(name, "run 2 beside run 1", Duration::from_secs(90), |o| {
                let runs = o.status.clone().unwrap_or_default().runs;
                runs.len() == 2 && job_of(o, 0).is_some()
            })
            .await;
        let runs = both.status.clone().unwrap_or_default().runs;
        assert_eq!(runs[1].name, first_run, "{name}: {runs:?}");
        assert_eq!(runs[1].outcome, None, "{name}");
        // Run 1's job ends: its record (or, past the limit, its Event) says so.
        batch
            .cancel_job()
            .job_id(&first_job)
            .reason("test: run 1 ends first")
            .send()
            .await
            .expect("cancel job");
        crate::support::eventually(
            "run 1's RunFailed Event",
            Duration::from_secs(90),
            || async {
                let evs = events(&ctx, name).await;
                evs.iter()
                    .any(|(r, note, _)| r == "RunFailed" && note.contains(&first_run))
                    .then_some(())
            },
        )
        .await;
        let o = ctx
            .wait(
                name,
                "run 1's end in status",
                Duration::from_secs(30),
                |o| {
                    let runs = o.status.clone().unwrap_or_default().runs;
                    if limit == 1 {
                        runs.len() == 1 && runs[0].outcome.is_none()
                    } else {
                        runs.len() == 2 && runs[1].outcome.is_some()
                    }
                },
            )
            .await;
        let runs = o.status.clone().unwrap_or_default().runs;
        if limit > 1 {
            assert_eq!(runs[1].outcome, Some(batchnotify::api::RunOutcome::Failed));
            assert_eq!(runs[1].job_status.as_deref(), Some("FAILED"));
        }
        // The newest run is still followed, and lastRun is still it.
        let second_job = job_of(&o, 0).expect("job");
        assert_eq!(last_run(&o).map(|r| r.name), Some(runs[0].name.clone()));
        batch
            .cancel_job()
            .job_id(&second_job)
            .reason("test: run 2 ends")
            .send()
            .await
            .expect("cancel job");
        let run = finished(&ctx, name, "2").await;
        assert_eq!(run.job_status.as_deref(), Some("FAILED"), "{name}: {run:?}");
        // The run's Event is published after the status write that records
        // its end: wait for it, then check that there are exactly two.
        crate::support::eventually(
            "run 2's RunFailed Event",
            Duration::from_secs(30),
            || async { (count(&events(&ctx, name).await, "RunFailed") >= 2).then_some(()) },
        )
        .await;
        let evs = events(&ctx, name).await;
        assert_eq!(count(&evs, "RunFailed"), 2, "{name}: {evs:?}");
    }
}
