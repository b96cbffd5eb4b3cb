//! The command line: `plan` shows a security reviewer what a manifest grants,
//! offline; `crd` prints the committed CRD.

use std::process::Command;

use serde_json::Value;

fn batchnotify(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_batchnotify"))
        .args(args)
        .current_dir(batchnotify_testbed::repo_root())
        .env_remove("AWS_REGION")
        .env_remove("AWS_ACCOUNT_ID")
        .output()
        .expect("run batchnotify");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

#[test]
fn plan_prints_the_scoped_policy_trust_conditions_and_definition_offline() {
    let out = batchnotify(&[
        "plan",
        "-f",
        "examples/existing-arns.yaml",
        "--account-id",
        "111122223333",
        "--cluster-name",
        "prod",
        "--namespace",
        "data",
    ]);
    let plan: Value = serde_yaml::from_str(&out).expect("plan is YAML");
    let region = plan["region"].as_str().expect("region").to_string();
    assert_eq!(plan["account"], "111122223333");
    // The role may be assumed only by Step Functions, for this state machine in this account.
    let trust = &plan["roleTrustPolicy"]["Statement"][0];
    assert_eq!(trust["Principal"]["Service"], "states.amazonaws.com");
    assert_eq!(
        trust["Condition"]["StringEquals"]["aws:SourceAccount"],
        "111122223333"
    );
    let source = trust["Condition"]["ArnLike"]["aws:SourceArn"]
        .as_str()
        .expect("source arn");
    assert!(
        source.starts_with(&format!(
            "arn:aws:states:{region}:111122223333:stateMachine:bn-prod-data-"
        )),
        "{source}"
    );
    // `*` only where AWS has no resource-level permission.
    for statement in plan["roleInlinePolicy"]["Statement"]
        .as_array()
        .expect("statements")
    {
        let resources = statement["Resource"].to_string();
        if resources.contains("\"*\"") {
            assert_eq!(
                statement["Action"],
                serde_json::json!(["batch:DescribeJobs"])
            );
        }
    }
    let definition = &plan["stateMachineDefinition"];
    assert_eq!(definition["StartAt"], "Submit Batch Job");
    assert_eq!(
        definition["States"]["Submit Batch Job"]["Resource"],
        "arn:aws:states:::batch:submitJob.sync"
    );
    assert_eq!(plan["tags"]["batchnotify.dev/cluster"], "prod");
}

#[test]
fn crd_prints_the_committed_crd() {
    let committed = std::fs::read_to_string(
        batchnotify_testbed::repo_root().join("crds/batchnotify.dev_batchnotifications.yaml"),
    )
    .expect("committed crd");
    assert_eq!(batchnotify(&["crd"]), committed);
}

/// A copied policy must stay a policy: YAML 1.1 readers (PyYAML, many tools)
/// load an unquoted `2012-10-17` as a date. `-o json` prints the same plan.
#[test]
fn plan_yaml_survives_a_yaml_1_1_reader_and_json_is_the_same_plan() {
    let args = ["plan", "-f", "examples/sample.yaml"];
    let yaml = batchnotify(&args);
    let json = batchnotify(&[&args[..], &["-o", "json"]].concat());
    let from_yaml: Value = serde_yaml::from_str(&yaml).expect("plan is YAML");
    let from_json: Value = serde_json::from_str(&json).expect("-o json is JSON");
    assert_eq!(from_yaml, from_json);
    assert_eq!(from_json["roleInlinePolicy"]["Version"], "2012-10-17");

    // PyYAML, from the emulator's virtualenv: a YAML 1.1 reader.
    let python = batchnotify_testbed::Paths::from_env().moto_python;
    let script = "import sys, yaml\n\
        plan = yaml.safe_load(sys.stdin)\n\
        for doc in ('roleTrustPolicy', 'roleInlinePolicy'):\n\
        \x20   v = plan[doc]['Version']\n\
        \x20   assert v == '2012-10-17', (doc, type(v), v)\n\
        print('ok')\n";
    let mut child = Command::new(python)
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run python");
    use std::io::Write;
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(yaml.as_bytes())
        .expect("write plan");
    let out = child.wait_with_output().expect("python");
    assert!(
        out.status.success(),
        "PyYAML reads the plan differently:\n{}\n{yaml}",
        String::from_utf8_lossy(&out.stderr)
    );
}
