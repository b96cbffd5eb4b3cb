//! One manager per AWS resource, all with the same verbs (observe, compare,
//! create, update, delete), the way the ACK runtime's resource managers are
//! built. [`apply`] and [`remove`] drive any of them the same way, so what
//! differs between resources is only what each one's AWS API asks for.
//!
//! Create-first: when status does not yet record a resource, a manager that
//! can ([`Manager::CREATE_FIRST`]) creates it with its tags in one call and
//! takes "already exists" as the cue to observe and check ownership. Once
//! status records it, it is observed and what changed out of band is put back.

pub mod compute_environment;
pub mod job_definition;
pub mod job_queue;
pub mod role;
pub mod route;
pub mod state_machine;
pub mod topic;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use super::error::Problem;
use super::report::Report;
use crate::aws::{AwsError, ErrorKind, RegionClients};
use crate::desired::{Meta, Owner, Ownership, classify_ownership};

/// One field that differs from the desired state, and the AWS operation
/// that puts it back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Change {
    pub field: &'static str,
    pub operation: &'static str,
}

/// What compare found: the fields that differ (empty: nothing to do).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Delta(pub Vec<Change>);

impl Delta {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Records `field` when `differs`.
    pub fn check(&mut self, differs: bool, field: &'static str, operation: &'static str) {
        if differs {
            self.0.push(Change { field, operation });
        }
    }

    pub fn has(&self, field: &str) -> bool {
        self.0.iter().any(|c| c.field == field)
    }
}

/// What a create found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Created {
    /// Made by this call; the ARN AWS answered.
    New(String),
    /// The name was taken: observe it and check whose it is.
    Existed,
}

/// Whether a delete is complete or AWS is still at it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Removal {
    Done,
    /// AWS deletes in its own time (Batch): look again later.
    Pending,
}

/// Who this pass works for: the owner's identity, whether it may adopt, and
/// whether the spec changed since the last status write (a difference is
/// then an update, not drift).
pub struct Judge<'a> {
    pub owner: &'a Owner,
    pub adopt: bool,
    pub spec_changed: bool,
}

impl Judge<'_> {
    /// `Ok(false)` when the resource is ours, `Ok(true)` when it is to be
    /// adopted now, a conflict otherwise.
    pub fn claim(&self, what: &str, tags: &BTreeMap<String, String>) -> Result<bool, Problem> {
        let ownership = classify_ownership(self.owner, tags);
        match ownership {
            Ownership::Ours => Ok(false),
            ref o if o.adoptable() && self.adopt => Ok(true),
            ref o if o.adoptable() => Err(Problem::conflict(format!(
                "{what} already exists and {}; to manage it, annotate this object with {}=\"true\"",
                o.describe(self.owner),
                super::ADOPT_ANNOTATION
            ))),
            ref o => Err(Problem::conflict(format!(
                "{what} already exists and {}; it is left untouched",
                o.describe(self.owner)
            ))),
        }
    }

    /// Ours to delete: carrying our tags, or adoptable and adopted.
    pub fn ours(&self, tags: &BTreeMap<String, String>) -> bool {
        let ownership = classify_ownership(self.owner, tags);
        ownership == Ownership::Ours || (ownership.adoptable() && self.adopt)
    }
}

/// One AWS resource's API, in the verbs every manager has.
pub(crate) trait Manager {
    /// Its part of [`crate::desired::Desired`].
    type Desired;
    /// What observing it returns.
    type Observed;
    /// Its kind in messages and Events ("SNS topic").
    const KIND: &'static str;
    /// The AWS operation that creates it (named when drift re-creates it).
    const CREATE: &'static str;
    /// Create without observing first when status does not record it.
    const CREATE_FIRST: bool;
    /// The observation carries the tags (ownership is checked for free).
    const TAGS_OBSERVED: bool;

    fn meta(desired: &Self::Desired) -> &Meta;

    /// The resource at the desired name, `None` when there is none.
    async fn observe(
        aws: &RegionClients,
        desired: &Self::Desired,
    ) -> Result<Option<Self::Observed>, AwsError>;

    /// The tags an observation carries, if it carries them.
    fn observed_tags(_observed: &Self::Observed) -> Option<&BTreeMap<String, String>> {
        None
    }

    /// Its tags, from `observed` when that holds them, else read; `None`
    /// when the resource does not exist.
    async fn tags(
        aws: &RegionClients,
        desired: &Self::Desired,
        observed: Option<&Self::Observed>,
    ) -> Result<Option<BTreeMap<String, String>>, AwsError> {
        if let Some(tags) = observed.and_then(Self::observed_tags) {
            return Ok(Some(tags.clone()));
        }
        let observed = Self::observe(aws, desired).await?;
        Ok(observed.as_ref().and_then(Self::observed_tags).cloned())
    }

    /// Whose it is, from its tags: `Ok(false)` ours, `Ok(true)` to adopt
    /// now, a conflict otherwise. An object's resources ask `judge`; a
    /// resource the cluster shares (event mode's route) answers itself.
    fn claim(
        judge: &Judge<'_>,
        _desired: &Self::Desired,
        what: &str,
        tags: &BTreeMap<String, String>,
    ) -> Result<bool, Problem> {
        judge.claim(what, tags)
    }

    /// Ours to delete?
    fn ours(judge: &Judge<'_>, _desired: &Self::Desired, tags: &BTreeMap<String, String>) -> bool {
        judge.ours(tags)
    }

