//! Crash consistency: BatchNotifications are created, given new triggers,
//! updated, deleted and re-created while the operator is SIGKILLed at random
//! moments and restarted. At the end every object has converged (or is gone),
//! each trigger it was given ran at most once and its latest exactly once, no
//! AWS resource carries a deleted object's tags, and no status field went
//! backwards on the way.

use std::collections::BTreeSet;
use std::time::Duration;

use kube::ResourceExt;
use kube::api::DeleteParams;
use serde_json::{Value, json};

use crate::common::{
    self, History, assert_no_panic, check_executions, executions, kills, leaks, owned_in,
};
use crate::figures::Record;
use crate::support::faults::{AwsProxy, FaultPlan, Rng, seed_for};
use crate::support::{Ctx, bed};

/// One BatchNotification as the test drives it.
struct Object {
    name: String,
    manifest: Value,
    /// The UID of its current incarnation (a re-created object gets a new one).
    uid: Option<String>,
    /// Triggers given to the current incarnation, oldest first.
    triggers: Vec<String>,
    deleting: bool,
}

#[derive(Clone, Copy, Debug)]
enum Action {
    Trigger,
    Update,
    Delete,
    Recreate,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_random_moments_loses_duplicates_and_leaks_nothing() {
    let seed = seed_for("crash");
    let mut rec = Record::new("crash", seed);
    let mut rng = Rng::new(seed);
    let ctx = Ctx::new("rel-crash").await;
    let stack = common::referenced_stack(&ctx).await;
    // Small delays and the odd dropped connection or 500 widen the windows a
    // kill can land in (mid-call, between a create and its status write).
    let proxy = AwsProxy::start(
        &bed().aws_endpoint,
        FaultPlan {
            delay: 0.15,
            max_delay: Duration::from_millis(400),
            reset: 0.02,
            server_error: 0.02,
            ..FaultPlan::default()
        },
        seed,
    );
    // In event mode: the route (EventBridge rule, SQS queue) is made, read
    // and removed through the same kills. An end lost in a kill window (read,
    // deleted from the queue, not yet in status) comes from the fallback poll.
    let cluster = format!("crash{}", ctx.prefix);
    let mut op = crate::support::Operator::start_with_env(
        &ctx.ns,
        &format!("op-{}", ctx.ns),
        &[
            "--events",
            "--cluster-name",
            &cluster,
            "--event-poll",
            "10s",
        ],
        &[("AWS_ENDPOINT_URL", proxy.url.as_str())],
    );
    let history = History::watch(&ctx);

    let mut objects: Vec<Object> = (0..4)
        .map(|i| {
            let name = format!("referenced-{i}");
            Object {
                manifest: common::runnable(&name, &stack, "t0"),
                name,
                uid: None,
                triggers: Vec::new(),
                deleting: false,
            }
        })
        .collect();
    objects.push(Object {
        name: "managed-0".into(),
        manifest: common::managed("managed-0", "t0"),
        uid: None,
        triggers: Vec::new(),
        deleting: false,
    });
    let mut deleted_uids: BTreeSet<String> = BTreeSet::new();
    let mut counter = 0u64;
    for o in objects.iter_mut() {
        let applied = ctx.apply(&o.manifest).await;
        o.uid = applied.uid();
        o.triggers.push("t0".into());
        rec.objects += 1;
    }

    let total_kills = kills();
    let mut actions = 0u64;
    for generation in 1..=total_kills {
        for _ in 0..rng.between(1, 3) {
            let action = *rng.pick(&[
                Action::Trigger,
                Action::Trigger,
                Action::Trigger,
                Action::Update,
                Action::Update,
                Action::Delete,
                Action::Recreate,
                Action::Recreate,
            ]);
            counter += 1;
            eprintln!("crash: action {counter}: {action:?} (before kill {generation})");
            if act(
                &ctx,
                &mut rng,
                &mut objects,
                &mut deleted_uids,
                action,
                counter,
            )
            .await
            {
                actions += 1;
            }
            tokio::time::sleep(rng.millis(0, 800)).await;
        }
        // The kill lands anywhere: mid-reconcile, mid-AWS call, mid-run, mid-delete.
        tokio::time::sleep(rng.millis(100, 4000)).await;
        eprintln!("crash: SIGKILL {generation}");
        op.restart(generation as usize);
        rec.kills += 1;
    }

    // The last incarnation runs on: everything must converge by itself.
    let mut live_uids = BTreeSet::new();
    let mut duplicates = Vec::new();
    let mut superseded = 0u64;
    let mut runs = 0u64;
    for o in &objects {
        if o.deleting {
            common::wait_gone(&ctx, &o.name).await;
            continue;
        }
        let last = o.triggers.last().expect("a trigger").clone();
        let done = common::wait_ran(&ctx, &o.name, &last).await;
        let uid = done.uid().expect("uid");
        assert_eq!(
            Some(&uid),
            o.uid.as_ref(),
            "{} was re-created behind our back",
            o.name
        );
        live_uids.insert(uid.clone());
        let machine = done
            .status
            .as_ref()
            .and_then(|s| s.state_machine_arn.clone())
            .expect("stateMachineArn");
        let found = executions(&ctx, &machine).await;
        let (unexpected, missing) = check_executions(&uid, &o.triggers, &found);
        // A trigger replaced before the operator saw it (it was down, or busy)
        // never runs; the latest one must have run exactly once.
        assert!(
            !missing.contains(&last),
            "{}: the latest trigger {last:?} has no execution: {found:?}",
            o.name
        );
        superseded += missing.len() as u64;
        runs += found.len() as u64;
        duplicates.extend(unexpected.into_iter().map(|n| format!("{}: {n}", o.name)));
    }
    let owned = owned_in(&ctx, &ctx.ns).await;
    let leaked = leaks(&owned, &live_uids);
    let regressions = history.regressions();
    rec.duplicates = duplicates.len() as u64;
    rec.leaks = leaked.len() as u64;
    rec.regressions = regressions.len() as u64;
    rec.aws_faults(&proxy);
    rec.note(format!(
        "{actions} actions, {} deleted incarnations, {runs} executions, {superseded} triggers replaced before a run, {} status versions watched",
        deleted_uids.len(),
        history.updates()
    ));

    assert!(
        duplicates.is_empty(),
        "duplicate executions: {duplicates:#?}"
    );
    assert!(leaked.is_empty(), "leaked AWS resources: {leaked:#?}");
    assert!(
        regressions.is_empty(),
        "status went backwards: {regressions:#?}"
    );

    // The last objects go: the events route goes with them.
    for o in objects.iter().filter(|o| !o.deleting) {
        let _ = ctx.api().delete(&o.name, &DeleteParams::default()).await;
    }
    for o in &objects {
        common::wait_gone(&ctx, &o.name).await;
    }
    let route = format!("bn-{cluster}-executions");
    let rule = aws_sdk_eventbridge::Client::new(&ctx.aws)
        .describe_rule()
        .name(&route)
        .send()
        .await;
    let queue = aws_sdk_sqs::Client::new(&ctx.aws)
        .get_queue_url()
        .queue_name(&route)
        .send()
        .await;
    assert!(
        rule.is_err() && queue.is_err(),
        "the events route outlived the last object: rule {rule:?}, queue {queue:?}"
    );
    assert_no_panic(&op);
}

/// Performs one action; false when nothing was eligible.
async fn act(
    ctx: &Ctx,
    rng: &mut Rng,
    objects: &mut [Object],
    deleted_uids: &mut BTreeSet<String>,
    action: Action,
    n: u64,
) -> bool {
    let live: Vec<usize> = (0..objects.len())
        .filter(|i| !objects[*i].deleting)
        .collect();
    let gone: Vec<usize> = (0..objects.len())
        .filter(|i| objects[*i].deleting)
        .collect();
    match action {
        Action::Trigger | Action::Update if !live.is_empty() => {
            let o = &mut objects[*rng.pick(&live)];
            if matches!(action, Action::Trigger) {
                let trigger = format!("t{n}");
                o.manifest["spec"]["run"]["trigger"] = json!(trigger);
                o.triggers.push(trigger);
            } else {
                o.manifest["spec"]["messages"] =
                    json!({"success": format!("succeeded (update {n})")});
                if o.manifest["spec"]["jobDefinition"]["managed"].is_object() {
                    // A new job definition revision; the old one must be deregistered.
                    o.manifest["spec"]["jobDefinition"]["managed"]["command"] =
                        json!(["echo", format!("update {n}")]);
                }
            }
            let applied = ctx.apply(&o.manifest).await;
            assert_eq!(applied.uid(), o.uid, "{} changed UID", o.name);
            eprintln!(
                "crash:   {} generation {} trigger {:?}",
                o.name,
                applied.metadata.generation.unwrap_or_default(),
                o.triggers.last()
            );
            true
        }
        Action::Delete if live.len() > 1 => {
            let o = &mut objects[*rng.pick(&live)];
            ctx.api()
                .delete(&o.name, &DeleteParams::default())
                .await
                .unwrap_or_else(|e| panic!("delete {}: {e}", o.name));
            if let Some(uid) = o.uid.take() {
                deleted_uids.insert(uid);
            }
            o.triggers.clear();
            o.deleting = true;
            eprintln!("crash:   {} deleted", o.name);
            true
        }
        Action::Recreate if !gone.is_empty() => {
            let o = &mut objects[*rng.pick(&gone)];
            // Only once the old incarnation's cleanup has finished.
            if !matches!(ctx.api().get_opt(&o.name).await, Ok(None)) {
                eprintln!("crash:   {} still being deleted: not re-created", o.name);
                return false;
            }
            let trigger = format!("t{n}");
            o.manifest["spec"]["run"]["trigger"] = json!(trigger);
            let applied = ctx.apply(&o.manifest).await;
            o.uid = applied.uid();
            eprintln!(
                "crash:   {} re-created (uid {:?}) with trigger {trigger}",
                o.name, o.uid
            );
            o.triggers = vec![trigger];
            o.deleting = false;
            true
        }
        _ => false,
    }
}

/// The narrowest crash window, made certain instead of hit by chance: the
/// operator is killed after its first AWS creates and before its first status
/// write, and the object is deleted while it is down. Status then says
/// nothing about AWS, yet AWS holds resources with the object's tags; the
/// restarted operator must find them by their deterministic names and delete
/// them before it lets the object go.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_before_the_first_status_write_leaks_nothing() {
    let seed = seed_for("first-write");
    let mut rec = Record::new("first-write", seed);
    let ctx = Ctx::new("rel-first-write").await;
    // Every AWS answer is held back 3 s after AWS acted: the kill lands after
    // a create and before the operator knows of it, so before any status write.
    let proxy = AwsProxy::start(
        &bed().aws_endpoint,
        FaultPlan {
            hold_response: Some(Duration::from_secs(3)),
            ..FaultPlan::default()
        },
        seed,
    );
    let mut op = common::operator_behind(&ctx, &proxy);
    let name = "first-write";
    let applied = ctx.apply(&common::managed(name, "t0")).await;
    let uid = applied.uid().expect("uid");
    rec.objects += 1;

