//! A contract and its terms (DESIGN.md §3 R1, R5, R7 and §4).

use chrono::{DateTime, Datelike, Months, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::{CbsCode, Cents, ContractId, RawDate, Violations, parse_date};

/// Longest display name of a contract, in characters.
pub const DISPLAY_NAME_LEN_MAX: usize = 200;
/// Longest term or extension option, in months.
pub const TERM_MONTHS_MAX: u32 = 60;
/// Longest intake window, in months.
pub const INTAKE_WINDOW_MONTHS_MAX: u32 = 60;
/// Largest minimum intake per window.
pub const MINIMUM_INTAKE_MAX: u32 = 100_000;
/// The settlement period lengths a contract may choose, in months.
pub const SETTLEMENT_PERIOD_MONTHS_ALLOWED: [u32; 3] = [1, 3, 6];

/// How uncovered cost shifts to the municipality when intake stays below the minimum (R5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RiskShiftMode {
    /// All of the uncovered cost shifts.
    Full,
    /// The fraction (minimum − intake) / minimum shifts; Flextensie bears the rest.
    ProRata,
}

impl RiskShiftMode {
    /// The stable name used in storage and in the canonical encoding.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            RiskShiftMode::Full => "FULL",
            RiskShiftMode::ProRata => "PRO_RATA",
        }
    }

    /// Parses a stable name.
    ///
    /// # Errors
    /// A description of the allowed names.
    pub fn parse(raw: &str) -> Result<RiskShiftMode, String> {
        match raw {
            "FULL" => Ok(RiskShiftMode::Full),
            "PRO_RATA" => Ok(RiskShiftMode::ProRata),
            other => Err(format!("must be FULL or PRO_RATA, got {other:?}")),
        }
    }
}

/// The required pool composition, in whole percent adding up to 100 (R7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CompositionTarget {
    arrangement_1_percent: u32,
    arrangement_3_percent: u32,
}

impl CompositionTarget {
    /// Parses a target.
    ///
    /// # Errors
    /// The violations, with fields named relative to the target.
    pub fn parse(arrangement_1_percent: i64, arrangement_3_percent: i64) -> Result<Self, Violations> {
        let mut violations = Violations::new();
        let percent = |value: i64| {
            u32::try_from(value)
                .ok()
                .filter(|&percent| percent <= 100)
                .ok_or_else(|| format!("must be a whole percentage from 0 to 100, got {value}"))
        };
        let one = violations.check("arrangement_1_percent", percent(arrangement_1_percent));
        let three = violations.check("arrangement_3_percent", percent(arrangement_3_percent));
        if let (Some(one), Some(three)) = (one, three) {
            if one + three != 100 {
                violations.add(
                    "arrangement_3_percent",
                    format!("arrangement 1 and 3 shares must add up to 100, got {one} + {three}"),
                );
            }
            return violations
                .into_result(|| CompositionTarget { arrangement_1_percent: one, arrangement_3_percent: three });
        }
        Err(violations)
    }

    /// Target share of arrangement 1, in percent.
    #[must_use]
    pub fn arrangement_1_percent(self) -> u32 {
        self.arrangement_1_percent
    }

    /// Target share of arrangement 3, in percent.
    #[must_use]
    pub fn arrangement_3_percent(self) -> u32 {
        self.arrangement_3_percent
    }
}

/// The terms of a contract exactly as a client sent them, before they are checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContractTermsInput {
    /// CBS code of the municipality.
    pub gemeente: String,
    /// Human-readable title.
    pub display_name: String,
    /// First day of the contract.
    pub start_date: Option<RawDate>,
    /// Term in months.
    pub term_months: i64,
    /// Extension option in months.
    pub extension_option_months: i64,
    /// Settlement period in months.
    pub settlement_period_months: i64,
    /// Intake window in months.
    pub intake_window_months: i64,
    /// Service fee per period, in cents.
    pub service_fee_per_period_cents: i64,
    /// Minimum motivated intake per window.
    pub minimum_intake_per_window: i64,
    /// Risk-shift mode, `None` when the client left it unspecified.
    pub risk_shift_mode: Option<RiskShiftMode>,
    /// Composition target as (arrangement 1, arrangement 3) percent; `None` when absent.
    pub composition_target: Option<(i64, i64)>,
}

