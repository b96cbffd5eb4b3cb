//! Prints the BatchNotification CRD generated from the Rust types:
//! `cargo run --bin crdgen > crds/batchnotify.dev_batchnotifications.yaml`;
//! `crdgen accessgrants` prints the AccessGrant CRD.

use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    let which = std::env::args().nth(1);
    let generated = match which.as_deref() {
        Some("accessgrants") => batchnotify::api::access_grant_crd_yaml(),
        _ => batchnotify::api::crd_yaml(),
    };
    let yaml = match generated {
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
