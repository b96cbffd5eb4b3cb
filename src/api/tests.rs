use super::*;

const COMMITTED_CRD: &str = include_str!("../../crds/batchnotify.dev_batchnotifications.yaml");
const COMMITTED_ACCESS_GRANT_CRD: &str =
    include_str!("../../crds/batchnotify.dev_accessgrants.yaml");
const SAMPLE: &str = include_str!("../../examples/sample.yaml");
const EXISTING_ARNS: &str = include_str!("../../examples/existing-arns.yaml");
const SCHEDULED: &str = include_str!("../../examples/scheduled.yaml");

fn parse(yaml: &str) -> BatchNotification {
    serde_yaml::from_str(yaml).expect("example parses as a BatchNotification")
}

#[test]
fn committed_crd_matches_the_types() {
    let committed: serde_json::Value =
        serde_yaml::from_str(COMMITTED_CRD).expect("the committed CRD is YAML");
    let generated =
        serde_json::to_value(crd().expect("the CRD generates")).expect("CRD serialises");
    assert!(
        committed == generated,
        "{CRD_PATH} is out of date with src/api; run: cargo run --bin crdgen > {CRD_PATH}"
    );
}

#[test]
fn committed_access_grant_crd_matches_the_types() {
    let committed: serde_json::Value =
        serde_yaml::from_str(COMMITTED_ACCESS_GRANT_CRD).expect("the committed CRD is YAML");
    let generated = serde_json::to_value(access_grant_crd().expect("the CRD generates"))
        .expect("CRD serialises");
    assert!(
        committed == generated,
        "{ACCESS_GRANT_CRD_PATH} is out of date with src/api; run: make crd"
    );
    let crd = access_grant_crd().expect("the CRD generates");
    assert_eq!(
        crd.spec.scope, "Cluster",
        "only a cluster admin writes a grant"
    );
}

