//! Statements that diesel would prepare afresh on every call, prepared once per connection and
//! reused instead.
//!
//! diesel caches a connection's prepared statements, except those it cannot bound: raw SQL
//! (`sql_query`) and, on SQLite, `IN` lists (one placeholder per value). The writer's hot reads
//! are exactly such statements, and on SQLite preparing them (parsing, planning) cost more than
//! running them. [`Reused`] marks a statement as safe to keep: its text is fixed, or its
//! placeholders number at most [`super::INSERT_CHUNK_ROWS`] (every list is read in chunks of that
//! size), so one connection keeps at most that many variants of it. On PostgreSQL a kept
//! statement is a named prepared statement: parsed once, its plan chosen by the server's usual
//! rules for prepared statements.

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
