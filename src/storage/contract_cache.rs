//! Contracts remembered between reads, so that reading one (`GetContract`) needs no database
//! round trip while it is fresh.
//!
//! A contract's row is never changed after it is created; what can change is its lifecycle, by
//! at most two events in its life (the extension option exercised, an early end after a no-go).
//! This process forgets a contract as soon as it has recorded such an event (and a read that
//! raced with the change cannot put the old state back: see [`ContractCache::remember`]);
//! another replica's change is seen once the remembered copy expires, at most `ttl` after it was
//! read. Only contracts that exist are remembered, so a new contract is seen at once everywhere.
//! Changes never read from here: they read the contract inside their own transaction.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::domain::{Contract, ContractId};

/// Remembered contracts, bounded in number and in age.
#[derive(Debug)]
pub struct ContractCache {
    ttl: Duration,
    capacity: usize,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Advanced by every [`ContractCache::forget`].
    generation: u64,
    /// Each contract with the moment the read that found it started.
    entries: HashMap<ContractId, (Contract, Instant)>,
}

impl ContractCache {
    /// A cache that keeps a contract for `ttl` (zero keeps none), at most `capacity` of them.
    #[must_use]
    pub fn new(ttl: Duration, capacity: usize) -> ContractCache {
        ContractCache { ttl, capacity, state: Mutex::new(State::default()) }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // The state is a plain map: a panic elsewhere while holding the lock leaves it whole.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The contract, when it was read less than `ttl` before `now`.
    #[must_use]
    pub fn get(&self, id: &ContractId, now: Instant) -> Option<Contract> {
        let state = self.state();
        let (contract, read_at) = state.entries.get(id)?;
        (now.saturating_duration_since(*read_at) < self.ttl).then(|| contract.clone())
    }

    /// A token to pass to [`ContractCache::remember`]: take it before reading the database.
    #[must_use]
    pub fn generation(&self) -> u64 {
        self.state().generation
    }

    /// Keeps `contract`, read by a read that started at `read_at` after taking `generation` —
    /// unless a contract was forgotten since (the read may have seen it before its change), the
    /// cache is off, or it is full.
    pub fn remember(&self, generation: u64, contract: Contract, read_at: Instant) {
        if self.ttl.is_zero() {
            return;
        }
        let mut state = self.state();
        if state.generation != generation {
            return;
        }
        if state.entries.len() >= self.capacity && !state.entries.contains_key(&contract.id) {
            // Full: drop what has expired; when nothing has, keep the new one out.
            let ttl = self.ttl;
            state.entries.retain(|_, (_, at)| read_at.saturating_duration_since(*at) < ttl);
            if state.entries.len() >= self.capacity {
                return;
            }
        }
        state.entries.insert(contract.id.clone(), (contract, read_at));
    }

    /// Forgets a contract whose lifecycle this process changed (call it once the change has
    /// committed, or failed to).
    pub fn forget(&self, id: &ContractId) {
        let mut state = self.state();
        state.generation = state.generation.wrapping_add(1);
        state.entries.remove(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::contract::tests_support::worked_example_contract;

    const TTL: Duration = Duration::from_secs(1);

    #[test]
    fn a_contract_is_kept_for_its_time_and_no_longer() {
        let cache = ContractCache::new(TTL, 10);
        let contract = worked_example_contract();
        let read_at = Instant::now();
        assert_eq!(cache.get(&contract.id, read_at), None);
        cache.remember(cache.generation(), contract.clone(), read_at);
        assert_eq!(cache.get(&contract.id, read_at + TTL - Duration::from_millis(1)), Some(contract.clone()));
        assert_eq!(cache.get(&contract.id, read_at + TTL), None);
    }

    #[test]
    fn a_read_that_raced_with_a_change_is_not_kept() {
        let cache = ContractCache::new(TTL, 10);
        let contract = worked_example_contract();
        let read_at = Instant::now();
        // A read takes its generation, the change commits and forgets, then the read finishes.
        let generation = cache.generation();
        cache.forget(&contract.id);
        cache.remember(generation, contract.clone(), read_at);
        assert_eq!(cache.get(&contract.id, read_at), None);
        // A read after the change is kept; forgetting drops it.
        cache.remember(cache.generation(), contract.clone(), read_at);
        assert_eq!(cache.get(&contract.id, read_at), Some(contract.clone()));
        cache.forget(&contract.id);
        assert_eq!(cache.get(&contract.id, read_at), None);
    }

    #[test]
    fn a_full_cache_makes_room_only_from_expired_contracts_and_none_keeps_nothing() {
        let read_at = Instant::now();
        let named = |name: &str| Contract { id: ContractId::parse(name).unwrap(), ..worked_example_contract() };
        let cache = ContractCache::new(TTL, 2);
        cache.remember(cache.generation(), named("a"), read_at);
        cache.remember(cache.generation(), named("b"), read_at);
        cache.remember(cache.generation(), named("c"), read_at);
        assert!(cache.get(&named("c").id, read_at).is_none(), "full of fresh contracts");
        assert!(cache.get(&named("a").id, read_at).is_some());
        let later = read_at + TTL;
        cache.remember(cache.generation(), named("c"), later);
        assert!(cache.get(&named("c").id, later).is_some(), "the expired ones made room");
        let off = ContractCache::new(Duration::ZERO, 2);
        off.remember(off.generation(), named("a"), read_at);
        assert!(off.get(&named("a").id, read_at).is_none());
    }
}