    /// Puts our tags on it (adoption).
    async fn tag(
        aws: &RegionClients,
        desired: &Self::Desired,
        observed: &Self::Observed,
    ) -> Result<(), AwsError>;

    /// Which fields differ, by meaning (AWS's normalisation undone).
    fn compare(desired: &Self::Desired, observed: &Self::Observed) -> Delta;

    async fn create(aws: &RegionClients, desired: &Self::Desired) -> Result<Created, AwsError>;

    /// Puts the fields of `delta` back; a new ARN when the update made one
    /// (a job definition's new revision).
    async fn update(
        aws: &RegionClients,
        desired: &Self::Desired,
        observed: &Self::Observed,
        delta: &Delta,
    ) -> Result<Option<String>, AwsError>;

    async fn delete(aws: &RegionClients, desired: &Self::Desired) -> Result<Removal, AwsError>;

    /// The ARN status records, from an observation.
    fn arn(desired: &Self::Desired, _observed: &Self::Observed) -> String {
        Self::meta(desired).arn.clone()
    }

    /// May it be changed now? (Batch accepts no update while CREATING/UPDATING.)
    fn settled(_desired: &Self::Desired, _observed: &Self::Observed) -> Result<(), Problem> {
        Ok(())
    }

    /// Usable right after creation? (A compute environment is CREATING.)
    fn after_create(_desired: &Self::Desired) -> Result<(), Problem> {
        Ok(())
    }

    /// Usable by what depends on it?
    fn ready(
        _desired: &Self::Desired,
        _observed: &Self::Observed,
        _updated: bool,
    ) -> Result<(), Problem> {
        Ok(())
    }

    /// An AWS failure as a condition.
    fn problem(desired: &Self::Desired, err: &AwsError) -> Problem {
        Problem::aws(&what::<Self>(desired), err)
    }
}

/// "SNS topic bn-…": how messages name a resource.
pub fn what<M: Manager + ?Sized>(desired: &M::Desired) -> String {
    format!("{} {}", M::KIND, M::meta(desired).name)
}

/// What converging one resource leaves for status.
pub struct Applied<O> {
    pub arn: String,
    /// `None` when this pass created it.
    pub observed: Option<O>,
}

/// Makes one resource match `desired`. `known`: status records it.
pub async fn apply<M: Manager>(
    aws: &RegionClients,
    desired: &M::Desired,
    known: bool,
    judge: &Judge<'_>,
    report: &mut Report,
) -> Result<Applied<M::Observed>, Problem> {
    let what = what::<M>(desired);
    let fail = |e: AwsError| M::problem(desired, &e);
    let created = |arn: String, report: &mut Report, recreated: bool| {
        if recreated {
            report.drift(
                M::CREATE,
                format!("{what} was deleted out of band; recreated"),
            );
        } else {
            report.created(&what);
        }
        M::after_create(desired).map(|()| Applied {
            arn,
            observed: None,
        })
    };
    if !known && M::CREATE_FIRST {
        match M::create(aws, desired).await {
            Ok(Created::New(arn)) => return created(arn, report, false),
            Ok(Created::Existed) => {}
            Err(e) if e.is(ErrorKind::AlreadyExists) => {}
            Err(e) => return Err(fail(e)),
        }
    }
    let Some(observed) = M::observe(aws, desired).await.map_err(fail)? else {
        let arn = match M::create(aws, desired).await.map_err(fail)? {
            Created::New(arn) => arn,
            Created::Existed => M::meta(desired).arn.clone(),
        };
        return created(arn, report, known);
    };
    // Whose is it? Checked whenever status did not record it, and on every
    // pass where the observation carries the tags anyway.
    if (!known || M::TAGS_OBSERVED)
        && let Some(tags) = M::tags(aws, desired, Some(&observed)).await.map_err(fail)?
        && M::claim(judge, desired, &what, &tags)?
    {
        M::tag(aws, desired, &observed).await.map_err(fail)?;
        report.adopted(&what);
    }
    let delta = M::compare(desired, &observed);
    let mut arn = M::arn(desired, &observed);
    let updated = !delta.is_empty();
    if updated {
        M::settled(desired, &observed)?;
        if let Some(new) = M::update(aws, desired, &observed, &delta)
            .await
            .map_err(fail)?
        {
            arn = new;
        }
        report.changed(&what, &delta, known && !judge.spec_changed);
    }
    M::ready(desired, &observed, updated)?;
    Ok(Applied {
        arn,
        observed: Some(observed),
    })
}

/// Deletes one resource if it exists and is ours.
pub async fn remove<M: Manager>(
    aws: &RegionClients,
    desired: &M::Desired,
    judge: &Judge<'_>,
    report: &mut Report,
) -> Result<Removal, Problem> {
    let fail = |e: AwsError| M::problem(desired, &e);
    let tags = match M::tags(aws, desired, None).await {
        Ok(tags) => tags,
        Err(e) if e.is(ErrorKind::NotFound) => None,
        Err(e) => return Err(fail(e)),
    };
    let Some(tags) = tags else {
        return Ok(Removal::Done);
    };
    // Never a resource without any tag: not ours, or (a state machine
    // deleted before a crash keeps answering for its tags) already gone.
    if tags.is_empty() || !M::ours(judge, desired, &tags) {
        return Ok(Removal::Done);
    }
    let removal = M::delete(aws, desired).await.map_err(fail)?;
    if removal == Removal::Done {
        report.deleted(what::<M>(desired));
    }
    Ok(removal)
}
