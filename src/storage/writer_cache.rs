//! What the writer remembers between its transactions of what submissions of hours are checked
//! against — a contract with its lifecycle, an intercedent's rate schedule, whether a period is
//! settled — so that a transaction of submissions does not read them again while they hold.
//!
//! "While they hold" is exact, not "fresh enough": every change to any of them is a call that
//! appends an audit entry in the same transaction, and the audit counter is read under the write
//! lock that orders every writer of every replica. What is remembered is the database's state
//! at one value of that counter; the first time a transaction consults it, it reads the counter
//! and forgets everything when the counter moved otherwise than by this writer's own
//! submissions (another replica's change, or anything else). Calls of other kinds may change
//! what is remembered: from the first such call in a transaction on, nothing is read from here
//! or kept, and at the end everything is forgotten; so it is after a rollback of the whole or of
//! a part (a savepoint may have taken audit entries with it).
//!
//! The counter only grows, and a value given out is never given again with other contents —
//! unless the database itself goes back (a restore to an earlier point, a failover to a standby
//! that lost commits). That breaks the writer's connections: its next transaction fails, and a
//! failed transaction forgets everything. Everything here is for the writer thread, inside its
//! transaction under the write lock; nothing else may consult it.

use std::collections::HashMap;

use chrono::NaiveDate;

use super::AnyConnection;
use crate::domain::{Contract, ContractId, IntercedentId, RateSchedule};
use crate::error::Error;

/// Remembered items of any one kind beyond which everything is forgotten (a bound on memory; a
/// writer serving more than this many contracts or intercedents reads them again).
const CAPACITY: usize = 65_536;

/// The writer's memory of what submissions are checked against (see the module's text).
#[derive(Debug, Default)]
pub struct WriterCache {
    /// The audit counter at which what is remembered was the database's state, when known.
    current_at: Option<i64>,
    /// The transaction under way.
    transaction: Transaction,
    contracts: HashMap<ContractId, Contract>,
    /// Each intercedent, by contract and name, with its rate schedule.
    rates: HashMap<(ContractId, String), (IntercedentId, RateSchedule)>,
    settled: HashMap<(ContractId, NaiveDate), bool>,
}

#[derive(Debug, Default)]
struct Transaction {
    /// The audit counter as this transaction found it, once read.
    found: Option<i64>,
    /// The last sequence number this transaction's submissions appended.
    appended: Option<i64>,
    /// A call that may change what is remembered ran, or part of the transaction was rolled back.
    unsure: bool,
}

impl WriterCache {
    /// Starts a transaction (after [`WriterCache::end`] of the one before, if any).
    pub(super) fn begin(&mut self) {
        self.transaction = Transaction::default();
    }

    /// A call that may change what is remembered runs in this transaction, or a part of the
    /// transaction was rolled back: nothing is read from here or kept until its end, and at
    /// the end everything is forgotten.
    pub(super) fn unsure(&mut self) {
        self.transaction.unsure = true;
        self.forget();
    }

    /// A call runs in this transaction: one that may change what is remembered (`leaves_it`
    /// false) sets the cache aside ([`WriterCache::unsure`]).
    pub(super) fn call_runs(&mut self, leaves_it: bool) {
        if !leaves_it {
            self.unsure();
        }
    }

    /// Notes the last audit sequence number that submissions of this transaction appended.
    pub(super) fn appended(&mut self, last: i64) {
        self.transaction.appended = Some(self.transaction.appended.map_or(last, |before| before.max(last)));
    }

    /// Ends the transaction: after a commit of submissions only, what is remembered holds at
    /// the counter they left; otherwise it is forgotten.
    pub(super) fn end(&mut self, committed: bool) {
        let transaction = std::mem::take(&mut self.transaction);
        match transaction.found {
            Some(found) if committed && !transaction.unsure => {
                self.current_at = Some(transaction.appended.map_or(found, |appended| appended.max(found)));
            }
            _ => self.forget(),
        }
    }

    fn forget(&mut self) {
        self.current_at = None;
        self.contracts.clear();
        self.rates.clear();
        self.settled.clear();
    }

    /// Compares the audit counter with the one what is remembered holds at, if this transaction
    /// has not yet: a caller whose reads answer faults as a call's refusal calls this first, so
    /// that a fault reading the counter fails the transaction instead.
    ///
    /// # Errors
    /// A storage fault.
    pub fn check(&mut self, connection: &mut AnyConnection) -> Result<(), Error> {
        self.usable(connection).map(|_| ())
    }

    /// Whether this transaction may read from here and keep what it reads: compares the audit
    /// counter with the one what is remembered holds at, once per transaction.
    fn usable(&mut self, connection: &mut AnyConnection) -> Result<bool, Error> {
        if self.transaction.unsure {
            return Ok(false);
        }
        if self.transaction.found.is_none() {
            let counter = super::audit::last_entry_seq(connection)?;
            if self.current_at != Some(counter) {
                self.forget();
            }
            self.transaction.found = Some(counter);
        }
        Ok(true)
    }

    /// The contract with its lifecycle (`contracts::get_contract`).
    ///
    /// # Errors
    /// [`Error::NotFound`], or a storage fault.
    pub fn contract(&mut self, connection: &mut AnyConnection, id: &ContractId) -> Result<Contract, Error> {
        if !self.usable(connection)? {
            return super::contracts::get_contract(connection, id);
        }
        if let Some(contract) = self.contracts.get(id) {
            return Ok(contract.clone());
        }
        let contract = super::contracts::get_contract(connection, id)?;
        self.make_room();
        self.contracts.insert(id.clone(), contract.clone());
        Ok(contract)
    }

