//! Contracts, intercedents and hourly rates.

use chrono::NaiveDate;
use diesel::prelude::*;

use super::schema::{contract_events, contracts, hourly_rates, intercedents};
use super::{AnyConnection, from_stored_time, is_unique_violation, to_stored_time};
use crate::domain::names::{contract_name, hourly_rate_name, intercedent_name};
use crate::domain::paging::Page;
use crate::domain::{
    CbsCode, Contract, ContractId, ContractTerms, ContractTermsInput, HourlyRate, Intercedent, IntercedentId,
    Lifecycle, PageRequest, RateSchedule, RawDate, RecordedRate, RiskShiftMode,
};
use crate::error::{Context, Error};

#[derive(Queryable, Insertable)]
#[diesel(table_name = contracts)]
struct ContractRow {
    id: String,
    gemeente: String,
    display_name: String,
    start_date: NaiveDate,
    term_months: i32,
    extension_option_months: i32,
    settlement_period_months: i32,
    intake_window_months: i32,
    service_fee_per_period_cents: i64,
    minimum_intake_per_window: i32,
    risk_shift_mode: String,
    target_arrangement_1_percent: i32,
    target_arrangement_3_percent: i32,
    create_time: chrono::NaiveDateTime,
}

fn small(value: u32) -> Result<i32, Error> {
    i32::try_from(value).context("storing a contract term")
}

impl ContractRow {
    fn from_contract(contract: &Contract) -> Result<ContractRow, Error> {
        let terms = &contract.terms;
        let target = terms.composition_target();
        Ok(ContractRow {
            id: contract.id.as_str().to_owned(),
            gemeente: terms.gemeente().as_str().to_owned(),
            display_name: terms.display_name().to_owned(),
            start_date: terms.start_date(),
            term_months: small(terms.term_months())?,
            extension_option_months: small(terms.extension_option_months())?,
            settlement_period_months: small(terms.settlement_period_months())?,
            intake_window_months: small(terms.intake_window_months())?,
            service_fee_per_period_cents: terms.service_fee_per_period().cents(),
            minimum_intake_per_window: small(terms.minimum_intake_per_window())?,
            risk_shift_mode: terms.risk_shift_mode().as_str().to_owned(),
            target_arrangement_1_percent: small(target.arrangement_1_percent())?,
            target_arrangement_3_percent: small(target.arrangement_3_percent())?,
            create_time: to_stored_time(contract.create_time),
        })
    }

    /// Rebuilds the domain contract, checking the stored terms like any input: a row that
    /// fails is corrupt, an internal error.
    fn into_contract(self, lifecycle: Lifecycle) -> Result<Contract, Error> {
        let corrupt = |detail: String| Error::internal("reading a stored contract", detail);
        let start = self.start_date;
        let input = ContractTermsInput {
            gemeente: self.gemeente,
            display_name: self.display_name,
            start_date: Some(RawDate {
                year: chrono::Datelike::year(&start),
                month: i32::try_from(chrono::Datelike::month(&start)).unwrap_or(0),
                day: i32::try_from(chrono::Datelike::day(&start)).unwrap_or(0),
            }),
            term_months: self.term_months.into(),
            extension_option_months: self.extension_option_months.into(),
            settlement_period_months: self.settlement_period_months.into(),
            intake_window_months: self.intake_window_months.into(),
            service_fee_per_period_cents: self.service_fee_per_period_cents,
            minimum_intake_per_window: self.minimum_intake_per_window.into(),
            risk_shift_mode: Some(RiskShiftMode::parse(&self.risk_shift_mode).map_err(&corrupt)?),
            composition_target: Some((
                self.target_arrangement_1_percent.into(),
                self.target_arrangement_3_percent.into(),
            )),
        };
        let terms = ContractTerms::parse(input).map_err(|violations| corrupt(violations.to_string()))?;
        Ok(Contract {
            id: ContractId::parse(&self.id).map_err(corrupt)?,
            terms,
            create_time: from_stored_time(self.create_time),
            lifecycle,
        })
    }
}

