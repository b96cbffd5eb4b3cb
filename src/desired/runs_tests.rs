//! The planner's table: every concurrency policy × trigger × schedule ×
//! suspend × history limit, with overlapping and crashed runs.

use super::*;
use crate::api::{RunOutcome, execution_status};

const UID: &str = "7f1c2a9e-0000-4000-8000-000000000001";

fn ts(s: &str) -> Timestamp {
    s.parse().expect("timestamp")
}

fn spec(v: serde_json::Value) -> Run {
    serde_json::from_value(v).expect("spec.run")
}

fn going(arn: &str) -> RunStatus {
    RunStatus {
        name: arn.into(),
        execution_arn: arn.into(),
        status: execution_status::RUNNING.into(),
        ..RunStatus::default()
    }
}

fn ended(arn: &str) -> RunStatus {
    RunStatus {
        status: execution_status::SUCCEEDED.into(),
        outcome: Some(RunOutcome::Succeeded),
        ..going(arn)
    }
}

#[derive(Default)]
struct Given {
    last_trigger: Option<&'static str>,
    sequence: Option<u64>,
    last_schedule: Option<&'static str>,
    runs: Vec<RunStatus>,
}

fn status(g: Given) -> BatchNotificationStatus {
    BatchNotificationStatus {
        last_trigger: g.last_trigger.map(String::from),
        run_sequence: g.sequence,
        last_schedule_time: g.last_schedule.map(String::from),
        last_run: g.runs.first().cloned(),
        runs: g.runs,
        ..BatchNotificationStatus::default()
    }
}

/// The plan in words: steps, then what is recorded without a start.
fn summary(p: &Plan) -> String {
    let mut out: Vec<String> = p
        .steps
        .iter()
        .map(|s| match s {
            Step::StopRunning => "stop".to_string(),
            Step::Start(s) => match (&s.trigger, &s.scheduled_time) {
                (Some(t), _) => format!("trigger {t} #{}", s.sequence),
                (None, Some(t)) => format!("schedule {t} #{}", s.sequence),
                (None, None) => format!("? #{}", s.sequence),
            },
        })
        .collect();
    if let Some(t) = &p.skipped {
        out.push(format!("skip {t}"));
    }
    if let Some(t) = &p.next_scheduled_run {
        out.push(format!("next {t}"));
    }
    out.join(", ")
}

/// Created a day before `now`.
const CREATED: &str = "2026-12-05T12:00:00Z";
const NOW: &str = "2026-12-06T12:30:00Z";

fn plan_at(run: Option<&Run>, given: Given, now: &str) -> Result<Plan, ScheduleError> {
    let status = status(given);
    plan(&PlanInput {
        run,
        status: &status,
        uid: UID,
        created: Some(ts(CREATED)),
        now: ts(now),
    })
}

fn check(case: &str, run: serde_json::Value, given: Given, expected: &str) {
    let run = spec(run);
    let p = plan_at(Some(&run), given, NOW).unwrap_or_else(|e| panic!("{case}: {e}"));
    assert_eq!(summary(&p), expected, "{case}");
}

const HOURLY: &str = "0 * * * *";
const DUE: &str = "2026-12-06T12:00:00Z";
const NEXT: &str = "2026-12-06T13:00:00Z";

#[test]
fn triggers() {
    let cases: Vec<(&str, serde_json::Value, Given, &str)> = vec![
        (
            "the first value starts run 1",
            json!({"trigger": "a"}),
            Given::default(),
            "trigger a #1",
        ),
        (
            "re-applying the same value starts nothing",
            json!({"trigger": "a"}),
            Given {
                last_trigger: Some("a"),
                sequence: Some(1),
                ..Given::default()
            },
            "",
        ),
        (
            "a new value starts the next run",
            json!({"trigger": "b"}),
            Given {
                last_trigger: Some("a"),
                sequence: Some(4),
                ..Given::default()
            },
            "trigger b #5",
        ),
        (
            "back to an earlier value is a new run",
            json!({"trigger": "a"}),
            Given {
                last_trigger: Some("b"),
                sequence: Some(2),
                ..Given::default()
            },
            "trigger a #3",
        ),
        (
            "suspend stops the schedule only",
            json!({"trigger": "b", "suspend": true}),
            Given {
                last_trigger: Some("a"),
                sequence: Some(1),
                ..Given::default()
            },
            "trigger b #2",
        ),
        (
            "a trigger run starts while another runs, even with Forbid",
            json!({"trigger": "b", "concurrencyPolicy": "Forbid"}),
            Given {
                last_trigger: Some("a"),
                sequence: Some(1),
                runs: vec![going("r1")],
                ..Given::default()
            },
            "trigger b #2",
        ),
        (
            "no trigger and no schedule: nothing",
            json!({}),
            Given::default(),
            "",
        ),
        (
            "a trigger removed from the spec starts nothing",
            json!({}),
            Given {
                last_trigger: Some("a"),
                sequence: Some(1),
                ..Given::default()
            },
            "",
        ),
    ];
    for (case, run, given, expected) in cases {
        check(case, run, given, expected);
    }
}