/// The checked terms of a contract. Fixed once the contract exists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContractTerms {
    gemeente: CbsCode,
    display_name: String,
    start_date: NaiveDate,
    term_months: u32,
    extension_option_months: u32,
    settlement_period_months: u32,
    intake_window_months: u32,
    service_fee_per_period: Cents,
    minimum_intake_per_window: u32,
    risk_shift_mode: RiskShiftMode,
    composition_target: CompositionTarget,
}

fn months_in(value: i64, range: std::ops::RangeInclusive<u32>) -> Result<u32, String> {
    u32::try_from(value)
        .ok()
        .filter(|months| range.contains(months))
        .ok_or_else(|| format!("must be from {} to {} months, got {value}", range.start(), range.end()))
}

fn display_name(raw: &str) -> Result<String, String> {
    super::text::check_free_text(raw, DISPLAY_NAME_LEN_MAX, super::text::Lines::One)?;
    if raw.trim().is_empty() { Err("is required: a human-readable title".to_owned()) } else { Ok(raw.to_owned()) }
}

impl ContractTerms {
    /// Checks every term and how they fit together, collecting all violations.
    ///
    /// # Errors
    /// Every violation found, with fields named as in the API.
    pub fn parse(input: ContractTermsInput) -> Result<ContractTerms, Violations> {
        let mut v = Violations::new();
        let gemeente = v.check("gemeente", CbsCode::parse(&input.gemeente));
        let display_name = v.check("display_name", display_name(&input.display_name));
        let start_date = v.check(
            "start_date",
            parse_date(input.start_date).and_then(|date| {
                if date.day() == 1 {
                    Ok(date)
                } else {
                    Err(format!("must be the first day of a month (periods are calendar months), got {date}"))
                }
            }),
        );
        let period = v.check(
            "settlement_period_months",
            u32::try_from(input.settlement_period_months)
                .ok()
                .filter(|months| SETTLEMENT_PERIOD_MONTHS_ALLOWED.contains(months))
                .ok_or_else(|| format!("must be 1, 3 or 6, got {}", input.settlement_period_months)),
        );
        let term = v.check("term_months", months_in(input.term_months, 1..=TERM_MONTHS_MAX));
        let extension =
            v.check("extension_option_months", months_in(input.extension_option_months, 0..=TERM_MONTHS_MAX));
        let window =
            v.check("intake_window_months", months_in(input.intake_window_months, 1..=INTAKE_WINDOW_MONTHS_MAX));
        if let Some(period) = period {
            for (field, months) in
                [("term_months", term), ("extension_option_months", extension), ("intake_window_months", window)]
            {
                if let Some(months) = months.filter(|months| months % period != 0) {
                    v.add(
                        field,
                        format!("must be a whole number of settlement periods ({period} months), got {months}"),
                    );
                }
            }
        }
        let fee =
            v.check("service_fee_per_period_cents", Cents::parse_non_negative(input.service_fee_per_period_cents));
        let minimum = v.check(
            "minimum_intake_per_window",
            u32::try_from(input.minimum_intake_per_window)
                .ok()
                .filter(|&minimum| minimum <= MINIMUM_INTAKE_MAX)
                .ok_or_else(|| {
                    format!("must be from 0 to {MINIMUM_INTAKE_MAX}, got {}", input.minimum_intake_per_window)
                }),
        );
        let mode = v.check(
            "risk_shift_mode",
            input
                .risk_shift_mode
                .ok_or_else(|| "is required: RISK_SHIFT_MODE_FULL or RISK_SHIFT_MODE_PRO_RATA".to_owned()),
        );
        let target = match input.composition_target {
            None => {
                v.add("composition_target", "is required, e.g. 15% arrangement 1 and 85% arrangement 3");
                None
            }
            Some((one, three)) => {
                CompositionTarget::parse(one, three).map_err(|errors| v.absorb("composition_target", errors)).ok()
            }
        };
        match (gemeente, display_name, start_date, term, extension, period, window, fee, minimum, mode, target) {
            (
                Some(gemeente),
                Some(display_name),
                Some(start_date),
                Some(term_months),
                Some(extension_option_months),
                Some(settlement_period_months),
                Some(intake_window_months),
                Some(service_fee_per_period),
                Some(minimum_intake_per_window),
                Some(risk_shift_mode),
                Some(composition_target),
            ) if v.is_empty() => Ok(ContractTerms {
                gemeente,
                display_name,
                start_date,
                term_months,
                extension_option_months,
                settlement_period_months,
                intake_window_months,
                service_fee_per_period,
                minimum_intake_per_window,
                risk_shift_mode,
                composition_target,
            }),
            _ => Err(v),
        }
    }

