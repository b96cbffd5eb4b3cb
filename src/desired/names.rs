//! Names of the AWS resources an object owns: readable, deterministic, unique.
//!
//! Derived from (cluster name, namespace, name), not from the UID: a cluster rebuilt from
//! Git finds its resources again under the same names. The shape is
//! `bn-<cluster>-<namespace>-<name>-<hash8>`, where the readable part is sanitised to
//! `[A-Za-z0-9_-]` and shortened to the service's limit, and `hash8` (SHA-256 of the three
//! inputs) is always kept, so shortening or sanitising never makes two objects collide.

use super::fingerprint::{fingerprint, sanitise};

/// Every name starts with this, so an operator's IAM permissions can be scoped to `bn-*`.
pub const PREFIX: &str = "bn";
/// Hex characters of the hash kept in every name.
pub const HASH_LEN: usize = 8;

/// Step Functions: state machine names are 1-80 characters.
pub const STATE_MACHINE_MAX: usize = 80;
/// IAM: role names are at most 64 characters.
pub const ROLE_MAX: usize = 64;
/// Ends the task execution role's name, after the hash.
pub const EXECUTION_ROLE_SUFFIX: &str = "-exec";
/// IAM: inline policy names are at most 128 characters.
pub const POLICY_MAX: usize = 128;
/// SNS: topic names are at most 256 characters.
pub const TOPIC_MAX: usize = 256;
/// Batch: job queue, compute environment and job definition names are at most 128.
pub const BATCH_MAX: usize = 128;

/// An input the names cannot be derived from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// One of the three inputs is empty.
    #[error("cannot derive AWS names: the {0} is empty")]
    Empty(&'static str),
}

/// The AWS name of each resource one BatchNotification owns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Names {
    /// Step Functions state machine (≤ 80).
    pub state_machine: String,
    /// IAM role the state machine assumes (≤ 64).
    pub role: String,
    /// Inline policy of that role (≤ 128).
    pub policy: String,
    /// Task execution role of a managed Fargate job definition, when asked for (≤ 64):
    /// the role name with `-exec` after the hash.
    pub execution_role: String,
    /// SNS topic, when managed (≤ 256).
    pub topic: String,
    /// Batch job queue, when managed (≤ 128).
    pub job_queue: String,
    /// Batch compute environment, when managed (≤ 128).
    pub compute_environment: String,
    /// Batch job definition, when managed (≤ 128).
    pub job_definition: String,
}

impl Names {
    /// Derives every name from the operator's cluster name and the object's namespace and
    /// name. Any characters are accepted; none of the three may be empty.
    pub fn new(cluster: &str, namespace: &str, name: &str) -> Result<Names, NameError> {
        for (value, what) in [
            (cluster, "cluster name"),
            (namespace, "namespace"),
            (name, "name"),
        ] {
            if value.is_empty() {
                return Err(NameError::Empty(what));
            }
        }
        let hash = fingerprint(&[cluster, namespace, name], HASH_LEN);
        // A part with no usable character at all still shows as "x".
        let parts = [cluster, namespace, name].map(|part| match sanitise(part) {
            part if part.is_empty() => "x".to_owned(),
            part => part,
        });
        let within = |max| within_limit(&parts, &hash, max);
        Ok(Names {
            state_machine: within(STATE_MACHINE_MAX),
            role: within(ROLE_MAX),
            execution_role: format!(
                "{}{EXECUTION_ROLE_SUFFIX}",
                within(ROLE_MAX - EXECUTION_ROLE_SUFFIX.len())
            ),
            policy: within(POLICY_MAX),
            topic: within(TOPIC_MAX),
            job_queue: within(BATCH_MAX),
            compute_environment: within(BATCH_MAX),
            job_definition: within(BATCH_MAX),
        })
    }
}

