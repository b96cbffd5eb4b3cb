//! The AWS call budget: one rate limiter per API (service, operation and
//! region), shared by every reconcile, sized from the published quota
//! ([`super::quotas`]) times a settable fraction, so the operator leaves the
//! rest of the account's quota to the user's other tools and is not
//! throttled itself.
//!
//! Two priorities. Creation, changes and runs (foreground) spend the whole
//! budget; resync re-observation (background, [`background`]) spends at most
//! `background_share` of it, through a second, smaller limiter, so a resync
//! wave never delays a new object or a trigger by more than a token.

use std::collections::HashMap;
use std::future::Future;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use governor::{DefaultDirectRateLimiter, Jitter, Quota as Gcra, RateLimiter};

use super::quotas::{self, Quota};
use crate::metrics::Metrics;

/// Who a call is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Priority {
    /// Creation, user changes, runs: the whole budget.
    Foreground,
    /// Resync re-observation: at most the background share.
    Background,
}

impl Priority {
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Foreground => "foreground",
            Priority::Background => "background",
        }
    }
}

tokio::task_local! {
    static PRIORITY: Priority;
}

/// Runs `f` with its AWS calls at background priority.
pub async fn background<F: Future>(f: F) -> F::Output {
    PRIORITY.scope(Priority::Background, f).await
}

fn current() -> Priority {
    PRIORITY.try_with(|p| *p).unwrap_or(Priority::Foreground)
}

/// How much of AWS's quotas the operator may spend.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Settings {
    /// The share of each published quota the operator spends (0 < f ≤ 1).
    pub fraction: f64,
    /// The account's quotas as a multiple of the published defaults (an
    /// account with raised quotas; the emulator's `--quota-scale`).
    pub scale: f64,
    /// The share of the operator's budget resync reads may use (0 < s ≤ 1).
    pub background_share: f64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            fraction: 0.5,
            scale: 1.0,
            background_share: 0.5,
        }
    }
}

impl Settings {
    /// The operator's bucket for one API: the published one scaled, never
    /// below one call at once.
    pub fn budget(&self, quota: Quota) -> Quota {
        let f = self.fraction * self.scale;
        Quota {
            burst: (quota.burst * f).max(1.0),
            rate: quota.rate * f,
        }
    }
}

fn limiter(quota: Quota) -> Option<DefaultDirectRateLimiter> {
    if quota.rate.is_nan() || quota.rate <= 0.0 || !quota.rate.is_finite() {
        return None;
    }
    let period = Duration::from_secs_f64(1.0 / quota.rate);
    let burst = NonZeroU32::new(quota.burst.floor().clamp(1.0, u32::MAX as f64) as u32)?;
    Some(RateLimiter::direct(
        Gcra::with_period(period)?.allow_burst(burst),
    ))
}

/// One API's limiters.
struct Limits {
    all: DefaultDirectRateLimiter,
    background: DefaultDirectRateLimiter,
    /// Calls made at background priority, to size the resync period.
    background_calls: AtomicU64,
    budget: Quota,
}

type Key = (String, &'static str, &'static str);

/// The operator's budget over every API it calls.
pub struct Budget {
    settings: Settings,
    metrics: Arc<Metrics>,
    limits: Mutex<HashMap<Key, Arc<Limits>>>,
    /// Foreground calls waiting for a token now: the operator is throttled
    /// by its own budget (see [`Budget::pressed`]).
    foreground_waiting: AtomicU64,
}

/// One foreground call counted as waiting until it drops.
struct Waiting<'a>(&'a AtomicU64);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// Up to this much jitter on a wait, so calls released together spread.
const JITTER: Duration = Duration::from_millis(20);

impl Budget {
    pub fn new(settings: Settings, metrics: Arc<Metrics>) -> Budget {
        Budget {
            settings,
            metrics,
            limits: Mutex::new(HashMap::new()),
            foreground_waiting: AtomicU64::new(0),
        }
    }

    /// Whether creation, changes or runs are waiting for the budget now: a
    /// resync pass that falls due then takes a later slot instead of
    /// spending reads beside them (its calls would only queue behind theirs).
    pub fn pressed(&self) -> bool {
        self.foreground_waiting.load(Ordering::Relaxed) > 0
    }

    pub fn settings(&self) -> Settings {
        self.settings
    }

