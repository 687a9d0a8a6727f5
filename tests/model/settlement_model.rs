// Independent reference model of the settlement arithmetic (DESIGN.md §3 R3–R6 and §4).
// Std only, no floats: money is i128 cents, exact rationals are numerator/denominator pairs.

use std::collections::{BTreeMap, BTreeSet};

/// R5: how uncovered cost shifts to the municipality when intake is below the minimum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// All uncovered cost shifts.
    Full,
    /// The fraction (minimum − intake) / minimum shifts, rounded once to cents.
    ProRata,
}

/// Days are plain day numbers (any consistent ordinal, e.g. days since 1970-01-01), inclusive ranges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeriodSpan {
    pub start: i32,
    pub end: i32,
}

/// Contract terms: fee per period, minimum intake per window (R5/R6), shift mode, window size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Terms {
    pub fee_cents: i128,
    pub minimum: u32,
    pub mode: Mode,
    pub window_periods: usize,
}

/// R3: an effective-dated hourly cost rate of an intercedent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rate {
    pub intercedent: String,
    pub from_day: i32,
    pub cents_per_hour: i128,
}

/// A verified hour entry (may be negative minutes: a correction). `taken_by` = index of the
/// statement that first takes it in (>= the index of the period its day falls in).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hours {
    pub intercedent: String,
    pub day: i32,
    pub minutes: i128,
    pub taken_by: usize,
}

/// Verified savings (may be negative) dated in period `period`, taken in by statement `taken_by` (>= period).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Saving {
    pub period: usize,
    pub cents: i128,
    pub taken_by: usize,
}

/// R6: a candidate registered on `registered`; `motivation` = Some((check_day, recorded_before)):
/// statements with index >= recorded_before know of the check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub registered: i32,
    pub motivation: Option<(i32, usize)>,
}

/// A contract with all its (verified) inputs; see the field docs for the period layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contract {
    pub terms: Terms,
    /// Contract periods first (`contract_periods` of them), then further periods completing the last window.
    pub periods: Vec<PeriodSpan>,
    pub contract_periods: usize,
    /// Last day of the contract (== periods[contract_periods-1].end).
    pub contract_end: i32,
    pub rates: Vec<Rate>,
    pub hours: Vec<Hours>,
    pub savings: Vec<Saving>,
    pub candidates: Vec<Candidate>,
    /// Statement k < contract_periods settles period k; later ones are run-off statements.
    pub statements: usize,
}

/// §4: a late input for an earlier period, carried as its own line by a later statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Correction {
    pub period: usize,
    pub cost: i128,
    pub savings: i128,
    pub same_window: bool,
    /// Closed window: (Δcovered, Δshifted, Δborne, net = Δcovered + Δshifted − cost).
    pub closed: Option<(i128, i128, i128, i128)>,
}

/// §4: every figure of one statement (cumulative within its window).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StatementFigures {
    /// Contribution to the window: own period's lines + same-window corrections.
    pub period_cost: i128,
    pub period_savings: i128,
    /// Fee of the period (0 for run-off).
    pub fee: i128,
    pub cost_to_date: i128,
    pub savings_to_date: i128,
    pub fees_to_date: i128,
    pub result_to_date: i128,
    pub covered_to_date: i128,
    pub covered_this_period: i128,
    pub uncovered_to_date: i128,
    pub closes_window: bool,
    /// (motivated, minimum) recorded by the closing statement.
    pub intake: Option<(u32, u32)>,
    /// R5 allocation at close; 0 otherwise.
    pub shifted: i128,
    pub borne: i128,
    /// fee + covered this period + shifted − contribution cost.
    pub window_net_balance: i128,
    pub corrections: Vec<Correction>,
    pub net_balance: i128,
}

/// §4/R5: exact rational numerator/denominator to an integer, half away from zero (denominator > 0).
pub fn round_half_away(numerator: i128, denominator: i128) -> i128 {
    assert!(denominator > 0, "denominator must be positive");
    let q = numerator / denominator; // truncates toward zero
    let r = numerator % denominator;
    if 2 * r.abs() >= denominator { q + numerator.signum() } else { q }
}

/// Exact ceiling of numerator/denominator for non-negative numerator, positive denominator (R6 pro-rating).
fn ceil_div(numerator: i128, denominator: i128) -> i128 {
    assert!(numerator >= 0 && denominator > 0);
    (numerator + denominator - 1) / denominator
}

