//! `kubectl batchnotify logs NAME`: the CloudWatch Logs events of a run's
//! Batch job, every attempt in order, as `kubectl logs` prints a container's.
//! The log group and streams come from the job's own details (DescribeJobs):
//! the job definition's `awslogs-group`, else `/aws/batch/job`.
//! https://docs.aws.amazon.com/batch/latest/userguide/using_awslogs.html
//! https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_GetLogEvents.html

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_batch::types::JobDetail;
use jiff::Timestamp;

use super::reads::{From, Reader};
use super::target::Target;
use super::{Error, Exit, RunSelector, out, select_run};
use crate::api::{BatchNotification, RunStatus};

/// Batch's default log group for jobs on the awslogs driver.
pub const DEFAULT_GROUP: &str = "/aws/batch/job";
/// The most events GetLogEvents answers in one page.
const MAX_LIMIT: usize = 10_000;
/// Pages without events in a row after which a read stops even if AWS keeps
/// answering new tokens (it answers the token it was given at the end).
const MAX_EMPTY_PAGES: usize = 50;

#[derive(Clone, Debug, clap::Args)]
pub struct LogsArgs {
    /// The BatchNotification.
    pub name: String,
    /// Which run: `latest`, its sequence number (the SEQ column of `runs`),
    /// or its execution's name or ARN.
    #[arg(long, default_value = "latest")]
    pub run: RunSelector,
    /// Only this attempt of the job (1 for the first); default: every attempt.
    #[arg(long)]
    pub attempt: Option<u32>,
    /// Follow the log until the job ends, then exit 0 if it succeeded, 1 if it failed.
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// Only events newer than this, e.g. 10m or 1h.
    #[arg(long, value_parser = crate::plugin::trigger::duration)]
    pub since: Option<Duration>,
    /// Only the last N lines (-1: all).
    #[arg(long, default_value_t = -1, allow_negative_numbers = true)]
    pub tail: i64,
    /// Prefix each line with its event's time (RFC 3339, UTC).
    #[arg(long)]
    pub timestamps: bool,
    /// How often -f asks for new events and the job's status.
    #[arg(long, default_value = "2s", value_parser = crate::plugin::trigger::duration, hide = true)]
    pub poll: Duration,
}

/// One attempt of a job and where its log is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attempt {
    /// 1 for the first.
    pub number: u32,
    pub group: String,
    /// None when the attempt's container never started.
    pub stream: Option<String>,
    /// Why the attempt ended, for an attempt without a stream.
    pub reason: Option<String>,
}

/// The job's attempts, finished ones first, then the one going (its stream
/// is the job's `container.logStreamName` until it ends).
pub fn attempts_of(job: &JobDetail) -> Vec<Attempt> {
    let container = job.container();
    let group = container
        .and_then(|c| c.log_configuration())
        .filter(|l| l.log_driver().map(|d| d.as_str()) == Some("awslogs"))
        .and_then(|l| l.options())
        .and_then(|o| o.get("awslogs-group"))
        .cloned()
        .unwrap_or_else(|| DEFAULT_GROUP.to_string());
    let mut attempts: Vec<Attempt> = job
        .attempts()
        .iter()
        .zip(1..)
        .map(|(a, number)| Attempt {
            number,
            group: group.clone(),
            stream: a
                .container()
                .and_then(|c| c.log_stream_name())
                .map(str::to_string),
            reason: a
                .status_reason()
                .or_else(|| a.container().and_then(|c| c.reason()))
                .map(str::to_string),
        })
        .collect();
    let current = container.and_then(|c| c.log_stream_name());
    if let Some(stream) = current
        && !attempts.iter().any(|a| a.stream.as_deref() == Some(stream))
    {
        attempts.push(Attempt {
            number: u32::try_from(attempts.len() + 1).unwrap_or(u32::MAX),
            group,
            stream: Some(stream.to_string()),
            reason: None,
        });
    }
    attempts
}

/// Whether the job has ended, and how.
pub fn ended(job: &JobDetail) -> Option<Exit> {
    match job.status().map(|s| s.as_str()) {
        Some("SUCCEEDED") => Some(Exit::Success),
        Some("FAILED") => Some(Exit::Failed),
        _ => None,
    }
}

