//! The service against an independent model. `tests/model/settlement_model.rs` was written
//! from DESIGN.md alone (exact integers, no code shared with `src/domain`); here random
//! contracts are driven through the public API — periods of 1, 3 or 6 months, windows of 1–6
//! periods (the last one often cut short by the term), rates that are not round, late inputs
//! that correct open and closed windows, a run-off, motivation checks dated after their window
//! or recorded after it closed, intake below, at and above small minimums (so `PRO_RATA` shares
//! often land on half cents), savings below, between and above fees + cost — and every figure
//! of every statement must equal the model's, to the cent.
//!
//! `FLEXSETTLE_MODEL_CONTRACTS` sets how many contracts (default 200 per backend), and
//! `FLEXSETTLE_MODEL_SEED` the first seed; a disagreement names its seed, so
//! `FLEXSETTLE_MODEL_SEED=<seed> FLEXSETTLE_MODEL_CONTRACTS=1` replays it alone.

use std::collections::BTreeMap;

use chrono::{Datelike, Months, NaiveDate};
use flexsettle::domain::Role;
use flexsettle::grpc::api;

use crate::gonogo::{spawn_at, utrecht};
use crate::helpers::{Backend, TestApp, naive_date};
use crate::model::{self, Mode};

/// A small deterministic generator (xorshift64*): a seed always gives the same contract.
struct Random(u64);

