//! Changes that the writer may run together with others of their kind as one set-based step
//! (see `sequencer`): the work of one call is the work of a group of one, so a call gets the
//! same answer whether it ran alone or with others.

use std::any::{Any, TypeId};
use std::collections::HashSet;

use serde::{Serialize, de::DeserializeOwned};

use super::sequencer::{Caller, Job};
use super::writer_cache::WriterCache;
use super::{AnyConnection, Applied, Mutation, audit, canonical_json, idempotency};
use crate::error::{Context, Error};

/// One outcome per call: its change, or its refusal.
pub type Outcomes<A> = Vec<Result<Applied<A>, Error>>;

/// A call's answer and the sequence number of its audit entry (none when nothing changed), or
/// its refusal.
type Answer<A> = Result<(A, Option<i64>), Error>;

/// A kind of change whose calls can be applied together: the call's own data, and the
/// set-based work over several calls.
pub trait Together: Send + 'static {
    /// The answer to one call.
    type Answer: Serialize + DeserializeOwned + Send + 'static;

    /// True when calls of this kind change nothing the writer's cache remembers (they write none
    /// of contracts, their events, intercedents, rates, statements) and append their audit
    /// entries only through this module: then they may read from it. False (the default) sets
    /// the cache aside for the rest of their transaction and empties it, which is always safe.
    const LEAVES_WRITER_CACHE: bool = false;

    /// Applies `calls` in order inside the writer's transaction, each as if the ones before it
    /// had committed, and gives one outcome per call: its change, or its refusal (a refused call
    /// must have written nothing).
    ///
    /// # Errors
    /// A fault, or anything that keeps the calls from being applied together; the writer then
    /// rolls the step back and applies them one at a time.
    fn apply_all(
        connection: &mut AnyConnection,
        cache: &mut WriterCache,
        calls: &[&Self],
    ) -> Result<Outcomes<Self::Answer>, Error>;
}

/// A call of a [`Together`] kind waiting for the writer.
pub(super) struct TogetherJob<P: Together> {
    pub(super) mutation: Mutation,
    pub(super) call: P,
    pub(super) caller: Caller<(P::Answer, Option<i64>)>,
}

impl<P: Together> Job for TogetherJob<P> {
    fn deadline(&self) -> Option<std::time::Instant> {
        self.caller.deadline()
    }

    fn abandoned(&self) -> bool {
        self.caller.abandoned()
    }

    fn run(&mut self, connection: &mut AnyConnection, cache: &mut WriterCache) -> Result<(), Error> {
        let span = self.caller.span.clone();
        let _entered = span.enter();
        match run_all(connection, cache, &mut [self], LookUp::First)?.pop() {
            Some(Some(refusal)) => Err(refusal),
            Some(None) => Ok(()),
            None => Err(Error::internal("applying a change", "the call was left without an outcome")),
        }
    }

    fn leaves_writer_cache(&self) -> bool {
        P::LEAVES_WRITER_CACHE
    }

    fn together(&self) -> Option<TypeId> {
        Some(TypeId::of::<P>())
    }

    fn as_any_mut(&mut self) -> Option<&mut dyn Any> {
        Some(self)
    }

    fn run_together(
        &mut self,
        connection: &mut AnyConnection,
        cache: &mut WriterCache,
        others: &mut [Box<dyn Job>],
    ) -> Result<Vec<Option<Error>>, Error> {
        let span = self.caller.span.clone();
        let _entered = span.enter();
        let mut group: Vec<&mut TogetherJob<P>> = Vec::with_capacity(others.len() + 1);
        group.push(self);
        for other in others {
            let other = other
                .as_any_mut()
                .and_then(|other| other.downcast_mut::<TogetherJob<P>>())
                .ok_or_else(|| Error::internal("running calls together", "a call of another kind"))?;
            group.push(other);
        }
        run_all(connection, cache, &mut group, LookUp::WhenRefused)
    }

    fn settle(self: Box<Self>, outcome: Result<(), Error>) {
        self.caller.settle(outcome);
    }
}

/// When [`run_all`] looks up the calls' request ids.
#[derive(Clone, Copy, PartialEq, Eq)]
enum LookUp {
    /// Before applying them: a known one replays its first answer. How a call runs alone after
    /// a step failed.
    First,
    /// Only for calls refused: each call that changes something or not records its request id,
    /// where the primary key refuses one recorded before, and the step fails (the writer then
    /// runs its calls one by one, which replays). One statement fewer for the usual call: a
    /// retry is the exception.
    WhenRefused,
}