/// The lifecycles of these contracts (absent: nothing happened yet).
fn lifecycles(
    connection: &mut AnyConnection,
    ids: &[String],
) -> Result<std::collections::HashMap<String, Lifecycle>, Error> {
    let rows: Vec<(String, String, NaiveDate)> = contract_events::table
        .filter(contract_events::contract_id.eq_any(ids.to_vec()))
        .select((contract_events::contract_id, contract_events::kind, contract_events::effective_date))
        .load(connection)
        .context("reading contract events")?;
    let mut lifecycles: std::collections::HashMap<String, Lifecycle> = std::collections::HashMap::new();
    for (contract, kind, effective) in rows {
        apply_event(lifecycles.entry(contract).or_default(), &kind, effective)?;
    }
    Ok(lifecycles)
}

/// Adds one stored contract event to a lifecycle.
fn apply_event(lifecycle: &mut Lifecycle, kind: &str, effective: NaiveDate) -> Result<(), Error> {
    match kind {
        EXTENDED => lifecycle.extended = true,
        ENDED => lifecycle.ended_on = Some(effective),
        other => return Err(Error::internal("reading contract events", format!("unknown kind {other:?}"))),
    }
    Ok(())
}

/// The `contract_events` kind of an exercised extension option.
const EXTENDED: &str = "EXTENDED";
/// The `contract_events` kind of an early end.
const ENDED: &str = "ENDED";

/// What became of a contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContractChange {
    /// The extension option was exercised; `effective` is the first day of the extension.
    Extended,
    /// A no-go ended the contract; `effective` is its last day.
    Ended,
}

/// Records what became of a contract, from `effective` on.
///
/// # Errors
/// [`Error::AlreadyExists`] when that happened before; a storage fault.
pub fn insert_contract_event(
    connection: &mut AnyConnection,
    contract: &ContractId,
    change: ContractChange,
    effective: NaiveDate,
    detail: &str,
    recorded_by: &str,
    when: chrono::DateTime<chrono::Utc>,
) -> Result<(), Error> {
    let kind = match change {
        ContractChange::Extended => EXTENDED,
        ContractChange::Ended => ENDED,
    };
    let inserted = diesel::insert_into(contract_events::table)
        .values((
            contract_events::contract_id.eq(contract.as_str()),
            contract_events::kind.eq(kind),
            contract_events::effective_date.eq(effective),
            contract_events::detail.eq(detail),
            contract_events::recorded_by.eq(recorded_by),
            contract_events::record_time.eq(to_stored_time(when)),
        ))
        .execute(connection);
    match inserted {
        Ok(_) => Ok(()),
        Err(error) if is_unique_violation(&error) => {
            Err(Error::AlreadyExists { resource: format!("{} ({})", contract_name(contract), kind.to_lowercase()) })
        }
        Err(error) => Err(Error::internal("recording a contract event", error)),
    }
}

/// Stores a new contract.
///
/// # Errors
/// [`Error::AlreadyExists`] when the id is taken; a storage fault.
pub fn insert_contract(connection: &mut AnyConnection, contract: &Contract) -> Result<(), Error> {
    let row = ContractRow::from_contract(contract)?;
    match diesel::insert_into(contracts::table).values(&row).execute(connection) {
        Ok(_) => Ok(()),
        Err(error) if is_unique_violation(&error) => {
            Err(Error::AlreadyExists { resource: contract_name(&contract.id) })
        }
        Err(error) => Err(Error::internal("storing a contract", error)),
    }
}

