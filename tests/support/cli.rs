//! Running the command-line tools the tests drive: kubectl, helm, the
//! checkers `tools/` builds, and reading their YAML output.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{Value, json};

pub fn repo() -> PathBuf {
    batchnotify_testbed::repo_root()
}

pub fn tool_dir() -> PathBuf {
    batchnotify_testbed::Paths::from_env().controlplane_bin
}

/// A checker built by `tools/build.sh` (through `make testbed-deps`).
pub fn checker(name: &str) -> Command {
    let bin = batchnotify_testbed::Paths::from_env().tools_bin.join(name);
    assert!(
        bin.exists(),
        "{} is missing: run scripts/testbed-deps.sh (tools/build.sh builds it)",
        bin.display()
    );
    let mut cmd = Command::new(bin);
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .current_dir(repo());
    cmd
}

/// `kubectl` with no cluster: rendering only.
pub fn kubectl_offline() -> Command {
    let mut cmd = Command::new(tool_dir().join("kubectl"));
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("KUBECONFIG", "/dev/null")
        .current_dir(repo());
    cmd
}

/// `helm`, built by controlplane/build.sh next to kubectl, with its own homes,
/// talking to `kubeconfig` (`/dev/null`: no cluster).
pub fn helm_with(kubeconfig: &Path) -> Command {
    let bin = tool_dir().join("helm");
    assert!(
        bin.exists(),
        "{} is missing: run scripts/testbed-deps.sh (controlplane/build.sh builds helm)",
        bin.display()
    );
    let home = Path::new(env!("CARGO_TARGET_TMPDIR")).join("helm-home");
    let mut cmd = Command::new(bin);
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", &home)
        .env("HELM_CACHE_HOME", home.join("cache"))
        .env("HELM_CONFIG_HOME", home.join("config"))
        .env("HELM_DATA_HOME", home.join("data"))
        .env("KUBECONFIG", kubeconfig)
        .current_dir(repo());
    cmd
}

/// `helm` without a cluster.
pub fn helm() -> Command {
    helm_with(Path::new("/dev/null"))
}

/// Runs `cmd` with `stdin`; (success, stdout, stderr).
pub fn run(mut cmd: Command, stdin: &str) -> (bool, String, String) {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    let mut input = child.stdin.take().expect("stdin");
    input.write_all(stdin.as_bytes()).expect("write stdin");
    drop(input);
    let out = child.wait_with_output().expect("wait");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs `cmd` and returns its stdout, or panics with its stderr.
pub fn ok(what: &str, cmd: Command, stdin: &str) -> String {
    let (success, stdout, stderr) = run(cmd, stdin);
    assert!(success, "{what} failed:\n{stderr}\n{stdout}");
    stdout
}

/// `cmd` with `args` appended.
pub fn with(mut cmd: Command, args: &[&str]) -> Command {
    cmd.args(args);
    cmd
}

/// Every object of a multi-document YAML stream.
pub fn objects(yaml: &str) -> Vec<Value> {
    serde_yaml::Deserializer::from_str(yaml)
        .map(|doc| {
            let v: Value = serde::Deserialize::deserialize(doc).expect("yaml document");
            v
        })
        .filter(|v| !v.is_null())
        .collect()
}

pub fn find<'a>(objs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objs.iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name} among {} objects", objs.len()))
}

/// kustomize writes a CRD's `maximum: 100.0` as `100`: compare numbers by value.
pub fn numbers_as_f64(v: &Value) -> Value {
    match v {
        Value::Number(n) => json!(n.as_f64()),
        Value::Array(items) => Value::Array(items.iter().map(numbers_as_f64).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), numbers_as_f64(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}