    fn limits(
        &self,
        account: &str,
        region: &str,
        service: &'static str,
        operation: &'static str,
    ) -> Option<Arc<Limits>> {
        let scope = quotas::scope(service, region);
        // AWS's quotas are per account: each account a grant names gets its
        // own buckets (the operator's own account is "").
        let key = (format!("{account}/{scope}"), service, operation);
        let mut all = lock(&self.limits);
        if let Some(l) = all.get(&key) {
            return Some(l.clone());
        }
        let budget = self
            .settings
            .budget(quotas::published(service, operation, region)?);
        let share = self.settings.background_share;
        let limits = Limits {
            all: limiter(budget)?,
            background: limiter(Quota {
                burst: (budget.burst * share).max(1.0),
                rate: budget.rate * share,
            })?,
            background_calls: AtomicU64::new(0),
            budget,
        };
        self.metrics
            .aws_budget(scope, service, operation, budget.rate);
        let limits = Arc::new(limits);
        all.insert(key, limits.clone());
        Some(limits)
    }

    /// Waits until one call of `operation` may go, at the caller's priority.
    pub async fn acquire(
        &self,
        account: &str,
        region: &str,
        service: &'static str,
        operation: &'static str,
    ) {
        let Some(limits) = self.limits(account, region, service, operation) else {
            return;
        };
        let priority = current();
        let started = Instant::now();
        if priority == Priority::Background {
            limits
                .background
                .until_ready_with_jitter(Jitter::up_to(JITTER))
                .await;
            limits.background_calls.fetch_add(1, Ordering::Relaxed);
        }
        if priority == Priority::Background || limits.all.check().is_err() {
            let _waiting = (priority == Priority::Foreground).then(|| {
                self.foreground_waiting.fetch_add(1, Ordering::Relaxed);
                Waiting(&self.foreground_waiting)
            });
            limits
                .all
                .until_ready_with_jitter(Jitter::up_to(JITTER))
                .await;
        }
        let waited = started.elapsed();
        if waited >= Duration::from_millis(1) {
            self.metrics.aws_budget_waited(
                service,
                operation,
                priority.as_str(),
                waited.as_secs_f64(),
            );
        }
    }

    /// The shortest resync period the background share can hold for
    /// `objects` objects, from the background calls `passes` resync passes
    /// made so far, and the API that binds it.
    pub fn resync_floor(&self, objects: usize, passes: u64) -> Option<(Duration, String)> {
        if passes == 0 {
            return None;
        }
        let share = self.settings.background_share;
        lock(&self.limits)
            .iter()
            .filter_map(|((_, service, operation), l)| {
                let per_pass = l.background_calls.load(Ordering::Relaxed) as f64 / passes as f64;
                let rate = l.budget.rate * share;
                (per_pass > 0.0 && rate > 0.0).then(|| {
                    (
                        objects as f64 * per_pass / rate,
                        format!("{service}:{operation}"),
                    )
                })
            })
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .map(|(secs, api)| (Duration::from_secs_f64(secs), api))
    }
}

/// The budget as one region's service clients of one account use it.
#[derive(Clone)]
pub struct RegionBudget {
    budget: Arc<Budget>,
    /// The account a grant's role is in; "" for the operator's own.
    account: String,
    region: String,
}

impl RegionBudget {
    /// The operator's own account in `region`.
    pub fn new(budget: Arc<Budget>, region: &str) -> RegionBudget {
        RegionBudget::of_account(budget, "", region)
    }

    pub fn of_account(budget: Arc<Budget>, account: &str, region: &str) -> RegionBudget {
        RegionBudget {
            budget,
            account: account.to_string(),
            region: region.to_string(),
        }
    }

