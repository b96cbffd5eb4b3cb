//! Issue #26: `kubectl batchnotify` against the bed — a run's Batch job logs
//! from CloudWatch Logs (the strict emulator writes them where AWS does),
//! `run --wait` and its exit codes, the runs table, the GitOps refusal. The
//! plugin reads AWS as a user holding only deploy/iam/plugin-policy.json.

use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use kube::api::{Patch, PatchParams};
use serde_json::{Value, json};

use crate::runs::wait_outcome;
use crate::support::{
    Ctx, FAIL_MARKER, HOLD_MARKER, Principal, batch_stack, bed, delivered, example, policy_without,
    repo, subscriber,
};
use batchnotify_testbed::{FLAKY_MARKER, LONG_MARKER};

const PLUGIN: &str = env!("CARGO_BIN_EXE_kubectl-batchnotify");
const SUCCESS: &str = "Batch job submitted through Step Functions succeeded";
const FAILURE: &str = "Batch job submitted through Step Functions failed";

fn plugin_policy() -> Value {
    let text = std::fs::read_to_string(repo("deploy/iam/plugin-policy.json")).expect("read policy");
    serde_json::from_str(&text).expect("plugin policy json")
}

/// The plugin as a user of this test's namespace: the bed's kubeconfig and
/// an IAM user of its own (the read-only plugin policy unless told).
pub(crate) struct Plugin {
    ns: String,
    pub(crate) user: Principal,
}

pub(crate) struct Ran {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Plugin {
    pub(crate) fn new(ctx: &Ctx, policy: &Value) -> Plugin {
        Plugin {
            ns: ctx.ns.clone(),
            user: Principal::create(&format!("pl-{}-{}", ctx.prefix, rand_suffix()), policy),
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(PLUGIN);
        cmd.env_clear()
            .envs(bed().env())
            .env("AWS_ACCESS_KEY_ID", &self.user.access_key)
            .env("AWS_SECRET_ACCESS_KEY", &self.user.secret)
            .env("HOME", std::env::temp_dir())
            .args(["-n", &self.ns])
            .args(args);
        cmd
    }

    pub(crate) fn run(&self, args: &[&str]) -> Ran {
        let Output {
            status,
            stdout,
            stderr,
        } = self
            .command(args)
            .output()
            .expect("run kubectl-batchnotify");
        let ran = Ran {
            code: status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
        };
        // Never a panic or a backtrace, whatever the outcome.
        assert!(
            !ran.stderr.contains("panicked") && !ran.stderr.contains("RUST_BACKTRACE"),
            "{args:?}: {}",
            ran.stderr
        );
        ran
    }
}

fn rand_suffix() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() % 10_000)
        .unwrap_or(0)
}

fn lines(text: &str) -> Vec<&str> {
    text.lines().collect()
}

/// A job definition `<prefix>-<marker>` (a job whose name matches the
/// marker behaves as the bed's emulator says), with `attempts` tries.
async fn job_definition(ctx: &Ctx, marker: &str, attempts: i32) -> String {
    use aws_sdk_batch::types::{
        ContainerProperties, JobDefinitionType, ResourceRequirement, ResourceType, RetryStrategy,
    };
    let requirement =
        |t: ResourceType, v: &str| ResourceRequirement::builder().r#type(t).value(v).build();
    aws_sdk_batch::Client::new(&ctx.aws)
        .register_job_definition()
        .job_definition_name(format!("{}-{marker}", ctx.prefix))
        .r#type(JobDefinitionType::Container)
        .retry_strategy(RetryStrategy::builder().attempts(attempts).build())
        .container_properties(
            ContainerProperties::builder()
                .image("busybox")
                .command("echo")
                .command("hello")
                .resource_requirements(requirement(ResourceType::Vcpu, "1"))
                .resource_requirements(requirement(ResourceType::Memory, "2048"))
                .build(),
        )
        .send()
        .await
        .expect("register job definition")
        .job_definition_arn()
        .unwrap_or_default()
        .to_string()
}