    // The compute environment made (AWS then keeps it CREATING: the rest
    // waits for it to be VALID), its answer and the status write still to come.
    let created = crate::support::eventually(
        "the operator's first AWS resource",
        Duration::from_secs(120),
        || async { Some(owned_in(&ctx, &ctx.ns).await).filter(|o| !o.is_empty()) },
    )
    .await;
    op.kill();
    rec.kills += 1;
    let seen = ctx.api().get(name).await.expect("read the object");
    let status = seen.status.clone().unwrap_or_default();
    assert!(
        status.region.is_none() && status.account_id.is_none(),
        "precondition: the kill was meant to land before the first status write, but status says {status:?}"
    );
    ctx.api()
        .delete(name, &DeleteParams::default())
        .await
        .expect("delete");

    proxy.set_plan(FaultPlan::none());
    op.restart(1);
    common::wait_gone(&ctx, name).await;
    let owned = owned_in(&ctx, &ctx.ns).await;
    let leaked = leaks(&owned, &BTreeSet::new());
    rec.leaks = leaked.len() as u64;
    rec.aws_faults(&proxy);
    rec.note(format!(
        "killed with {} AWS resource(s) created and no status written ({}); after the delete: {} left",
        created.len(),
        created
            .iter()
            .map(|o| o.kind)
            .collect::<Vec<_>>()
            .join(", "),
        owned.len()
    ));
    assert!(
        leaked.is_empty(),
        "{name} (uid {uid}) is gone but left AWS resources behind: {leaked:#?}"
    );
    assert_no_panic(&op);
}