/// Reads a contract.
///
/// # Errors
/// [`Error::NotFound`]; a storage fault.
pub fn get_contract(connection: &mut AnyConnection, id: &ContractId) -> Result<Contract, Error> {
    // One query: the contract and what became of it (at most an extension and an end).
    let rows: Vec<(ContractRow, Option<(String, NaiveDate)>)> = contracts::table
        .left_join(contract_events::table.on(contract_events::contract_id.eq(contracts::id)))
        .filter(contracts::id.eq(id.as_str()))
        .select((contracts::all_columns, (contract_events::kind, contract_events::effective_date).nullable()))
        .load(connection)
        .context("reading a contract")?;
    let mut lifecycle = Lifecycle::default();
    let mut contract = None;
    for (row, event) in rows {
        if let Some((kind, effective)) = event {
            apply_event(&mut lifecycle, &kind, effective)?;
        }
        contract = Some(row);
    }
    contract.ok_or_else(|| Error::NotFound { resource: contract_name(id) })?.into_contract(lifecycle)
}

/// Lists contracts ordered by id, optionally only those of one municipality.
///
/// # Errors
/// A storage fault.
pub fn list_contracts(
    connection: &mut AnyConnection,
    gemeente: Option<&CbsCode>,
    page: &PageRequest,
) -> Result<Page<Contract>, Error> {
    let mut query = contracts::table.order(contracts::id.asc()).limit(i64::from(page.size.get()) + 1).into_boxed();
    if let Some(after) = &page.after {
        query = query.filter(contracts::id.gt(after.clone()));
    }
    if let Some(gemeente) = gemeente {
        query = query.filter(contracts::gemeente.eq(gemeente.as_str().to_owned()));
    }
    let rows: Vec<ContractRow> = query.load(connection).context("listing contracts")?;
    let ids: Vec<String> = rows.iter().map(|row| row.id.clone()).collect();
    let mut lifecycles = lifecycles(connection, &ids)?;
    let items = rows
        .into_iter()
        .map(|row| {
            let lifecycle = lifecycles.remove(&row.id).unwrap_or_default();
            row.into_contract(lifecycle)
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(paginate(items, page, |contract| contract.id.as_str().to_owned()))
}

/// Cuts the one-past-the-page item that a listing fetched, and makes the next token from the
/// last item kept.
pub fn paginate<T>(mut items: Vec<T>, page: &PageRequest, key: impl Fn(&T) -> String) -> Page<T> {
    let size = usize::try_from(page.size.get()).unwrap_or(usize::MAX);
    let more = items.len() > size;
    items.truncate(size);
    let next_page_token = more.then(|| items.last().map(|item| page.token_after(&key(item)))).flatten();
    Page { items, next_page_token }
}

#[derive(Queryable)]
struct RateRow {
    intercedent_id: String,
    effective_date: NaiveDate,
    rate_per_hour_cents: i64,
    create_time: chrono::NaiveDateTime,
}

impl RateRow {
    fn into_recorded(self) -> Result<RecordedRate, Error> {
        Ok(RecordedRate {
            effective_date: self.effective_date,
            rate: HourlyRate::parse(self.rate_per_hour_cents)
                .map_err(|detail| Error::internal("reading a stored rate", detail))?,
            create_time: from_stored_time(self.create_time),
        })
    }
}

/// Stores a new intercedent with its first rates.
///
/// # Errors
/// [`Error::AlreadyExists`] when the contract has an intercedent with that id; a storage fault.
pub fn insert_intercedent(connection: &mut AnyConnection, intercedent: &Intercedent) -> Result<(), Error> {
    let inserted = diesel::insert_into(intercedents::table)
        .values((
            intercedents::contract_id.eq(intercedent.contract_id.as_str()),
            intercedents::id.eq(intercedent.id.as_str()),
            intercedents::create_time.eq(to_stored_time(intercedent.create_time)),
        ))
        .execute(connection);
    match inserted {
        Ok(_) => {}
        Err(error) if is_unique_violation(&error) => {
            return Err(Error::AlreadyExists { resource: intercedent_name(&intercedent.contract_id, &intercedent.id) });
        }
        Err(error) => return Err(Error::internal("storing an intercedent", error)),
    }
    for rate in intercedent.rates.rates() {
        insert_rate(connection, &intercedent.contract_id, &intercedent.id, rate)?;
    }
    Ok(())
}

/// Stores a new rate of an intercedent.
///
/// # Errors
/// [`Error::AlreadyExists`] when a rate is effective on that date already; a storage fault.
pub fn insert_rate(
    connection: &mut AnyConnection,
    contract: &ContractId,
    intercedent: &IntercedentId,
    rate: &RecordedRate,
) -> Result<(), Error> {
    let inserted = diesel::insert_into(hourly_rates::table)
        .values((
            hourly_rates::contract_id.eq(contract.as_str()),
            hourly_rates::intercedent_id.eq(intercedent.as_str()),
            hourly_rates::effective_date.eq(rate.effective_date),
            hourly_rates::rate_per_hour_cents.eq(rate.rate.cents_per_hour()),
            hourly_rates::create_time.eq(to_stored_time(rate.create_time)),
        ))
        .execute(connection);
    match inserted {
        Ok(_) => Ok(()),
        Err(error) if is_unique_violation(&error) => {
            Err(Error::AlreadyExists { resource: hourly_rate_name(contract, intercedent, rate.effective_date) })
        }
        Err(error) => Err(Error::internal("storing an hourly rate", error)),
    }
}

/// Reads an intercedent with all its rates.
///
/// # Errors
/// [`Error::NotFound`]; a storage fault.
pub fn get_intercedent(
    connection: &mut AnyConnection,
    contract: &ContractId,
    id: &IntercedentId,
) -> Result<Intercedent, Error> {
    let created: chrono::NaiveDateTime = intercedents::table
        .find((contract.as_str(), id.as_str()))
        .select(intercedents::create_time)
        .first(connection)
        .optional()
        .context("reading an intercedent")?
        .ok_or_else(|| Error::NotFound { resource: intercedent_name(contract, id) })?;
    let mut rates = rates_of(connection, contract, &[id.as_str().to_owned()])?;
    Ok(Intercedent {
        contract_id: contract.clone(),
        id: id.clone(),
        rates: RateSchedule::new(rates.remove(id.as_str()).unwrap_or_default()),
        create_time: from_stored_time(created),
    })
}

/// Lists the intercedents of a contract ordered by id, each with all its rates.
///
/// # Errors
/// A storage fault.
pub fn list_intercedents(
    connection: &mut AnyConnection,
    contract: &ContractId,
    page: &PageRequest,
) -> Result<Page<Intercedent>, Error> {
    let mut query = intercedents::table
        .filter(intercedents::contract_id.eq(contract.as_str().to_owned()))
        .order(intercedents::id.asc())
        .select((intercedents::id, intercedents::create_time))
        .limit(i64::from(page.size.get()) + 1)
        .into_boxed();
    if let Some(after) = &page.after {
        query = query.filter(intercedents::id.gt(after.clone()));
    }
    let rows: Vec<(String, chrono::NaiveDateTime)> = query.load(connection).context("listing intercedents")?;
    let ids: Vec<String> = rows.iter().map(|(id, _)| id.clone()).collect();
    let mut rates = rates_of(connection, contract, &ids)?;
    let items = rows
        .into_iter()
        .map(|(id, created)| {
            let schedule = RateSchedule::new(rates.remove(&id).unwrap_or_default());
            Ok(Intercedent {
                contract_id: contract.clone(),
                id: IntercedentId::parse(&id)
                    .map_err(|detail| Error::internal("reading a stored intercedent", detail))?,
                rates: schedule,
                create_time: from_stored_time(created),
            })
        })
        .collect::<Result<Vec<_>, Error>>()?;
    Ok(paginate(items, page, |intercedent| intercedent.id.as_str().to_owned()))
}

/// The rate schedules of these intercedents of a contract (those that have rates).
///
/// # Errors
/// A storage fault.
pub fn rate_schedules(
    connection: &mut AnyConnection,
    contract: &ContractId,
    intercedent_ids: &[String],
) -> Result<std::collections::HashMap<IntercedentId, RateSchedule>, Error> {
    rates_of(connection, contract, intercedent_ids)?
        .into_iter()
        .map(|(id, rates)| {
            let id = IntercedentId::parse(&id).map_err(|detail| Error::internal("reading a stored rate", detail))?;
            Ok((id, RateSchedule::new(rates)))
        })
        .collect()
}

/// A stored rate's effective date, cents an hour and creation time.
type RateColumns = (NaiveDate, i64, chrono::NaiveDateTime);

/// The intercedents of `contract` among `named`, each with its rate schedule (empty when it
/// has no rate), in one query.
///
/// # Errors
/// A storage fault.
pub fn intercedents_with_rates(
    connection: &mut AnyConnection,
    contract: &ContractId,
    named: Vec<String>,
) -> Result<std::collections::HashMap<IntercedentId, RateSchedule>, Error> {
    let mut rows: Vec<(String, Option<RateColumns>)> = Vec::new();
    let named: Vec<&str> = named.iter().map(String::as_str).collect();
    for chunk in named.chunks(super::INSERT_CHUNK_ROWS) {
        match &mut *connection {
            AnyConnection::Postgresql(pg) => {
                let found: Vec<NamedWithRate> = super::reused::by_name_on_postgresql(
                    pg,
                    INTERCEDENTS_WITH_RATES_ON_POSTGRESQL,
                    contract.as_str(),
                    chunk,
                )
                .context("reading intercedents and their rates")?;
                rows.extend(found.into_iter().map(NamedWithRate::split));
            }
            // In lists of bounded lengths, so that the kept statement takes a bounded number
            // of forms.
            AnyConnection::Sqlite(sqlite) => rows.extend(
                super::reused::reused(
                    intercedents::table
                        .left_join(
                            hourly_rates::table.on(hourly_rates::contract_id
                                .eq(intercedents::contract_id)
                                .and(hourly_rates::intercedent_id.eq(intercedents::id))),
                        )
                        .filter(intercedents::contract_id.eq(contract.as_str()))
                        .filter(intercedents::id.eq_any(super::reused::padded(chunk)))
                        .select((
                            intercedents::id,
                            (
                                hourly_rates::effective_date,
                                hourly_rates::rate_per_hour_cents,
                                hourly_rates::create_time,
                            )
                                .nullable(),
                        )),
                )
                .load::<(String, Option<RateColumns>)>(sqlite)
                .context("reading intercedents and their rates")?,
            ),
        }
    }
    let mut rates: std::collections::HashMap<String, Vec<RecordedRate>> = std::collections::HashMap::new();
    for (intercedent_id, rate) in rows {
        let recorded = rates.entry(intercedent_id.clone()).or_default();
        if let Some((effective_date, rate_per_hour_cents, create_time)) = rate {
            recorded
                .push(RateRow { intercedent_id, effective_date, rate_per_hour_cents, create_time }.into_recorded()?);
        }
    }
    rates
        .into_iter()
        .map(|(id, rates)| {
            let id =
                IntercedentId::parse(&id).map_err(|detail| Error::internal("reading a stored intercedent", detail))?;
            Ok((id, RateSchedule::new(rates)))
        })
        .collect()
}

/// [`intercedents_with_rates`] on PostgreSQL: each named intercedent one lookup by the primary
/// keys of the intercedents and of the rates, planned for its parameters or kept generic (see
/// `hours::get_entries` on why the lateral subqueries are not flattened). Written as
/// `contract_id = $1 AND id = ANY($2)` with a join, the plan the server kept for the writer
/// read all of a contract's intercedents and rates for every submission: 0.64 ms a lookup
/// against 0.29 ms planned afresh each time, with 1,024 intercedents (`hours_ingest`).
pub(super) const INTERCEDENTS_WITH_RATES_ON_POSTGRESQL: &str = "\
    SELECT i.id, r.effective_date, r.rate_per_hour_cents, r.create_time \
    FROM unnest($2::text[]) AS wanted(id) \
    CROSS JOIN LATERAL ( \
        SELECT intercedents.id FROM intercedents \
        WHERE intercedents.contract_id = $1 AND intercedents.id = wanted.id OFFSET 0 \
    ) AS i \
    LEFT JOIN LATERAL ( \
        SELECT hourly_rates.effective_date, hourly_rates.rate_per_hour_cents, hourly_rates.create_time \
        FROM hourly_rates \
        WHERE hourly_rates.contract_id = $1 AND hourly_rates.intercedent_id = wanted.id OFFSET 0 \
    ) AS r ON TRUE";

/// A row of [`INTERCEDENTS_WITH_RATES_ON_POSTGRESQL`].
#[derive(QueryableByName)]
struct NamedWithRate {
    #[diesel(sql_type = diesel::sql_types::Text)]
    id: String,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Date>)]
    effective_date: Option<NaiveDate>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::BigInt>)]
    rate_per_hour_cents: Option<i64>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Timestamp>)]
    create_time: Option<chrono::NaiveDateTime>,
}