/// A log line as printed.
pub fn line(timestamp_ms: i64, message: &str, timestamps: bool) -> String {
    let message = message.strip_suffix('\n').unwrap_or(message);
    if !timestamps {
        return message.to_string();
    }
    let when = Timestamp::from_millisecond(timestamp_ms)
        .map(|t| format!("{t:.3}"))
        .unwrap_or_else(|_| timestamp_ms.to_string());
    format!("{when} {message}")
}

/// What has been read of each stream: the token to read on from.
#[derive(Default)]
struct Cursor {
    tokens: BTreeMap<String, String>,
}

pub async fn logs(
    target: &Target,
    aws: &super::reads::AwsArgs,
    args: &LogsArgs,
) -> Result<Exit, Error> {
    let obj = target.get(&args.name).await?;
    let (obj, run) = run_of(target, obj, args).await?;
    let Some(job_id) = run.batch_job_id.clone() else {
        return Err(no_job(&run));
    };
    let reader = Reader::for_object(&target.client, &obj, aws).await?;
    let mut cursor = Cursor::default();
    let mut first = true;
    let mut end: Option<Exit> = None;
    loop {
        let Some(job) = reader.job(&job_id).await? else {
            return stale_job(&reader, &run, &job_id, args).await;
        };
        let attempts = chosen(&job, args)?;
        if attempts.is_empty() && first {
            let status = job
                .status()
                .map(|s| s.as_str().to_string())
                .unwrap_or_default();
            if !args.follow {
                return Err(Error::NotStarted {
                    run: label(&run),
                    job_id,
                    status,
                    reason: job
                        .status_reason()
                        .map(|r| format!(" ({r})"))
                        .unwrap_or_default(),
                });
            }
            eprintln!("job {job_id} is {status}: waiting for an attempt to start");
        }
        if first && args.tail >= 0 {
            tail(&reader, &attempts, args, &mut cursor).await?;
        } else {
            for a in &attempts {
                read_on(&reader, a, args, &mut cursor, attempts.len() > 1).await?;
            }
        }
        first = false;
        if !args.follow {
            return Ok(Exit::Success);
        }
        // One more read after the job ended: CloudWatch Logs may receive the
        // container's last lines after Batch reports the job's end.
        if let Some(exit) = end {
            return Ok(exit);
        }
        end = ended(&job);
        tokio::time::sleep(args.poll).await;
    }
}

/// The run the command is about; with -f, a run not listed yet, or still
/// without a job, is waited for.
async fn run_of(
    target: &Target,
    obj: BatchNotification,
    args: &LogsArgs,
) -> Result<(BatchNotification, RunStatus), Error> {
    let runs = obj.status.clone().unwrap_or_default().runs;
    let ready = |r: &RunStatus| r.batch_job_id.is_some() || r.is_finished();
    match select_run(&runs, &args.run) {
        Some(run) if ready(run) || !args.follow => return Ok((obj.clone(), run.clone())),
        None if !args.follow => return Err(no_such_run(target, args, &runs)),
        Some(run) => eprintln!(
            "run {}: waiting for its Batch job to be submitted",
            label(run)
        ),
        None => eprintln!("waiting for run {:?} of {}", args.run, args.name),
    }
    let selector = args.run.clone();
    let has_job = move |o: Option<&BatchNotification>| {
        let runs = o.and_then(|o| o.status.as_ref()).map(|s| s.runs.as_slice());
        o.is_none() || select_run(runs.unwrap_or_default(), &selector).is_some_and(ready)
    };
    let seen = kube::runtime::wait::await_condition(target.api(), &args.name, has_job)
        .await
        .map_err(|e| Error::Usage(format!("watching {}: {e}", args.name)))?;
    let Some(obj) = seen else {
        return Err(Error::NotFound {
            namespace: target.namespace.clone(),
            name: args.name.clone(),
        });
    };
    let runs = obj.status.clone().map(|s| s.runs).unwrap_or_default();
    let run = select_run(&runs, &args.run).cloned();
    run.map(|r| (obj, r))
        .ok_or_else(|| no_such_run(target, args, &runs))
}

