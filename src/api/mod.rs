//! The BatchNotification custom resource (batchnotify.dev/v1alpha1): the only
//! place the schema lives. `cargo run --bin crdgen` prints it as a CRD.

mod access;
pub mod conditions;
pub mod reason;
mod schema;
mod spec;
mod status;
pub mod validation;

pub use access::*;
pub use spec::*;
pub use status::*;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

/// Where the generated CRD is committed, relative to the repository root.
pub const CRD_PATH: &str = "crds/batchnotify.dev_batchnotifications.yaml";
/// Where the AccessGrant CRD is committed.
pub const ACCESS_GRANT_CRD_PATH: &str = "crds/batchnotify.dev_accessgrants.yaml";

#[derive(Debug, thiserror::Error)]
pub enum CrdError {
    #[error("the generated schema: {0}")]
    Schema(#[from] serde_json::Error),
    #[error("YAML: {0}")]
    Yaml(#[from] serde_yaml::Error),
}

/// The CRD generated from the types, with the schema as Kubernetes wants it
/// ([`schema::kubernetes_clean`]).
pub fn crd() -> Result<CustomResourceDefinition, CrdError> {
    Ok(schema::kubernetes_clean(BatchNotification::crd())?)
}

/// The CRD as YAML, as `crdgen` prints it and `crds/` holds it.
pub fn crd_yaml() -> Result<String, CrdError> {
    Ok(serde_yaml::to_string(&crd()?)?)
}

/// The AccessGrant CRD (cluster-scoped), cleaned like [`crd`].
pub fn access_grant_crd() -> Result<CustomResourceDefinition, CrdError> {
    Ok(schema::kubernetes_clean(AccessGrant::crd())?)
}

/// The AccessGrant CRD as YAML (`crdgen accessgrants`).
pub fn access_grant_crd_yaml() -> Result<String, CrdError> {
    Ok(serde_yaml::to_string(&access_grant_crd()?)?)
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
