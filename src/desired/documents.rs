//! Comparing JSON documents by meaning, so that a policy or definition that AWS hands back
//! reformatted never looks like a change (and never causes a perpetual update).

use std::cmp::Ordering;

use percent_encoding::percent_decode_str;
use serde_json::{Map, Value};

/// A document that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum DocumentError {
    /// Percent-decoding gave bytes that are not UTF-8.
    #[error("the URL-encoded policy is not UTF-8 once decoded: {0}")]
    NotUtf8(#[from] std::str::Utf8Error),
    /// The text is not JSON.
    #[error("the document is not JSON: {0}")]
    NotJson(#[from] serde_json::Error),
}

/// Parses a JSON document (a state machine definition, a policy as SNS or Step Functions
/// return it).
pub fn parse_document(text: &str) -> Result<Value, DocumentError> {
    Ok(serde_json::from_str(text)?)
}

/// Parses a policy document as IAM returns it (`GetRolePolicy`, `GetRole`'s
/// `AssumeRolePolicyDocument`): URL-encoded JSON (RFC 3986; `+` is not a space).
pub fn decode_iam_policy(url_encoded: &str) -> Result<Value, DocumentError> {
    let text = percent_decode_str(url_encoded).decode_utf8()?;
    parse_document(&text)
}

/// Whether two JSON documents mean the same: key order and whitespace never matter (they
/// are gone once parsed), and numbers compare by value (`1` equals `1.0`).
pub fn documents_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => numbers_equal(x, y),
        (Value::Array(xs), Value::Array(ys)) => {
            xs.len() == ys.len() && xs.iter().zip(ys).all(|(x, y)| documents_equal(x, y))
        }
        (Value::Object(xs), Value::Object(ys)) => {
            xs.len() == ys.len()
                && xs
                    .iter()
                    .all(|(k, x)| ys.get(k).is_some_and(|y| documents_equal(x, y)))
        }
        _ => a == b,
    }
}

/// Whether two IAM policy documents mean the same, after [`normalize_policy`] on both.
pub fn policies_equal(a: &Value, b: &Value) -> bool {
    documents_equal(&normalize_policy(a), &normalize_policy(b))
}

/// Whether a policy as IAM returns it (URL-encoded, possibly rewritten: see
/// [`normalize_policy`]) means `desired`. One that cannot be read differs.
pub fn iam_policy_matches(url_encoded: &str, desired: &Value) -> bool {
    decode_iam_policy(url_encoded).is_ok_and(|observed| policies_equal(&observed, desired))
}

/// Undoes the rewriting IAM allows: `Statement` as one object or a list; `Action`,
/// `NotAction`, `Resource`, `NotResource`, principals and condition values as one string or
/// a list, in any order, with repeats. Lists become sorted and deduplicated, statements
/// are sorted. A value that is not a policy comes back unchanged.
pub fn normalize_policy(policy: &Value) -> Value {
    let Value::Object(policy) = policy else {
        return policy.clone();
    };
    let mut out = policy.clone();
    if let Some(statements) = policy.get("Statement") {
        let mut statements: Vec<Value> = match statements {
            Value::Array(items) => items.iter().map(normalize_statement).collect(),
            one => vec![normalize_statement(one)],
        };
        statements.sort_by(canonical_order);
        statements.dedup_by(|a, b| documents_equal(a, b));
        out.insert("Statement".into(), Value::Array(statements));
    }
    Value::Object(out)
}

fn normalize_statement(statement: &Value) -> Value {
    let Value::Object(statement) = statement else {
        return statement.clone();
    };
    let mut out = Map::new();
    for (key, value) in statement {
        let value = match key.as_str() {
            "Action" | "NotAction" | "Resource" | "NotResource" => string_set(value),
            // "Principal": "*" stays a string; {"Service": "x"} holds sets.
            "Principal" | "NotPrincipal" => map_values(value, string_set),
            // {"StringEquals": {"aws:SourceAccount": "1"}}: operator → key → set.
            "Condition" => map_values(value, |keys| map_values(keys, string_set)),
            _ => value.clone(),
        };
        out.insert(key.clone(), value);
    }
    Value::Object(out)
}

fn map_values(value: &Value, f: impl Fn(&Value) -> Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(map.iter().map(|(k, v)| (k.clone(), f(v))).collect()),
        other => other.clone(),
    }
}

/// A string or a list of values → a sorted list without repeats.
fn string_set(value: &Value) -> Value {
    let mut items = match value {
        Value::Array(items) => items.clone(),
        Value::String(_) => vec![value.clone()],
        other => return other.clone(),
    };
    items.sort_by(canonical_order);
    items.dedup_by(|a, b| documents_equal(a, b));
    Value::Array(items)
}

/// A total order on JSON values, independent of map key order.
fn canonical_order(a: &Value, b: &Value) -> Ordering {
    canonical(a).cmp(&canonical(b))
}

fn canonical(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                if let Some(v) = map.get(key) {
                    write_canonical(v, out);
                }
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => out.push_str(&i.to_string()),
            (_, Some(u), _) => out.push_str(&u.to_string()),
            (_, _, Some(f)) if f.fract() == 0.0 && f.abs() < 9.0e15 => {
                out.push_str(&format!("{f:.0}"));
            }
            _ => out.push_str(&n.to_string()),
        },
        other => out.push_str(&other.to_string()),
    }
}