/// Objects `(name, marker, attempts)` over one job queue, each with a managed
/// topic an SQS queue subscribes to: the objects and the queues' URLs.
async fn objects(ctx: &Ctx, wanted: &[(&str, &str, i32)]) -> Vec<(Value, String)> {
    let (queue, _) = batch_stack(&ctx.aws, &ctx.prefix, "unused").await;
    let mut made = Vec::new();
    for (name, marker, attempts) in wanted {
        let def = job_definition(ctx, marker, *attempts).await;
        let (url, arn) = subscriber(ctx, name).await;
        let mut obj = example("existing-arns.yaml");
        obj["metadata"]["name"] = json!(name);
        obj["spec"]["jobQueue"] = json!({"arn": queue});
        obj["spec"]["jobDefinition"] = json!({"arn": def});
        obj["spec"]["topic"] =
            json!({"managed": {"subscriptions": [{"protocol": "sqs", "endpoint": arn}]}});
        obj["spec"]["run"] = json!({"trigger": "1"});
        made.push((obj, url));
    }
    made
}

/// Applies the objects and waits for each first run's outcome.
async fn finished(ctx: &Ctx, wanted: &[(&str, &str, i32)]) -> Vec<(Value, String)> {
    let made = objects(ctx, wanted).await;
    for (obj, _) in &made {
        ctx.apply(obj).await;
    }
    for (name, _, _) in wanted {
        wait_outcome(ctx, name, "1").await;
    }
    made
}

#[tokio::test]
async fn logs_of_finished_runs_the_runs_table_and_clear_refusals() {
    let ctx = Ctx::new("plugin-logs").await;
    let _op = ctx.operator(&[]);
    finished(&ctx, &[("good", "report", 1), ("bad", FAIL_MARKER, 1)]).await;
    let plugin = Plugin::new(&ctx, &plugin_policy());

    let good = plugin.run(&["logs", "good"]);
    assert_eq!(good.code, 0, "{}", good.stderr);
    let printed = lines(&good.stdout);
    assert!(printed.contains(&"echo hello"), "{}", good.stdout);
    assert!(
        printed.last().is_some_and(|l| l.contains("SUCCEEDED")),
        "{}",
        good.stdout
    );
    // -f on a job that has ended prints the log and exits like the job.
    assert_eq!(plugin.run(&["logs", "good", "-f"]).code, 0);
    let bad = plugin.run(&["logs", "bad", "--run", "1", "-f"]);
    assert_eq!(bad.code, 1, "{}", bad.stderr);
    assert!(
        lines(&bad.stdout)
            .last()
            .is_some_and(|l| l.contains("FAILED")),
        "{}",
        bad.stdout
    );

    let tail = plugin.run(&["logs", "good", "--tail", "1", "--timestamps"]);
    let tail = lines(&tail.stdout);
    assert_eq!(tail.len(), 1, "{tail:?}");
    let (when, text) = tail[0].split_once(' ').expect("a time, then the line");
    assert!(
        when.parse::<jiff::Timestamp>().is_ok() && text.contains("SUCCEEDED"),
        "{tail:?}"
    );
    assert!(
        plugin
            .run(&["logs", "good", "--since", "1h"])
            .stdout
            .contains("echo hello")
    );
    assert_eq!(plugin.run(&["logs", "good", "--since", "1ms"]).stdout, "");

    // The runs table, and its machine forms.
    let table = plugin.run(&["runs", "bad"]);
    let rows = lines(&table.stdout);
    assert!(
        rows[0].starts_with("SEQ") && rows[0].contains("EXIT CODE"),
        "{}",
        table.stdout
    );
    assert!(
        rows[1].starts_with("1 ") && rows[1].contains("FAILED"),
        "{}",
        table.stdout
    );
    let json: Vec<Value> = serde_json::from_str(&plugin.run(&["runs", "bad", "-o", "json"]).stdout)
        .expect("runs -o json");
    assert_eq!(json[0]["outcome"], "Failed");
    assert!(
        plugin
            .run(&["runs", "bad", "-o", "wide"])
            .stdout
            .contains("JOB ID")
    );

    // Clear messages: no such object, no such run, no permission.
    let missing = plugin.run(&["logs", "nothing"]);
    assert_eq!(missing.code, 3);
    assert!(
        missing
            .stderr
            .contains(&format!("{}/nothing not found", ctx.ns)),
        "{}",
        missing.stderr
    );
    let no_run = plugin.run(&["logs", "good", "--run", "7"]);
    assert!(
        no_run.code == 3 && no_run.stderr.contains("has no run"),
        "{}",
        no_run.stderr
    );
    let denied = Plugin::new(&ctx, &policy_without(&plugin_policy(), "logs:GetLogEvents"));
    let refused = denied.run(&["logs", "good"]);
    assert_eq!(refused.code, 3, "{}", refused.stderr);
    assert!(
        refused
            .stderr
            .contains("not allowed to call logs:GetLogEvents")
            && refused.stderr.contains(&denied.user.user),
        "{}",
        refused.stderr
    );
}

