//! The migration to statement bounds (`domain::inputs`) on a database that settled under the
//! old scheme, one `statement_inputs` row per input: every input stays in the statement it was
//! in, and the untaken ones wait for the next statement. On SQLite, and on PostgreSQL when
//! `FLEXSETTLE_TEST_DATABASE_URL` names one (as in CI).

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness};

use super::schema::{hour_decisions, savings_decisions, statements};
use super::{AnyConnection, POSTGRES_MIGRATIONS, SQLITE_MIGRATIONS};
use crate::domain::inputs::InputBounds;

const BOUNDS_MIGRATION: &str = "statement_bounds";

/// Runs the pending migrations, before the one named `stop` when given.
fn migrate<DB: diesel::backend::Backend>(
    connection: &mut impl MigrationHarness<DB>,
    source: EmbeddedMigrations,
    stop: Option<&str>,
) {
    for migration in connection.pending_migrations(source).unwrap() {
        if stop.is_some_and(|stop| migration.name().to_string().contains(stop)) {
            return;
        }
        connection.run_migration(&*migration).unwrap();
    }
}

fn migrate_any(connection: &mut AnyConnection, stop: Option<&str>) {
    match connection {
        AnyConnection::Postgresql(pg) => migrate(pg, POSTGRES_MIGRATIONS, stop),
        AnyConnection::Sqlite(sqlite) => migrate(sqlite, SQLITE_MIGRATIONS, stop),
    }
}

fn batch(connection: &mut AnyConnection, sql: &str) {
    match connection {
        AnyConnection::Postgresql(pg) => pg.batch_execute(sql),
        AnyConnection::Sqlite(sqlite) => sqlite.batch_execute(sql),
    }
    .unwrap();
}

fn day(text: &str) -> chrono::NaiveDate {
    text.parse().unwrap()
}

/// Ten audit entries; January settled in entry 4, February in 8, a run-off (April, after the
/// contract ended in March by a no-go) in 9. Hours: e1 January's; e2 dated January, decided
/// late, in February's; e3 February's; e4 dated March, cut off, never taken; e5 dated January,
/// decided after the run-off, untaken; e6 dated February, late, in the run-off; e7 rejected.
/// Savings: s1 January's; s2 dated February, decided late, untaken.
const LEGACY: &str = "
INSERT INTO contracts (id, gemeente, display_name, start_date, term_months, extension_option_months,
 settlement_period_months, intake_window_months, service_fee_per_period_cents, minimum_intake_per_window,
 risk_shift_mode, target_arrangement_1_percent, target_arrangement_3_percent, create_time)
VALUES ('c1', 'GM0344', 'Utrecht', '2027-01-01', 3, 0, 1, 3, 100, 0, 'FULL', 70, 30, '2026-12-01 00:00:00');
INSERT INTO audit_log (seq, recorded_at, principal_subject, principal_role, action, resource, request_id, payload)
VALUES
 (1, '2027-01-10 00:00:00', 'm', 'MUNICIPALITY', 'DecideHours', 'contracts/c1/hours/e1', 'r1', '{}'),
 (2, '2027-01-11 00:00:00', 'm', 'MUNICIPALITY', 'DecideHours', 'contracts/c1/hours/e4', 'r2', '{}'),
 (3, '2027-01-12 00:00:00', 'm', 'MUNICIPALITY', 'DecideSavings', 'contracts/c1/savings/s1', 'r3', '{}'),
 (4, '2027-02-01 00:00:00', 'b', 'BILLING', 'SettlePeriod', 'contracts/c1/statements/2027-01-01', 'r4', '{}'),
 (5, '2027-02-10 00:00:00', 'm', 'MUNICIPALITY', 'DecideHours', 'contracts/c1/hours/e2', 'r5', '{}'),
 (6, '2027-02-11 00:00:00', 'm', 'MUNICIPALITY', 'DecideHours', 'contracts/c1/hours/e3', 'r6', '{}'),
 (7, '2027-02-12 00:00:00', 'm', 'MUNICIPALITY', 'DecideHours', 'contracts/c1/hours/e7', 'r7', '{}'),
 (8, '2027-03-01 00:00:00', 'b', 'BILLING', 'SettlePeriod', 'contracts/c1/statements/2027-02-01', 'r8', '{}'),
 (9, '2027-05-01 00:00:00', 'b', 'BILLING', 'SettlePeriod', 'contracts/c1/statements/2027-04-01', 'r9', '{}'),
 (10, '2027-05-02 00:00:00', 'm', 'MUNICIPALITY', 'DecideHours', 'contracts/c1/hours/e5', 'r10', '{}');
UPDATE sequences SET last_value = 10 WHERE name = 'audit_log';
INSERT INTO statements (contract_id, period_start, number, content, content_sha256, settled_by, create_time) VALUES
 ('c1', '2027-01-01', 'GM-1', '{\"run_off\":false}', 'x', 'b', '2027-02-01 00:00:00'),
 ('c1', '2027-02-01', 'GM-2', '{\"run_off\":false}', 'x', 'b', '2027-03-01 00:00:00'),
 ('c1', '2027-04-01', 'GM-3', '{\"run_off\":true}', 'x', 'b', '2027-05-01 00:00:00');