    /// The municipality.
    #[must_use]
    pub fn gemeente(&self) -> &CbsCode {
        &self.gemeente
    }
    /// The human-readable title.
    #[must_use]
    pub fn display_name(&self) -> &str {
        &self.display_name
    }
    /// First day of the contract.
    #[must_use]
    pub fn start_date(&self) -> NaiveDate {
        self.start_date
    }
    /// Term in months.
    #[must_use]
    pub fn term_months(&self) -> u32 {
        self.term_months
    }
    /// Extension option in months (0: none).
    #[must_use]
    pub fn extension_option_months(&self) -> u32 {
        self.extension_option_months
    }
    /// Settlement period in months.
    #[must_use]
    pub fn settlement_period_months(&self) -> u32 {
        self.settlement_period_months
    }
    /// Intake window in months.
    #[must_use]
    pub fn intake_window_months(&self) -> u32 {
        self.intake_window_months
    }
    /// Service fee per settlement period.
    #[must_use]
    pub fn service_fee_per_period(&self) -> Cents {
        self.service_fee_per_period
    }
    /// Minimum motivated intake per window.
    #[must_use]
    pub fn minimum_intake_per_window(&self) -> u32 {
        self.minimum_intake_per_window
    }
    /// Risk-shift mode.
    #[must_use]
    pub fn risk_shift_mode(&self) -> RiskShiftMode {
        self.risk_shift_mode
    }
    /// Composition target.
    #[must_use]
    pub fn composition_target(&self) -> CompositionTarget {
        self.composition_target
    }

    /// Last day of the term, without the extension option. `None` only past the year 9999.
    #[must_use]
    pub fn end_date(&self) -> Option<NaiveDate> {
        self.start_date.checked_add_months(Months::new(self.term_months)).and_then(|day_after| day_after.pred_opt())
    }
}

/// A settlement period of a contract: its number from 0 and its first and last day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Period {
    /// The number of the period, 0 for the first.
    pub index: u32,
    /// Its first day.
    pub start: NaiveDate,
    /// Its last day.
    pub end: NaiveDate,
}

impl ContractTerms {
    /// The period with this number, or `None` past the year 9999.
    #[must_use]
    pub fn period(&self, index: u32) -> Option<Period> {
        let months = index.checked_mul(self.settlement_period_months)?;
        let start = self.start_date.checked_add_months(Months::new(months))?;
        let end = start.checked_add_months(Months::new(self.settlement_period_months))?.pred_opt()?;
        Some(Period { index, start, end })
    }

    /// The period that holds `date`, or `None` before the contract starts.
    #[must_use]
    pub fn period_of(&self, date: NaiveDate) -> Option<Period> {
        let start = self.start_date;
        let months = (date.year() - start.year()) * 12 + i32::try_from(date.month()).ok()?
            - i32::try_from(start.month()).ok()?;
        let months = u32::try_from(months).ok()?;
        self.period(months / self.settlement_period_months)
    }

    /// The intake windows up to `end`, in order: (first day, last day of the full window, last
    /// day on or before `end`). A window that `end` cuts short ends early (R6).
    #[must_use]
    pub fn windows_until(&self, end: NaiveDate) -> Vec<(NaiveDate, NaiveDate, NaiveDate)> {
        let mut windows = Vec::new();
        let mut index = 0_u32;
        while let Some(start) = index
            .checked_mul(self.intake_window_months)
            .and_then(|months| self.start_date.checked_add_months(Months::new(months)))
        {
            if start > end {
                break;
            }
            let Some(full_end) =
                start.checked_add_months(Months::new(self.intake_window_months)).and_then(|next| next.pred_opt())
            else {
                break;
            };
            windows.push((start, full_end, full_end.min(end)));
            index += 1;
        }
        windows
    }

