//! Which inputs a statement took in, described by two numbers instead of one row per input.
//!
//! Every decision on an hour entry or savings record is recorded with the sequence number of
//! the audit entry that records it, and the audit log orders every change of every replica.
//! A statement takes in the verified inputs dated up to the period starting `until` and decided
//! in audit entries up to `through` that no earlier statement took. Statements of a contract
//! are issued one after another in period order, so both bounds only grow from one statement to
//! the next (a run-off statement keeps the contract's last period as `until`). Hence:
//!
//! - an input falls within some earlier statement's bounds exactly when it falls within the
//!   latest statement's bounds (that one has the largest of both), so the inputs a new
//!   statement takes in are those within its own bounds and outside the latest one's;
//! - the statement that took an input is the first one whose bounds hold it.
//!
//! The tests below check this against a direct simulation of settling, with late inputs
//! (decided after their period was settled) and pending ones (decided after later periods).

use chrono::NaiveDate;

/// The bounds of the inputs a statement took in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct InputBounds {
    /// First day of the last period whose inputs it takes in.
    pub until: NaiveDate,
    /// The last audit entry whose decisions it takes in.
    pub through: i64,
}

impl InputBounds {
    /// Whether an input of the period starting `period_start`, decided in audit entry
    /// `decided_in`, lies within these bounds.
    #[must_use]
    pub fn hold(self, period_start: NaiveDate, decided_in: i64) -> bool {
        period_start <= self.until && decided_in <= self.through
    }

    /// Whether a statement with these bounds, issued after one with `latest`, takes in the
    /// verified input: within these bounds and outside the latest's.
    #[must_use]
    pub fn take(self, latest: Option<InputBounds>, period_start: NaiveDate, decided_in: i64) -> bool {
        self.hold(period_start, decided_in) && !latest.is_some_and(|latest| latest.hold(period_start, decided_in))
    }

    /// The statement (an index into `issued`, which is in period order) that took in a
    /// verified input, if any did.
    #[must_use]
    pub fn taken_by(issued: &[InputBounds], period_start: NaiveDate, decided_in: i64) -> Option<usize> {
        issued.iter().position(|bounds| bounds.hold(period_start, decided_in))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn period(index: u8) -> NaiveDate {
        NaiveDate::from_ymd_opt(2027, u32::from(index % 12) + 1, 1).unwrap_or(NaiveDate::MIN)
    }

    /// One step of a contract's life: an input of a period is decided (verified or not), or
    /// the next period is settled (a run-off keeps the last period as its bound).
    #[derive(Debug, Clone)]
    enum Step {
        Decide { period: u8, verified: bool },
        Settle { run_off: bool },
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            3 => (0_u8..12, any::<bool>()).prop_map(|(period, verified)| Step::Decide { period, verified }),
            1 => any::<bool>().prop_map(|run_off| Step::Settle { run_off }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]

        /// Settling by hand — each statement takes every verified input dated up to its period
        /// that no statement took — gives the same statement for every input as the bounds.
        #[test]
        fn bounds_name_the_inputs_each_statement_took(steps in proptest::collection::vec(step(), 0..80)) {
            // (period, audit entry, verified, taken by) of each input, by hand.
            let mut inputs: Vec<(NaiveDate, i64, bool, Option<usize>)> = Vec::new();
            let mut issued: Vec<InputBounds> = Vec::new();
            let mut audit = 0_i64;
            let mut next_period = 0_u8;
            for step in steps {
                audit += 1;
                match step {
                    Step::Decide { period: index, verified } => inputs.push((period(index), audit, verified, None)),
                    Step::Settle { run_off } => {
                        let until = if run_off && next_period > 0 {
                            issued.last().map_or(period(0), |latest| latest.until)
                        } else if next_period < 12 {
                            next_period += 1;
                            period(next_period - 1)
                        } else {
                            continue;
                        };
                        // The statement's own audit entry is `audit`: it takes decisions before it.
                        let bounds = InputBounds { until, through: audit - 1 };
                        let statement = issued.len();
                        for input in &mut inputs {
                            if input.2 && input.3.is_none() && input.0 <= until {
                                // The bounds of the new statement against the latest one's.
                                prop_assert!(bounds.take(issued.last().copied(), input.0, input.1));
                                input.3 = Some(statement);
                            } else if input.2 {
                                prop_assert!(!bounds.take(issued.last().copied(), input.0, input.1));
                            }
                        }
                        issued.push(bounds);
                    }
                }
            }
            for (period_start, decided_in, verified, taken_by) in inputs {
                if verified {
                    prop_assert_eq!(InputBounds::taken_by(&issued, period_start, decided_in), taken_by);
                }
            }
        }
    }

    #[test]
    fn a_late_input_goes_to_the_next_statement_and_a_future_one_waits_for_its_period() {
        let january = InputBounds { until: period(0), through: 10 };
        let february = InputBounds { until: period(1), through: 20 };
        // Decided before January was settled, dated in January: January's.
        assert_eq!(InputBounds::taken_by(&[january, february], period(0), 5), Some(0));
        // Dated in January, decided after: a correction in February's statement.
        assert!(february.take(Some(january), period(0), 15));
        assert_eq!(InputBounds::taken_by(&[january, february], period(0), 15), Some(1));
        // Dated in March, decided early: no statement yet.
        assert!(!february.take(Some(january), period(2), 3));
        assert_eq!(InputBounds::taken_by(&[january, february], period(2), 3), None);
        // Decided after February was settled: waits for the next statement.
        assert_eq!(InputBounds::taken_by(&[january, february], period(1), 21), None);
    }
}