INSERT INTO hour_decisions (contract_id, entry_id, verdict, decided_by, decide_time, reason) VALUES
 ('c1', 'e1', 'VERIFIED', 'm', '2027-01-10 00:00:00', NULL),
 ('c1', 'e2', 'VERIFIED', 'm', '2027-02-10 00:00:00', NULL),
 ('c1', 'e3', 'VERIFIED', 'm', '2027-02-11 00:00:00', NULL),
 ('c1', 'e4', 'VERIFIED', 'm', '2027-01-11 00:00:00', NULL),
 ('c1', 'e5', 'VERIFIED', 'm', '2027-05-02 00:00:00', NULL),
 ('c1', 'e6', 'VERIFIED', 'm', '2027-04-20 00:00:00', NULL),
 ('c1', 'e7', 'REJECTED', 'm', '2027-02-12 00:00:00', 'no');
INSERT INTO savings_decisions (contract_id, record_id, verdict, decided_by, decide_time, reason) VALUES
 ('c1', 's1', 'VERIFIED', 'm', '2027-01-12 00:00:00', NULL),
 ('c1', 's2', 'VERIFIED', 'm', '2027-05-02 00:00:00', NULL);
INSERT INTO statement_inputs (contract_id, kind, input_id, statement_period_start) VALUES
 ('c1', 'HOURS', 'e1', '2027-01-01'),
 ('c1', 'HOURS', 'e2', '2027-02-01'),
 ('c1', 'HOURS', 'e3', '2027-02-01'),
 ('c1', 'HOURS', 'e6', '2027-04-01'),
 ('c1', 'SAVINGS', 's1', '2027-01-01');
";

fn check_legacy_migration(connection: &mut AnyConnection, foreign_keys_off: &str, foreign_keys_on: &str) {
    migrate_any(connection, Some(BOUNDS_MIGRATION));
    // The rows alone, without the contract, entries and records they refer to.
    batch(connection, foreign_keys_off);
    batch(connection, LEGACY);
    batch(connection, foreign_keys_on);
    migrate_any(connection, None);

    let issued: Vec<(chrono::NaiveDate, chrono::NaiveDate, i64)> = statements::table
        .order(statements::period_start.asc())
        .select((statements::period_start, statements::inputs_until, statements::inputs_through))
        .load(connection)
        .unwrap();
    let bounds: Vec<InputBounds> = issued.iter().map(|&(_, until, through)| InputBounds { until, through }).collect();
    assert_eq!(
        bounds,
        [
            InputBounds { until: day("2027-01-01"), through: 3 },
            InputBounds { until: day("2027-02-01"), through: 7 },
            InputBounds { until: day("2027-02-01"), through: 8 },
        ]
    );
    let taken_by = |period: &str, decided_in: i64| {
        InputBounds::taken_by(&bounds, day(period), decided_in).map(|index| issued[index].0.to_string())
    };
    let hours: Vec<(String, i64)> = hour_decisions::table
        .order(hour_decisions::entry_id.asc())
        .select((hour_decisions::entry_id, hour_decisions::decision_seq))
        .load(connection)
        .unwrap();
    let periods = ["2027-01-01", "2027-01-01", "2027-02-01", "2027-03-01", "2027-01-01", "2027-02-01", "2027-02-01"];
    let expected = [Some("2027-01-01"), Some("2027-02-01"), Some("2027-02-01"), None, None, Some("2027-04-01")];
    for ((entry, decided_in), (period, statement)) in hours.iter().zip(periods.iter().zip(expected)) {
        assert_eq!(taken_by(period, *decided_in).as_deref(), statement, "{entry}");
    }
    let savings: Vec<(String, i64)> = savings_decisions::table
        .order(savings_decisions::record_id.asc())
        .select((savings_decisions::record_id, savings_decisions::decision_seq))
        .load(connection)
        .unwrap();
    assert_eq!(taken_by("2027-01-01", savings[0].1).as_deref(), Some("2027-01-01"));
    assert_eq!(taken_by("2027-02-01", savings[1].1), None);
    // The next statement (another run-off, decided through entry 11) takes the late ones in,
    // and not the cut-off March hours.
    let next = InputBounds { until: day("2027-02-01"), through: 11 };
    let latest = bounds.last().copied();
    assert!(next.take(latest, day("2027-01-01"), hours[4].1));
    assert!(next.take(latest, day("2027-02-01"), savings[1].1));
    assert!(!next.take(latest, day("2027-03-01"), hours[3].1));
    assert!(!next.take(latest, day("2027-01-01"), hours[0].1));
}

#[test]
fn statement_bounds_keep_every_input_of_a_legacy_sqlite_database_in_its_statement() {
    let mut connection = AnyConnection::Sqlite(diesel::SqliteConnection::establish(":memory:").unwrap());
    check_legacy_migration(&mut connection, "PRAGMA foreign_keys = OFF;", "PRAGMA foreign_keys = ON;");
}

#[test]
fn statement_bounds_keep_every_input_of_a_legacy_postgresql_database_in_its_statement() {
    super::test_support::on_scratch_postgres("migration", |pg| {
        check_legacy_migration(
            &mut AnyConnection::Postgresql(pg),
            "SET session_replication_role = replica;",
            "SET session_replication_role = origin;",
        );
    });
}
