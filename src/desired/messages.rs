//! Notification texts with the run's context: `{jobId}`-style placeholders in
//! `spec.messages`, compiled into the Amazon States Language's own
//! `States.Format`, so Step Functions renders them when it publishes.
//!
//! Syntax: `{name}` for a field of the run (see [`Placeholder`]); `{{` and
//! `}}` for a literal brace, with or without placeholders. Anything else in
//! braces is refused at admission (the CRD's rule, [`admission_rule`], whose
//! message names the brace, its position and the known names). A text stored
//! before that rule existed (braces were plain text then) and refused by the
//! parser is published as it was written: [`compile`].

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

/// The longest valid start of a message (RE2, as the API server's CEL
/// compiles it): text, `{{`, `}}` and known placeholders. Its alternatives
/// never overlap, so the greedy match is the parser's own tokenisation.
fn valid_prefix() -> String {
    let names: Vec<&str> = Placeholder::ALL.iter().map(|p| p.name()).collect();
    format!(r"^([^{{}}]|\{{\{{|\}}\}}|\{{({})\}})*", names.join("|"))
}

/// A CEL string literal (single-quoted) of `text`.
fn cel_string(text: &str) -> String {
    format!("'{}'", text.replace('\\', r"\\").replace('\'', r"\'"))
}

/// The CRD's rule for a message field: the whole text is text, `{{`, `}}`
/// and known placeholders; when it is not, the message says in words which
/// brace or name at which character (CEL counts characters, as `kubectl`
/// users do) and how to write a literal brace. CEL's `string(int)` has no
/// cost bound the API server accepts in a concatenation; `format` has.
/// https://kubernetes.io/docs/reference/using-api/cel/
pub fn admission_rule() -> serde_json::Value {
    let prefix = valid_prefix();
    let at = format!("size(self.find({}))", cel_string(&prefix));
    let rest = format!("self.substring({at})");
    let token = cel_string(r"^\{[^{}]*\}");
    let known = known();
    let message = format!(
        "{rest}.startsWith('}}') \
         ? 'a lone }} at character %d: write }}}} for a literal brace'.format([{at} + 1]) \
         : {rest}.matches({token}) \
         ? 'unknown placeholder %s at character %d; write {{{{ or }}}} for a literal brace; known: {known}'.format([{rest}.find({token}), {at} + 1]) \
         : 'a lone {{ at character %d: write {{{{ or }}}} for a literal brace, or name a placeholder: {known}'.format([{at} + 1])"
    );
    serde_json::json!({
        "rule": format!("self.matches({})", cel_string(&format!("{prefix}$"))),
        "messageExpression": message,
    })
}

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
    #[error("unknown placeholder {{{name}}} at character {at}; write {{{{ or }}}} for a literal brace; known: {known}", known = known())]
    Unknown { name: String, at: usize },
    #[error("a lone {brace} at character {at}: write {{{{ or }}}} for a literal brace")]
    LoneBrace { brace: char, at: usize },
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