#[tokio::test]
async fn a_large_log_is_read_page_by_page_and_tail_reads_only_its_end() {
    let ctx = Ctx::new("plugin-large").await;
    let _op = ctx.operator(&[]);
    finished(&ctx, &[("big", "report", 1)]).await;
    let obj = ctx.api().get("big").await.expect("object");
    let stream = obj
        .status
        .and_then(|s| s.last_run)
        .and_then(|r| r.log_stream_name)
        .expect("stream");
    // 3 MB more, as a chatty job writes it: 3,000 lines of 1,000 characters.
    let logs = aws_sdk_cloudwatchlogs::Client::new(&ctx.aws);
    let now = jiff::Timestamp::now().as_millisecond();
    for batch in 0..3 {
        let mut put = logs
            .put_log_events()
            .log_group_name("/aws/batch/job")
            .log_stream_name(&stream);
        for i in 0..1000 {
            let n = batch * 1000 + i;
            put = put.log_events(
                aws_sdk_cloudwatchlogs::types::InputLogEvent::builder()
                    .timestamp(now + n)
                    .message(format!("{n:04} {}", "x".repeat(995)))
                    .build()
                    .expect("event"),
            );
        }
        put.send().await.expect("put log events");
    }
    let plugin = Plugin::new(&ctx, &plugin_policy());
    let all = plugin.run(&["logs", "big"]);
    assert_eq!(all.code, 0, "{}", all.stderr);
    let big: Vec<&str> = all.stdout.lines().filter(|l| l.len() > 900).collect();
    assert_eq!(big.len(), 3000, "every line once, in order");
    assert!(big.first().is_some_and(|l| l.starts_with("0000 ")) && big[2999].starts_with("2999 "));
    let tail = plugin.run(&["logs", "big", "--tail", "2"]);
    let tail = lines(&tail.stdout);
    assert_eq!(tail.len(), 2);
    assert!(
        tail[0].starts_with("2998 ") && tail[1].starts_with("2999 "),
        "{tail:?}"
    );
}

