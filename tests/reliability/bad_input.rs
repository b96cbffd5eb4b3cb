//! Bad input: every manifest of `tests/admission/` is rejected at admission
//! naming its field (read from there, not copied), and every manifest of
//! `tests/bad-input/runtime/` passes admission and then either ends
//! `Ready=False` with its reason, `Stalled` as declared, and a Warning Event
//! of that reason, or — huge strings within the limits, unicode where it is
//! allowed — works. The operator never panics, and deleting the lot leaves
//! nothing behind in AWS.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use aws_sdk_batch::types::{ResourceRequirement, ResourceType};
use batchnotify::api::BatchNotification;
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, PostParams};
use serde_json::Value;

use crate::common::{CONVERGE, assert_no_panic, condition, converged, owned_in, referenced_stack};
use crate::figures::Record;
use crate::support::faults::seed_for;
use crate::support::{Ctx, default_network, file_name, files};

/// The `# key: value` header lines of a case file.
fn header(text: &str, key: &str) -> Option<String> {
    text.lines()
        .take_while(|l| l.starts_with('#'))
        .find_map(|l| l.strip_prefix(&format!("# {key}:")))
        .map(|v| v.trim().to_string())
}

/// Whether an API error names `field` as a field error's path.
fn names_field(message: &str, field: &str) -> bool {
    message.match_indices(field).any(|(at, _)| {
        let before = message[..at].chars().next_back();
        let after = &message[at + field.len()..];
        matches!(before, None | Some(' ' | '[')) && after.starts_with(':')
    })
}

fn rejection_problem<T: std::fmt::Debug>(
    result: Result<T, kube::Error>,
    field: &str,
) -> Option<String> {
    match result {
        Ok(obj) => Some(format!("accepted: {obj:?}")),
        Err(kube::Error::Api(s)) if s.code == 422 && names_field(&s.message, field) => None,
        Err(e) => Some(format!("expected a 422 naming {field}, got: {e}")),
    }
}

/// `${C*N}`: the character (or string) C repeated N times; named placeholders from `vars`.
fn expand(text: &str, vars: &[(&str, String)]) -> String {
    let mut text = text.to_string();
    for (k, v) in vars {
        text = text.replace(&format!("${{{k}}}"), v);
    }
    let mut out = String::new();
    let mut rest = text.as_str();
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let Some(len) = rest[start..].find('}') else {
            break;
        };
        let inner = &rest[start + 2..start + len];
        match inner
            .rsplit_once('*')
            .and_then(|(c, n)| Some((c, n.parse::<usize>().ok()?)))
        {
            Some((c, n)) => out.push_str(&c.repeat(n)),
            None => panic!("unknown placeholder ${{{inner}}}"),
        }
        rest = &rest[start + len + 1..];
    }
    out.push_str(rest);
    out
}