impl Random {
    fn new(seed: u64) -> Random {
        // Spread small seeds over the state so neighbouring seeds differ from the first draw.
        Random(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % bound
    }

    fn between(&mut self, low: i64, high: i64) -> i64 {
        low + i64::try_from(self.below(u64::try_from(high - low + 1).unwrap())).unwrap()
    }

    fn index(&mut self, len: usize) -> usize {
        usize::try_from(self.below(u64::try_from(len).unwrap())).unwrap()
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

const START: &str = "2027-01-01";
const TERM_MONTHS: u32 = 12;
/// Rates that do not divide an hour into whole cents, and a few that do.
const RATES: [i64; 8] = [4_875, 5_020, 3_333, 360, 1_999, 6_001, 2_917, 125];

fn day_number(date: NaiveDate) -> i32 {
    date.num_days_from_ce()
}

fn from_day_number(day: i32) -> NaiveDate {
    NaiveDate::from_num_days_from_ce_opt(day).unwrap()
}

/// A random contract: the terms sent to the service, and the same contract as the model sees it.
struct Scenario {
    seed: u64,
    id: String,
    contract: api::Contract,
    /// (intercedent, rates as (from, cents)).
    intercedents: Vec<(String, Vec<(NaiveDate, i64)>)>,
    /// (registration, check date and the step before which it is recorded).
    candidates: Vec<(NaiveDate, Option<(NaiveDate, usize)>)>,
    model: model::Contract,
    /// First day of each statement's period.
    statement_periods: Vec<NaiveDate>,
}

fn scenario(seed: u64) -> Scenario {
    let mut random = Random::new(seed);
    let start: NaiveDate = START.parse().unwrap();
    let period_months = [1_u32, 3, 6][random.index(3)];
    let window_periods = 1 + random.index(6);
    let contract_periods = usize::try_from(TERM_MONTHS / period_months).unwrap();
    let full_periods = contract_periods.div_ceil(window_periods) * window_periods;
    let period_start = |index: usize| start + Months::new(period_months * u32::try_from(index).unwrap());
    let periods: Vec<model::PeriodSpan> = (0..=full_periods)
        .map(|index| model::PeriodSpan {
            start: day_number(period_start(index)),
            end: day_number(period_start(index + 1).pred_opt().unwrap()),
        })
        .take(full_periods)
        .collect();
    let contract_end = periods[contract_periods - 1].end;
    let fee = if random.chance(20) { 0 } else { random.between(0, 300_000) };
    let minimum = u32::try_from(random.between(0, 12)).unwrap();
    let mode = if random.chance(50) { Mode::ProRata } else { Mode::Full };

    // Intercedents, each with a first rate from the start and perhaps a raise later.
    let mut intercedents = Vec::new();
    let mut rates = Vec::new();
    for n in 0..1 + random.index(3) {
        let id = format!("int-{n}");
        let mut schedule = vec![(start, RATES[random.index(RATES.len())])];
        if random.chance(40) {
            let raise = from_day_number(
                random.between(i64::from(day_number(start)) + 1, i64::from(contract_end)).try_into().unwrap(),
            );
            schedule.push((raise, random.between(100, 10_000)));
        }
        for (from, cents) in &schedule {
            rates.push(model::Rate {
                intercedent: id.clone(),
                from_day: day_number(*from),
                cents_per_hour: (*cents).into(),
            });
        }
        intercedents.push((id, schedule));
    }

    // When an input of `period` is taken in: mostly by its own statement, sometimes late (by a
    // later one, or by the run-off after the term).
    let run_off = contract_periods;
    let taken_by = |random: &mut Random, period: usize| {
        if random.chance(70) { period } else { (period + 1 + random.index(3)).min(run_off) }
    };
    let mut hours = Vec::new();
    let mut day_minutes: BTreeMap<(usize, i32), i64> = BTreeMap::new();
    let cost_scale = [30, 300, 3_000][random.index(3)];
    for (period, span) in periods.iter().enumerate().take(contract_periods) {
        for _ in 0..random.index(5) {
            let who = random.index(intercedents.len());
            let day = i32::try_from(random.between(span.start.into(), span.end.into())).unwrap();
            let minutes = random.between(1, cost_scale.min(720));
            let booked = day_minutes.entry((who, day)).or_default();
            if *booked + minutes > 24 * 60 {
                continue;
            }
            *booked += minutes;
            let taken = taken_by(&mut random, period);
            hours.push(model::Hours {
                intercedent: intercedents[who].0.clone(),
                day,
                minutes: minutes.into(),
                taken_by: taken,
            });
        }
    }
    let mut savings = Vec::new();
    let savings_scale = [fee / 2 + 1, fee + 50_000, 3 * fee + 400_000][random.index(3)];
    for period in 0..contract_periods {
        for _ in 0..random.index(3) {
            let taken = taken_by(&mut random, period);
            savings.push(model::Saving { period, cents: random.between(1, savings_scale).into(), taken_by: taken });
        }
    }
    let statements = if hours.iter().any(|h| h.taken_by == run_off) || savings.iter().any(|s| s.taken_by == run_off) {
        contract_periods + 1
    } else {
        contract_periods
    };

    // Candidates around the minimum in each window; checks dated up to 40 days after
    // registration (so some fall after their window) and recorded at a random step (so some
    // arrive after their window closed).
    let windows = contract_periods.div_ceil(window_periods);
    let mut candidates = Vec::new();
    for window in 0..windows {
        let first = periods[window * window_periods].start;
        let last = periods[((window + 1) * window_periods).min(contract_periods) - 1].end;
        for _ in 0..random.between(0, i64::from(minimum) + 2) {
            let registered = i32::try_from(random.between(first.into(), last.into())).unwrap();
            let check = random.chance(85).then(|| {
                let checked = registered + i32::try_from(random.between(0, 40)).unwrap();
                (checked, random.index(statements + 1))
            });
            candidates.push((registered, check));
        }
    }

    let statement_periods = (0..statements).map(period_start).collect();
    let contract = api::Contract {
        gemeente: "GM0344".to_owned(),
        display_name: format!("model contract {seed}"),
        start_date: naive_date(start),
        term_months: i32::try_from(TERM_MONTHS).unwrap(),
        extension_option_months: 0,
        settlement_period_months: i32::try_from(period_months).unwrap(),
        intake_window_months: i32::try_from(period_months).unwrap() * i32::try_from(window_periods).unwrap(),
        service_fee_per_period_cents: fee,
        minimum_intake_per_window: i32::try_from(minimum).unwrap(),
        risk_shift_mode: if mode == Mode::ProRata { api::RiskShiftMode::ProRata } else { api::RiskShiftMode::Full }
            .into(),
        composition_target: Some(api::CompositionTarget { arrangement_1_percent: 15, arrangement_3_percent: 85 }),
        ..api::Contract::default()
    };
    let model = model::Contract {
        terms: model::Terms { fee_cents: fee.into(), minimum, mode, window_periods },
        periods,
        contract_periods,
        contract_end,
        rates,
        hours,
        savings,
        candidates: candidates
            .iter()
            .map(|(registered, check)| model::Candidate { registered: *registered, motivation: *check })
            .collect(),
        statements,
    };
    Scenario {
        seed,
        id: format!("model-{seed}"),
        contract,
        intercedents,
        candidates: candidates
            .into_iter()
            .map(|(registered, check)| {
                (from_day_number(registered), check.map(|(day, step)| (from_day_number(day), step)))
            })
            .collect(),
        model,
        statement_periods,
    }
}

/// Drives a scenario through the API, step by step: before statement k, the motivation checks
/// recorded at k and the inputs taken in by k are recorded and verified; then k is settled.
async fn run(app: &TestApp, scenario: &Scenario) -> Vec<api::Statement> {
    let parent = format!("contracts/{}", scenario.id);
    let tag = |what: &str| format!("{}-{what}", scenario.id);
    // Clients with fresh tokens: a long run outlives the harness's first token.
    let mut admin = app.client_as(Role::Admin);
    admin
        .create_contract(api::CreateContractRequest {
            request_id: tag("contract"),
            contract_id: scenario.id.clone(),
            contract: Some(scenario.contract.clone()),
        })
        .await
        .unwrap();
    for (id, schedule) in &scenario.intercedents {
        let hourly_rates = schedule
            .iter()
            .map(|(from, cents)| api::HourlyRate {
                effective_date: naive_date(*from),
                rate_per_hour_cents: *cents,
                ..Default::default()
            })
            .collect();
        admin
            .create_intercedent(api::CreateIntercedentRequest {
                request_id: tag(id),
                parent: parent.clone(),
                intercedent_id: id.clone(),
                intercedent: Some(api::Intercedent { hourly_rates, ..Default::default() }),
            })
            .await
            .unwrap();
    }
    let mut pool = app.pool_as(utrecht());
    for (n, (registered, _)) in scenario.candidates.iter().enumerate() {
        pool.register_candidate(api::RegisterCandidateRequest {
            request_id: tag(&format!("cand-{n}")),
            parent: parent.clone(),
            candidate_id: format!("cand-{n}"),
            candidate: Some(api::Candidate {
                arrangement: 3,
                registration_date: naive_date(*registered),
                ..Default::default()
            }),
        })
        .await
        .unwrap();
    }
    let (mut billing, mut gemeente) = (app.hours_as(Role::Billing), app.hours_as(utrecht()));
    let (mut billing_savings, mut gemeente_savings) = (app.savings_as(Role::Billing), app.savings_as(utrecht()));
    let mut settlement = crate::settlement::settlement_as(app, Role::Billing);
    let mut statements = Vec::new();
    for (step, period_start) in scenario.statement_periods.iter().enumerate() {
        for (n, (_, check)) in scenario.candidates.iter().enumerate() {
            if let Some((date, _)) = check.filter(|(_, recorded)| *recorded == step) {
                pool.record_candidate_event(api::RecordCandidateEventRequest {
                    request_id: tag(&format!("check-{n}")),
                    candidate: format!("{parent}/candidates/cand-{n}"),
                    event: Some(api::CandidateEvent {
                        kind: api::CandidateEventKind::MotivationCheck.into(),
                        date: naive_date(date),
                        detail: "consulent".to_owned(),
                        ..Default::default()
                    }),
                })
                .await
                .unwrap();
            }
        }
        let lines: Vec<api::HourLine> = scenario
            .model
            .hours
            .iter()
            .enumerate()
            .filter(|(_, hours)| hours.taken_by == step)
            .map(|(n, hours)| api::HourLine {
                intercedent_id: hours.intercedent.clone(),
                work_date: naive_date(from_day_number(hours.day)),
                kind: api::TimeKind::Work.into(),
                minutes: i64::try_from(hours.minutes).unwrap(),
                line_reference: format!("h-{n}"),
                note: String::new(),
            })
            .collect();
        if !lines.is_empty() {
            let entries = billing
                .submit_hours(api::SubmitHoursRequest {
                    request_id: tag(&format!("hours-{step}")),
                    parent: parent.clone(),
                    entries: lines,
                })
                .await
                .unwrap()
                .into_inner()
                .entries;
            gemeente
                .verify_hours(api::VerifyHoursRequest {
                    request_id: tag(&format!("verify-hours-{step}")),
                    parent: parent.clone(),
                    entries: entries.into_iter().map(|entry| entry.name).collect(),
                })
                .await
                .unwrap();
        }
        let mut records = Vec::new();
        for (n, saving) in scenario.model.savings.iter().enumerate().filter(|(_, saving)| saving.taken_by == step) {
            let record = api::SavingsRecord {
                period_start: naive_date(from_day_number(scenario.model.periods[saving.period].start)),
                amount_cents: i64::try_from(saving.cents).unwrap(),
                kind: api::SavingsKind::FullOutflow.into(),
                source_reference: format!("s-{n}"),
                certainty: api::SavingsCertainty::Definitive.into(),
                ..Default::default()
            };
            let name = billing_savings
                .submit_savings(api::SubmitSavingsRequest {
                    request_id: tag(&format!("savings-{n}")),
                    parent: parent.clone(),
                    savings: Some(record),
                })
                .await
                .unwrap()
                .into_inner()
                .name;
            records.push(name);
        }
        if !records.is_empty() {
            gemeente_savings
                .verify_savings(api::VerifySavingsRequest {
                    request_id: tag(&format!("verify-savings-{step}")),
                    parent: parent.clone(),
                    savings: records,
                })
                .await
                .unwrap();
        }
        let statement = settlement
            .settle_period(api::SettlePeriodRequest {
                request_id: tag(&format!("settle-{step}")),
                parent: parent.clone(),
                period_start: naive_date(*period_start),
            })
            .await
            .unwrap_or_else(|status| panic!("seed {}: settling step {step}: {status:?}", scenario.seed))
            .into_inner();
        statements.push(statement);
    }
    statements
}

/// A statement's figures in the model's terms, read off the API's message.
fn as_model(scenario: &Scenario, statement: &api::Statement) -> model::StatementFigures {
    let period_of = |date: &Option<flexsettle::grpc::proto::google::r#type::Date>| {
        let date = date.as_ref().unwrap();
        let day = day_number(
            NaiveDate::from_ymd_opt(date.year, u32::try_from(date.month).unwrap(), u32::try_from(date.day).unwrap())
                .unwrap(),
        );
        scenario.model.periods.iter().position(|span| span.start == day).unwrap()
    };
    let same_window = statement.corrections.iter().filter(|correction| correction.same_window);
    let own_cost: i64 = statement.cost_lines.iter().map(|line| line.cost_cents).sum();
    let closes = statement.closes_window;
    model::StatementFigures {
        period_cost: (own_cost + same_window.clone().map(|correction| correction.cost_cents).sum::<i64>()).into(),
        period_savings: (statement.savings_cents + same_window.map(|correction| correction.savings_cents).sum::<i64>())
            .into(),
        fee: statement.fee_cents.into(),
        cost_to_date: statement.cost_to_date_cents.into(),
        savings_to_date: statement.savings_to_date_cents.into(),
        fees_to_date: statement.fees_to_date_cents.into(),
        result_to_date: statement.result_to_date_cents.into(),
        covered_to_date: statement.covered_to_date_cents.into(),
        covered_this_period: statement.covered_this_period_cents.into(),
        uncovered_to_date: statement.uncovered_to_date_cents.into(),
        closes_window: closes,
        intake: closes.then(|| {
            (u32::try_from(statement.motivated_intake).unwrap(), u32::try_from(statement.minimum_intake).unwrap())
        }),
        shifted: statement.shifted_cents.into(),
        borne: statement.borne_cents.into(),
        window_net_balance: statement.window_net_balance_cents.into(),
        corrections: statement
            .corrections
            .iter()
            .map(|correction| model::Correction {
                period: period_of(&correction.period_start),
                cost: correction.cost_cents.into(),
                savings: correction.savings_cents.into(),
                same_window: correction.same_window,
                closed: correction.adjustment.map(|adjustment| {
                    (
                        adjustment.covered_cents.into(),
                        adjustment.shifted_cents.into(),
                        adjustment.borne_cents.into(),
                        adjustment.net_balance_cents.into(),
                    )
                }),
            })
            .collect(),
        net_balance: statement.net_balance_cents.into(),
    }
}

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|value| value.parse().ok()).unwrap_or(default)
}

