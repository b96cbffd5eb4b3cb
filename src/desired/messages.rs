//! Notification texts with the run's context: `{jobId}`-style placeholders in
//! `spec.messages`, compiled into the Amazon States Language's own
//! `States.Format`, so Step Functions renders them when it publishes.
//!
//! Syntax: `{name}` for a field of the run (see [`Placeholder`]); `{{` and
//! `}}` for a literal brace. Anything else in braces is refused at admission
//! (the CRD's pattern, [`PATTERN`]) and again here.

/// A field of the run a message may name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Placeholder {
    JobId,
    JobName,
    Status,
    StatusReason,
    ExitCode,
    Attempts,
    LogStreamName,
    JobUrl,
    ExecutionUrl,
    ExecutionName,
    Namespace,
    Name,
    Trigger,
    ScheduledTime,
    Error,
}

impl Placeholder {
    pub const ALL: [Placeholder; 15] = [
        Placeholder::JobId,
        Placeholder::JobName,
        Placeholder::Status,
        Placeholder::StatusReason,
        Placeholder::ExitCode,
        Placeholder::Attempts,
        Placeholder::LogStreamName,
        Placeholder::JobUrl,
        Placeholder::ExecutionUrl,
        Placeholder::ExecutionName,
        Placeholder::Namespace,
        Placeholder::Name,
        Placeholder::Trigger,
        Placeholder::ScheduledTime,
        Placeholder::Error,
    ];

    /// Its name in a template, and its key in the JSON message.
    pub fn name(self) -> &'static str {
        match self {
            Placeholder::JobId => "jobId",
            Placeholder::JobName => "jobName",
            Placeholder::Status => "status",
            Placeholder::StatusReason => "statusReason",
            Placeholder::ExitCode => "exitCode",
            Placeholder::Attempts => "attempts",
            Placeholder::LogStreamName => "logStreamName",
            Placeholder::JobUrl => "jobUrl",
            Placeholder::ExecutionUrl => "executionUrl",
            Placeholder::ExecutionName => "executionName",
            Placeholder::Namespace => "namespace",
            Placeholder::Name => "name",
            Placeholder::Trigger => "trigger",
            Placeholder::ScheduledTime => "scheduledTime",
            Placeholder::Error => "error",
        }
    }

    fn from_name(name: &str) -> Option<Placeholder> {
        Placeholder::ALL.into_iter().find(|p| p.name() == name)
    }

    /// The longest value it can render to, in bytes (`null` when absent):
    /// what bounds a rendered message below SNS's 256 KiB.
    pub fn max_len(self) -> usize {
        match self {
            Placeholder::JobId => 64,
            Placeholder::JobName => 128,
            Placeholder::Status => 16,
            // Batch's statusReason is free text; AWS documents no bound,
            // observed reasons are short. 8 KiB is assumed.
            Placeholder::StatusReason => 8192,
            Placeholder::ExitCode => 11,
            Placeholder::Attempts => 3,
            Placeholder::LogStreamName => 512,
            Placeholder::JobUrl => 256,
            Placeholder::ExecutionUrl => 512,
            Placeholder::ExecutionName => 80,
            Placeholder::Namespace => 63,
            Placeholder::Name => 253,
            Placeholder::Trigger => 256,
            Placeholder::ScheduledTime => 32,
            Placeholder::Error => 256,
        }
    }
}

/// The CRD's pattern for a message: text, `{{`, `}}` and known placeholders.
pub const PATTERN: &str = "^([^{}]|\\{\\{|\\}\\}|\\{(jobId|jobName|status|statusReason|exitCode|attempts|logStreamName|jobUrl|executionUrl|executionName|namespace|name|trigger|scheduledTime|error)\\})*$";

/// SNS's message limit.
/// https://docs.aws.amazon.com/sns/latest/api/API_Publish.html
pub const SNS_MAX_BYTES: usize = 256 * 1024;

/// A template, parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Segment {
    Text(String),
    Field(Placeholder),
}

/// Why a template cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("unknown placeholder {{{0}}}; known: {known}", known = known())]
    Unknown(String),
    #[error("a lone {0:?}: write {{{{ or }}}} for a literal brace")]
    LoneBrace(char),
    #[error("rendered with the longest values it could reach {0} bytes, over SNS's 256 KiB")]
    TooLong(usize),
}