#[tokio::test]
async fn follow_prints_a_long_job_s_lines_as_they_come_and_exits_like_the_job() {
    let ctx = Ctx::new("plugin-follow").await;
    let _op = ctx.operator(&[]);
    let made = objects(&ctx, &[("long", LONG_MARKER, 1)]).await;
    ctx.apply(&made[0].0).await;
    let plugin = Plugin::new(&ctx, &plugin_policy());
    // Started with the run: -f waits for the job, then for its stream.
    let mut child = plugin
        .command(&["logs", "long", "-f", "--poll", "300ms"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn logs -f");
    let stdout = child.stdout.take().expect("stdout");
    let mut stderr = child.stderr.take().expect("stderr");
    let errors = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr, &mut text);
        text
    });
    let start = Instant::now();
    let reader = std::thread::spawn(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .map(|l| (start.elapsed(), l))
            .collect::<Vec<_>>()
    });
    let status = child.wait().expect("logs -f ends with the job");
    let arrived = reader.join().expect("reader");
    let errors = errors.join().expect("stderr reader");
    assert_eq!(status.code(), Some(0), "{arrived:?}\n{errors}");
    let running: Vec<&(Duration, String)> = arrived
        .iter()
        .filter(|(_, l)| l.contains("running"))
        .collect();
    assert!(running.len() >= 3, "{arrived:?}");
    let last = arrived.last().expect("lines");
    assert!(last.1.contains("SUCCEEDED"), "{arrived:?}");
    // Followed, not read at the end: the first running line came seconds before the last line.
    assert!(
        last.0 - running[0].0 >= Duration::from_secs(2),
        "{arrived:?}"
    );
}

#[tokio::test]
async fn every_attempt_of_a_retried_job_is_printed_in_order() {
    let ctx = Ctx::new("plugin-attempts").await;
    let _op = ctx.operator(&[]);
    finished(&ctx, &[("nightly", FLAKY_MARKER, 2)]).await;
    let done = wait_outcome(&ctx, "nightly", "1").await;
    let run = done.status.and_then(|s| s.last_run).expect("run");
    assert_eq!(run.attempts, Some(2), "{run:?}");
    let plugin = Plugin::new(&ctx, &plugin_policy());
    let both = plugin.run(&["logs", "nightly"]);
    assert_eq!(both.code, 0, "{}", both.stderr);
    let first_end = both.stdout.find("FAILED").expect("attempt 1 failed");
    let second_end = both.stdout.rfind("SUCCEEDED").expect("attempt 2 succeeded");
    assert!(first_end < second_end, "{}", both.stdout);
    assert!(
        both.stderr.contains("==> attempt 1") && both.stderr.contains("==> attempt 2"),
        "{}",
        both.stderr
    );
    let second = plugin.run(&["logs", "nightly", "--attempt", "2"]);
    assert!(
        !second.stdout.contains("FAILED") && second.stdout.contains("SUCCEEDED"),
        "{}",
        second.stdout
    );
    let third = plugin.run(&["logs", "nightly", "--attempt", "3"]);
    assert!(
        third.code == 3 && third.stderr.contains("has no attempt 3 (it has 2)"),
        "{}",
        third.stderr
    );
}