/// How many contracts run at once against the one server.
const CONCURRENT_CONTRACTS: usize = 8;

async fn random_contracts_agree_with_the_independent_model(backend: Backend) {
    let count = setting("FLEXSETTLE_MODEL_CONTRACTS", 200);
    let first = setting("FLEXSETTLE_MODEL_SEED", 1);
    // The clock stands long after every period and run-off of a 2027 contract.
    let app = std::sync::Arc::new(spawn_at(backend, "2030-06-15T10:00:00Z").await);
    let seeds: Vec<u64> = (first..first + count).collect();
    let mut agreed = 0_usize;
    let (mut half_cents, mut cut_short, mut corrections) = (0_usize, 0_usize, 0_usize);
    for batch in seeds.chunks(CONCURRENT_CONTRACTS) {
        let mut running = tokio::task::JoinSet::new();
        for &seed in batch {
            let app = app.clone();
            running.spawn(async move {
                let scenario = scenario(seed);
                let statements = run(&app, &scenario).await;
                (scenario, statements)
            });
        }
        while let Some(finished) = running.join_next().await {
            let (scenario, statements) = finished.unwrap();
            let expected = model::settle_all(&scenario.model);
            assert_eq!(statements.len(), expected.len(), "seed {}", scenario.seed);
            for (step, (statement, expected)) in statements.iter().zip(&expected).enumerate() {
                assert_eq!(
                    as_model(&scenario, statement),
                    *expected,
                    "seed {} disagrees with the model at statement {step} ({}); replay it with \
                     FLEXSETTLE_MODEL_SEED={} FLEXSETTLE_MODEL_CONTRACTS=1",
                    scenario.seed,
                    statement.name,
                    scenario.seed
                );
                if let Some((motivated, minimum)) = expected.intake
                    && motivated < minimum
                    && scenario.model.terms.mode == Mode::ProRata
                    && (expected.uncovered_to_date * i128::from(minimum - motivated) * 2) % i128::from(minimum) == 0
                    && (expected.uncovered_to_date * i128::from(minimum - motivated)) % i128::from(minimum) != 0
                {
                    half_cents += 1;
                }
                corrections += expected.corrections.len();
            }
            if scenario.model.contract_periods % scenario.model.terms.window_periods != 0 {
                cut_short += 1;
            }
            agreed += 1;
            if agreed.is_multiple_of(1_000) {
                eprintln!("{agreed} random contracts agree with the model so far");
            }
        }
    }
    eprintln!(
        "{agreed} random contracts agree with the model ({corrections} correction lines, {half_cents} PRO_RATA \
         shares on a half cent, {cut_short} contracts with a window cut short)"
    );
    assert_eq!(agreed, usize::try_from(count).unwrap());
}

