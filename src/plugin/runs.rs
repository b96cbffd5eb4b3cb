//! `kubectl batchnotify runs NAME`: the object's runs as a table (newest
//! first, as `status.runs` keeps them), or as JSON or YAML.

use jiff::Timestamp;

use crate::api::RunStatus;

/// How `runs` prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Output {
    #[default]
    Table,
    Wide,
    Json,
    Yaml,
}

const COLUMNS: [&str; 7] = [
    "SEQ",
    "TRIGGER/SCHEDULED",
    "STARTED",
    "DURATION",
    "JOB STATUS",
    "EXIT CODE",
    "REASON",
];
const WIDE: [&str; 5] = ["OUTCOME", "ATTEMPTS", "JOB ID", "EXECUTION", "LOG STREAM"];

/// The runs printed as `output` says, `now` for the duration of a run still going.
pub fn render(runs: &[RunStatus], output: Output, now: Timestamp) -> Result<String, String> {
    match output {
        Output::Json => serde_json::to_string_pretty(runs).map_err(|e| e.to_string()),
        Output::Yaml => serde_yaml::to_string(runs).map_err(|e| e.to_string()),
        Output::Table | Output::Wide => Ok(table(runs, output == Output::Wide, now)),
    }
}

fn table(runs: &[RunStatus], wide: bool, now: Timestamp) -> String {
    let mut header: Vec<String> = COLUMNS.iter().map(|c| c.to_string()).collect();
    if wide {
        header.extend(WIDE.iter().map(|c| c.to_string()));
    }
    let mut rows = vec![header];
    rows.extend(runs.iter().map(|r| row(r, wide, now)));
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut text = String::new();
    for row in &rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        text.push_str(cells.join("   ").trim_end());
        text.push('\n');
    }
    text
}

fn row(r: &RunStatus, wide: bool, now: Timestamp) -> Vec<String> {
    let none = || "<none>".to_string();
    let trigger = match (&r.trigger, &r.scheduled_time) {
        (Some(t), _) => t.clone(),
        (None, Some(s)) => format!("schedule {s}"),
        (None, None) => none(),
    };
    let reason = r
        .job_status_reason
        .clone()
        .or_else(|| r.error.clone())
        .unwrap_or_default();
    let mut row = vec![
        r.sequence.map(|s| s.to_string()).unwrap_or_else(none),
        trigger,
        r.start_time.clone().unwrap_or_else(none),
        duration(r, now),
        r.job_status.clone().unwrap_or_else(|| r.status.clone()),
        r.exit_code.map(|c| c.to_string()).unwrap_or_default(),
        one_line(&reason, 60),
    ];
    if wide {
        row.extend([
            r.outcome.map(|o| format!("{o:?}")).unwrap_or_default(),
            r.attempts.map(|a| a.to_string()).unwrap_or_default(),
            r.batch_job_id.clone().unwrap_or_default(),
            r.name.clone(),
            r.log_stream_name.clone().unwrap_or_default(),
        ]);
    }
    row
}

/// How long the run took (or has taken so far), as kubectl prints ages.
fn duration(r: &RunStatus, now: Timestamp) -> String {
    let parse = |t: &Option<String>| t.as_deref().and_then(|t| t.parse::<Timestamp>().ok());
    let Some(start) = parse(&r.start_time) else {
        return String::new();
    };
    let end = parse(&r.stop_time).unwrap_or(now);
    let secs = end.as_second().saturating_sub(start.as_second()).max(0);
    human(secs)
}

/// `59s`, `4m10s`, `2h3m`, `3d4h`: kubectl's short durations.
pub fn human(secs: i64) -> String {
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m{}s", s / 60, s % 60),
        s if s < 86400 => format!("{}h{}m", s / 3600, (s % 3600) / 60),
        s => format!("{}d{}h", s / 86400, (s % 86400) / 3600),
    }
}

/// `text` on one line, cut to `max` characters with an ellipsis.
fn one_line(text: &str, max: usize) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= max {
        return flat;
    }
    let cut: String = flat.chars().take(max.saturating_sub(1)).collect();
    format!("{cut}…")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::RunOutcome;

    fn runs() -> Vec<RunStatus> {
        vec![
            RunStatus {
                name: "r2".into(),
                sequence: Some(2),
                execution_arn: "arn:2".into(),
                scheduled_time: Some("2026-12-07T02:00:00Z".into()),
                status: "RUNNING".into(),
                job_status: Some("RUNNABLE".into()),
                start_time: Some("2026-12-07T02:00:01Z".into()),
                ..RunStatus::default()
            },
            RunStatus {
                name: "r1".into(),
                sequence: Some(1),
                execution_arn: "arn:1".into(),
                trigger: Some("v1".into()),
                status: "SUCCEEDED".into(),
                outcome: Some(RunOutcome::Failed),
                batch_job_id: Some("job-1".into()),
                job_status: Some("FAILED".into()),
                job_status_reason: Some("Essential container\nin task exited".into()),
                exit_code: Some(1),
                attempts: Some(2),
                start_time: Some("2026-12-07T01:00:00Z".into()),
                stop_time: Some("2026-12-07T01:04:10Z".into()),
                ..RunStatus::default()
            },
        ]
    }

    #[test]
    fn the_table_has_one_aligned_row_per_run_newest_first() {
        let now: Timestamp = "2026-12-07T02:00:31Z".parse().unwrap();
        let text = render(&runs(), Output::Table, now).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[0].starts_with("SEQ   TRIGGER/SCHEDULED"), "{text}");
        assert!(
            lines[1].starts_with("2     schedule 2026-12-07T02:00:00Z"),
            "{text}"
        );
        assert!(
            lines[1].contains("30s") && lines[1].contains("RUNNABLE"),
            "{text}"
        );
        assert!(
            lines[2].contains("4m10s") && lines[2].contains("FAILED"),
            "{text}"
        );
        assert!(
            lines[2].ends_with("Essential container in task exited"),
            "{text}"
        );
        let column = |line: &str| line.find("JOB STATUS").or_else(|| line.find("RUNNABLE"));
        assert_eq!(column(lines[0]), column(lines[1]), "{text}");
        assert!(!text.contains("job-1"), "wide columns only with -o wide");
    }

    #[test]
    fn wide_adds_outcome_attempts_and_ids_json_and_yaml_are_the_runs() {
        let now: Timestamp = "2026-12-07T02:00:31Z".parse().unwrap();
        let wide = render(&runs(), Output::Wide, now).unwrap();
        assert!(
            wide.lines().next().unwrap().contains("LOG STREAM"),
            "{wide}"
        );
        assert!(wide.contains("Failed") && wide.contains("job-1"), "{wide}");
        let json: Vec<RunStatus> =
            serde_json::from_str(&render(&runs(), Output::Json, now).unwrap()).unwrap();
        assert_eq!(json, runs());
        let yaml: Vec<RunStatus> =
            serde_yaml::from_str(&render(&runs(), Output::Yaml, now).unwrap()).unwrap();
        assert_eq!(yaml, runs());
    }

    #[test]
    fn durations_read_as_kubectl_ages_and_reasons_are_cut() {
        assert_eq!(human(59), "59s");
        assert_eq!(human(250), "4m10s");
        assert_eq!(human(7380), "2h3m");
        assert_eq!(human(273600), "3d4h");
        assert_eq!(one_line(&"x".repeat(100), 10).chars().count(), 10);
    }
}
