//! The test bed: a real etcd + kube-apiserver (built from Go modules by
//! `controlplane/`) and the moto AWS emulator (started by
//! `emulator/moto_launcher.py`), each on a free loopback port.
//!
//! Used by the integration tests (once per test binary), by `make demo` and by
//! the `testbed` command for humans. Every process it starts lives in one
//! process group watched by a guard process: when the process that started the
//! bed exits — normally, by panic, or killed — the guard's stdin closes and it
//! stops the whole group and removes the data directory. No orphans.

use std::fs;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

/// The Kubernetes version `controlplane/go.mod` pins; the cache folder is keyed by it.
pub const KUBERNETES_VERSION: &str = "v1.34.4";
/// The moto version the emulator's virtualenv pins.
pub const MOTO_VERSION: &str = "5.2.5";
/// The account moto answers for.
pub const ACCOUNT_ID: &str = "123456789012";
/// The region the bed's clients use.
pub const REGION: &str = "us-east-1";
/// Batch jobs whose job name or job-definition name contains this end FAILED.
pub const FAIL_MARKER: &str = "must-fail";
/// Batch jobs whose job name or job-definition name contains this stay
/// RUNNABLE (no capacity) until cancelled or a queue's time limit acts.
pub const HOLD_MARKER: &str = "held-runnable";
/// Batch jobs whose job name or job-definition name contains this stay
/// RUNNING for a while (6 s with the fast delays), writing a log line each
/// second, so that a client can follow their log stream while it grows.
pub const LONG_MARKER: &str = "runs-long";
/// Batch jobs whose job name or job-definition name contains this fail their
/// first attempt (exit code 1); a later attempt (retryStrategy) succeeds.
pub const FLAKY_MARKER: &str = "fails-once";
/// Extra flags for the emulator's launcher, split on whitespace (for example
/// `--lenient` for stock moto's kindness, or `--delays realistic`). The
/// launcher is strict by default: AWS's IAM, quotas, paging, lifecycles.
pub const EMULATOR_ARGS_ENV: &str = "BATCHNOTIFY_EMULATOR_ARGS";

const ADMIN_TOKEN: &str = "batchnotify-testbed-admin";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{what} not found at {path}: run `make testbed-deps` (or `make test`) first")]
    Missing { what: &'static str, path: PathBuf },
    #[error("{0}: {1}")]
    Io(String, #[source] std::io::Error),
    #[error("{what} did not become ready within {secs} s; its log is {log}")]
    NotReady {
        what: &'static str,
        secs: u64,
        log: PathBuf,
    },
    #[error("{what} exited early ({status}); its log is {log}")]
    Exited {
        what: &'static str,
        status: String,
        log: PathBuf,
    },
}

type Result<T> = std::result::Result<T, Error>;

fn io<T>(ctx: impl Into<String>, r: std::io::Result<T>) -> Result<T> {
    r.map_err(|e| Error::Io(ctx.into(), e))
}

/// Where the bed finds its binaries: the cache folders `make testbed-deps` fills.
#[derive(Clone, Debug)]
pub struct Paths {
    /// Folder holding `etcd`, `kube-apiserver` and `kubectl`.
    pub controlplane_bin: PathBuf,
    /// The emulator virtualenv's Python.
    pub moto_python: PathBuf,
    /// `emulator/moto_launcher.py`.
    pub moto_launcher: PathBuf,
    /// Folder holding the checkers `tools/` builds: `bn-checks`, `hadolint`.
    pub tools_bin: PathBuf,
}

impl Paths {
    /// From `BATCHNOTIFY_CONTROLPLANE_BIN` / `BATCHNOTIFY_MOTO_VENV`, else the
    /// default cache `~/.cache/batchnotify/<tool>-<version>`.
    pub fn from_env() -> Paths {
        let cache = std::env::var_os("BATCHNOTIFY_CACHE")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                let home = std::env::var_os("HOME")
                    .map(PathBuf::from)
                    .unwrap_or_else(|| "/tmp".into());
                home.join(".cache/batchnotify")
            });
        let controlplane_bin = std::env::var_os("BATCHNOTIFY_CONTROLPLANE_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| cache.join(format!("controlplane-{KUBERNETES_VERSION}")));
        let venv = std::env::var_os("BATCHNOTIFY_MOTO_VENV")
            .map(PathBuf::from)
            .unwrap_or_else(|| cache.join(format!("moto-{MOTO_VERSION}")));
        let tools_bin = std::env::var_os("BATCHNOTIFY_TOOLS")
            .map(PathBuf::from)
            .unwrap_or_else(|| cache.join("checks"));
        Paths {
            tools_bin,
            controlplane_bin,
            moto_python: venv.join("bin/python"),
            moto_launcher: repo_root().join("emulator/moto_launcher.py"),
        }
    }

    pub fn kubectl(&self) -> PathBuf {
        self.controlplane_bin.join("kubectl")
    }

    fn check(&self) -> Result<()> {
        for (what, path) in [
            ("etcd", self.controlplane_bin.join("etcd")),
            (
                "kube-apiserver",
                self.controlplane_bin.join("kube-apiserver"),
            ),
            ("kubectl", self.kubectl()),
            ("the emulator's python", self.moto_python.clone()),
            ("the moto launcher", self.moto_launcher.clone()),
        ] {
            if !path.exists() {
                return Err(Error::Missing { what, path });
            }
        }
        Ok(())
    }
}