#[test]
fn schedules() {
    let cases: Vec<(&str, serde_json::Value, Given, String)> = vec![
        (
            "the latest missed time runs once",
            json!({"schedule": HOURLY}),
            Given::default(),
            format!("schedule {DUE} #1, next {NEXT}"),
        ),
        (
            "a handled time is not run again",
            json!({"schedule": HOURLY}),
            Given {
                last_schedule: Some(DUE),
                sequence: Some(1),
                ..Given::default()
            },
            format!("next {NEXT}"),
        ),
        (
            "suspended: nothing runs and nothing is next",
            json!({"schedule": HOURLY, "suspend": true}),
            Given::default(),
            String::new(),
        ),
        (
            "Forbid skips while a run is going",
            json!({"schedule": HOURLY, "concurrencyPolicy": "Forbid"}),
            Given {
                sequence: Some(1),
                runs: vec![going("r1")],
                ..Given::default()
            },
            format!("skip {DUE}, next {NEXT}"),
        ),
        (
            "Forbid runs when nothing is going",
            json!({"schedule": HOURLY, "concurrencyPolicy": "Forbid"}),
            Given {
                sequence: Some(1),
                runs: vec![ended("r1")],
                ..Given::default()
            },
            format!("schedule {DUE} #2, next {NEXT}"),
        ),
        (
            "Forbid sees an older run still going, not only the newest",
            json!({"schedule": HOURLY}),
            Given {
                sequence: Some(2),
                runs: vec![ended("r2"), going("r1")],
                ..Given::default()
            },
            format!("skip {DUE}, next {NEXT}"),
        ),
        (
            "Allow starts beside a running one",
            json!({"schedule": HOURLY, "concurrencyPolicy": "Allow"}),
            Given {
                sequence: Some(1),
                runs: vec![going("r1")],
                ..Given::default()
            },
            format!("schedule {DUE} #2, next {NEXT}"),
        ),
        (
            "Replace stops what runs, then starts",
            json!({"schedule": HOURLY, "concurrencyPolicy": "Replace"}),
            Given {
                sequence: Some(1),
                runs: vec![going("r1")],
                ..Given::default()
            },
            format!("stop, schedule {DUE} #2, next {NEXT}"),
        ),
        (
            "Replace with nothing running only starts",
            json!({"schedule": HOURLY, "concurrencyPolicy": "Replace"}),
            Given {
                sequence: Some(1),
                runs: vec![ended("r1")],
                ..Given::default()
            },
            format!("schedule {DUE} #2, next {NEXT}"),
        ),
        (
            "a time older than startingDeadlineSeconds is not run",
            json!({"schedule": HOURLY, "startingDeadlineSeconds": 600}),
            Given::default(),
            format!("next {NEXT}"),
        ),
        (
            "within startingDeadlineSeconds it runs",
            json!({"schedule": HOURLY, "startingDeadlineSeconds": 3600}),
            Given::default(),
            format!("schedule {DUE} #1, next {NEXT}"),
        ),
        (
            "a time zone moves the times (Paris is UTC+1 in December)",
            json!({"schedule": "0 2 * * *", "timeZone": "Europe/Paris"}),
            Given {
                last_schedule: Some("2026-12-06T01:00:00Z"),
                ..Given::default()
            },
            "next 2026-12-07T01:00:00Z".to_string(),
        ),
        (
            "a trigger and a due time with Forbid: the trigger's run counts as going",
            json!({"trigger": "b", "schedule": HOURLY, "concurrencyPolicy": "Forbid"}),
            Given {
                last_trigger: Some("a"),
                sequence: Some(3),
                ..Given::default()
            },
            format!("trigger b #4, skip {DUE}, next {NEXT}"),
        ),
        (
            "a trigger and a due time with Allow: both, numbered in order",
            json!({"trigger": "b", "schedule": HOURLY, "concurrencyPolicy": "Allow"}),
            Given {
                last_trigger: Some("a"),
                sequence: Some(3),
                ..Given::default()
            },
            format!("trigger b #4, schedule {DUE} #5, next {NEXT}"),
        ),
        (
            "a trigger and a due time with Replace: the trigger's run is replaced too",
            json!({"trigger": "b", "schedule": HOURLY, "concurrencyPolicy": "Replace"}),
            Given {
                last_trigger: Some("a"),
                sequence: Some(3),
                ..Given::default()
            },
            format!("trigger b #4, stop, schedule {DUE} #5, next {NEXT}"),
        ),
        (
            "suspended with a due time and a new trigger: only the trigger",
            json!({"trigger": "b", "schedule": HOURLY, "suspend": true}),
            Given {
                last_trigger: Some("a"),
                sequence: Some(1),
                ..Given::default()
            },
            "trigger b #2".to_string(),
        ),
    ];
    for (case, run, given, expected) in cases {
        check(case, run, given, &expected);
    }
}

