//! Issue #4: the API server itself enforces the BatchNotification contract.
//! The examples are accepted as written, every manifest under
//! `tests/admission/invalid/` is rejected with its field named, `spec.region`
//! cannot change, and `kubectl explain` / `kubectl get` show the docs and
//! columns. No operator runs here: admission alone decides.

use std::path::{Path, PathBuf};

use batchnotify::api::BatchNotification;
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

use crate::support::{Ctx, bed, file_name, files, repo};

fn manifest(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{path:?}: {e}"))
}

/// The field path a case file names on its first line: `# field: <path>`.
fn expected_field(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let first = text.lines().next()?;
    first
        .strip_prefix("# field:")
        .map(|f| f.trim().to_string())
        .filter(|f| !f.is_empty())
}

/// Whether an API error message reports an error at exactly `field`: the
/// path as a whole, followed by the `: ` that Kubernetes puts between a field
/// error's path and its detail (stable across versions, unlike CEL's wording).
/// `spec.jobQueue` is not named by an error at `spec.jobQueue.arn`.
fn names_field(message: &str, field: &str) -> bool {
    message.match_indices(field).any(|(at, _)| {
        let before = message[..at].chars().next_back();
        let after = &message[at + field.len()..];
        matches!(before, None | Some(' ' | '[')) && after.starts_with(':')
    })
}

fn dynamic(ctx: &Ctx) -> Api<DynamicObject> {
    Api::namespaced_with(
        ctx.client.clone(),
        &ctx.ns,
        &ApiResource::erase::<BatchNotification>(&()),
    )
}

/// How a rejection that should name `field` went wrong, if it did.
fn check_rejection(
    result: Result<impl std::fmt::Debug, kube::Error>,
    field: &str,
) -> Option<String> {
    match result {
        Ok(obj) => Some(format!(
            "accepted, expected a rejection at {field}: {obj:?}"
        )),
        Err(kube::Error::Api(status)) if status.code == 422 => {
            if status.message.contains("unknown field") {
                Some(format!(
                    "the manifest has an unknown field: {}",
                    status.message
                ))
            } else if !names_field(&status.message, field) {
                Some(format!(
                    "rejected without naming {field}: {}",
                    status.message
                ))
            } else {
                None
            }
        }
        Err(e) => Some(format!("expected 422 at {field}, got: {e}")),
    }
}

#[tokio::test]
async fn admission_accepts_every_example_as_written() {
    let ctx = Ctx::new("admission-examples").await;
    let examples = files("examples", ".yaml");
    assert!(examples.len() >= 3, "examples: {examples:?}");
    let mut failures = Vec::new();
    for path in &examples {
        let name = file_name(path);
        let obj = manifest(path);
        match ctx.create_strict(&obj).await {
            // Stored exactly as written: nothing pruned, no schema defaults.
            Ok(stored) if stored["spec"] != obj["spec"] => failures.push(format!(
                "{name}: stored spec differs\n  written: {}\n  stored:  {}",
                obj["spec"], stored["spec"]
            )),
            Ok(stored) => {
                // And the operator's types read it, with the exactly-one-of rules met.
                match serde_json::from_value::<BatchNotification>(stored) {
                    Ok(bn) => {
                        if let Err(e) = bn.spec.validate() {
                            failures.push(format!("{name}: {e}"));
                        }
                    }
                    Err(e) => failures.push(format!("{name}: the types cannot read it: {e}")),
                }
            }
            Err(e) => failures.push(format!("{name}: rejected: {e}")),
        }
    }
    assert!(failures.is_empty(), "examples:\n{}", failures.join("\n"));
}