struct Case {
    file: String,
    name: String,
    /// `Ready`, or the reason of Ready=False.
    expect: String,
    stalled: bool,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_or_reported_and_never_panics() {
    let seed = seed_for("bad-input");
    let mut rec = Record::new("bad-input", seed);
    let mut failures = Vec::new();

    // Admission: no operator needed; the API server alone refuses these.
    let admission = Ctx::new("rel-bad-admission").await;
    let invalid = files("tests/admission/invalid", ".yaml");
    for path in &invalid {
        let text = std::fs::read_to_string(path).expect("read case");
        let Some(field) = header(&text, "field") else {
            failures.push(format!("{}: no `# field:` line", file_name(path)));
            continue;
        };
        let obj: Value = serde_yaml::from_str(&text).expect("case yaml");
        if let Some(p) = rejection_problem(admission.create_strict(&obj).await, &field) {
            failures.push(format!("{}: {p}", file_name(path)));
        }
        rec.bad_inputs += 1;
    }
    let dynamic: Api<DynamicObject> = Api::namespaced_with(
        admission.client.clone(),
        &admission.ns,
        &ApiResource::erase::<BatchNotification>(&()),
    );
    for before in files("tests/admission/immutable", ".before.yaml") {
        let after = PathBuf::from(
            before
                .to_str()
                .expect("utf-8")
                .replace(".before.yaml", ".after.yaml"),
        );
        let after_text = std::fs::read_to_string(&after).expect("read after");
        let field = header(&after_text, "field").unwrap_or_else(|| "spec.region".into());
        let before_obj: Value =
            serde_yaml::from_str(&std::fs::read_to_string(&before).expect("read before"))
                .expect("yaml");
        let created = admission
            .create_strict(&before_obj)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", file_name(&before)));
        let mut after_obj: Value = serde_yaml::from_str(&after_text).expect("yaml");
        after_obj["metadata"]["resourceVersion"] = created["metadata"]["resourceVersion"].clone();
        let name = created["metadata"]["name"]
            .as_str()
            .expect("name")
            .to_string();
        let after_obj: DynamicObject = serde_json::from_value(after_obj).expect("object");
        let outcome = dynamic
            .replace(&name, &PostParams::default(), &after_obj)
            .await;
        if let Some(p) = rejection_problem(outcome, &field) {
            failures.push(format!("{}: {p}", file_name(&after)));
        }
        rec.bad_inputs += 1;
    }
    let admitted_cases = rec.bad_inputs;

    // Runtime: accepted by the API server; the operator must say what is wrong.
    let ctx = Ctx::new("rel-bad-runtime").await;
    let stack = referenced_stack(&ctx).await;
    let batch = aws_sdk_batch::Client::new(&ctx.aws);
    let inactive = batch
        .register_job_definition()
        .job_definition_name(format!("{}-inactive", ctx.prefix))
        .r#type(aws_sdk_batch::types::JobDefinitionType::Container)
        .container_properties(
            aws_sdk_batch::types::ContainerProperties::builder()
                .image("busybox")
                .resource_requirements(
                    ResourceRequirement::builder()
                        .r#type(ResourceType::Vcpu)
                        .value("1")
                        .build(),
                )
                .resource_requirements(
                    ResourceRequirement::builder()
                        .r#type(ResourceType::Memory)
                        .value("512")
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .expect("register")
        .job_definition_arn()
        .unwrap_or_default()
        .to_string();
    batch
        .deregister_job_definition()
        .job_definition(&inactive)
        .send()
        .await
        .expect("deregister");
    let (subnets, groups) = default_network();
    let vars = [
        ("QUEUE_ARN", stack.queue.clone()),
        ("JOB_DEFINITION_ARN", stack.job_definition.clone()),
        ("INACTIVE_JOB_DEFINITION_ARN", inactive),
        ("SUBNET_ID", subnets[0].clone()),
        ("SECURITY_GROUP_ID", groups[0].clone()),
    ];
    let op = ctx.operator(&[]);
    let mut cases = Vec::new();
    for path in files("tests/bad-input/runtime", ".yaml") {
        let file = file_name(&path);
        let text = expand(&std::fs::read_to_string(&path).expect("read case"), &vars);
        let expect = header(&text, "expect").unwrap_or_else(|| panic!("{file}: no `# expect:`"));
        let stalled = expect != "Ready" && header(&text, "stalled").as_deref() != Some("false");
        let obj: Value = serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
        let name = obj["metadata"]["name"].as_str().expect("name").to_string();
        if let Err(e) = ctx.create_strict(&obj).await {
            failures.push(format!("{file}: must pass admission, was refused: {e}"));
            continue;
        }
        cases.push(Case {
            file,
            name,
            expect,
            stalled,
        });
    }
    rec.bad_inputs += cases.len() as u64;
    rec.objects = cases.len() as u64;

    // All at once: each must reach what it expects.
    let api = ctx.api();
    let started = Instant::now();
    let mut pending: Vec<&Case> = cases.iter().collect();
    let mut last: std::collections::BTreeMap<String, String> = Default::default();
    while !pending.is_empty() && started.elapsed() < CONVERGE {
        let mut still = Vec::new();
        for case in pending {
            let obj = api.get_opt(&case.name).await.ok().flatten();
            let done = obj.as_ref().is_some_and(|o| reached(o, case));
            if !done {
                if let Some(o) = &obj {
                    last.insert(
                        case.file.clone(),
                        format!("{:?}", o.status.as_ref().map(|s| &s.conditions)),
                    );
                }
                still.push(case);
            }
        }
        pending = still;
        if !pending.is_empty() {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    for case in &pending {
        failures.push(format!(
            "{}: expected {}{}, status: {}",
            case.file,
            case.expect,
            if case.stalled { " (Stalled)" } else { "" },
            last.get(&case.file).cloned().unwrap_or_default()
        ));
    }
    // Each with its Event.
    for case in cases
        .iter()
        .filter(|c| !pending.iter().any(|p| p.file == c.file))
    {
        let events = ctx.events(&case.name).await;
        let wanted = if case.expect == "Ready" {
            "Created"
        } else {
            case.expect.as_str()
        };
        if !events.iter().any(|(r, _)| r == wanted) {
            failures.push(format!("{}: no {wanted} Event: {events:?}", case.file));
        }
    }

    // Deleting bad objects completes and leaves nothing in AWS.
    for case in &cases {
        let _ = api.delete(&case.name, &DeleteParams::default()).await;
    }
    for case in &cases {
        crate::common::wait_gone(&ctx, &case.name).await;
    }
    let left = owned_in(&ctx, &ctx.ns).await;
    rec.leaks = left.len() as u64;
    rec.note(format!(
        "{admitted_cases} refused at admission (tests/admission/), {} at runtime (tests/bad-input/runtime/), {} of them expected to work",
        cases.len(),
        cases.iter().filter(|c| c.expect == "Ready").count()
    ));
    assert_no_panic(&op);
    assert!(
        failures.is_empty(),
        "{} of {} bad inputs:\n{}",
        failures.len(),
        rec.bad_inputs,
        failures.join("\n")
    );
    assert!(left.is_empty(), "left in AWS: {left:#?}");
    assert!(rec.bad_inputs >= 50, "only {} bad inputs", rec.bad_inputs);
}

fn reached(o: &BatchNotification, case: &Case) -> bool {
    if case.expect == "Ready" {
        return converged(o);
    }
    let current = o.status.as_ref().and_then(|s| s.observed_generation) == o.metadata.generation;
    let ready = condition(o, "Ready");
    let stalled = condition(o, "Stalled").map(|c| c.0);
    current
        && ready.is_some_and(|(s, r, m)| s == "False" && r == case.expect && !m.is_empty())
        && stalled.as_deref() == Some(if case.stalled { "True" } else { "False" })
}