#[test]
fn an_invalid_schedule_is_an_error_and_no_run_is_not_a_plan() {
    let run = spec(json!({"schedule": "every hour"}));
    assert!(plan_at(Some(&run), Given::default(), NOW).is_err());
    let p = plan_at(
        None,
        Given {
            runs: vec![going("r1")],
            ..Given::default()
        },
        NOW,
    )
    .expect("plan");
    assert_eq!(p, Plan::default());
}

#[test]
fn a_start_retried_after_a_crash_has_the_same_name_and_input() {
    // Crash after StartExecution, before the status write: the next plan
    // names the same execution, which Step Functions then refuses.
    let run = spec(json!({"trigger": "b", "parameters": {"day": "1"}}));
    let given = || Given {
        last_trigger: Some("a"),
        sequence: Some(1),
        ..Given::default()
    };
    let first = plan_at(Some(&run), given(), NOW).expect("plan");
    let again = plan_at(Some(&run), given(), "2026-12-06T12:31:00Z").expect("plan");
    assert_eq!(first.steps, again.steps);
    let Step::Start(s) = &first.steps[0] else {
        panic!("{first:?}")
    };
    assert_eq!(s.name, execution_name_for_trigger(UID, 2, "b"));
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&s.input).expect("input"),
        json!({"trigger": "b", "scheduledTime": null, "parameters": {"day": "1"}})
    );
    assert_eq!(
        s.parameters,
        Some(BTreeMap::from([("day".into(), "1".into())]))
    );
}

#[test]
fn a_crash_between_two_starts_starts_only_the_second_with_its_first_name() {
    let run = spec(json!({"trigger": "b", "schedule": HOURLY, "concurrencyPolicy": "Allow"}));
    let before = plan_at(
        Some(&run),
        Given {
            last_trigger: Some("a"),
            sequence: Some(1),
            ..Given::default()
        },
        NOW,
    )
    .expect("plan");
    // The trigger's run started and was recorded; the crash came before
    // the scheduled one.
    let Step::Start(trigger) = &before.steps[0] else {
        panic!("{before:?}")
    };
    let mut status = status(Given {
        last_trigger: Some("a"),
        sequence: Some(1),
        ..Given::default()
    });
    started(&mut status, trigger, going("r2"), 10);
    let after = plan(&PlanInput {
        run: Some(&run),
        status: &status,
        uid: UID,
        created: Some(ts(CREATED)),
        now: ts(NOW),
    })
    .expect("plan");
    assert_eq!(after.steps, before.steps[1..]);
}

#[test]
fn empty_parameters_are_none_and_schedule_inputs_name_their_time() {
    let run = spec(json!({"schedule": HOURLY, "parameters": {}}));
    let p = plan_at(Some(&run), Given::default(), NOW).expect("plan");
    let Step::Start(s) = &p.steps[0] else {
        panic!("{p:?}")
    };
    assert_eq!(s.parameters, None);
    assert_eq!(s.name, execution_name_for_schedule(UID, ts(DUE)));
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&s.input).expect("input"),
        json!({"trigger": null, "scheduledTime": DUE})
    );
    assert_eq!(
        p.wake,
        Some(Duration::from_secs(30 * 60) + Duration::from_millis(500))
    );
}

#[test]
fn every_run_without_an_outcome_is_followed_wherever_it_is() {
    let s = status(Given {
        runs: vec![going("r4"), ended("r3"), going("r2"), ended("r1")],
        ..Given::default()
    });
    let arns: Vec<String> = to_follow(&s).into_iter().map(|r| r.execution_arn).collect();
    // Oldest first: the older run claims its job before the newer looks.
    assert_eq!(arns, ["r2", "r4"]);
    assert!(
        to_follow(&status(Given {
            runs: vec![ended("r1")],
            ..Given::default()
        }))
        .is_empty()
    );
}