impl NamedWithRate {
    /// The intercedent and one of its rates, if it has any.
    fn split(self) -> (String, Option<RateColumns>) {
        let rate = match (self.effective_date, self.rate_per_hour_cents, self.create_time) {
            (Some(effective_date), Some(cents), Some(create_time)) => Some((effective_date, cents, create_time)),
            _ => None,
        };
        (self.id, rate)
    }
}

/// The rate schedules of the `intercedents` named (each once, however often it is named).
///
/// # Errors
/// A storage fault.
pub fn rate_schedules_of<'a>(
    connection: &mut AnyConnection,
    contract: &ContractId,
    intercedents: impl IntoIterator<Item = &'a IntercedentId>,
) -> Result<std::collections::HashMap<IntercedentId, RateSchedule>, Error> {
    let ids: std::collections::BTreeSet<String> = intercedents.into_iter().map(|id| id.as_str().to_owned()).collect();
    rate_schedules(connection, contract, &ids.into_iter().collect::<Vec<_>>())
}

fn rates_of(
    connection: &mut AnyConnection,
    contract: &ContractId,
    intercedent_ids: &[String],
) -> Result<std::collections::HashMap<String, Vec<RecordedRate>>, Error> {
    let rows: Vec<RateRow> = hourly_rates::table
        .filter(hourly_rates::contract_id.eq(contract.as_str().to_owned()))
        .filter(hourly_rates::intercedent_id.eq_any(intercedent_ids.to_vec()))
        .select((
            hourly_rates::intercedent_id,
            hourly_rates::effective_date,
            hourly_rates::rate_per_hour_cents,
            hourly_rates::create_time,
        ))
        .load(connection)
        .context("reading hourly rates")?;
    let mut by_intercedent: std::collections::HashMap<String, Vec<RecordedRate>> = std::collections::HashMap::new();
    for row in rows {
        let intercedent = row.intercedent_id.clone();
        by_intercedent.entry(intercedent).or_default().push(row.into_recorded()?);
    }
    Ok(by_intercedent)
}

/// The ids of every contract of a municipality.
///
/// # Errors
/// A storage fault.
pub fn contract_ids_of(connection: &mut AnyConnection, gemeente: &CbsCode) -> Result<Vec<String>, Error> {
    contracts::table
        .filter(contracts::gemeente.eq(gemeente.as_str().to_owned()))
        .select(contracts::id)
        .load(connection)
        .context("listing a municipality's contracts")
}