/// `bn-<a>-<b>-<c>-<hash>` in at most `max` characters. When the readable parts do not fit,
/// the longest are shortened first (each keeps at least its share), so a long cluster name
/// does not crowd out the object's own name.
fn within_limit(parts: &[String; 3], hash: &str, max: usize) -> String {
    // "bn" + 4 separators + hash.
    let fixed = PREFIX.len() + 4 + hash.len();
    let budget = max.saturating_sub(fixed);
    let lengths = allocate(parts.each_ref().map(|p| p.len()), budget);
    let mut out = String::with_capacity(max);
    out.push_str(PREFIX);
    for (part, length) in parts.iter().zip(lengths) {
        out.push('-');
        // Sanitised parts are ASCII, so byte and character counts agree.
        out.push_str(part[..length].trim_end_matches('-'));
    }
    out.push('-');
    out.push_str(hash);
    out
}

/// How many characters of each part to keep within `budget`: the longest parts are cut
/// first, down to a common cap (never below 1 character); what the cap leaves unused goes
/// to the cut parts, first come first served.
fn allocate(lengths: [usize; 3], budget: usize) -> [usize; 3] {
    let total = |cap: usize| lengths.iter().map(|l| (*l).min(cap)).sum::<usize>();
    let longest = lengths.iter().copied().max().unwrap_or(0);
    let mut cap = longest.min(budget).max(1);
    while cap > 1 && total(cap) > budget {
        cap -= 1;
    }
    let mut spare = budget.saturating_sub(total(cap));
    lengths.map(|length| {
        let extra = length.saturating_sub(cap).min(spare);
        spare -= extra;
        length.min(cap) + extra
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid_for(name: &str, max: usize, extra: &str) -> bool {
        !name.is_empty()
            && name.len() <= max
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || extra.contains(c))
    }

    fn all_valid(n: &Names) -> bool {
        valid_for(&n.state_machine, STATE_MACHINE_MAX, "")
            && valid_for(&n.role, ROLE_MAX, "+=,.@")
            && valid_for(&n.execution_role, ROLE_MAX, "+=,.@")
            && n.execution_role.starts_with("bn-")
            && n.execution_role.ends_with(EXECUTION_ROLE_SUFFIX)
            && n.execution_role != n.role
            && valid_for(&n.policy, POLICY_MAX, "+=,.@")
            && valid_for(&n.topic, TOPIC_MAX, "")
            && valid_for(&n.job_queue, BATCH_MAX, "")
            && valid_for(&n.compute_environment, BATCH_MAX, "")
            && valid_for(&n.job_definition, BATCH_MAX, "")
    }

    #[test]
    fn short_inputs_are_kept_whole() {
        let n = Names::new("prod", "data", "nightly-report").unwrap();
        let hash = fingerprint(&["prod", "data", "nightly-report"], 8);
        assert_eq!(
            n.state_machine,
            format!("bn-prod-data-nightly-report-{hash}")
        );
        assert_eq!(n.role, n.state_machine);
        assert_eq!(n.execution_role, format!("{}-exec", n.role));
        assert_eq!(n.topic, n.state_machine);
        assert!(all_valid(&n));
    }

    #[test]
    fn dots_are_sanitised_and_hash_tells_them_apart() {
        let a = Names::new("prod", "data", "a.b").unwrap();
        let b = Names::new("prod", "data", "a-b").unwrap();
        assert!(a.role.starts_with("bn-prod-data-a-b-"));
        assert!(b.role.starts_with("bn-prod-data-a-b-"));
        assert_ne!(a.role, b.role);
    }

    #[test]
    fn long_names_are_shortened_fairly_and_keep_the_hash() {
        let name = "n".repeat(253);
        let n = Names::new("production-eu-central-1", "analytics", &name).unwrap();
        assert!(all_valid(&n));
        assert_eq!(n.role.len(), ROLE_MAX);
        assert!(n.role.starts_with("bn-production-eu-cen"), "{}", n.role);
        assert!(n.role.contains("-analytics-"), "{}", n.role);
        let hash = fingerprint(&["production-eu-central-1", "analytics", &name], 8);
        assert!(n.role.ends_with(&hash));
        assert_eq!(n.state_machine.len(), STATE_MACHINE_MAX);
        // The longer limits keep more of the name.
        assert!(n.topic.len() > n.job_queue.len());
    }

    #[test]
    fn truncation_does_not_end_a_part_with_a_hyphen() {
        // A cut right after a '-' would leave "--"; the part is trimmed instead.
        let n = Names::new(&format!("{}-b", "a".repeat(19)), "ns", &"c".repeat(100)).unwrap();
        assert!(!n.role.contains("--"), "{}", n.role);
        assert!(all_valid(&n));
    }

    #[test]
    fn unusable_characters_become_x() {
        let n = Names::new("クラスタ", "ns", "名前").unwrap();
        assert!(n.role.starts_with("bn-x-ns-x-"), "{}", n.role);
        assert!(all_valid(&n));
        assert_ne!(n, Names::new("別", "ns", "名前").unwrap());
    }

    #[test]
    fn empty_inputs_are_errors() {
        assert_eq!(
            Names::new("", "ns", "n"),
            Err(NameError::Empty("cluster name"))
        );
        assert_eq!(Names::new("c", "", "n"), Err(NameError::Empty("namespace")));
        assert_eq!(Names::new("c", "ns", ""), Err(NameError::Empty("name")));
    }

    #[test]
    fn allocate_shortens_the_longest_first() {
        assert_eq!(allocate([10, 3, 40], 30), [10, 3, 17]);
        assert_eq!(allocate([10, 3, 4], 30), [10, 3, 4]);
        assert_eq!(allocate([23, 9, 253], 50), [21, 9, 20]);
        assert_eq!(allocate([100, 100, 100], 2), [1, 1, 1]);
        assert_eq!(allocate([0, 5, 0], 2), [0, 2, 0]);
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        // What Kubernetes allows: DNS-1123 labels for namespaces, subdomains for names.
        fn namespace() -> impl Strategy<Value = String> {
            "[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
        }
        fn object_name() -> impl Strategy<Value = String> {
            "[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?"
        }
        fn cluster() -> impl Strategy<Value = String> {
            "[A-Za-z0-9._-]{1,100}"
        }

        proptest! {
            #[test]
            fn valid_inputs_give_valid_names(c in cluster(), ns in namespace(), n in object_name()) {
                let names = Names::new(&c, &ns, &n).unwrap();
                prop_assert!(all_valid(&names), "{names:?}");
                let hash = fingerprint(&[&c, &ns, &n], HASH_LEN);
                prop_assert!(names.state_machine.ends_with(&hash));
                prop_assert!(names.role.ends_with(&hash));
            }

            #[test]
            fn distinct_inputs_give_distinct_names(
                a in (cluster(), namespace(), object_name()),
                b in (cluster(), namespace(), object_name()),
            ) {
                prop_assume!(a != b);
                let na = Names::new(&a.0, &a.1, &a.2).unwrap();
                let nb = Names::new(&b.0, &b.1, &b.2).unwrap();
                prop_assert_ne!(&na.role, &nb.role);
                prop_assert_ne!(&na.state_machine, &nb.state_machine);
            }

            #[test]
            fn names_are_deterministic(c in cluster(), ns in namespace(), n in object_name()) {
                prop_assert_eq!(Names::new(&c, &ns, &n), Names::new(&c, &ns, &n));
            }

            #[test]
            fn any_unicode_gives_valid_names_or_an_error(c in ".{0,300}", ns in ".{0,80}", n in ".{0,600}") {
                match Names::new(&c, &ns, &n) {
                    Ok(names) => prop_assert!(all_valid(&names), "{names:?}"),
                    Err(NameError::Empty(_)) => prop_assert!(c.is_empty() || ns.is_empty() || n.is_empty()),
                }
            }
        }

        #[test]
        fn huge_inputs_do_not_panic() {
            let huge = "é.".repeat(500_000);
            let names = Names::new(&huge, &huge, &huge).unwrap();
            assert!(all_valid(&names));
        }
    }
}
