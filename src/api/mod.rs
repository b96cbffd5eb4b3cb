//! The BatchNotification custom resource (batchnotify.dev/v1alpha1): the only
//! place the schema lives. `cargo run --bin crdgen` prints it as a CRD.

pub mod conditions;
mod spec;
mod status;
pub mod validation;

pub use spec::*;
pub use status::*;

use kube::CustomResourceExt;

/// Where the generated CRD is committed, relative to the repository root.
pub const CRD_PATH: &str = "crds/batchnotify.dev_batchnotifications.yaml";

/// The CRD as YAML, as `crdgen` prints it and `crds/` holds it.
pub fn crd_yaml() -> Result<String, serde_yaml::Error> {
    serde_yaml::to_string(&BatchNotification::crd())
}

/// Joins the lines of every description in `schema` (doc comments wrap at 100 columns;
/// `kubectl explain` wraps again, and the two together read badly). Blank lines stay.
fn unwrap_descriptions(schema: &mut schemars::Schema) {
    if let Some(map) = schema.as_object_mut() {
        unwrap_in(map);
    }
}

fn unwrap_in(map: &mut serde_json::Map<String, serde_json::Value>) {
    use serde_json::Value;
    for (key, value) in map.iter_mut() {
        match value {
            Value::String(text) if key == "description" => {
                *text = text
                    .split("\n\n")
                    .map(|paragraph| paragraph.split('\n').collect::<Vec<_>>().join(" "))
                    .collect::<Vec<_>>()
                    .join("\n\n");
            }
            Value::Object(inner) => unwrap_in(inner),
            Value::Array(items) => items
                .iter_mut()
                .filter_map(Value::as_object_mut)
                .for_each(unwrap_in),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests;
