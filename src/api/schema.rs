//! What the generated CRD needs before Kubernetes sees it. schemars writes the
//! schema for JSON Schema readers; the API server reads it differently:
//!
//! - `format` is checked against the formats Kubernetes knows (`int32`,
//!   `int64`, `date-time`, …); since 1.36 an unknown one such as schemars'
//!   `uint32` draws a warning on every apply of the CRD. Unsigned integers keep
//!   their `minimum: 0` and become `int64` (`int32` for the narrow ones).
//! - `nullable: true`, which schemars puts on every `Option` field, is needless
//!   in status: only the operator writes it, and it never writes a null
//!   (`skip_serializing_if`). In spec it stays: a manifest may say `run: null`
//!   (templating tools emit such nulls), server-side apply keeps the null, and
//!   without `nullable` the API server refuses the object.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde_json::Value;

/// `crd` with every version's schema made Kubernetes-clean (see the module doc).
pub fn kubernetes_clean(
    crd: CustomResourceDefinition,
) -> Result<CustomResourceDefinition, serde_json::Error> {
    let mut value = serde_json::to_value(crd)?;
    if let Some(versions) = value
        .pointer_mut("/spec/versions")
        .and_then(Value::as_array_mut)
    {
        for version in versions {
            if let Some(schema) = version.pointer_mut("/schema/openAPIV3Schema") {
                clean(schema, false);
                if let Some(status) = schema.pointer_mut("/properties/status") {
                    clean(status, true);
                }
            }
        }
    }
    serde_json::from_value(value)
}

/// The format Kubernetes knows for a schemars integer format, if any.
fn kubernetes_format(format: &str) -> Option<&'static str> {
    match format {
        "int32" | "int8" | "uint8" | "int16" | "uint16" => Some("int32"),
        "int64" | "uint32" => Some("int64"),
        "date-time" => Some("date-time"),
        "double" => Some("double"),
        "float" => Some("float"),
        _ => None,
    }
}

/// Fixes the formats of `schema` and its sub-schemas; drops `nullable` too
/// when `drop_nullable`.
fn clean(schema: &mut Value, drop_nullable: bool) {
    let recurse = |v: &mut Value| clean(v, drop_nullable);
    match schema {
        Value::Object(map) => {
            if drop_nullable && map.get("nullable") == Some(&Value::Bool(true)) {
                map.remove("nullable");
            }
            if let Some(format) = map.get("format").and_then(Value::as_str) {
                match kubernetes_format(format) {
                    Some(known) => {
                        map.insert("format".into(), Value::String(known.into()));
                    }
                    None => {
                        map.remove("format");
                    }
                }
            }
            // Descend into sub-schemas only: `properties` maps names to
            // schemas, and the CEL rules or enums hold no schema at all.
            for (key, value) in map.iter_mut() {
                match key.as_str() {
                    "properties" | "patternProperties" | "definitions" => {
                        if let Value::Object(props) = value {
                            props.values_mut().for_each(recurse);
                        }
                    }
                    "items" | "additionalProperties" | "not" => recurse(value),
                    "allOf" | "anyOf" | "oneOf" => {
                        if let Value::Array(schemas) = value {
                            schemas.iter_mut().for_each(recurse);
                        }
                    }
                    _ => {}
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(recurse),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_formats_and_nullable_go_known_ones_stay() {
        let mut spec = json!({"type": "object", "nullable": true, "format": "uint32"});
        clean(&mut spec, false);
        assert_eq!(
            spec,
            json!({"type": "object", "nullable": true, "format": "int64"})
        );

        let mut schema = json!({
            "type": "object",
            "properties": {
                "a": {"type": "integer", "format": "uint32", "minimum": 0, "nullable": true},
                "b": {"type": "integer", "format": "int32"},
                "c": {"type": "string", "format": "date-time", "nullable": true},
                "d": {"type": "array", "items": {"type": "integer", "format": "uint64"}},
                "e": {"type": "object", "additionalProperties": {"type": "string", "nullable": true}},
                // A property that happens to be called `format` or `nullable` is a schema, kept.
                "format": {"type": "string", "nullable": false},
            },
            "x-kubernetes-validations": [{"rule": "self.a >= 0", "message": "format: uint32"}],
        });
        clean(&mut schema, true);
        assert_eq!(
            schema,
            json!({
                "type": "object",
                "properties": {
                    "a": {"type": "integer", "format": "int64", "minimum": 0},
                    "b": {"type": "integer", "format": "int32"},
                    "c": {"type": "string", "format": "date-time"},
                    "d": {"type": "array", "items": {"type": "integer"}},
                    "e": {"type": "object", "additionalProperties": {"type": "string"}},
                    "format": {"type": "string", "nullable": false},
                },
                "x-kubernetes-validations": [{"rule": "self.a >= 0", "message": "format: uint32"}],
            })
        );
    }
}