    /// True when `date` falls within the term (from the start to the end date).
    #[must_use]
    pub fn covers(&self, date: NaiveDate) -> bool {
        date >= self.start_date && self.end_date().is_some_and(|end| date <= end)
    }
}

/// What became of a contract after it was made: its extension option exercised, or an early
/// end after a no-go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Lifecycle {
    /// The extension option was exercised.
    pub extended: bool,
    /// The last day of the contract after a no-go decision.
    pub ended_on: Option<NaiveDate>,
}

/// A contract as stored: its id, its terms and when it was created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contract {
    /// The contract's id.
    pub id: ContractId,
    /// Its terms.
    pub terms: ContractTerms,
    /// When it was created.
    pub create_time: DateTime<Utc>,
    /// Extension and early end.
    #[serde(default)]
    pub lifecycle: Lifecycle,
}

/// Months between go/no-go checkpoints (R1).
pub const CHECKPOINT_MONTHS: u32 = 6;

impl Contract {
    /// The last day the contract runs: the term's end, extended by the option once exercised,
    /// or the day before the checkpoint of a no-go.
    #[must_use]
    pub fn end_date(&self) -> Option<NaiveDate> {
        if let Some(ended) = self.lifecycle.ended_on {
            return Some(ended);
        }
        let extension = if self.lifecycle.extended { self.terms.extension_option_months() } else { 0 };
        let months = self.terms.term_months().checked_add(extension)?;
        self.terms.start_date().checked_add_months(Months::new(months)).and_then(|day_after| day_after.pred_opt())
    }

    /// True when `date` falls within the contract (from its start to its end date).
    #[must_use]
    pub fn covers(&self, date: NaiveDate) -> bool {
        date >= self.terms.start_date() && self.end_date().is_some_and(|end| date <= end)
    }

    /// The intake windows of the contract; the last may be cut short by the end (R6).
    #[must_use]
    pub fn windows(&self) -> Vec<(NaiveDate, NaiveDate, NaiveDate)> {
        self.end_date().map(|end| self.terms.windows_until(end)).unwrap_or_default()
    }

    /// The go/no-go checkpoints: every six months from the start, up to the day after the end.
    #[must_use]
    pub fn checkpoints(&self) -> Vec<NaiveDate> {
        let Some(last) = self.end_date().and_then(|end| end.succ_opt()) else {
            return Vec::new();
        };
        (1_u32..)
            .map_while(|k| {
                let months = k.checked_mul(CHECKPOINT_MONTHS)?;
                self.terms.start_date().checked_add_months(Months::new(months)).filter(|checkpoint| *checkpoint <= last)
            })
            .collect()
    }
}

/// Fixtures shared by the domain's unit tests.
#[cfg(test)]
pub(crate) mod tests_support {
    use super::*;

    /// The contract of DESIGN.md's worked example.
    pub(crate) fn worked_example_input() -> ContractTermsInput {
        ContractTermsInput {
            gemeente: "GM0344".to_owned(),
            display_name: "Utrecht flexpool 2027".to_owned(),
            start_date: Some(RawDate { year: 2027, month: 1, day: 1 }),
            term_months: 12,
            extension_option_months: 12,
            settlement_period_months: 1,
            intake_window_months: 3,
            service_fee_per_period_cents: 125_000,
            minimum_intake_per_window: 30,
            risk_shift_mode: Some(RiskShiftMode::Full),
            composition_target: Some((15, 85)),
        }
    }

    /// The terms of DESIGN.md's worked example.
    pub(crate) fn worked_example_terms() -> ContractTerms {
        ContractTerms::parse(worked_example_input()).unwrap()
    }