/// Allocation of one window (R4/R5): returns (covered, uncovered, shifted, borne).
/// A negative cost counts as 0; `intake` = (motivated, minimum).
fn allocate(cost: i128, savings: i128, fees: i128, intake: (u32, u32), mode: Mode) -> (i128, i128, i128, i128) {
    let result = (savings - fees).max(0);
    let cost = cost.max(0);
    let covered = cost.min(result);
    let uncovered = cost - covered;
    let (motivated, minimum) = intake;
    let shifted = if motivated >= minimum {
        0
    } else {
        match mode {
            Mode::Full => uncovered,
            Mode::ProRata => round_half_away(uncovered * i128::from(minimum - motivated), i128::from(minimum)),
        }
    };
    (covered, uncovered, shifted, uncovered - shifted)
}

/// R3: the rate of `who` in force on `day` (greatest from_day <= day).
fn rate_for(c: &Contract, who: &str, day: i32) -> i128 {
    c.rates
        .iter()
        .filter(|r| r.intercedent == who && r.from_day <= day)
        .max_by_key(|r| r.from_day)
        .unwrap_or_else(|| panic!("no rate for {who} on day {day}"))
        .cents_per_hour
}

/// Index of the contract period containing `day`.
fn period_of(c: &Contract, day: i32) -> usize {
    let p = c.periods.iter().position(|s| s.start <= day && day <= s.end).expect("day outside all periods");
    assert!(p < c.contract_periods, "hours dated after the contract's end");
    p
}

/// Window w as days: (first day, last day within the contract, last day of the full window).
fn window_days(c: &Contract, w: usize) -> (i32, i32, i32) {
    let wp = c.terms.window_periods;
    let start = c.periods[w * wp].start;
    let full_end = c.periods[(w + 1) * wp - 1].end;
    (start, full_end.min(c.contract_end), full_end)
}

/// Number of contract periods in window w.
fn window_len(c: &Contract, w: usize) -> usize {
    let wp = c.terms.window_periods;
    ((w + 1) * wp).min(c.contract_periods) - w * wp
}

/// R6: (motivated intake known to statement k, minimum pro-rated by days and rounded up) of window w.
fn intake(c: &Contract, w: usize, k: usize) -> (u32, u32) {
    let (start, end, full_end) = window_days(c, w);
    let motivated = c
        .candidates
        .iter()
        .filter(|cand| start <= cand.registered && cand.registered <= end)
        .filter(|cand| matches!(cand.motivation, Some((check, rb)) if check <= end && rb <= k))
        .count() as u32;
    let min = i128::from(c.terms.minimum);
    let minimum = if end < full_end {
        ceil_div(min * i128::from(end - start + 1), i128::from(full_end - start + 1))
    } else {
        min
    };
    (motivated, u32::try_from(minimum).expect("minimum fits u32"))
}

/// Running totals of one window: everything settled into it so far, and its fixed intake once closed.
#[derive(Debug, Clone, Default)]
struct WindowState {
    cost: i128,
    savings: i128,
    covered_before: i128,
    intake: Option<(u32, u32)>,
}