on_both!(random_contracts_agree_with_the_independent_model);

#[test]
fn the_scenarios_cover_what_the_model_must_be_checked_on() {
    // Over the CI's 200 seeds: every period length, windows cut short, late inputs of closed
    // windows, run-offs, and each intake outcome. (Half cents are counted in the run itself.)
    let scenarios: Vec<Scenario> = (1..=200).map(scenario).collect();
    let lengths: std::collections::BTreeSet<i32> =
        scenarios.iter().map(|s| s.contract.settlement_period_months).collect();
    assert_eq!(lengths.into_iter().collect::<Vec<_>>(), [1, 3, 6]);
    assert!(scenarios.iter().any(|s| s.model.contract_periods % s.model.terms.window_periods != 0));
    assert!(scenarios.iter().any(|s| s.model.statements > s.model.contract_periods), "a run-off");
    let outcomes: Vec<_> = scenarios
        .iter()
        .flat_map(|s| model::settle_all(&s.model))
        .filter_map(|figures| figures.intake)
        .map(|(motivated, minimum)| motivated.cmp(&minimum))
        .collect();
    for outcome in [std::cmp::Ordering::Less, std::cmp::Ordering::Equal, std::cmp::Ordering::Greater] {
        assert!(outcomes.contains(&outcome), "{outcome:?}");
    }
    assert!(
        scenarios
            .iter()
            .flat_map(|s| model::settle_all(&s.model))
            .flat_map(|figures| figures.corrections)
            .any(|correction| correction.closed.is_some()),
        "a correction of a closed window"
    );
}
