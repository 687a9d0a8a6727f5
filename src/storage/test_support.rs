//! Helpers of the storage module's own tests.

use diesel::Connection;
use diesel::connection::SimpleConnection;

/// Runs `check` on a database of its own (named after `purpose` and the process) on the
/// PostgreSQL server that `FLEXSETTLE_TEST_DATABASE_URL` names, and drops the database after.
/// Without that variable it does nothing, except in CI, which runs it on PostgreSQL.
pub(super) fn on_scratch_postgres(purpose: &str, check: impl FnOnce(diesel::PgConnection)) {
    let Ok(url) = std::env::var("FLEXSETTLE_TEST_DATABASE_URL") else {
        assert!(std::env::var_os("CI").is_none(), "CI runs this on PostgreSQL: set FLEXSETTLE_TEST_DATABASE_URL");
        return;
    };
    let name = format!("flexsettle_test_{purpose}_{}", std::process::id());
    let mut admin = diesel::PgConnection::establish(&url).unwrap();
    admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name}")).unwrap();
    admin.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
    let base = url.rsplit_once('/').map_or(url.as_str(), |(base, _)| base);
    check(diesel::PgConnection::establish(&format!("{base}/{name}")).unwrap());
    admin.batch_execute(&format!("DROP DATABASE {name} WITH (FORCE)")).unwrap();
}