#[test]
fn crd_has_names_columns_and_status() {
    let crd = crd().expect("the CRD generates");
    assert_eq!(
        crd.metadata.name.as_deref(),
        Some("batchnotifications.batchnotify.dev")
    );
    assert_eq!(crd.spec.names.short_names, Some(vec!["bn".to_owned()]));
    assert_eq!(
        crd.spec.names.categories,
        Some(vec!["batchnotify".to_owned()])
    );
    let version = &crd.spec.versions[0];
    let columns: Vec<_> = version
        .additional_printer_columns
        .iter()
        .flatten()
        .map(|c| {
            (
                c.name.as_str(),
                c.json_path.as_str(),
                c.priority.unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(
        columns,
        [
            (
                "Ready",
                ".status.conditions[?(@.type==\"Ready\")].status",
                0
            ),
            (
                "Reason",
                ".status.conditions[?(@.type==\"Ready\")].reason",
                0
            ),
            ("Last Run", ".status.lastRun.outcome", 0),
            ("Last Run At", ".status.lastRun.startTime", 0),
            ("Age", ".metadata.creationTimestamp", 0),
            (
                "Message",
                ".status.conditions[?(@.type==\"Ready\")].message",
                1
            ),
            ("Access", ".status.access.grant", 1),
            ("Account", ".status.accountId", 1),
            ("State Machine", ".status.stateMachineArn", 1),
            ("Topic", ".status.topicArn", 1),
        ]
    );
    assert!(
        version
            .subresources
            .as_ref()
            .and_then(|s| s.status.as_ref())
            .is_some()
    );
}

/// Every property of the schema has a description (they are `kubectl explain`'s text) and
/// no default (defaults are applied in code so GitOps tools see no diff).
#[test]
fn every_field_is_documented_and_has_no_schema_default() {
    fn check(path: &str, schema: &serde_json::Value, missing: &mut Vec<String>) {
        if schema.get("default").is_some() {
            missing.push(format!("{path}: has a schema default"));
        }
        for (name, property) in schema
            .get("properties")
            .and_then(|p| p.as_object())
            .into_iter()
            .flatten()
        {
            let path = format!("{path}.{name}");
            if property
                .get("description")
                .and_then(|d| d.as_str())
                .is_none_or(str::is_empty)
            {
                missing.push(format!("{path}: no description"));
            }
            check(&path, property, missing);
        }
        if let Some(items) = schema.get("items") {
            check(&format!("{path}[]"), items, missing);
        }
    }
    let crd = serde_json::to_value(crd().expect("the CRD generates")).expect("CRD serialises");
    let schema = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
    let mut missing = Vec::new();
    check("", schema, &mut missing);
    // apiVersion, kind and metadata come from kube; everything else is ours.
    missing.retain(|m| {
        !m.starts_with(".apiVersion") && !m.starts_with(".kind") && !m.starts_with(".metadata")
    });
    assert!(missing.is_empty(), "{missing:#?}");
}

/// Kubernetes warns on formats it does not know (schemars' `uint32`), `nullable` is needless
/// in status (the operator never writes a null), and the status times say they are times.
#[test]
fn crd_schema_is_kubernetes_clean() {
    fn walk(path: &str, schema: &serde_json::Value, found: &mut Vec<String>) {
        if path.starts_with(".status") && schema.get("nullable").is_some() {
            found.push(format!("{path}: nullable"));
        }
        if let Some(format) = schema.get("format").and_then(|f| f.as_str())
            && !["int32", "int64", "date-time"].contains(&format)
        {
            found.push(format!("{path}: format {format}"));
        }
        for (name, property) in schema
            .get("properties")
            .and_then(|p| p.as_object())
            .into_iter()
            .flatten()
        {
            walk(&format!("{path}.{name}"), property, found);
        }
        for key in ["items", "additionalProperties"] {
            if let Some(inner) = schema.get(key) {
                walk(&format!("{path}[]"), inner, found);
            }
        }
    }
    let crd = serde_json::to_value(crd().expect("the CRD generates")).expect("CRD serialises");
    let schema = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
    let mut found = Vec::new();
    walk("", schema, &mut found);
    assert!(found.is_empty(), "{found:#?}");
    let status = &schema["properties"]["status"]["properties"];
    for time in [
        &status["nextScheduledRun"],
        &status["lastScheduleTime"],
        &status["lastRun"]["properties"]["startTime"],
        &status["lastRun"]["properties"]["stopTime"],
        &status["lastRun"]["properties"]["scheduledTime"],
        &status["runs"]["items"]["properties"]["startTime"],
    ] {
        assert_eq!(time["format"], "date-time", "{time}");
    }
    assert_eq!(
        schema["properties"]["spec"]["properties"]["timeoutSeconds"]["format"],
        "int64"
    );
}

#[test]
fn examples_parse_and_pass_the_exactly_one_of_rules() {
    for (name, yaml) in [
        ("sample", SAMPLE),
        ("existing-arns", EXISTING_ARNS),
        ("scheduled", SCHEDULED),
    ] {
        let bn = parse(yaml);
        assert_eq!(
            bn.metadata.namespace, None,
            "{name}: examples carry no namespace"
        );
        bn.spec.validate().unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

#[test]
fn sample_is_everything_managed() {
    let spec = parse(SAMPLE).spec;
    let Source::Managed(queue) = spec.job_queue.source().unwrap() else {
        panic!("queue is managed")
    };
    let Source::Managed(ce) = queue.compute_environment.source().unwrap() else {
        panic!("compute environment is managed")
    };
    assert_eq!(ce.compute_type(), ComputeType::Fargate);
    let Source::Managed(jd) = spec.job_definition.source().unwrap() else {
        panic!("job definition is managed")
    };
    assert_eq!(jd.image, "busybox");
    assert_eq!(
        jd.command.as_deref(),
        Some(&["echo".to_owned(), "hello".to_owned()][..])
    );
    assert!(matches!(spec.topic.source(), Ok(Source::Managed(_))));
    assert_eq!(spec.run.and_then(|r| r.trigger).as_deref(), Some("1"));
}

#[test]
fn defaults_are_the_samples() {
    let spec = parse(SAMPLE).spec;
    assert_eq!(spec.job_name(), "BatchJobNotification");
    assert_eq!(spec.timeout_seconds(), 3600);
    assert_eq!(spec.deletion_policy(), DeletionPolicy::Delete);
    assert_eq!(
        spec.success_message(),
        "Batch job submitted through Step Functions succeeded"
    );
    assert_eq!(
        spec.failure_message(),
        "Batch job submitted through Step Functions failed"
    );
    assert!(spec.tags().is_empty());
    let run = spec.run.unwrap();
    assert_eq!(run.history_limit(), 10);
    assert_eq!(run.concurrency_policy(), ConcurrencyPolicy::Forbid);
    assert!(!run.suspend());
    assert_eq!(run.time_zone(), "UTC");
}

#[test]
fn set_fields_override_defaults() {
    let spec = parse(SCHEDULED).spec;
    assert_eq!(spec.timeout_seconds(), 1800);
    assert_eq!(spec.success_message(), "The nightly report is ready.");
    let run = spec.run.clone().unwrap();
    assert_eq!(run.history_limit(), 5);
    assert_eq!(run.time_zone(), "Europe/Berlin");
    let Source::Managed(jd) = spec.job_definition.source().unwrap() else {
        panic!()
    };
    assert_eq!(
        (jd.vcpus(), jd.memory_mib(), jd.retry_attempts()),
        ("0.25", 512, 2)
    );
    assert_eq!(
        parse(EXISTING_ARNS).spec.deletion_policy(),
        DeletionPolicy::Retain
    );
}

#[test]
fn unset_fields_are_not_serialised() {
    // No nulls and no defaults written back: what the user applied is what we send.
    let bn = parse(EXISTING_ARNS);
    let json = serde_json::to_value(&bn.spec).unwrap();
    let yaml: serde_json::Value = serde_yaml::from_str::<serde_json::Value>(EXISTING_ARNS).unwrap();
    assert_eq!(json, yaml["spec"]);
}

#[test]
fn both_or_neither_is_an_error_naming_the_field() {
    let mut spec = parse(EXISTING_ARNS).spec;
    spec.topic.managed = Some(ManagedTopic {
        display_name: None,
        subscriptions: vec![],
    });
    assert_eq!(
        spec.validate(),
        Err(SpecError::ArnOrManaged {
            field: "spec.topic"
        })
    );
    spec.topic = Topic {
        arn: None,
        managed: None,
    };
    assert_eq!(
        spec.validate().unwrap_err().to_string(),
        "spec.topic: exactly one of arn or managed must be set"
    );
}

#[test]
fn status_round_trips_and_omits_empty_fields() {
    let status = BatchNotificationStatus {
        observed_generation: Some(2),
        last_run: Some(RunStatus {
            name: "trigger-1-0123456789abcdef".into(),
            execution_arn:
                "arn:aws:states:us-east-1:123456789012:execution:sm:trigger-1-0123456789abcdef"
                    .into(),
            trigger: Some("1".into()),
            scheduled_time: None,
            status: execution_status::SUCCEEDED.into(),
            outcome: Some(RunOutcome::Failed),
            batch_job_id: None,
            start_time: Some("2026-11-25T02:00:00Z".into()),
            stop_time: None,
            error: None,
            cause: None,
            ..RunStatus::default()
        }),
        ..Default::default()
    };
    let json = serde_json::to_value(&status).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "observedGeneration": 2,
            "lastRun": {
                "name": "trigger-1-0123456789abcdef",
                "executionArn": "arn:aws:states:us-east-1:123456789012:execution:sm:trigger-1-0123456789abcdef",
                "trigger": "1",
                "status": "SUCCEEDED",
                "outcome": "Failed",
                "startTime": "2026-11-25T02:00:00Z"
            }
        })
    );
    assert_eq!(
        serde_json::from_value::<BatchNotificationStatus>(json).unwrap(),
        status
    );
    assert_eq!(
        serde_json::from_str::<BatchNotificationStatus>("{}").unwrap(),
        Default::default()
    );
}

#[test]
fn enums_use_the_aws_spelling() {
    assert_eq!(ComputeType::FargateSpot.as_str(), "FARGATE_SPOT");
    assert_eq!(Platform::Ec2.as_str(), "EC2");
    assert_eq!(SubscriptionProtocol::EmailJson.as_str(), "email-json");
    for p in [
        SubscriptionProtocol::Email,
        SubscriptionProtocol::EmailJson,
        SubscriptionProtocol::Sms,
        SubscriptionProtocol::Sqs,
        SubscriptionProtocol::Lambda,
        SubscriptionProtocol::Http,
        SubscriptionProtocol::Https,
        SubscriptionProtocol::Application,
    ] {
        assert_eq!(serde_json::to_value(p).unwrap(), p.as_str());
    }
    assert_eq!(
        serde_json::to_value(ComputeType::FargateSpot).unwrap(),
        "FARGATE_SPOT"
    );
    assert_eq!(serde_json::to_value(Platform::Ec2).unwrap(), "EC2");
}
