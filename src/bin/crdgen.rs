//! Prints the BatchNotification CRD generated from the Rust types:
//! `cargo run --bin crdgen > crds/batchnotify.dev_batchnotifications.yaml`.

use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    let yaml = match batchnotify::api::crd_yaml() {
        Ok(yaml) => yaml,
        Err(e) => {
            eprintln!("crdgen: cannot serialise the CRD: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut out = std::io::stdout().lock();
    match out.write_all(yaml.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("crdgen: {e}");
            ExitCode::FAILURE
        }
    }
}