/// The repository's root folder: the nearest folder above the working
/// directory (cargo runs tests in their package's folder) that holds the
/// launcher and the control plane's module; else the one this was built from.
/// Clones that share a target directory (as CI's fresh clone shares the cache)
/// may reuse a build made in another clone, whose path is baked in.
pub fn repo_root() -> PathBuf {
    let is_root = |d: &Path| {
        d.join("emulator/moto_launcher.py").is_file() && d.join("controlplane/go.mod").is_file()
    };
    if let Ok(cwd) = std::env::current_dir()
        && let Some(root) = cwd.ancestors().find(|d| is_root(d))
    {
        return root.to_path_buf();
    }
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// A free loopback port. The port is released before the caller binds it, so
/// a start that fails on a taken port is retried with new ports.
pub fn free_port() -> Result<u16> {
    let l = io("bind 127.0.0.1:0", TcpListener::bind("127.0.0.1:0"))?;
    Ok(io("local addr", l.local_addr())?.port())
}

/// A running bed. Dropping it stops every process; so does the guard if the
/// owning process dies first.
pub struct TestBed {
    /// The `https://127.0.0.1:PORT` the API server serves.
    pub api_server: String,
    /// Admin kubeconfig (token, system:masters).
    pub kubeconfig: PathBuf,
    /// The API server's self-signed serving certificate, the kubeconfig's CA.
    pub ca_cert: PathBuf,
    /// The admin bearer token.
    pub admin_token: String,
    /// `http://127.0.0.1:PORT` of the emulator: the SDK's `AWS_ENDPOINT_URL`.
    pub aws_endpoint: String,
    /// Folder holding every process's log.
    pub log_dir: PathBuf,
    pub paths: Paths,
    children: Vec<(&'static str, Child)>,
    guard: Option<(Child, ChildStdin)>,
    data_dir: PathBuf,
    /// `http://127.0.0.1:PORT` of etcd's client endpoint.
    etcd_url: String,
}

impl TestBed {
    /// Starts etcd, the API server and the emulator. `log_dir` is emptied first
    /// and keeps the logs afterwards; data lives in a temporary folder.
    pub fn start(log_dir: &Path) -> Result<TestBed> {
        let paths = Paths::from_env();
        paths.check()?;
        let _ = fs::remove_dir_all(log_dir);
        io(
            format!("create {}", log_dir.display()),
            fs::create_dir_all(log_dir),
        )?;
        let data_dir =
            std::env::temp_dir().join(format!("batchnotify-testbed-{}", std::process::id()));
        let _ = fs::remove_dir_all(&data_dir);
        io("create data dir", fs::create_dir_all(&data_dir))?;

        let mut bed = TestBed {
            api_server: String::new(),
            kubeconfig: data_dir.join("kubeconfig"),
            ca_cert: data_dir.join("certs/apiserver.crt"),
            admin_token: ADMIN_TOKEN.to_string(),
            aws_endpoint: String::new(),
            log_dir: log_dir.to_path_buf(),
            paths,
            children: Vec::new(),
            guard: None,
            data_dir,
            etcd_url: String::new(),
        };
        bed.start_guard()?;
        // The emulator takes longest (3–5 s): start it first and wait for it last.
        let moto = bed.spawn_moto()?;
        bed.start_etcd_and_apiserver()?;
        bed.aws_endpoint = bed.wait_moto(moto)?;
        Ok(bed)
    }

    /// The process group every bed process joins: the guard's. Put other
    /// processes a test starts (the operator) in it too, and the guard reaps them.
    pub fn process_group(&self) -> i32 {
        self.pgid() as i32
    }

    fn pgid(&self) -> u32 {
        self.guard.as_ref().map(|(c, _)| c.id()).unwrap_or(0)
    }

    fn start_guard(&mut self) -> Result<()> {
        // The guard leads its own process group, which every bed process joins;
        // it ignores TERM itself so that `kill -TERM -$pgid` spares it.
        // When our end of its stdin closes (we exited, however), it stops the group.
        let script = r#"trap '' TERM INT
cat >/dev/null
kill -TERM -$$ 2>/dev/null
sleep 2
rm -rf "$1"
kill -KILL -$$ 2>/dev/null"#;
        let mut child = io(
            "spawn guard",
            Command::new("/bin/sh")
                .arg("-c")
                .arg(script)
                .arg("guard")
                .arg(&self.data_dir)
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .process_group(0)
                .spawn(),
        )?;
        let stdin = child.stdin.take().ok_or_else(|| {
            Error::Io("guard stdin".into(), std::io::ErrorKind::BrokenPipe.into())
        })?;
        self.guard = Some((child, stdin));
        Ok(())
    }

    /// A command with a clean environment: none of the machine's AWS or proxy
    /// settings leak into the bed (AWS_CA_BUNDLE broke clients of the emulator).
    fn command(&self, program: &Path) -> Command {
        let mut cmd = Command::new(program);
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &self.data_dir)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", REGION)
            .env("AWS_DEFAULT_REGION", REGION)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .stdin(Stdio::null())
            .process_group(self.pgid() as i32);
        cmd
    }

    fn log_file(&self, name: &str) -> Result<(PathBuf, fs::File)> {
        let path = self.log_dir.join(format!("{name}.log"));
        let f = io(
            format!("create {}", path.display()),
            fs::File::create(&path),
        )?;
        Ok((path, f))
    }

    fn spawn(&mut self, what: &'static str, mut cmd: Command) -> Result<PathBuf> {
        let (log, f) = self.log_file(what)?;
        let f2 = io("dup log", f.try_clone())?;
        let child = io(format!("spawn {what}"), cmd.stdout(f).stderr(f2).spawn())?;
        self.children.push((what, child));
        Ok(log)
    }

    fn check_alive(&mut self, what: &'static str, log: &Path) -> Result<()> {
        for (name, child) in self.children.iter_mut() {
            if *name == what
                && let Ok(Some(status)) = child.try_wait()
            {
                return Err(Error::Exited {
                    what,
                    status: status.to_string(),
                    log: log.to_path_buf(),
                });
            }
        }
        Ok(())
    }

    fn forget(&mut self, what: &str) {
        self.children.retain_mut(|(name, child)| {
            if *name == what {
                let _ = child.kill();
                let _ = child.wait();
                false
            } else {
                true
            }
        });
    }

    fn start_etcd_and_apiserver(&mut self) -> Result<()> {
        let mut last = None;
        for _ in 0..3 {
            match self.try_start_etcd_and_apiserver() {
                Ok(()) => return Ok(()),
                Err(e @ Error::Exited { .. }) => {
                    // Most likely a port taken between probe and bind: retry.
                    self.forget("kube-apiserver");
                    self.forget("etcd");
                    last = Some(e);
                }
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or(Error::NotReady {
            what: "kube-apiserver",
            secs: 0,
            log: self.log_dir.clone(),
        }))
    }

    fn try_start_etcd_and_apiserver(&mut self) -> Result<()> {
        let bin = self.paths.controlplane_bin.clone();
        let (client_port, peer_port) = (free_port()?, free_port()?);
        let etcd_data = self.data_dir.join("etcd");
        let _ = fs::remove_dir_all(&etcd_data);
        let mut etcd = self.command(&bin.join("etcd"));
        etcd.arg(format!("--data-dir={}", etcd_data.display()))
            .arg(format!(
                "--listen-client-urls=http://127.0.0.1:{client_port}"
            ))
            .arg(format!("--listen-peer-urls=http://127.0.0.1:{peer_port}"))
            .arg("--heartbeat-interval=10")
            .arg("--election-timeout=50");
        let etcd_log = self.spawn("etcd", etcd)?;
        self.wait_for("etcd", &etcd_log, Duration::from_secs(20), |_| {
            std::net::TcpStream::connect(("127.0.0.1", client_port)).is_ok()
        })?;

        let certs = self.data_dir.join("certs");
        io("create cert dir", fs::create_dir_all(&certs))?;
        let sa_key = self.data_dir.join("sa.key");
        if !sa_key.exists() {
            let status = io(
                "run openssl",
                Command::new("openssl")
                    .args([
                        "ecparam",
                        "-name",
                        "prime256v1",
                        "-genkey",
                        "-noout",
                        "-out",
                    ])
                    .arg(&sa_key)
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status(),
            )?;
            if !status.success() {
                return Err(Error::Io(
                    "openssl could not make the service-account key".into(),
                    std::io::ErrorKind::Other.into(),
                ));
            }
        }
        let tokens = self.data_dir.join("tokens.csv");
        io(
            "write token file",
            fs::write(
                &tokens,
                format!("{ADMIN_TOKEN},admin,admin-uid,system:masters\n"),
            ),
        )?;

        self.etcd_url = format!("http://127.0.0.1:{client_port}");
        let port = free_port()?;
        let api = self.apiserver_command(port);
        let api_log = self.spawn("kube-apiserver", api)?;
        self.api_server = format!("https://127.0.0.1:{port}");
        self.write_kubeconfig()?;
        let kubectl = self.paths.kubectl();
        let kubeconfig = self.kubeconfig.clone();
        self.wait_for("kube-apiserver", &api_log, Duration::from_secs(60), |_| {
            Command::new(&kubectl)
                .arg("--kubeconfig")
                .arg(&kubeconfig)
                .args(["get", "--raw", "/readyz"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .map(|s| s.success())
                .unwrap_or(false)
        })
    }

    /// The API server's command line, serving on `port` from the bed's etcd.
    fn apiserver_command(&self, port: u16) -> Command {
        let certs = self.data_dir.join("certs");
        let sa_key = self.data_dir.join("sa.key");
        let tokens = self.data_dir.join("tokens.csv");
        let mut api = self.command(&self.paths.controlplane_bin.join("kube-apiserver"));
        api.arg(format!("--etcd-servers={}", self.etcd_url))
            .arg(format!("--secure-port={port}"))
            .arg("--bind-address=127.0.0.1")
            .arg("--advertise-address=127.0.0.1")
            .arg(format!("--cert-dir={}", certs.display()))
            .arg(format!("--token-auth-file={}", tokens.display()))
            .arg("--authorization-mode=RBAC")
            .arg("--service-account-issuer=https://kubernetes.default.svc.cluster.local")
            .arg(format!("--service-account-key-file={}", sa_key.display()))
            .arg(format!(
                "--service-account-signing-key-file={}",
                sa_key.display()
            ))
            .arg("--service-cluster-ip-range=10.0.0.0/24")
            // There is no kubelet or kube-proxy: stop the loopback-endpoint error loop.
            .arg("--endpoint-reconciler-type=none")
            .arg("--enable-priority-and-fairness=false")
            .arg("--v=0");
        api
    }

    /// A second API server on the bed's etcd (its certificates, tokens and
    /// data), for a test that restarts one without disturbing the others.
    /// The bed's guard reaps it too.
    pub fn second_api_server(&self, name: &str) -> Result<SecondApiServer> {
        let port = free_port()?;
        let kubeconfig = self.log_dir.join(format!("kubeconfig-{name}"));
        let text = io("read kubeconfig", fs::read_to_string(&self.kubeconfig))?;
        let url = format!("https://127.0.0.1:{port}");
        io(
            "write kubeconfig",
            fs::write(&kubeconfig, text.replace(&self.api_server, &url)),
        )?;
        let mut api = SecondApiServer {
            command: self.apiserver_command(port),
            log: self.log_dir.join(format!("kube-apiserver-{name}.log")),
            kubectl: self.paths.kubectl(),
            kubeconfig,
            url,
            child: None,
            starts: 0,
        };
        api.start()?;
        Ok(api)
    }

    fn write_kubeconfig(&self) -> Result<()> {
        // The generated serving cert names 127.0.0.1 but not localhost.
        let config = format!(
            r#"apiVersion: v1
kind: Config
clusters:
- name: testbed
  cluster:
    server: {server}
    certificate-authority: {ca}
users:
- name: admin
  user:
    token: {token}
contexts:
- name: testbed
  context: {{cluster: testbed, user: admin, namespace: default}}
current-context: testbed
"#,
            server = self.api_server,
            ca = self.ca_cert.display(),
            token = self.admin_token,
        );
        io("write kubeconfig", fs::write(&self.kubeconfig, config))
    }

    fn spawn_moto(&mut self) -> Result<(Child, PathBuf)> {
        let (log, f) = self.log_file("moto")?;
        let mut cmd = self.command(&self.paths.moto_python.clone());
        cmd.arg(&self.paths.moto_launcher)
            .arg("--fail-jobs-matching")
            .arg(FAIL_MARKER)
            .arg("--hold-runnable-matching")
            .arg(HOLD_MARKER)
            .arg("--long-running-matching")
            .arg(LONG_MARKER)
            .arg("--fail-first-attempt-matching")
            .arg(FLAKY_MARKER)
            // Assumed-role sessions last 30 s at most: a test sees a role that
            // can no longer be assumed within a minute (the SDK renews 10 s
            // before expiry), not an hour.
            .arg("--assumed-role-seconds")
            .arg("30")
            .args(
                std::env::var(EMULATOR_ARGS_ENV)
                    .unwrap_or_default()
                    .split_whitespace(),
            )
            .stdout(Stdio::piped())
            .stderr(f);
        let child = io("spawn moto", cmd.spawn())?;
        Ok((child, log))
    }

    fn wait_moto(&mut self, (mut child, log): (Child, PathBuf)) -> Result<String> {
        let Some(stdout) = child.stdout.take() else {
            return Err(Error::Io(
                "moto stdout".into(),
                std::io::ErrorKind::BrokenPipe.into(),
            ));
        };
        let mut line = String::new();
        // The launcher prints exactly one line, then nothing: a blocking read is bounded
        // by the launcher exiting (EOF) if it fails.
        let read = BufReader::new(stdout).read_line(&mut line);
        self.children.push(("moto", child));
        match read {
            Ok(_) if line.starts_with("READY ") => Ok(format!(
                "http://127.0.0.1:{}",
                line.trim_start_matches("READY ").trim()
            )),
            _ => {
                self.check_alive("moto", &log)?;
                Err(Error::NotReady {
                    what: "moto",
                    secs: 0,
                    log,
                })
            }
        }
    }

    fn wait_for(
        &mut self,
        what: &'static str,
        log: &Path,
        limit: Duration,
        mut ready: impl FnMut(&mut Self) -> bool,
    ) -> Result<()> {
        let start = Instant::now();
        while start.elapsed() < limit {
            if ready(self) {
                return Ok(());
            }
            self.check_alive(what, log)?;
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(Error::NotReady {
            what,
            secs: limit.as_secs(),
            log: log.to_path_buf(),
        })
    }

    /// Environment for a process that should use the bed (the operator, kubectl).
    pub fn env(&self) -> Vec<(String, String)> {
        [
            ("KUBECONFIG", self.kubeconfig.display().to_string()),
            ("AWS_ENDPOINT_URL", self.aws_endpoint.clone()),
            ("AWS_REGION", REGION.to_string()),
            ("AWS_DEFAULT_REGION", REGION.to_string()),
            ("AWS_ACCESS_KEY_ID", "testing".to_string()),
            ("AWS_SECRET_ACCESS_KEY", "testing".to_string()),
            ("AWS_EC2_METADATA_DISABLED", "true".to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    /// A `kubectl` command against the bed, with a clean environment.
    pub fn kubectl(&self) -> Command {
        let mut cmd = Command::new(self.paths.kubectl());
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &self.data_dir)
            .env("KUBECONFIG", &self.kubeconfig);
        cmd
    }

    /// The pids of the bed's processes, by name.
    pub fn pids(&self) -> Vec<(&'static str, u32)> {
        self.children.iter().map(|(n, c)| (*n, c.id())).collect()
    }

    /// Stops every process now (the guard would otherwise do it at exit).
    pub fn stop(&mut self) {
        for (_, child) in self.children.iter_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.children.clear();
        // Closing its stdin lets the guard remove the data folder.
        self.guard = None;
    }
}

impl Drop for TestBed {
    fn drop(&mut self) {
        self.stop();
    }
}

/// An API server of the bed's that a test may stop and start again on the
/// same port (see [`TestBed::second_api_server`]). Killed on drop.
pub struct SecondApiServer {
    command: Command,
    log: PathBuf,
    kubectl: PathBuf,
    /// A kubeconfig (the bed's admin) that points at this server.
    pub kubeconfig: PathBuf,
    /// `https://127.0.0.1:PORT`.
    pub url: String,
    child: Option<Child>,
    /// How many times it was started.
    pub starts: u32,
}

impl SecondApiServer {
    /// Starts it and waits for `/readyz` (the log is appended to).
    pub fn start(&mut self) -> Result<()> {
        let f = io(
            format!("open {}", self.log.display()),
            fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.log),
        )?;
        let f2 = io("dup log", f.try_clone())?;
        let child = io(
            "spawn the second kube-apiserver",
            self.command.stdout(f).stderr(f2).spawn(),
        )?;
        self.child = Some(child);
        self.starts += 1;
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(60) {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                return Err(Error::Exited {
                    what: "kube-apiserver (second)",
                    status: status.to_string(),
                    log: self.log.clone(),
                });
            }
            let ready = Command::new(&self.kubectl)
                .arg("--kubeconfig")
                .arg(&self.kubeconfig)
                .args(["get", "--raw", "/readyz"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            if ready {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(Error::Io(
            "the second kube-apiserver was not ready within 60 s".into(),
            std::io::ErrorKind::TimedOut.into(),
        ))
    }

    /// Stops it: SIGTERM, as a rolling restart does; SIGKILL after 10 s.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for SecondApiServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
