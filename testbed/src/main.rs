//! `testbed`: brings the local control plane and the emulator up in the
//! foreground, prints the `export` lines that point kubectl, the operator and
//! the AWS CLI/SDKs at them, and runs until Ctrl-C (the bed's guard then stops
//! every process and removes its data).

use std::path::PathBuf;

fn main() {
    let log_dir = std::env::args()
        .skip_while(|a| a != "--log-dir")
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            std::env::temp_dir().join(format!("batchnotify-testbed-logs-{}", std::process::id()))
        });
    eprintln!(
        "starting etcd, kube-apiserver and moto (logs in {}) ...",
        log_dir.display()
    );
    let bed = match batchnotify_testbed::TestBed::start(&log_dir) {
        Ok(bed) => bed,
        Err(e) => {
            eprintln!("testbed: {e}");
            std::process::exit(1);
        }
    };
    for (k, v) in bed.env() {
        println!("export {k}={v}");
    }
    println!("export PATH={}:$PATH", bed.paths.controlplane_bin.display());
    eprintln!(
        "# ready: API server {} , AWS emulator {} ; Ctrl-C stops everything",
        bed.api_server, bed.aws_endpoint
    );
    loop {
        std::thread::park();
    }
}
