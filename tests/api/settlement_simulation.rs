//! A year of a contract driven by a seeded random schedule through the API: hours and savings
//! every month, some verified late, some dated in periods already settled, every month settled,
//! then a run-off. Whatever the schedule, the statements must take in every verified input
//! exactly once, and the balances must net to the fees minus what Flextensie bears when each
//! window is allocated from scratch with its intake outcome (DESIGN.md §4).

use std::collections::BTreeMap;

use flexsettle::domain::gonogo::allocate;
use flexsettle::domain::{Cents, RiskShiftMode, Role};
use flexsettle::grpc::api;

use crate::gonogo::{CONTRACT, date, utrecht, worked_example_with_intake};
use crate::helpers::{Backend, TestApp};

/// A small deterministic generator (xorshift64*): the schedule of a seed never changes.
struct Schedule(u64);

impl Schedule {
    fn below(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % bound
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// int-2's rate: 60.00 an hour, so whole hours cost whole cents and no rounding blurs a sum.
const RATE: i64 = 6_000;

struct Ledger {
    app: TestApp,
    schedule: Schedule,
    /// Verified cost and savings per month (1–12), as the inputs say.
    cost: BTreeMap<u32, i64>,
    savings: BTreeMap<u32, i64>,
    /// Hours per day recorded for int-2, to stay within 24 hours a day.
    day_hours: BTreeMap<(u32, u32), i64>,
    /// Submitted, not yet verified: (name, month, cents).
    pending: Vec<(String, u32, i64)>,
    next: u64,
}

impl Ledger {
    fn reference(&mut self) -> String {
        self.next += 1;
        format!("sim-{}", self.next)
    }

    /// Records hours of int-2 in `month`; verifies them now or leaves them pending.
    async fn hours(&mut self, month: u32) {
        let day = 1 + u32::try_from(self.schedule.below(28)).unwrap();
        let hours = 1 + i64::try_from(self.schedule.below(8)).unwrap();
        let recorded = self.day_hours.entry((month, day)).or_default();
        if *recorded + hours > 24 {
            return;
        }
        *recorded += hours;
        let reference = self.reference();
        let line = api::HourLine {
            intercedent_id: "int-2".to_owned(),
            work_date: date(&format!("2027-{month:02}-{day:02}")),
            kind: api::TimeKind::Work.into(),
            minutes: hours * 60,
            line_reference: reference.clone(),
            note: String::new(),
        };
        let request =
            api::SubmitHoursRequest { request_id: reference.clone(), parent: CONTRACT.to_owned(), entries: vec![line] };
        let entry =
            self.app.hours_as(Role::Billing).submit_hours(request).await.unwrap().into_inner().entries.remove(0);
        self.pending.push((entry.name, month, hours * RATE));
    }

    /// Records verified savings for `month`.
    async fn savings(&mut self, month: u32) {
        let amount = i64::try_from(self.schedule.below(250_000)).unwrap();
        let reference = self.reference();
        let record = api::SavingsRecord {
            period_start: date(&format!("2027-{month:02}-01")),
            amount_cents: amount,
            kind: api::SavingsKind::FullOutflow.into(),
            source_reference: reference.clone(),
            certainty: api::SavingsCertainty::Definitive.into(),
            ..Default::default()
        };
        let request = api::SubmitSavingsRequest {
            request_id: reference.clone(),
            parent: CONTRACT.to_owned(),
            savings: Some(record),
        };
        let name = self.app.savings_as(Role::Billing).submit_savings(request).await.unwrap().into_inner().name;
        let request = api::VerifySavingsRequest {
            request_id: format!("v-{reference}"),
            parent: CONTRACT.to_owned(),
            savings: vec![name],
        };
        self.app.savings_as(utrecht()).verify_savings(request).await.unwrap();
        *self.savings.entry(month).or_default() += amount;
    }

    /// Verifies the pending hours the schedule picks (all of them with `all`).
    async fn verify(&mut self, all: bool) {
        let mut chosen = Vec::new();
        let mut kept = Vec::new();
        for item in std::mem::take(&mut self.pending) {
            if all || self.schedule.chance(60) { chosen.push(item) } else { kept.push(item) }
        }
        self.pending = kept;
        if chosen.is_empty() {
            return;
        }
        let reference = self.reference();
        let request = api::VerifyHoursRequest {
            request_id: reference,
            parent: CONTRACT.to_owned(),
            entries: chosen.iter().map(|(name, _, _)| name.clone()).collect(),
        };
        self.app.hours_as(utrecht()).verify_hours(request).await.unwrap();
        for (_, month, cents) in chosen {
            *self.cost.entry(month).or_default() += cents;
        }
    }
}

async fn settle_month(app: &TestApp, year: i32, month: u32) -> Result<api::Statement, tonic::Status> {
    crate::settlement::settlement_as(app, Role::Billing)
        .settle_period(api::SettlePeriodRequest {
            request_id: format!("settle-{year}-{month}"),
            parent: CONTRACT.to_owned(),
            period_start: date(&format!("{year}-{month:02}-01")),
        })
        .await
        .map(tonic::Response::into_inner)
}

async fn a_year_of_random_inputs_settles_every_input_once_and_balances(backend: Backend, mode: api::RiskShiftMode) {
    for seed in [0x5EED_0001_u64, 0x5EED_0002, 0x5EED_0003] {
        // February 2028: every month of 2027 and January's run-off have ended.
        let app = crate::gonogo::spawn_at(backend, "2028-02-15T10:00:00Z").await;
        // Window 1's intake: below the minimum (24 of 30) or at it, by seed.
        worked_example_with_intake(&app, mode, if seed % 2 == 1 { 30 } else { 24 }).await;
        crate::settlement::add_intercedent(&app, "int-2", "2027-01-01", RATE).await;
        let mut ledger = Ledger {
            app,
            schedule: Schedule(seed),
            cost: BTreeMap::new(),
            savings: BTreeMap::new(),
            day_hours: BTreeMap::new(),
            pending: Vec::new(),
            next: 0,
        };
        // The worked example's own inputs, all verified.
        for (month, cost, savings) in [(1, 587_438, 410_000), (2, 487_500, 980_000), (3, 552_200, 200_000)] {
            *ledger.cost.entry(month).or_default() += cost;
            *ledger.savings.entry(month).or_default() += savings;
        }
        let mut statements = Vec::new();
        for month in 1..=12_u32 {
            for _ in 0..ledger.schedule.below(7) {
                ledger.hours(month).await;
            }
            if ledger.schedule.chance(60) {
                ledger.savings(month).await;
            }
            // Late inputs, dated in a month already settled (often in a closed window).
            if month > 1 && ledger.schedule.chance(50) {
                let earlier = 1 + u32::try_from(ledger.schedule.below(u64::from(month - 1))).unwrap();
                ledger.hours(earlier).await;
                if ledger.schedule.chance(40) {
                    ledger.savings(earlier).await;
                }
            }
            ledger.verify(false).await;
            statements.push(settle_month(&ledger.app, 2027, month).await.unwrap());
        }
        // Whatever is still pending is verified after the contract's last statement: a run-off
        // takes it in.
        ledger.verify(true).await;
        match settle_month(&ledger.app, 2028, 1).await {
            Ok(run_off) => statements.push(run_off),
            Err(status) => assert!(status.message().contains("no late input waits"), "{status:?}"),
        }

        // Every verified input is in exactly one statement.
        let settled_cost: i64 = statements
            .iter()
            .map(|s| {
                s.cost_lines.iter().map(|line| line.cost_cents).sum::<i64>()
                    + s.corrections.iter().map(|c| c.cost_cents).sum::<i64>()
            })
            .sum();
        let settled_savings: i64 = statements
            .iter()
            .map(|s| s.savings_cents + s.corrections.iter().map(|c| c.savings_cents).sum::<i64>())
            .sum();
        assert_eq!(settled_cost, ledger.cost.values().sum::<i64>(), "seed {seed:#x}");
        assert_eq!(settled_savings, ledger.savings.values().sum::<i64>(), "seed {seed:#x}");

        // Each window, allocated from scratch with its intake outcome, is what the statements
        // shifted in all; the balances net to the fees minus what Flextensie bears.
        let risk = if mode == api::RiskShiftMode::ProRata { RiskShiftMode::ProRata } else { RiskShiftMode::Full };
        let mut borne = 0;
        for window in 0..4_u32 {
            let months = 3 * window + 1..=3 * window + 3;
            let closing = &statements[usize::try_from(3 * window + 2).unwrap()];
            assert!(closing.closes_window);
            let sum = |by: &BTreeMap<u32, i64>| Cents::from_stored(months.clone().filter_map(|m| by.get(&m)).sum());
            let allocation = allocate(
                sum(&ledger.cost),
                sum(&ledger.savings),
                Cents::from_stored(375_000),
                u32::try_from(closing.motivated_intake).unwrap(),
                u32::try_from(closing.minimum_intake).unwrap(),
                risk,
            )
            .unwrap();
            let start = date(&format!("2027-{:02}-01", 3 * window + 1));
            let later_shifts: i64 = statements
                .iter()
                .flat_map(|s| &s.corrections)
                .filter_map(|c| c.adjustment.filter(|a| a.window_start == start))
                .map(|a| a.shifted_cents)
                .sum();
            assert_eq!(
                closing.shifted_cents + later_shifts,
                allocation.shifted.cents(),
                "seed {seed:#x} window {window}"
            );
            borne += allocation.borne.cents();
        }
        let balances: i64 = statements.iter().map(|s| s.net_balance_cents).sum();
        assert_eq!(balances, 12 * 125_000 - borne, "seed {seed:#x}");
        eprintln!(
            "seed {seed:#x}: {} statements, {} correction lines, {borne} cents borne",
            statements.len(),
            statements.iter().map(|s| s.corrections.len()).sum::<usize>()
        );
    }
}

async fn a_year_under_full(backend: Backend) {
    a_year_of_random_inputs_settles_every_input_once_and_balances(backend, api::RiskShiftMode::Full).await;
}

async fn a_year_under_pro_rata(backend: Backend) {
    a_year_of_random_inputs_settles_every_input_once_and_balances(backend, api::RiskShiftMode::ProRata).await;
}

on_both!(a_year_under_full, a_year_under_pro_rata);