#[test]
fn a_run_never_takes_a_job_another_run_holds() {
    let with_job = |arn: &str, job: Option<&str>| RunStatus {
        batch_job_id: job.map(String::from),
        ..going(arn)
    };
    let s = status(Given {
        runs: vec![
            with_job("r3", None),
            with_job("r2", Some("j2")),
            ended("r1"),
        ],
        ..Given::default()
    });
    assert_eq!(claimed_jobs(&s, "r3"), ["j2"]);
    assert!(claimed_jobs(&s, "r2").is_empty());
}

#[test]
fn the_history_limit_keeps_runs_that_are_still_going() {
    let cases: Vec<(&str, Vec<RunStatus>, u32, Vec<&str>)> = vec![
        (
            "under the limit",
            vec![going("b"), ended("a")],
            10,
            vec!["b", "a"],
        ),
        (
            "an older finished run goes",
            vec![going("b"), ended("a")],
            1,
            vec!["b"],
        ),
        (
            "an older running run stays",
            vec![going("b"), going("a")],
            1,
            vec!["b", "a"],
        ),
        (
            "only finished runs past the limit go",
            vec![ended("d"), ended("c"), going("b"), ended("a")],
            2,
            vec!["d", "c", "b"],
        ),
        (
            "a limit of 0 keeps the newest",
            vec![ended("b"), ended("a")],
            0,
            vec!["b"],
        ),
    ];
    for (case, runs, limit, expected) in cases {
        let mut s = status(Given {
            runs,
            ..Given::default()
        });
        trim(&mut s, limit);
        let arns: Vec<&str> = s.runs.iter().map(|r| r.execution_arn.as_str()).collect();
        assert_eq!(arns, expected, "{case}");
        assert_eq!(
            s.last_run.as_ref().map(|r| r.execution_arn.as_str()),
            expected.first().copied(),
            "{case}"
        );
    }
}

#[test]
fn an_older_run_ending_updates_its_own_record_and_not_last_run() {
    let mut s = status(Given {
        runs: vec![going("r2"), going("r1")],
        ..Given::default()
    });
    followed(&mut s, ended("r1"));
    assert_eq!(s.runs[1].outcome, Some(RunOutcome::Succeeded));
    assert_eq!(s.runs[0].outcome, None);
    assert_eq!(
        s.last_run.as_ref().map(|r| r.execution_arn.as_str()),
        Some("r2")
    );
    // A run no longer recorded is not added back.
    followed(&mut s, ended("r0"));
    assert_eq!(s.runs.len(), 2);
}

#[test]
fn a_started_run_is_recorded_newest_first_once_with_what_it_was_for() {
    let run = spec(json!({"schedule": HOURLY}));
    let p = plan_at(Some(&run), Given::default(), NOW).expect("plan");
    let Step::Start(start) = &p.steps[0] else {
        panic!("{p:?}")
    };
    let mut s = status(Given {
        sequence: Some(0),
        runs: vec![ended("r0")],
        ..Given::default()
    });
    started(&mut s, start, going("r1"), 10);
    // Found again after a crash (AlreadyExists): one record, not two.
    started(&mut s, start, going("r1"), 10);
    assert_eq!(s.runs.len(), 2);
    assert_eq!(s.runs[0].scheduled_time.as_deref(), Some(DUE));
    assert_eq!(s.runs[0].sequence, Some(1));
    assert_eq!(s.last_schedule_time.as_deref(), Some(DUE));
    assert_eq!(s.run_sequence, Some(1));
    assert_eq!(s.last_trigger, None);
    assert_eq!(
        s.last_run.as_ref().map(|r| r.execution_arn.as_str()),
        Some("r1")
    );
}

#[test]
fn run_work_that_a_resync_must_not_hold_up() {
    let run = spec(serde_json::json!({"trigger": "2"}));
    let none = |_: &str| false;
    // A trigger not yet started is waiting; one already started is not.
    let fresh = status(Given {
        last_trigger: Some("1"),
        ..Given::default()
    });
    assert!(runs_waiting(Some(&run), &fresh, none));
    let started = status(Given {
        last_trigger: Some("2"),
        runs: vec![going("arn:e2"), ended("arn:e1")],
        ..Given::default()
    });
    assert!(!runs_waiting(Some(&run), &started, none));
    assert!(!runs_waiting(None, &started, none));
    // A followed run whose end is known is waiting; a finished run's end
    // changes nothing.
    assert!(runs_waiting(Some(&run), &started, |arn| arn == "arn:e2"));
    assert!(!runs_waiting(Some(&run), &started, |arn| arn == "arn:e1"));
}
