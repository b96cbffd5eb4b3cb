//! The bed never outlives the process that started it: SIGKILL the `testbed`
//! command and its guard stops etcd, the API server and the emulator, and
//! removes their data.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn port_of(url: &str) -> u16 {
    url.rsplit(':')
        .next()
        .and_then(|p| p.trim_end_matches('/').parse().ok())
        .expect("port in url")
}

fn answers(port: u16) -> bool {
    std::net::TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(200))
        .is_ok()
}

#[test]
fn killing_the_owner_reaps_every_bed_process() {
    let log_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("reaping-logs");
    let mut child = Command::new(env!("CARGO_BIN_EXE_testbed"))
        .arg("--log-dir")
        .arg(&log_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn testbed");
    let stdout = child.stdout.take().expect("stdout");
    let mut kubeconfig = None;
    let mut aws = None;
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("line");
        if let Some(v) = line.strip_prefix("export KUBECONFIG=") {
            kubeconfig = Some(v.to_string());
        }
        if let Some(v) = line.strip_prefix("export AWS_ENDPOINT_URL=") {
            aws = Some(v.to_string());
        }
        if line.starts_with("export PATH=") {
            break;
        }
    }
    let kubeconfig = kubeconfig.expect("KUBECONFIG line");
    let aws_port = port_of(&aws.expect("AWS_ENDPOINT_URL line"));
    let server = std::fs::read_to_string(&kubeconfig)
        .expect("kubeconfig")
        .lines()
        .find_map(|l| l.trim().strip_prefix("server: ").map(str::to_string))
        .expect("server line");
    let api_port = port_of(&server);
    assert!(answers(api_port) && answers(aws_port), "the bed is up");

    child.kill().expect("SIGKILL the owner");
    let _ = child.wait();
    let data_dir = Path::new(&kubeconfig)
        .parent()
        .expect("data dir")
        .to_path_buf();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(20)
        && (answers(api_port) || answers(aws_port) || data_dir.exists())
    {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(!answers(api_port), "the API server outlived its owner");
    assert!(!answers(aws_port), "the emulator outlived its owner");
    assert!(!data_dir.exists(), "the data folder was left behind");
}