/// The transactional core of `Store::mutate` for several calls at once: looks up their request
/// ids as `look_up` says (a known one replays its first answer), applies the new ones together,
/// appends the audit entries of those that changed something in call order and records every
/// answer. Keeps each call's answer and gives its refusal.
fn run_all<P: Together>(
    connection: &mut AnyConnection,
    cache: &mut WriterCache,
    group: &mut [&mut TogetherJob<P>],
    look_up: LookUp,
) -> Result<Vec<Option<Error>>, Error> {
    // An answer kept from an attempt that was rolled back is no answer.
    for job in group.iter_mut() {
        job.caller.answer = None;
    }
    let mutations: Vec<&Mutation> = group.iter().map(|job| &job.mutation).collect();
    let mut keys = HashSet::with_capacity(mutations.len());
    if !mutations.iter().all(|mutation| keys.insert((mutation.principal.key(), mutation.request_id.as_str()))) {
        // The second call must see the first one's answer: they run one by one.
        return Err(Error::internal("running calls together", "a request id occurs twice"));
    }
    let mut first_answers = match look_up {
        LookUp::First => idempotency::find_all(connection, &mutations)?,
        LookUp::WhenRefused => std::collections::HashMap::new(),
    };
    let mut outcomes: Vec<Option<Answer<P::Answer>>> = Vec::with_capacity(group.len());
    let mut fresh = Vec::with_capacity(group.len());
    for (index, mutation) in mutations.iter().enumerate() {
        match first_answers.remove(&(mutation.principal.key(), mutation.request_id.as_str().to_owned())) {
            // The transaction holds the lock that orders every writer, so no other transaction
            // can record this request id between the lookup and the commit.
            Some(first) => outcomes.push(Some(first.replay(mutation))),
            None => {
                outcomes.push(None);
                fresh.push(index);
            }
        }
    }
    let applied = if fresh.is_empty() {
        Vec::new()
    } else {
        let calls: Vec<&P> = fresh.iter().map(|&index| &group[index].call).collect();
        P::apply_all(connection, cache, &calls)?
    };
    if applied.len() != fresh.len() {
        return Err(Error::internal("applying changes together", "an outcome per call is missing"));
    }
    if look_up == LookUp::WhenRefused {
        let refused: Vec<&Mutation> = fresh
            .iter()
            .zip(&applied)
            .filter(|(_, outcome)| outcome.is_err())
            .map(|(&index, _)| mutations[index])
            .collect();
        if !refused.is_empty() && !idempotency::find_all(connection, &refused)?.is_empty() {
            return Err(Error::internal("running calls together", "a refused call's request id was answered before"));
        }
    }
    let mut changes = Vec::new();
    let mut unchanged = Vec::new();
    for (&index, outcome) in fresh.iter().zip(applied) {
        match outcome {
            Err(refusal) => outcomes[index] = Some(Err(refusal)),
            Ok(applied) => {
                let response = canonical_json(&applied.response).context("encoding an answer canonically")?;
                if applied.changed {
                    changes.push((index, applied.resource, response, applied.response));
                } else {
                    unchanged.push((index, response, applied.response));
                }
            }
        }
    }
    let appended: Vec<(&Mutation, &str, &str)> = changes
        .iter()
        .map(|(index, resource, response, _)| (mutations[*index], resource.as_str(), response.as_str()))
        .collect();
    let seqs = audit::append_all(connection, &appended)?;
    if let Some(&last) = seqs.iter().max() {
        cache.appended(last);
    }
    let remembered: Vec<(&Mutation, &str)> =
        unchanged.iter().map(|(index, response, _)| (mutations[*index], response.as_str())).collect();
    idempotency::insert_all(connection, &remembered)?;
    for ((index, _, _, response), seq) in changes.into_iter().zip(seqs) {
        outcomes[index] = Some(Ok((response, Some(seq))));
    }
    for (index, _, response) in unchanged {
        outcomes[index] = Some(Ok((response, None)));
    }
    group
        .iter_mut()
        .zip(outcomes)
        .map(|(job, outcome)| match outcome {
            Some(Ok(answer)) => {
                job.caller.answer = Some(answer);
                Ok(None)
            }
            Some(Err(refusal)) => Ok(Some(refusal)),
            None => Err(Error::internal("applying changes together", "a call was left without an outcome")),
        })
        .collect()
}