#[tokio::test]
async fn run_wait_exits_with_the_outcome_and_prints_the_notification() {
    let ctx = Ctx::new("plugin-run").await;
    let _op = ctx.operator(&[]);
    let made = objects(
        &ctx,
        &[
            ("good", "report", 1),
            ("bad", FAIL_MARKER, 1),
            ("held", HOLD_MARKER, 1),
        ],
    )
    .await;
    for (obj, _) in &made {
        ctx.apply(obj).await;
    }
    wait_outcome(&ctx, "good", "1").await;
    wait_outcome(&ctx, "bad", "1").await;
    let (good, url) = &made[0];
    delivered(&ctx, url, 1).await;
    let plugin = Plugin::new(&ctx, &plugin_policy());

    let ok = plugin.run(&[
        "run",
        "good",
        "--wait",
        "--timeout",
        "2m",
        "-p",
        "day=monday",
    ]);
    assert_eq!(ok.code, 0, "{}\n{}", ok.stdout, ok.stderr);
    assert!(
        ok.stdout.contains("run 2 started") && ok.stdout.contains("run 2 Succeeded"),
        "{}",
        ok.stdout
    );
    assert!(
        ok.stdout.contains(SUCCESS),
        "the alert text as sent: {}",
        ok.stdout
    );
    assert_eq!(delivered(&ctx, url, 1).await, [SUCCESS]);
    let obj = ctx.api().get("good").await.expect("good");
    let status = obj.status.clone().expect("status");
    let run = &status.runs[0];
    assert_eq!(
        run.parameters
            .as_ref()
            .and_then(|p| p.get("day"))
            .map(String::as_str),
        Some("monday")
    );
    // The parameter was this run's only; the trigger is the plugin's, for GitOps tools to see.
    assert!(
        obj.spec
            .run
            .as_ref()
            .is_some_and(|r| r.parameters().is_empty()),
        "{:?}",
        obj.spec.run
    );
    let managers = obj.metadata.managed_fields.clone().unwrap_or_default();
    let owners = batchnotify::plugin::trigger::owners(&managers, &["f:spec", "f:run", "f:trigger"]);
    assert_eq!(owners, ["kubectl-batchnotify"]);
    let trigger = obj.spec.run.as_ref().and_then(|r| r.trigger.clone());
    assert_ne!(trigger.as_deref(), good["spec"]["run"]["trigger"].as_str());

    let failed = plugin.run(&["run", "bad", "--wait", "--timeout", "2m"]);
    assert_eq!(failed.code, 1, "{}\n{}", failed.stdout, failed.stderr);
    assert!(
        failed.stdout.contains("Failed") && failed.stdout.contains(FAILURE),
        "{}",
        failed.stdout
    );

    let waiting = plugin.run(&["run", "held", "--wait", "--timeout", "4s"]);
    assert_eq!(waiting.code, 2, "{}\n{}", waiting.stdout, waiting.stderr);
    assert!(
        waiting.stderr.contains("timed out") && waiting.stderr.contains("RUNNABLE"),
        "{}",
        waiting.stderr
    );
    // A held job has no attempt, so no log yet: said so, exit 3.
    let no_log = plugin.run(&["logs", "held"]);
    assert_eq!(no_log.code, 3, "{}", no_log.stderr);
    assert!(
        no_log.stderr.contains("is RUNNABLE") && no_log.stderr.contains("no attempt has started"),
        "{}",
        no_log.stderr
    );
}

#[tokio::test]
async fn run_refuses_a_trigger_a_gitops_tool_manages_unless_forced() {
    let ctx = Ctx::new("plugin-gitops").await;
    let _op = ctx.operator(&[]);
    let made = objects(&ctx, &[("synced", "report", 1)]).await;
    let obj = &made[0].0;
    // Argo CD's server-side apply owns the whole manifest, the trigger with it.
    ctx.api()
        .patch(
            "synced",
            &PatchParams::apply("argocd-controller"),
            &Patch::Apply(obj),
        )
        .await
        .expect("apply as argocd-controller");
    wait_outcome(&ctx, "synced", "1").await;
    let plugin = Plugin::new(&ctx, &plugin_policy());
    let refused = plugin.run(&["run", "synced"]);
    assert_eq!(refused.code, 3, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("spec.run.trigger")
            && refused.stderr.contains("Argo CD")
            && refused.stderr.contains("--force"),
        "{}",
        refused.stderr
    );
    let unchanged = ctx.api().get("synced").await.expect("object");
    assert_eq!(
        unchanged.spec.run.and_then(|r| r.trigger).as_deref(),
        Some("1")
    );
    let forced = plugin.run(&["run", "synced", "--force", "--wait", "--timeout", "2m"]);
    assert_eq!(forced.code, 0, "{}\n{}", forced.stdout, forced.stderr);
    // kubectl finds the plugin on PATH, and runs it as `kubectl batchnotify`.
    let dir = std::path::Path::new(PLUGIN).parent().expect("bin dir");
    let path = format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let list = bed()
        .kubectl()
        .env("PATH", &path)
        .args(["plugin", "list"])
        .output()
        .expect("plugin list");
    assert!(
        String::from_utf8_lossy(&list.stdout).contains("kubectl-batchnotify"),
        "{list:?}"
    );
    // (kubectl hands a plugin the arguments after its name: flags come after it.)
    let runs = bed()
        .kubectl()
        .env("PATH", &path)
        .args(["batchnotify", "runs", "synced", "-n", &ctx.ns])
        .output()
        .expect("kubectl batchnotify runs");
    let table = String::from_utf8_lossy(&runs.stdout);
    assert!(
        runs.status.success() && lines(&table).len() == 3,
        "{table}\n{}",
        String::from_utf8_lossy(&runs.stderr)
    );
}