    pub async fn acquire(&self, service: &'static str, operation: &'static str) {
        self.budget
            .acquire(&self.account, &self.region, service, operation)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget(fraction: f64, share: f64) -> Budget {
        Budget::new(
            Settings {
                fraction,
                scale: 1.0,
                background_share: share,
            },
            Arc::new(Metrics::new()),
        )
    }

    /// Calls that go at once, without waiting, at `priority`.
    fn immediate(b: &Budget, priority: Priority, op: &'static str) -> usize {
        let Some(limits) = b.limits("", "eu-central-1", "sfn", op) else {
            return usize::MAX;
        };
        let l = limits;
        let mut n = 0;
        loop {
            if priority == Priority::Background && l.background.check().is_err() {
                return n;
            }
            if l.all.check().is_err() {
                return n;
            }
            n += 1;
        }
    }

    #[test]
    fn the_bucket_is_the_published_quota_times_the_fraction() {
        // DescribeStateMachine: 200 at once, 20/s; half of it is 100 at once.
        let b = budget(0.5, 0.5);
        assert_eq!(
            immediate(&b, Priority::Foreground, "DescribeStateMachine"),
            100
        );
        let b = budget(1.0, 0.5);
        assert_eq!(
            immediate(&b, Priority::Foreground, "DescribeStateMachine"),
            200
        );
        assert_eq!(
            Settings {
                fraction: 0.5,
                scale: 10.0,
                background_share: 0.5
            }
            .budget(Quota {
                burst: 100.0,
                rate: 1.0
            }),
            Quota {
                burst: 500.0,
                rate: 5.0
            }
        );
    }

    #[test]
    fn resync_reads_leave_the_rest_of_the_budget_to_foreground_work() {
        let b = budget(0.5, 0.25);
        // Background spends a quarter of the 100 at once, then must wait...
        assert_eq!(
            immediate(&b, Priority::Background, "DescribeStateMachine"),
            25
        );
        // ...while creation and runs still have the other 75.
        assert_eq!(
            immediate(&b, Priority::Foreground, "DescribeStateMachine"),
            75
        );
    }

    #[test]
    fn an_api_without_a_published_quota_is_not_limited() {
        let b = budget(0.5, 0.5);
        assert!(
            b.limits("", "us-east-1", "sts", "GetCallerIdentity")
                .is_none()
        );
        assert!(b.limits("", "us-east-1", "sqs", "ReceiveMessage").is_none());
    }

    #[test]
    fn iam_is_one_bucket_for_every_region() {
        let b = budget(0.5, 0.5);
        let a = b.limits("", "us-east-1", "iam", "GetRole");
        let c = b.limits("", "eu-west-1", "iam", "GetRole");
        assert!(matches!((a, c), (Some(a), Some(c)) if Arc::ptr_eq(&a, &c)));
    }

    #[test]
    fn each_account_has_its_own_buckets() {
        let b = budget(0.5, 0.5);
        let own = b.limits("", "us-east-1", "sfn", "StartExecution");
        let other = b.limits("222222222222", "us-east-1", "sfn", "StartExecution");
        let again = b.limits("222222222222", "us-east-1", "sfn", "StartExecution");
        assert!(matches!((&own, &other), (Some(a), Some(c)) if !Arc::ptr_eq(a, c)));
        assert!(matches!((other, again), (Some(a), Some(c)) if Arc::ptr_eq(&a, &c)));
    }

    #[tokio::test]
    async fn a_caller_past_the_bucket_waits_for_a_token() {
        // CreateStateMachine at a tenth: a bucket of 10, one more every 10 s.
        let b = budget(0.1, 0.5);
        for _ in 0..10 {
            b.acquire("", "eu-central-1", "sfn", "CreateStateMachine")
                .await;
        }
        let eleventh = b.acquire("", "eu-central-1", "sfn", "CreateStateMachine");
        assert!(
            tokio::time::timeout(Duration::from_millis(200), eleventh)
                .await
                .is_err(),
            "the eleventh call went without waiting"
        );
    }

    #[tokio::test]
    async fn the_budget_is_pressed_while_a_foreground_call_waits() {
        let b = Arc::new(budget(0.1, 0.5));
        for _ in 0..10 {
            b.acquire("", "eu-central-1", "sfn", "CreateStateMachine")
                .await;
        }
        assert!(!b.pressed(), "calls that found a token never wait");
        let waiter = {
            let b = b.clone();
            tokio::spawn(async move {
                b.acquire("", "eu-central-1", "sfn", "CreateStateMachine")
                    .await
            })
        };
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(b.pressed(), "the eleventh waits for its token");
        waiter.abort();
        let _ = waiter.await;
        assert!(!b.pressed(), "a call given up no longer counts");
    }

    #[tokio::test]
    async fn the_resync_floor_is_set_by_the_api_with_the_least_room() {
        let b = budget(0.5, 0.5);
        background(async {
            // One pass: 2 IAM reads (5/s budget → 2.5/s background) and one
            // Step Functions read (10/s → 5/s background).
            b.acquire("", "us-east-1", "iam", "GetRole").await;
            b.acquire("", "us-east-1", "iam", "GetRolePolicy").await;
            b.acquire("", "us-east-1", "sfn", "DescribeStateMachine")
                .await;
        })
        .await;
        let (floor, api) = b.resync_floor(10_000, 1).unwrap_or_default();
        // 10,000 objects × 1 GetRole per pass at 2.5/s: 4,000 s.
        assert_eq!(floor.as_secs(), 4_000);
        assert!(api.starts_with("iam:"), "{api}");
        assert_eq!(b.resync_floor(10_000, 0), None);
    }
}