    /// DESIGN.md's worked example as a contract.
    pub(crate) fn worked_example_contract() -> Contract {
        Contract {
            id: ContractId::parse("utrecht").unwrap(),
            terms: worked_example_terms(),
            create_time: DateTime::UNIX_EPOCH,
            lifecycle: Lifecycle::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::tests_support::worked_example_input;
    use super::*;

    #[test]
    fn the_worked_example_contract_parses() {
        let terms = ContractTerms::parse(worked_example_input()).unwrap();
        assert_eq!(terms.gemeente().as_str(), "GM0344");
        assert_eq!(terms.service_fee_per_period().to_string(), "1250.00");
        assert_eq!(terms.end_date().unwrap().to_string(), "2027-12-31");
    }

    #[test]
    fn every_violation_is_reported_at_once() {
        let input = ContractTermsInput {
            gemeente: "Utrecht".to_owned(),
            display_name: String::new(),
            start_date: Some(RawDate { year: 2027, month: 1, day: 15 }),
            term_months: 0,
            extension_option_months: -1,
            settlement_period_months: 2,
            intake_window_months: 61,
            service_fee_per_period_cents: -1,
            minimum_intake_per_window: -3,
            risk_shift_mode: None,
            composition_target: Some((20, 85)),
        };
        let violations = ContractTerms::parse(input).unwrap_err();
        let fields: Vec<&str> = violations.items().iter().map(|item| item.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "gemeente",
                "display_name",
                "start_date",
                "settlement_period_months",
                "term_months",
                "extension_option_months",
                "intake_window_months",
                "service_fee_per_period_cents",
                "minimum_intake_per_window",
                "risk_shift_mode",
                "composition_target.arrangement_3_percent",
            ]
        );
    }

    #[test]
    fn windows_and_terms_must_be_whole_periods() {
        let mut input = worked_example_input();
        input.settlement_period_months = 3;
        input.intake_window_months = 4;
        input.term_months = 12;
        input.extension_option_months = 4;
        let violations = ContractTerms::parse(input).unwrap_err();
        let fields: Vec<&str> = violations.items().iter().map(|item| item.field.as_str()).collect();
        assert_eq!(fields, ["extension_option_months", "intake_window_months"]);
    }

    #[test]
    fn periods_are_calendar_blocks_from_the_start() {
        let monthly = ContractTerms::parse(worked_example_input()).unwrap();
        let day = |text: &str| text.parse::<NaiveDate>().unwrap();
        let march = monthly.period_of(day("2027-03-17")).unwrap();
        assert_eq!((march.index, march.start, march.end), (2, day("2027-03-01"), day("2027-03-31")));
        assert_eq!(monthly.period_of(day("2026-12-31")), None);
        let mut input = worked_example_input();
        input.settlement_period_months = 3;
        input.intake_window_months = 6;
        let quarterly = ContractTerms::parse(input).unwrap();
        let second = quarterly.period_of(day("2027-06-30")).unwrap();
        assert_eq!((second.index, second.start, second.end), (1, day("2027-04-01"), day("2027-06-30")));
        assert!(quarterly.covers(day("2027-12-31")));
        assert!(!quarterly.covers(day("2028-01-01")));
    }

    #[test]
    fn extension_and_no_go_move_the_end_and_the_checkpoints() {
        let day = |text: &str| text.parse::<NaiveDate>().unwrap();
        let mut contract = super::tests_support::worked_example_contract();
        assert_eq!(contract.checkpoints(), [day("2027-07-01"), day("2028-01-01")]);
        contract.lifecycle.extended = true;
        assert_eq!(contract.end_date(), Some(day("2028-12-31")));
        assert_eq!(contract.checkpoints().len(), 4);
        contract.lifecycle.ended_on = Some(day("2027-06-30"));
        assert!(!contract.covers(day("2027-07-01")));
        assert_eq!(contract.checkpoints(), [day("2027-07-01")]);
        assert_eq!(contract.windows().len(), 2);
    }

    #[test]
    fn a_composition_target_must_add_up_to_100() {
        assert!(CompositionTarget::parse(15, 85).is_ok());
        assert!(CompositionTarget::parse(15, 84).is_err());
        assert!(CompositionTarget::parse(101, -1).is_err());
    }
}