/// The template's segments; `{{` and `}}` become literal braces. Errors
/// name the 1-based character, as the admission rule does.
pub fn parse(template: &str) -> Result<Vec<Segment>, TemplateError> {
    let mut segments = Vec::new();
    let mut text = String::new();
    let mut chars = template.char_indices().peekable();
    // The 1-based character of `c`.
    let mut at = 0;
    while let Some((byte, c)) = chars.next() {
        at += 1;
        let next = chars.peek().map(|(_, c)| *c);
        match c {
            '{' if next == Some('{') => {
                chars.next();
                at += 1;
                text.push('{');
            }
            '}' if next == Some('}') => {
                chars.next();
                at += 1;
                text.push('}');
            }
            '{' => {
                let rest = &template[byte + 1..];
                let Some(end) = rest
                    .find(['{', '}'])
                    .filter(|e| rest[*e..].starts_with('}'))
                else {
                    return Err(TemplateError::LoneBrace { brace: '{', at });
                };
                let name = &rest[..end];
                let field = Placeholder::from_name(name).ok_or_else(|| TemplateError::Unknown {
                    name: name.to_string(),
                    at,
                })?;
                // The name and its closing brace.
                let skip = name.chars().count() + 1;
                chars.nth(skip - 1);
                at += skip;
                if !text.is_empty() {
                    segments.push(Segment::Text(std::mem::take(&mut text)));
                }
                segments.push(Segment::Field(field));
            }
            '}' => return Err(TemplateError::LoneBrace { brace: '}', at }),
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

/// A message as it will be published.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Compiled {
    pub segments: Vec<Segment>,
    /// Why the text is published as written, braces and all: the parser
    /// refuses it, so it was stored before the admission rule existed, when
    /// braces were plain text (the API server keeps an unchanged field that
    /// a tightened rule would refuse: validation ratcheting). `None` for a
    /// text the rule accepts.
    pub literal: Option<TemplateError>,
}

/// `template` compiled: parsed, or, where the parser refuses a brace or a
/// name, the text as written (see [`Compiled::literal`]). Only a template
/// that could outgrow SNS is an error: no stored text before placeholders
/// could be one.
pub fn compile(template: &str) -> Result<Compiled, TemplateError> {
    match parse(template) {
        Ok(segments) => Ok(Compiled {
            segments,
            literal: None,
        }),
        Err(e @ TemplateError::TooLong(_)) => Err(e),
        Err(e) => Ok(Compiled {
            segments: vec![Segment::Text(template.to_string())],
            literal: Some(e),
        }),
    }
}

/// The text of segments without placeholders, as SNS receives it.
pub fn literal_text(segments: &[Segment]) -> String {
    segments
        .iter()
        .map(|s| match s {
            Segment::Text(t) => t.as_str(),
            Segment::Field(_) => "",
        })
        .collect()
}

/// What SNS receives for `template` when no message names a field of the
/// run: its literal text, `{{`/`}}` as single braces; a text stored before
/// placeholders, as written. The seed's definition, byte for byte, for a
/// text without braces.
pub fn plain_text(template: &str) -> std::borrow::Cow<'_, str> {
    if !template.contains(['{', '}']) {
        return template.into();
    }
    match compile(template) {
        Ok(c) if c.literal.is_none() && !has_placeholders(&c.segments) => {
            literal_text(&c.segments).into()
        }
        _ => template.into(),
    }
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
    fn unknown_names_and_lone_braces_are_refused_naming_them_and_their_character() {
        assert_eq!(
            parse("x {jobid}"),
            Err(TemplateError::Unknown {
                name: "jobid".into(),
                at: 3
            })
        );
        let message = parse("x {jobid}").unwrap_err().to_string();
        assert!(
            message.starts_with("unknown placeholder {jobid} at character 3; write {{ or }}"),
            "{message}"
        );
        assert!(message.contains("{jobId}"), "{message}");
        assert_eq!(
            parse("a } b"),
            Err(TemplateError::LoneBrace { brace: '}', at: 3 })
        );
        assert_eq!(
            parse("é { b"),
            Err(TemplateError::LoneBrace { brace: '{', at: 3 })
        );
        assert_eq!(
            parse("{a{jobId}"),
            Err(TemplateError::LoneBrace { brace: '{', at: 1 })
        );
        assert_eq!(
            parse("{jobId}}"),
            Err(TemplateError::LoneBrace { brace: '}', at: 8 })
        );
        assert_eq!(
            parse("{{{jobId}}}").map(|s| s.len()),
            Ok(3),
            "a brace, a placeholder, a brace"
        );
    }

    #[test]
    fn doubled_braces_are_single_with_or_without_placeholders() {
        let plain = compile("{{braces}} ✓ 'q' \\ $.x").expect("compiled");
        assert_eq!(plain.literal, None);
        assert_eq!(literal_text(&plain.segments), "{braces} ✓ 'q' \\ $.x");
        assert!(!has_placeholders(&plain.segments));
        let with = compile("{{braces}} {jobId}").expect("compiled");
        assert_eq!(
            format_call(&with.segments, "$.c"),
            "States.Format('\\{braces\\} {}', $.c.jobId)"
        );
    }

    #[test]
    fn a_text_stored_before_placeholders_is_published_as_written() {
        for old in ["{braces}", "a } b", "json {\"a\": 1}", "{{x}} {y}"] {
            let c = compile(old).expect("compiled");
            assert!(c.literal.is_some(), "{old}");
            assert_eq!(literal_text(&c.segments), old);
            assert!(!has_placeholders(&c.segments));
        }
        assert!(compile(&"{statusReason}".repeat(40)).is_err());
    }

    #[test]
    fn a_template_that_could_outgrow_sns_is_refused() {
        let many = "{statusReason}".repeat(40);
        assert!(matches!(parse(&many), Err(TemplateError::TooLong(_))));
        assert!(parse(&"{statusReason}".repeat(30)).is_ok());
    }

    #[test]
    fn the_admission_rule_names_every_placeholder() {
        let rule = admission_rule();
        let text = rule.to_string();
        for p in Placeholder::ALL {
            assert!(
                text.contains(&format!("|{}|", p.name()))
                    || text.contains(&format!("({}|", p.name()))
                    || text.contains(&format!("|{})", p.name())),
                "{}",
                p.name()
            );
            assert!(text.contains(&format!("{{{}}}", p.name())), "{}", p.name());
        }
    }
}