#[test]
fn krew_installs_the_plugin_from_a_release_archive_and_its_rendered_manifest() {
    let dir = std::env::temp_dir().join(format!("bn-krew-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dist dir");
    std::fs::copy(PLUGIN, dir.join("kubectl-batchnotify")).expect("copy the plugin");
    std::fs::copy(repo("LICENSE"), dir.join("LICENSE")).expect("copy LICENSE");
    // A release archive as the release job makes it (krew-index wants the LICENSE in it).
    let archive = dir.join("kubectl-batchnotify_v9.9.9_linux_amd64.tar.gz");
    let tar = Command::new("tar")
        .arg("-C")
        .arg(&dir)
        .arg("-czf")
        .arg(&archive)
        .args(["kubectl-batchnotify", "LICENSE"])
        .status()
        .expect("tar");
    assert!(tar.success());
    let out = Command::new(repo("scripts/krew-manifest.sh"))
        .arg("v9.9.9")
        .arg(&dir)
        .output()
        .expect("krew-manifest.sh");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let manifest: Value = serde_yaml::from_slice(&out.stdout).expect("the manifest is YAML");
    assert_eq!(manifest["spec"]["version"], "v9.9.9");
    let platforms = manifest["spec"]["platforms"].as_array().expect("platforms");
    assert_eq!(
        platforms.len(),
        1,
        "only the platform with an archive: {platforms:?}"
    );
    // The file krew-index validates must be named after the plugin.
    let file = dir.join("batchnotify.yaml");
    std::fs::write(&file, &out.stdout).expect("write manifest");
    let valid = crate::support::cli::checker("validate-krew-manifest")
        .arg("-manifest")
        .arg(&file)
        .arg("-skip-install")
        .output()
        .expect("validate-krew-manifest");
    assert!(
        valid.status.success(),
        "{}",
        String::from_utf8_lossy(&valid.stderr)
    );
    // krew itself installs it from the archive (checking its sha256), and
    // the installed plugin runs.
    let root = dir.join("krew-root");
    let installed = crate::support::cli::checker("krew")
        .env("KREW_ROOT", &root)
        .env("KREW_OS", "linux")
        .env("KREW_ARCH", "amd64")
        .env("HOME", &dir)
        .arg("install")
        .arg(format!("--manifest={}", file.display()))
        .arg(format!("--archive={}", archive.display()))
        .output()
        .expect("krew install");
    assert!(
        installed.status.success(),
        "{}",
        String::from_utf8_lossy(&installed.stderr)
    );
    let version = Command::new(root.join("bin/kubectl-batchnotify"))
        .arg("--version")
        .output()
        .expect("run the installed plugin");
    assert!(String::from_utf8_lossy(&version.stdout).starts_with("kubectl-batchnotify "));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn completion_scripts_complete_the_plugin_s_commands_and_usage_errors_exit_3() {
    for shell in ["bash", "zsh", "fish"] {
        let out = Command::new(PLUGIN)
            .args(["completion", shell])
            .output()
            .expect("completion");
        let script = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{shell}");
        assert!(
            script.contains("kubectl-batchnotify")
                && script.contains("logs")
                && script.contains("follow"),
            "{shell}: {script}"
        );
    }
    let bad = Command::new(PLUGIN)
        .args(["logs"])
        .output()
        .expect("no name");
    assert_eq!(bad.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("<NAME>"));
    let help = Command::new(PLUGIN).arg("--help").output().expect("help");
    assert_eq!(help.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&help.stdout).contains("Exit codes: 0"));
}