/// The other way round: values AWS accepts (each rule's edges) pass admission,
/// so the schema never refuses what AWS would take.
#[tokio::test]
async fn admission_accepts_what_aws_accepts() {
    let ctx = Ctx::new("admission-valid").await;
    let cases = files("tests/admission/valid", ".yaml");
    assert!(cases.len() >= 5, "only {} valid cases", cases.len());
    let mut failures = Vec::new();
    for path in &cases {
        if let Err(e) = ctx.create_strict(&manifest(path)).await {
            failures.push(format!("{}: rejected: {e}", file_name(path)));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn admission_rejects_every_invalid_manifest_naming_its_field() {
    let ctx = Ctx::new("admission-invalid").await;
    let cases = files("tests/admission/invalid", ".yaml");
    let mut failures = Vec::new();
    for path in &cases {
        let name = file_name(path);
        let Some(field) = expected_field(path) else {
            failures.push(format!("{name}: line 1 is not `# field: <path>`"));
            continue;
        };
        let outcome = ctx.create_strict(&manifest(path)).await;
        if let Some(failure) = check_rejection(outcome, &field) {
            failures.push(format!("{name}: {failure}"));
        }
    }
    assert!(cases.len() >= 30, "only {} invalid cases", cases.len());
    assert!(
        failures.is_empty(),
        "{} of {} invalid manifests:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[tokio::test]
async fn admission_keeps_region_immutable_on_replace() {
    let ctx = Ctx::new("admission-immutable").await;
    let api = dynamic(&ctx);
    let pairs = files("tests/admission/immutable", ".before.yaml");
    assert!(!pairs.is_empty(), "no immutable cases");
    let mut failures = Vec::new();
    for before_path in &pairs {
        let name = file_name(before_path);
        let after_path = PathBuf::from(
            before_path
                .to_str()
                .expect("utf-8 path")
                .replace(".before.yaml", ".after.yaml"),
        );
        let field = expected_field(&after_path).unwrap_or_else(|| "spec.region".into());
        let before = manifest(before_path);
        let created = match ctx.create_strict(&before).await {
            Ok(created) => created,
            Err(e) => {
                failures.push(format!("{name}: the object before was rejected: {e}"));
                continue;
            }
        };
        let object_name = created["metadata"]["name"]
            .as_str()
            .expect("name")
            .to_string();
        let version = created["metadata"]["resourceVersion"].clone();

        // A PUT of the whole object, as `kubectl replace` sends it.
        let mut after = manifest(&after_path);
        after["metadata"]["resourceVersion"] = version.clone();
        let after: DynamicObject = serde_json::from_value(after).expect("after object");
        let outcome = api
            .replace(&object_name, &PostParams::default(), &after)
            .await;
        if let Some(failure) = check_rejection(outcome, &field) {
            failures.push(format!("{name}: {failure}"));
        }

        // The control: another edit that keeps the region is accepted.
        let mut edited = before.clone();
        edited["spec"]["jobName"] = json!("Edited");
        edited["metadata"]["resourceVersion"] = version;
        let edited: DynamicObject = serde_json::from_value(edited).expect("edited object");
        match api
            .replace(&object_name, &PostParams::default(), &edited)
            .await
        {
            Ok(o) if o.metadata.generation == Some(2) => {}
            other => failures.push(format!(
                "{name}: an edit keeping the region should be accepted: {other:?}"
            )),
        }
    }
    assert!(
        failures.is_empty(),
        "immutable region:\n{}",
        failures.join("\n")
    );
}

#[tokio::test]
async fn admission_reapplying_an_example_changes_nothing() {
    let ctx = Ctx::new("admission-reapply").await;
    let mut failures = Vec::new();
    for path in files("examples", ".yaml") {
        let name = file_name(&path);
        let obj = manifest(&path);
        let first = ctx.apply(&obj).await;
        let second = ctx.apply(&obj).await;
        let written = serde_json::to_value(&second.spec).expect("spec json");
        if second.metadata.generation != Some(1)
            || second.metadata.resource_version != first.metadata.resource_version
        {
            failures.push(format!(
                "{name}: generation {:?} → {:?}, resourceVersion {:?} → {:?}",
                first.metadata.generation,
                second.metadata.generation,
                first.metadata.resource_version,
                second.metadata.resource_version
            ));
        }
        // A GitOps tool compares the live object with the file: no defaults added.
        if written != obj["spec"] {
            failures.push(format!(
                "{name}: live spec differs from the file\n  file: {}\n  live: {written}",
                obj["spec"]
            ));
        }
    }
    assert!(failures.is_empty(), "re-apply:\n{}", failures.join("\n"));
}

/// `kubectl explain` output with its line wrapping undone.
fn explain(path: &str) -> String {
    let out = bed()
        .kubectl()
        .args(["explain", path])
        .output()
        .expect("run kubectl explain");
    assert!(
        out.status.success(),
        "kubectl explain {path}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn admission_kubectl_explain_prints_the_field_docs() {
    let run = explain("batchnotification.spec.run");
    for phrase in [
        // Run itself, then its sub-fields (doc comments in src/api/spec.rs).
        "When to start runs (Step Functions executions). Without it the operator builds the resources but never starts a run.",
        "trigger <string>",
        "each new value starts exactly one run",
        "schedule <string>",
        "Cron schedule in the CronJob format",
        "concurrencyPolicy <string>",
        "IANA time zone the schedule is read in",
        "How many runs status.runs keeps, newest first, 1-100. Default: 10.",
    ] {
        assert!(run.contains(phrase), "missing {phrase:?} in:\n{run}");
    }

    let managed = explain("bn.spec.jobQueue.managed");
    for phrase in [
        "A job queue the operator creates, updates and (with deletionPolicy Delete) deletes.",
        "computeEnvironment <Object> -required-",
        "Where the queue's jobs run: exactly one of `arn` or `managed`.",
        "priority <integer>",
        "Queue priority, 0-1000",
    ] {
        assert!(
            managed.contains(phrase),
            "missing {phrase:?} in:\n{managed}"
        );
    }
}

/// A `kubectl get` table as rows of cells (columns are two or more spaces apart).
fn table(ctx: &Ctx, extra: &[&str]) -> Vec<Vec<String>> {
    let out = ctx
        .kubectl()
        .args(["get", "bn"])
        .args(extra)
        .output()
        .expect("run kubectl get");
    assert!(
        out.status.success(),
        "kubectl get bn: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|line| {
            line.split("  ")
                .map(str::trim)
                .filter(|cell| !cell.is_empty())
                .map(str::to_string)
                .collect()
        })
        .collect()
}

#[tokio::test]
async fn admission_kubectl_get_shows_the_printer_columns() {
    let ctx = Ctx::new("admission-columns").await;
    let obj = manifest(&repo("examples/existing-arns.yaml"));
    let name = obj["metadata"]["name"].as_str().expect("name").to_string();
    ctx.create_strict(&obj).await.expect("create the example");

    let machine = "arn:aws:states:us-east-1:123456789012:stateMachine/columns-machine";
    let topic = "arn:aws:sns:us-east-1:123456789012:columns-topic";
    // Three days ago: kubectl shows it as exactly "3d" for the next hour.
    let started = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(72);
    let status = json!({"status": {
        "conditions": [{
            "type": "Ready", "status": "True", "reason": "Reconciled",
            "message": "AWS resources match the spec",
            "lastTransitionTime": jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        }],
        "lastRun": {
            "name": "run-1",
            "executionArn": "arn:aws:states:us-east-1:123456789012:execution:columns-machine:run-1",
            "status": "SUCCEEDED",
            "outcome": "Succeeded",
            "startTime": started.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        },
        "stateMachineArn": machine,
        "topicArn": topic,
    }});
    ctx.api()
        .patch_status(&name, &PatchParams::default(), &Patch::Merge(&status))
        .await
        .expect("patch status");

    let rows = table(&ctx, &[]);
    assert_eq!(
        rows[0],
        ["NAME", "READY", "REASON", "LAST RUN", "LAST RUN AT", "AGE"],
        "{rows:?}"
    );
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(
        rows[1][..5],
        [name.as_str(), "True", "Reconciled", "Succeeded", "3d"],
        "{rows:?}"
    );

    let wide = table(&ctx, &["-o", "wide"]);
    assert_eq!(
        wide[0],
        [
            "NAME",
            "READY",
            "REASON",
            "LAST RUN",
            "LAST RUN AT",
            "AGE",
            "MESSAGE",
            "ACCESS",
            "ACCOUNT",
            "STATE MACHINE",
            "TOPIC"
        ],
        "{wide:?}"
    );
    // No grant and no account in this status: those two cells are empty.
    assert_eq!(wide[1].len(), 9, "{wide:?}");
    assert_eq!(
        wide[1][6..],
        ["AWS resources match the spec", machine, topic],
        "{wide:?}"
    );
}

#[test]
fn admission_field_matching_is_exact() {
    let message = r#"BatchNotification.batchnotify.dev "missing-spec" is invalid: [spec.jobQueue.arn: Invalid value: "x", spec: Required value]"#;
    assert!(names_field(message, "spec.jobQueue.arn"));
    assert!(names_field(message, "spec"));
    assert!(!names_field(message, "spec.jobQueue"));
    assert!(!names_field("x: spec.tags.team: Too long", "spec.tags"));
}

/// Issue #28: a brace the rule refuses is explained in words, as `kubectl
/// apply` prints it: the field, the brace or name, its character, how to
/// write a literal brace, the names there are.
#[test]
fn admission_explains_a_refused_brace_in_words() {
    let known = "{jobId}, {jobName}, {status}, {statusReason}, {exitCode}, {attempts}, {logStreamName}, {jobUrl}, {executionUrl}, {executionName}, {namespace}, {name}, {trigger}, {scheduledTime}, {error}";
    let cases = [
        (
            "done {".to_string(),
            format!(
                "a lone {{ at character 6: write {{{{ or }}}} for a literal brace, or name a placeholder: {known}"
            ),
        ),
        (
            "done } now".to_string(),
            "a lone } at character 6: write }} for a literal brace".to_string(),
        ),
        (
            "Job {jobid} ended".to_string(),
            format!(
                "unknown placeholder {{jobid}} at character 5; write {{{{ or }}}} for a literal brace; known: {known}"
            ),
        ),
        (
            // 16 KiB of characters, the brace last: positions count characters.
            format!("{}}}", "é".repeat(16_383)),
            "a lone } at character 16384: write }} for a literal brace".to_string(),
        ),
    ];
    for (text, why) in cases {
        let mut obj = manifest(&repo("examples/existing-arns.yaml"));
        obj["metadata"]["name"] = json!("brace");
        obj["metadata"]["namespace"] = json!("default");
        obj["spec"]["messages"]["success"] = json!(text);
        let (ok, out, err) = crate::support::cli::run(
            crate::support::cli::with(bed().kubectl(), &["apply", "--dry-run=server", "-f", "-"]),
            &obj.to_string(),
        );
        assert!(!ok, "accepted {text:?}: {out}");
        let expected = format!(
            "The BatchNotification \"brace\" is invalid: spec.messages.success: Invalid value: \"string\": {why}"
        );
        assert_eq!(
            err.trim(),
            expected,
            "for {:?}",
            &text[..text.len().min(40)]
        );
    }
    // The limit is characters, 16384 of them whatever their size.
    let mut obj = manifest(&repo("examples/existing-arns.yaml"));
    obj["metadata"]["namespace"] = json!("default");
    obj["spec"]["messages"]["success"] = json!(format!("{}{{{{}}}}", "é".repeat(16_380)));
    let (ok, out, err) = crate::support::cli::run(
        crate::support::cli::with(bed().kubectl(), &["apply", "--dry-run=server", "-f", "-"]),
        &obj.to_string(),
    );
    assert!(ok, "{out}{err}");
}