    /// The intercedents of `contract` among `named` with their rate schedules
    /// (`contracts::intercedents_with_rates`). Names that are no intercedent are read every
    /// time (a refused line is no reason to remember anything).
    ///
    /// # Errors
    /// A storage fault.
    pub fn intercedents_with_rates(
        &mut self,
        connection: &mut AnyConnection,
        contract: &ContractId,
        named: Vec<String>,
    ) -> Result<HashMap<IntercedentId, RateSchedule>, Error> {
        if !self.usable(connection)? {
            return super::contracts::intercedents_with_rates(connection, contract, named);
        }
        let mut found = HashMap::with_capacity(named.len());
        let mut missing = Vec::new();
        for name in named {
            let key = (contract.clone(), name);
            match self.rates.get(&key) {
                Some((id, rates)) => {
                    found.insert(id.clone(), rates.clone());
                }
                None => missing.push(key.1),
            }
        }
        if missing.is_empty() {
            return Ok(found);
        }
        for (id, rates) in super::contracts::intercedents_with_rates(connection, contract, missing)? {
            self.make_room();
            self.rates.insert((contract.clone(), id.as_str().to_owned()), (id.clone(), rates.clone()));
            found.insert(id, rates);
        }
        Ok(found)
    }

    /// Whether a statement of the period starting `period_start` was issued
    /// (`statements::period_is_settled`).
    ///
    /// # Errors
    /// A storage fault.
    pub fn period_is_settled(
        &mut self,
        connection: &mut AnyConnection,
        contract: &ContractId,
        period_start: NaiveDate,
    ) -> Result<bool, Error> {
        if !self.usable(connection)? {
            return super::statements::period_is_settled(connection, contract, period_start);
        }
        let key = (contract.clone(), period_start);
        if let Some(settled) = self.settled.get(&key) {
            return Ok(*settled);
        }
        let settled = super::statements::period_is_settled(connection, contract, period_start)?;
        self.make_room();
        self.settled.insert(key, settled);
        Ok(settled)
    }

    /// Before keeping one more item: when any kind is full, forgets what is remembered (it
    /// holds at the same counter, empty).
    fn make_room(&mut self) {
        if [self.contracts.len(), self.rates.len(), self.settled.len()].into_iter().any(|kept| kept >= CAPACITY) {
            let current_at = self.current_at;
            self.forget();
            self.current_at = current_at;
        }
    }
}

#[cfg(test)]
mod tests {
    use diesel::Connection;
    use diesel_migrations::MigrationHarness;

    use super::*;

    fn database() -> AnyConnection {
        let mut sqlite = diesel::SqliteConnection::establish(":memory:").unwrap();
        sqlite.run_pending_migrations(super::super::SQLITE_MIGRATIONS).unwrap();
        AnyConnection::Sqlite(sqlite)
    }

    fn remember_settled(cache: &mut WriterCache) {
        let key = (ContractId::parse("kept").unwrap(), NaiveDate::from_ymd_opt(2027, 1, 1).unwrap());
        cache.settled.insert(key, true);
    }

    /// One transaction that consults the cache (reads the counter), then appends `appends`
    /// audit entries as a writer's submissions do, and commits.
    fn transaction(cache: &mut WriterCache, connection: &mut AnyConnection, appends: usize) {
        cache.begin();
        assert!(cache.usable(connection).unwrap());
        for _ in 0..appends {
            let last = super::super::audit::next_in_sequence(connection, "audit_log").unwrap();
            cache.appended(last);
        }
        cache.end(true);
    }

    #[test]
    fn what_is_remembered_holds_while_only_this_writers_submissions_move_the_counter() {
        let mut connection = database();
        let mut cache = WriterCache::default();
        transaction(&mut cache, &mut connection, 0);
        assert_eq!(cache.current_at, Some(0));
        remember_settled(&mut cache);
        // This writer's submissions append entries 1 and 2, twice over.
        transaction(&mut cache, &mut connection, 2);
        transaction(&mut cache, &mut connection, 2);
        assert_eq!((cache.current_at, cache.settled.len()), (Some(4), 1), "kept across its own appends");
        // Someone else appends entry 5: the next transaction forgets.
        super::super::audit::next_in_sequence(&mut connection, "audit_log").unwrap();
        transaction(&mut cache, &mut connection, 0);
        assert_eq!((cache.current_at, cache.settled.len()), (Some(5), 0), "forgotten when another moved the counter");
    }

    #[test]
    fn a_call_of_another_kind_a_partial_rollback_or_a_rollback_forgets_everything() {
        let mut connection = database();
        for end in ["unsure before", "unsure after", "rolled back", "never consulted"] {
            let mut cache = WriterCache::default();
            transaction(&mut cache, &mut connection, 0);
            remember_settled(&mut cache);
            cache.begin();
            match end {
                "unsure before" => {
                    cache.unsure();
                    assert!(!cache.usable(&mut connection).unwrap(), "set aside for the rest of the transaction");
                }
                "unsure after" => {
                    assert!(cache.usable(&mut connection).unwrap());
                    cache.unsure();
                }
                "rolled back" => assert!(cache.usable(&mut connection).unwrap()),
                _ => {}
            }
            cache.end(end != "rolled back");
            assert_eq!((cache.current_at, cache.settled.len()), (None, 0), "{end}");
        }
    }
}