fn numbers_equal(x: &serde_json::Number, y: &serde_json::Number) -> bool {
    match (x.as_i64(), y.as_i64(), x.as_u64(), y.as_u64()) {
        (Some(a), Some(b), _, _) => a == b,
        (_, _, Some(a), Some(b)) => a == b,
        _ => match (x.as_f64(), y.as_f64()) {
            (Some(a), Some(b)) => a == b,
            _ => false,
        },
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn key_order_whitespace_and_number_form_do_not_matter() {
        let a = parse_document(r#"{"a": 1, "b": [1, {"c": "d", "e": 2.0}]}"#).unwrap();
        let b = parse_document("{\"b\":[1.0,{\"e\":2,\"c\":\"d\"}],\n \"a\":1}").unwrap();
        assert!(documents_equal(&a, &b));
        assert!(
            !documents_equal(&a, &json!({"a": 1, "b": [{"c": "d", "e": 2}, 1]})),
            "list order matters"
        );
        assert!(!documents_equal(
            &json!({"a": 1}),
            &json!({"a": 1, "b": null})
        ));
        assert!(!documents_equal(&json!(1), &json!("1")));
        assert!(!documents_equal(&json!(-1), &json!(u64::MAX)));
    }

    #[test]
    fn decodes_url_encoded_policies() {
        let encoded = "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C%22Action%22%3A%22sns%3APublish%22%2C%22Resource%22%3A%22arn%3Aaws%3Asns%3Aus-east-1%3A123456789012%3Aa%2Bb%22%7D%5D%7D";
        let decoded = decode_iam_policy(encoded).unwrap();
        assert_eq!(
            decoded,
            json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sns:Publish",
                   "Resource": "arn:aws:sns:us-east-1:123456789012:a+b"}]})
        );
        // Plain JSON has nothing to decode.
        assert_eq!(
            decode_iam_policy(r#"{"a":"b c"}"#).unwrap(),
            json!({"a": "b c"})
        );
        assert!(matches!(
            decode_iam_policy("%7B"),
            Err(DocumentError::NotJson(_))
        ));
        assert!(matches!(
            decode_iam_policy("%FF"),
            Err(DocumentError::NotUtf8(_))
        ));
    }

    #[test]
    fn policies_equal_undoes_iam_normalisation() {
        let sent = json!({
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": ["sns:Publish"], "Resource": ["arn:t"]},
                {"Effect": "Allow", "Action": ["events:PutTargets", "events:PutRule"], "Resource": "arn:r"},
            ]
        });
        let returned = json!({
            "Statement": [
                {"Resource": "arn:r", "Effect": "Allow", "Action": ["events:PutRule", "events:PutTargets", "events:PutRule"]},
                {"Resource": "arn:t", "Action": "sns:Publish", "Effect": "Allow"},
            ],
            "Version": "2012-10-17"
        });
        assert!(!documents_equal(&sent, &returned));
        assert!(policies_equal(&sent, &returned));
        let single = json!({"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "sns:Publish", "Resource": "arn:t"}});
        let listed = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["sns:Publish"], "Resource": ["arn:t"]}]});
        assert!(policies_equal(&single, &listed));
    }

    #[test]
    fn policies_that_differ_stay_different() {
        let base = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sns:Publish", "Resource": "arn:t"}]});
        for other in [
            json!({"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "sns:Publish", "Resource": "arn:t"}]}),
            json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sns:Publish", "Resource": "*"}]}),
            json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["sns:Publish", "sns:Subscribe"], "Resource": "arn:t"}]}),
            json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "NotAction": "sns:Publish", "Resource": "arn:t"}]}),
            json!({"Version": "2008-10-17", "Statement": [{"Effect": "Allow", "Action": "sns:Publish", "Resource": "arn:t"}]}),
        ] {
            assert!(!policies_equal(&base, &other), "{other}");
        }
    }

    #[test]
    fn principal_star_and_non_policies_pass_through() {
        let p =
            json!({"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject"}]});
        assert_eq!(normalize_policy(&p)["Statement"][0]["Principal"], "*");
        assert_eq!(normalize_policy(&json!([1, 2])), json!([1, 2]));
        assert_eq!(normalize_policy(&json!({"a": 1})), json!({"a": 1}));
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        fn json_value() -> impl Strategy<Value = Value> {
            let leaf = prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::Bool),
                any::<i64>().prop_map(|n| json!(n)),
                any::<u64>().prop_map(|n| json!(n)),
                // Quarters print and parse back exactly (serde_json parses other floats
                // to within one ULP unless its float_roundtrip feature is on).
                (-1_000_000i32..1_000_000).prop_map(|n| json!(f64::from(n) / 4.0)),
                ".{0,20}".prop_map(Value::String),
            ];
            leaf.prop_recursive(4, 64, 8, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
                    prop::collection::btree_map(".{0,10}", inner, 0..8)
                        .prop_map(|m| Value::Object(m.into_iter().collect())),
                ]
            })
        }

        proptest! {
            #[test]
            fn documents_round_trip_through_a_string(v in json_value()) {
                let text = serde_json::to_string(&v).unwrap();
                let back = parse_document(&text).unwrap();
                prop_assert!(documents_equal(&v, &back));
                prop_assert!(documents_equal(&back, &v));
            }

            #[test]
            fn normalisation_is_idempotent_and_never_panics(v in json_value()) {
                let once = normalize_policy(&v);
                prop_assert_eq!(normalize_policy(&once), once.clone());
                prop_assert!(policies_equal(&v, &v));
            }

            #[test]
            fn decoding_arbitrary_text_never_panics(text in "\\PC{0,200}") {
                let _ = decode_iam_policy(&text);
            }

            #[test]
            fn encoded_policies_decode_to_the_same_document(v in json_value()) {
                let text = serde_json::to_string(&v).unwrap();
                let encoded = percent_encoding::utf8_percent_encode(&text, percent_encoding::NON_ALPHANUMERIC).to_string();
                prop_assert!(documents_equal(&decode_iam_policy(&encoded).unwrap(), &v));
            }
        }
    }
}