fn no_such_run(target: &Target, args: &LogsArgs, runs: &[RunStatus]) -> Error {
    Error::NoSuchRun {
        namespace: target.namespace.clone(),
        name: args.name.clone(),
        run: match &args.run {
            RunSelector::Latest => "yet".to_string(),
            RunSelector::Sequence(n) => n.to_string(),
            RunSelector::Execution(e) => e.clone(),
        },
        listed: listed(runs),
    }
}

fn label(run: &RunStatus) -> String {
    run.sequence
        .map(|s| s.to_string())
        .unwrap_or_else(|| run.name.clone())
}

fn listed(runs: &[RunStatus]) -> String {
    if runs.is_empty() {
        return "none".into();
    }
    runs.iter().map(label).collect::<Vec<_>>().join(", ")
}

fn no_job(run: &RunStatus) -> Error {
    let why = if run.is_finished() {
        let error = [run.error.as_deref(), run.cause.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(": ");
        format!(
            "(it ended {} without submitting one{})",
            run.status,
            if error.is_empty() {
                String::new()
            } else {
                format!(": {error}")
            }
        )
    } else {
        "yet: its execution has not submitted one (use -f to wait for it)".to_string()
    };
    Error::NoJob {
        run: label(run),
        why,
    }
}

/// The attempts `--attempt` picks, or all.
fn chosen(job: &JobDetail, args: &LogsArgs) -> Result<Vec<Attempt>, Error> {
    let all = attempts_of(job);
    let Some(n) = args.attempt else {
        return Ok(all);
    };
    match all.into_iter().find(|a| a.number == n) {
        Some(a) => Ok(vec![a]),
        None if args.follow && ended(job).is_none() => Ok(Vec::new()),
        None => Err(Error::Usage(format!(
            "job {} has no attempt {n} (it has {})",
            job.job_id().unwrap_or_default(),
            attempts_of(job).len()
        ))),
    }
}

/// Prints what is new in an attempt's stream since the last read.
async fn read_on(
    reader: &Reader,
    attempt: &Attempt,
    args: &LogsArgs,
    cursor: &mut Cursor,
    several: bool,
) -> Result<(), Error> {
    let Some(stream) = &attempt.stream else {
        return Ok(());
    };
    let since = args.since.map(since_ms);
    let mut token = cursor.tokens.get(stream).cloned();
    let mut empty = 0;
    loop {
        let from = match &token {
            Some(t) => From::Token(t),
            None => From::Head,
        };
        let Some(page) = reader.page(&attempt.group, stream, from, since).await? else {
            if !args.follow {
                eprintln!(
                    "attempt {}: the log stream {stream} in {} does not exist (yet)",
                    attempt.number, attempt.group
                );
            }
            return Ok(());
        };
        if token.is_none() && several {
            eprintln!(
                "==> attempt {}: {} {stream} <==",
                attempt.number, attempt.group
            );
        }
        empty = if page.events.is_empty() { empty + 1 } else { 0 };
        for (ts, message) in &page.events {
            out(&line(*ts, message, args.timestamps))?;
        }
        let at_end = page.forward.is_none() || page.forward == token || empty >= MAX_EMPTY_PAGES;
        if let Some(next) = page.forward.clone() {
            cursor.tokens.insert(stream.clone(), next.clone());
            token = Some(next);
        }
        if at_end {
            return Ok(());
        }
    }
}

/// The last `--tail` lines across the attempts (the newest attempt's end
/// first, then earlier attempts for what is missing); the streams' tokens
/// are kept for -f.
async fn tail(
    reader: &Reader,
    attempts: &[Attempt],
    args: &LogsArgs,
    cursor: &mut Cursor,
) -> Result<(), Error> {
    let want = usize::try_from(args.tail).unwrap_or(0);
    let since = args.since.map(since_ms);
    let mut picked: Vec<(u32, Vec<(i64, String)>)> = Vec::new();
    let mut left = want;
    for a in attempts.iter().rev() {
        let Some(stream) = &a.stream else { continue };
        // Attempts older than the lines wanted are still read once (one
        // event), for the token -f reads on from.
        let limit = i32::try_from(left.clamp(1, MAX_LIMIT)).unwrap_or(1);
        let Some(page) = reader
            .page(&a.group, stream, From::Tail { limit }, since)
            .await?
        else {
            continue;
        };
        if let Some(next) = page.forward {
            cursor.tokens.insert(stream.clone(), next);
        }
        let mut events = page.events;
        let keep = events.len().min(left);
        events.drain(..events.len() - keep);
        left -= keep;
        picked.push((a.number, events));
    }
    for (number, events) in picked.into_iter().rev() {
        if attempts.len() > 1 && !events.is_empty() {
            eprintln!("==> attempt {number} <==");
        }
        for (ts, message) in events {
            out(&line(ts, &message, args.timestamps))?;
        }
    }
    Ok(())
}

/// Batch no longer describes the job: the run's own record of its last
/// stream is read instead, in the default group.
async fn stale_job(
    reader: &Reader,
    run: &RunStatus,
    job_id: &str,
    args: &LogsArgs,
) -> Result<Exit, Error> {
    let Some(stream) = run.log_stream_name.clone() else {
        return Err(Error::JobGone {
            run: label(run),
            job_id: job_id.to_string(),
            more: " and the run recorded no log stream".into(),
        });
    };
    eprintln!(
        "run {}: Batch no longer describes job {job_id}; reading its last attempt's stream {stream} in {DEFAULT_GROUP}",
        label(run)
    );
    let attempt = Attempt {
        number: run.attempts.unwrap_or(1),
        group: DEFAULT_GROUP.to_string(),
        stream: Some(stream),
        reason: None,
    };
    read_on(reader, &attempt, args, &mut Cursor::default(), false).await?;
    Ok(match run.job_status.as_deref() {
        Some("FAILED") if args.follow => Exit::Failed,
        _ => Exit::Success,
    })
}

fn since_ms(since: Duration) -> i64 {
    let now = Timestamp::now().as_millisecond();
    now.saturating_sub(i64::try_from(since.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_batch::types::{
        AttemptContainerDetail, AttemptDetail, ContainerDetail, JobStatus, LogConfiguration,
        LogDriver,
    };

    fn job(attempts: &[&str], current: Option<&str>, group: Option<&str>) -> JobDetail {
        let mut container =
            ContainerDetail::builder().set_log_stream_name(current.map(str::to_string));
        if let Some(g) = group {
            container = container.log_configuration(
                LogConfiguration::builder()
                    .log_driver(LogDriver::Awslogs)
                    .options("awslogs-group", g)
                    .build(),
            );
        }
        let mut b = JobDetail::builder()
            .job_id("job-1")
            .job_name("j")
            .job_queue("q")
            .job_definition("d")
            .started_at(0)
            .status(JobStatus::Running)
            .container(container.build());
        for s in attempts {
            b = b.attempts(
                AttemptDetail::builder()
                    .container(
                        AttemptContainerDetail::builder()
                            .log_stream_name(*s)
                            .build(),
                    )
                    .status_reason("Essential container in task exited")
                    .build(),
            );
        }
        b.build()
    }

    #[test]
    fn attempts_are_the_finished_ones_then_the_one_going() {
        let j = job(&["d/default/a"], Some("d/default/b"), None);
        let a = attempts_of(&j);
        assert_eq!(a.len(), 2);
        assert_eq!(
            (a[0].number, a[0].stream.as_deref()),
            (1, Some("d/default/a"))
        );
        assert_eq!(
            (a[1].number, a[1].stream.as_deref()),
            (2, Some("d/default/b"))
        );
        assert!(a.iter().all(|a| a.group == DEFAULT_GROUP));
        // Once it ended, the job's stream is its last attempt's: not listed twice.
        let j = job(
            &["d/default/a", "d/default/b"],
            Some("d/default/b"),
            Some("/team/jobs"),
        );
        let a = attempts_of(&j);
        assert_eq!(a.len(), 2);
        assert!(a.iter().all(|a| a.group == "/team/jobs"));
        assert!(attempts_of(&job(&[], None, None)).is_empty());
    }

    #[test]
    fn lines_are_printed_as_written_with_optional_rfc3339_times() {
        assert_eq!(line(0, "hello\n", false), "hello");
        assert_eq!(
            line(1_796_000_000_123, "hello", true),
            "2026-11-30T00:53:20.123Z hello"
        );
    }
}
