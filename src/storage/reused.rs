//! Statements that diesel would prepare afresh on every call, prepared once per connection and
//! reused instead.
//!
//! diesel caches a connection's prepared statements, except those it cannot bound: raw SQL
//! (`sql_query`) and, on SQLite, `IN` lists (one placeholder per value). The writer's hot reads
//! are exactly such statements, and on SQLite preparing them (parsing, planning) cost more than
//! running them. [`Reused`] marks a statement as safe to keep: its text is fixed, or it grows
//! with a list that [`padded`] brings to one of 22 lengths, so one connection keeps at most 22
//! forms of it (diesel's cache has no bound of its own). On PostgreSQL a kept
//! statement is a named prepared statement: parsed once, its plan chosen by the server's usual
//! rules for prepared statements.
//!
//! A kept statement must be run by value — `load`, `get_result`, `get_results` — never with
//! `execute`: diesel passes an executed statement on by reference, and a reference does not
//! forward [`Reused`]'s answer, so the statement would be prepared afresh on every run (on
//! PostgreSQL one more round trip). Statements that change rows therefore end in `RETURNING`
//! (see [`Counted`]).

use diesel::QueryResult;
use diesel::backend::Backend;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};

/// A statement whose text takes a bounded number of forms, kept prepared once run.
#[derive(Debug, Clone)]
pub(crate) struct Reused<Q>(pub(crate) Q);

/// Marks `query` as one to keep prepared (see the module's documentation).
pub(crate) fn reused<Q>(query: Q) -> Reused<Q> {
    Reused(query)
}

impl<Q> QueryId for Reused<Q> {
    type QueryId = ();
    // Kept by its text and bind types, not by its Rust type: its text varies with list lengths.
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Q: Query> Query for Reused<Q> {
    type SqlType = Q::SqlType;
}

impl<DB: Backend, Q: QueryFragment<DB>> QueryFragment<DB> for Reused<Q> {
    fn walk_ast<'b>(&'b self, pass: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        self.0.walk_ast(pass)
    }

    fn is_safe_to_cache_prepared(&self, _backend: &DB) -> QueryResult<bool> {
        Ok(true)
    }
}

impl<Q, Conn> diesel::RunQueryDsl<Conn> for Reused<Q> {}

/// How many rows a kept statement changed: what it returns as `rows` (PostgreSQL: one row with
/// the count; SQLite: one row per row changed, counted by the caller).
#[derive(Debug, diesel::QueryableByName)]
pub(crate) struct Counted {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub(crate) rows: i64,
}

impl Counted {
    /// Checks that the statement changed `expected` rows.
    ///
    /// # Errors
    /// A fault naming both counts when it did not.
    pub(crate) fn expect(&self, expected: usize) -> QueryResult<()> {
        expect_changed(usize::try_from(self.rows).ok(), expected)
    }
}

/// Checks that a statement changed `expected` rows (`changed`: `None` when its count made no
/// sense).
///
/// # Errors
/// A fault naming both counts when it did not.
pub(crate) fn expect_changed(changed: Option<usize>, expected: usize) -> QueryResult<()> {
    match changed {
        Some(changed) if changed == expected => Ok(()),
        changed => Err(diesel::result::Error::DeserializationError(
            format!(
                "a statement changed {} rows instead of {expected}",
                changed.map_or_else(|| "an impossible number of".to_owned(), |changed| changed.to_string())
            )
            .into(),
        )),
    }
}

/// `chunk` (at most [`super::INSERT_CHUNK_ROWS`] items) lengthened by repeating its last item to
/// one of 22 lengths — every length up to 8, multiples of 8 up to 64, multiples of 64 up to the
/// chunk size — so that a kept statement whose text grows with the list (an `IN` list, or a
/// `VALUES` list on SQLite) takes few forms, at the cost of at most 63 repeated items. Only for
/// lists whose repeats change nothing: `IN` lists, and rows read into a map by their key.
pub(crate) fn padded<T: Clone>(chunk: &[T]) -> Vec<T> {
    let length = chunk.len();
    let target = if length <= 8 {
        length
    } else if length <= 64 {
        length.div_ceil(8) * 8
    } else {
        (length.div_ceil(64) * 64).min(super::INSERT_CHUNK_ROWS.max(length))
    };
    let mut padded = chunk.to_vec();
    if let Some(last) = chunk.last() {
        padded.resize(target, last.clone());
    }
    padded
}

/// Runs `sql`, kept prepared, on PostgreSQL with `$1` the contract and `$2` the names (a text
/// array): the shape of the writer's lookups by name, each name one lookup by key
/// (`hours::get_entries`, `contracts::intercedents_with_rates`).
///
/// # Errors
/// A storage fault.
pub(crate) fn by_name_on_postgresql<R: diesel::QueryableByName<diesel::pg::Pg> + 'static>(
    pg: &mut diesel::PgConnection,
    sql: &'static str,
    contract: &str,
    names: &[&str],
) -> QueryResult<Vec<R>> {
    use diesel::RunQueryDsl;
    use diesel::sql_types::{Array, Text};
    reused(diesel::sql_query(sql).bind::<Text, _>(contract).bind::<Array<Text>, _>(names)).load(pg)
}

/// `items` in chunks of at most [`super::INSERT_CHUNK_ROWS`], each [`padded`]: the lists of a
/// kept `IN` statement.
pub(crate) fn padded_chunks<T: Clone>(items: &[T]) -> impl Iterator<Item = Vec<T>> + '_ {
    items.chunks(super::INSERT_CHUNK_ROWS).map(padded)
}

#[cfg(test)]
mod tests {
    use super::padded;

    #[test]
    fn lists_take_at_most_22_lengths_and_keep_their_items() {
        let lengths: std::collections::BTreeSet<usize> =
            (1..=super::super::INSERT_CHUNK_ROWS).map(|length| padded(&vec![0_u8; length]).len()).collect();
        assert_eq!(lengths.len(), 22, "{lengths:?}");
        for length in [1, 7, 9, 64, 65, 449, 500] {
            let items: Vec<usize> = (0..length).collect();
            let padded = padded(&items);
            assert!(padded.len() >= length && padded.len() < length + 64);
            assert_eq!(&padded[..length], &items[..]);
            assert!(padded[length..].iter().all(|item| *item == length - 1));
        }
        assert!(padded::<u8>(&[]).is_empty());
    }
}