/// Settles every statement 0..statements in order (§4, R3–R6); see the module rules.
pub fn settle_all(c: &Contract) -> Vec<StatementFigures> {
    let wp = c.terms.window_periods;
    let cp = c.contract_periods;
    assert!(wp > 0 && cp > 0 && c.periods.len() >= cp.div_ceil(wp) * wp);
    let fee = c.terms.fee_cents;
    let mode = c.terms.mode;

    // §4 cost lines: one per (taken_by, period, intercedent, rate), rounded once, then summed.
    let mut minutes: BTreeMap<(usize, usize, String, i128), i128> = BTreeMap::new();
    let mut has_input: BTreeSet<(usize, usize)> = BTreeSet::new();
    for h in &c.hours {
        let p = period_of(c, h.day);
        assert!(h.taken_by >= p, "hours taken in before their period");
        let rate = rate_for(c, &h.intercedent, h.day);
        *minutes.entry((h.taken_by, p, h.intercedent.clone(), rate)).or_default() += h.minutes;
        has_input.insert((h.taken_by, p));
    }
    let mut cost: BTreeMap<(usize, usize), i128> = BTreeMap::new();
    for ((k, p, _, rate), m) in &minutes {
        *cost.entry((*k, *p)).or_default() += round_half_away(m * rate, 60);
    }
    let mut savings: BTreeMap<(usize, usize), i128> = BTreeMap::new();
    for s in &c.savings {
        assert!(s.period < cp && s.taken_by >= s.period, "saving outside the contract or taken early");
        *savings.entry((s.taken_by, s.period)).or_default() += s.cents;
        has_input.insert((s.taken_by, s.period));
    }
    let cost_of = |k: usize, p: usize| cost.get(&(k, p)).copied().unwrap_or(0);
    let savings_of = |k: usize, p: usize| savings.get(&(k, p)).copied().unwrap_or(0);

    let mut windows = vec![WindowState::default(); cp.div_ceil(wp)];
    let mut out = Vec::with_capacity(c.statements);
    for k in 0..c.statements {
        let mut f = StatementFigures::default();
        let own_window = if k < cp { Some(k / wp) } else { None };
        let mut closed_net = 0;

        // Corrections of earlier periods, in period order.
        for p in 0..k.min(cp) {
            if !has_input.contains(&(k, p)) {
                continue;
            }
            let (cc, cs) = (cost_of(k, p), savings_of(k, p));
            let v = p / wp;
            let win = &mut windows[v];
            if own_window == Some(v) {
                win.cost += cc;
                win.savings += cs;
                f.period_cost += cc;
                f.period_savings += cs;
                f.corrections.push(Correction { period: p, cost: cc, savings: cs, same_window: true, closed: None });
            } else {
                let fees = fee * window_len(c, v) as i128;
                let fixed = win.intake.expect("a corrected earlier window is closed");
                let (cov0, _, sh0, bo0) = allocate(win.cost, win.savings, fees, fixed, mode);
                win.cost += cc;
                win.savings += cs;
                let (cov1, _, sh1, bo1) = allocate(win.cost, win.savings, fees, fixed, mode);
                let net = (cov1 - cov0) + (sh1 - sh0) - cc;
                closed_net += net;
                f.corrections.push(Correction {
                    period: p,
                    cost: cc,
                    savings: cs,
                    same_window: false,
                    closed: Some((cov1 - cov0, sh1 - sh0, bo1 - bo0, net)),
                });
            }
        }

        // The statement's own period (ordinary statements only).
        if let Some(w) = own_window {
            f.period_cost += cost_of(k, k);
            f.period_savings += savings_of(k, k);
            f.fee = fee;
            let win = &mut windows[w];
            win.cost += cost_of(k, k);
            win.savings += savings_of(k, k);
            f.cost_to_date = win.cost;
            f.savings_to_date = win.savings;
            f.fees_to_date = fee * (k - w * wp + 1) as i128;
            f.result_to_date = (f.savings_to_date - f.fees_to_date).max(0);
            f.covered_to_date = f.cost_to_date.max(0).min(f.result_to_date);
            f.uncovered_to_date = f.cost_to_date.max(0) - f.covered_to_date;
            f.covered_this_period = f.covered_to_date - win.covered_before;
            win.covered_before = f.covered_to_date;
            f.closes_window = k == w * wp + window_len(c, w) - 1;
            if f.closes_window {
                let got = intake(c, w, k);
                let (_, _, shifted, borne) = allocate(f.cost_to_date, f.savings_to_date, f.fees_to_date, got, mode);
                windows[w].intake = Some(got);
                f.intake = Some(got);
                f.shifted = shifted;
                f.borne = borne;
            }
            f.window_net_balance = f.fee + f.covered_this_period + f.shifted - f.period_cost;
        }
        f.net_balance = f.window_net_balance + closed_net;
        out.push(f);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
    fn day(y: i64, m: i64, d: i64) -> i32 {
        let y = if m <= 2 { y - 1 } else { y };
        let era = if y >= 0 { y } else { y - 399 } / 400;
        let yoe = y - era * 400;
        let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        (era * 146097 + doe - 719468) as i32
    }

    /// Calendar months of `year` starting at `first` (1-based), `n` of them (within the year).
    fn months(year: i64, first: i64, n: i64) -> Vec<PeriodSpan> {
        (first..first + n)
            .map(|m| {
                let end = if m == 12 { day(year + 1, 1, 1) } else { day(year, m + 1, 1) } - 1;
                PeriodSpan { start: day(year, m, 1), end }
            })
            .collect()
    }

    fn hrs(day: i32, minutes: i128, taken_by: usize) -> Hours {
        Hours { intercedent: "i1".into(), day, minutes, taken_by }
    }

    /// The DESIGN.md §4 worked example with `motivated` motivated candidates (plus 3 without a check).
    fn example(mode: Mode, motivated: usize) -> Contract {
        let mut candidates: Vec<Candidate> = (0..motivated)
            .map(|i| {
                let reg = day(2027, 1, 5) + (i as i32) * 2;
                Candidate { registered: reg, motivation: Some((reg + 2, (i % 3).min(2))) }
            })
            .collect();
        candidates.extend((0..3).map(|i| Candidate { registered: day(2027, 2, 1 + i), motivation: None }));
        Contract {
            terms: Terms { fee_cents: 125000, minimum: 30, mode, window_periods: 3 },
            periods: months(2027, 1, 3),
            contract_periods: 3,
            contract_end: day(2027, 3, 31),
            rates: vec![
                Rate { intercedent: "i1".into(), from_day: day(2027, 1, 1), cents_per_hour: 4875 },
                Rate { intercedent: "i1".into(), from_day: day(2027, 3, 1), cents_per_hour: 5020 },
            ],
            hours: vec![
                hrs(day(2027, 1, 11), 7000, 0),
                hrs(day(2027, 1, 12), 230, 0),
                hrs(day(2027, 2, 10), 6000, 1),
                hrs(day(2027, 3, 10), 6600, 2),
            ],
            savings: vec![
                Saving { period: 0, cents: 410000, taken_by: 0 },
                Saving { period: 1, cents: 980000, taken_by: 1 },
                Saving { period: 2, cents: 200000, taken_by: 2 },
            ],
            candidates,
            statements: 3,
        }
    }

    #[test]
    fn rounding_half_away_from_zero() {
        assert_eq!(round_half_away(412125, 30), 13738); // 13737.5
        assert_eq!(round_half_away(3 * 5, 6), 3); // 2.5
        assert_eq!(round_half_away(-3 * 5, 6), -3); // -2.5
        assert_eq!(round_half_away(1203, 2), 602); // 601.5
        assert_eq!(round_half_away(-1203, 2), -602);
        assert_eq!(round_half_away(1201, 2 * 1000), 1); // 0.6005
        assert_eq!(round_half_away(1499, 1000), 1);
        assert_eq!(round_half_away(-1499, 1000), -1);
        assert_eq!(round_half_away(7230 * 4875, 60), 587438); // 587437.5
        assert_eq!(round_half_away(0, 7), 0);
    }

    #[test]
    fn worked_example_every_column() {
        let s = settle_all(&example(Mode::Full, 24));
        let col = |g: fn(&StatementFigures) -> i128| s.iter().map(g).collect::<Vec<_>>();
        assert_eq!(col(|f| f.period_cost), [587438, 487500, 552200]);
        assert_eq!(col(|f| f.period_savings), [410000, 980000, 200000]);
        assert_eq!(col(|f| f.fee), [125000; 3]);
        assert_eq!(col(|f| f.cost_to_date), [587438, 1074938, 1627138]);
        assert_eq!(col(|f| f.savings_to_date), [410000, 1390000, 1590000]);
        assert_eq!(col(|f| f.fees_to_date), [125000, 250000, 375000]);
        assert_eq!(col(|f| f.result_to_date), [285000, 1140000, 1215000]);
        assert_eq!(col(|f| f.covered_to_date), [285000, 1074938, 1215000]);
        assert_eq!(col(|f| f.covered_this_period), [285000, 789938, 140062]);
        assert_eq!(col(|f| f.uncovered_to_date), [302438, 0, 412138]);
        assert_eq!(s.iter().map(|f| f.closes_window).collect::<Vec<_>>(), [false, false, true]);
        assert_eq!(s[2].intake, Some((24, 30)));
        assert_eq!((s[2].shifted, s[2].borne), (412138, 0));
        assert_eq!(col(|f| f.net_balance), [-177438, 427438, 125000]);
        assert_eq!(s.iter().map(|f| f.net_balance).sum::<i128>(), 375000);
        assert!(s.iter().all(|f| f.corrections.is_empty()));
    }

    #[test]
    fn worked_example_pro_rata_and_full_intake() {
        let s = settle_all(&example(Mode::ProRata, 24));
        assert_eq!((s[2].shifted, s[2].borne), (82428, 329710));
        assert_eq!(s[2].net_balance, -204710);
        assert_eq!(s.iter().map(|f| f.net_balance).sum::<i128>(), 45290);
        for mode in [Mode::Full, Mode::ProRata] {
            let s = settle_all(&example(mode, 30));
            assert_eq!(s[2].intake, Some((30, 30)));
            assert_eq!((s[2].shifted, s[2].borne), (0, 412138));
        }
    }

    #[test]
    fn late_minute_is_its_own_line() {
        let mut c = example(Mode::Full, 30);
        c.hours = vec![hrs(day(2027, 1, 20), 1, 0), hrs(day(2027, 1, 21), 1, 1)];
        c.savings.clear();
        let s = settle_all(&c);
        assert_eq!(s[0].period_cost, 81); // 81.25
        let corr = Correction { period: 0, cost: 81, savings: 0, same_window: true, closed: None };
        assert_eq!(s[1].corrections, vec![corr]); // not 163 - 81 = 82
        assert_eq!(s[1].period_cost, 81);
        assert_eq!(s[1].cost_to_date, 162);
    }

    #[test]
    fn cut_short_window_prorates_minimum_up() {
        let mut c = example(Mode::Full, 0);
        c.periods = months(2027, 1, 6);
        c.contract_periods = 4;
        c.contract_end = day(2027, 4, 30);
        c.statements = 4;
        let s = settle_all(&c);
        assert!(s[3].closes_window);
        assert_eq!(s[3].intake, Some((0, 10))); // ceil(30 × 30 / 91) = ceil(9.89)
        assert_eq!(s[3].fees_to_date, 125000);
    }

    /// One-period windows, minimum 2, ProRata; 100 cents a minute, fee 100.
    fn closed_window_contract() -> Contract {
        Contract {
            terms: Terms { fee_cents: 100, minimum: 2, mode: Mode::ProRata, window_periods: 1 },
            periods: vec![PeriodSpan { start: 0, end: 9 }, PeriodSpan { start: 10, end: 19 }],
            contract_periods: 2,
            contract_end: 19,
            rates: vec![Rate { intercedent: "i1".into(), from_day: 0, cents_per_hour: 6000 }],
            hours: vec![hrs(2, 10, 0), hrs(4, 3, 1)],
            savings: vec![Saving { period: 0, cents: 1500, taken_by: 2 }],
            // The second check is dated in window 0 but recorded only after its closing statement.
            candidates: vec![
                Candidate { registered: 1, motivation: Some((2, 0)) },
                Candidate { registered: 3, motivation: Some((5, 1)) },
            ],
            statements: 3,
        }
    }

    #[test]
    fn closed_window_correction_uses_recorded_intake() {
        let s = settle_all(&closed_window_contract());
        assert_eq!(s[0].intake, Some((1, 2)));
        assert_eq!((s[0].uncovered_to_date, s[0].shifted, s[0].borne), (1000, 500, 500));
        assert_eq!(s[0].net_balance, 100 + 500 - 1000);
        // Statement 1: own window has no inputs and no intake; 3 late minutes on closed window 0.
        assert_eq!(s[1].intake, Some((0, 2)));
        assert_eq!((s[1].period_cost, s[1].window_net_balance), (0, 100));
        let c1 = &s[1].corrections;
        assert_eq!(c1.len(), 1);
        assert_eq!((c1[0].period, c1[0].cost, c1[0].same_window), (0, 300, false));
        assert_eq!(c1[0].closed, Some((0, 150, 150, -150))); // recounted intake 2/2 would give (0, 0, 300, -300)
        assert_eq!(s[1].net_balance, -50);
        // Run-off: late savings cover the whole window cost; the shift and the burden are undone.
        assert_eq!((s[2].fee, s[2].closes_window, s[2].intake, s[2].window_net_balance), (0, false, None, 0));
        let c2 = &s[2].corrections;
        assert_eq!((c2.len(), c2[0].period, c2[0].cost, c2[0].savings), (1, 0, 0, 1500));
        assert_eq!(c2[0].closed, Some((1300, -650, -650, 650)));
        assert_eq!(s[2].net_balance, 650);
    }
}