fn known() -> String {
    Placeholder::ALL
        .iter()
        .map(|p| format!("{{{}}}", p.name()))
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn parse(template: &str) -> Result<Vec<Segment>, TemplateError> {
    let mut segments = Vec::new();
    let mut text = String::new();
    let mut chars = template.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                text.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                text.push('}');
            }
            '{' => {
                let name: String = chars.by_ref().take_while(|c| *c != '}').collect();
                let field = Placeholder::from_name(&name).ok_or(TemplateError::Unknown(name))?;
                if !text.is_empty() {
                    segments.push(Segment::Text(std::mem::take(&mut text)));
                }
                segments.push(Segment::Field(field));
            }
            '}' => return Err(TemplateError::LoneBrace('}')),
            c => text.push(c),
        }
    }
    if !text.is_empty() {
        segments.push(Segment::Text(text));
    }
    let longest: usize = segments
        .iter()
        .map(|s| match s {
            Segment::Text(t) => t.len(),
            Segment::Field(f) => f.max_len(),
        })
        .sum();
    if longest > SNS_MAX_BYTES {
        return Err(TemplateError::TooLong(longest));
    }
    Ok(segments)
}

/// Whether the template names any field of the run.
pub fn has_placeholders(segments: &[Segment]) -> bool {
    segments.iter().any(|s| matches!(s, Segment::Field(_)))
}

/// The template as an intrinsic function call over the run's context at
/// `context` (a JSON path), e.g. `States.Format('Job {} failed', $.context.jobId)`.
/// Literal text is escaped as the intrinsic functions page says: `'`, `{`,
/// `}` and `\` take a backslash.
/// https://docs.aws.amazon.com/step-functions/latest/dg/intrinsic-functions.html
pub fn format_call(segments: &[Segment], context: &str) -> String {
    let mut template = String::new();
    let mut args = Vec::new();
    for segment in segments {
        match segment {
            Segment::Text(text) => {
                for c in text.chars() {
                    if matches!(c, '\'' | '{' | '}' | '\\') {
                        template.push('\\');
                    }
                    template.push(c);
                }
            }
            Segment::Field(field) => {
                template.push_str("{}");
                args.push(format!("{context}.{}", field.name()));
            }
        }
    }
    if args.is_empty() {
        format!("States.Format('{template}')")
    } else {
        format!("States.Format('{template}', {})", args.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_literal_braces_and_quotes_compile_to_states_format() {
        let segments = parse("Job '{jobName}' {status}: {{ok}} \\ done").expect("parsed");
        assert_eq!(
            format_call(&segments, "$.context"),
            "States.Format('Job \\'{}\\' {}: \\{ok\\} \\\\ done', $.context.jobName, $.context.status)"
        );
    }

    #[test]
    fn unknown_names_and_lone_braces_are_refused_naming_them() {
        assert_eq!(
            parse("x {jobid}"),
            Err(TemplateError::Unknown("jobid".into()))
        );
        assert!(
            parse("x {jobid}")
                .unwrap_err()
                .to_string()
                .contains("{jobId}")
        );
        assert_eq!(parse("a } b"), Err(TemplateError::LoneBrace('}')));
        assert!(matches!(parse("a { b"), Err(TemplateError::Unknown(_))));
    }

    #[test]
    fn a_template_that_could_outgrow_sns_is_refused() {
        let many = "{statusReason}".repeat(40);
        assert!(matches!(parse(&many), Err(TemplateError::TooLong(_))));
        assert!(parse(&"{statusReason}".repeat(30)).is_ok());
    }

    #[test]
    fn the_crd_pattern_agrees_with_the_parser() {
        // The pattern's alternatives are the placeholder names, in order.
        for p in Placeholder::ALL {
            assert!(
                PATTERN.contains(&format!("|{}|", p.name()))
                    || PATTERN.contains(&format!("({}|", p.name()))
                    || PATTERN.contains(&format!("|{})", p.name())),
                "{}",
                p.name()
            );
        }
    }
}
