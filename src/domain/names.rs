//! Resource names (AIP-122): `contracts/{contract}` and
//! `contracts/{contract}/intercedents/{intercedent}`.

use chrono::NaiveDate;

use super::{CbsCode, ContractId, IntercedentId, LineReference};

/// The collection segment of contracts.
const CONTRACTS: &str = "contracts";
/// The collection segment of intercedents.
const INTERCEDENTS: &str = "intercedents";
/// The collection segment of hourly rates.
const HOURLY_RATES: &str = "hourlyRates";

/// `contracts/{contract}`.
#[must_use]
pub fn contract_name(id: &ContractId) -> String {
    format!("{CONTRACTS}/{}", id.as_str())
}

/// `contracts/{contract}/intercedents/{intercedent}`.
#[must_use]
pub fn intercedent_name(contract: &ContractId, intercedent: &IntercedentId) -> String {
    format!("{}/{INTERCEDENTS}/{}", contract_name(contract), intercedent.as_str())
}

/// `contracts/{contract}/intercedents/{intercedent}/hourlyRates/{YYYY-MM-DD}`.
#[must_use]
pub fn hourly_rate_name(contract: &ContractId, intercedent: &IntercedentId, effective: NaiveDate) -> String {
    format!("{}/{HOURLY_RATES}/{effective}", intercedent_name(contract, intercedent))
}

/// The collection segment of hour entries.
const HOUR_ENTRIES: &str = "hourEntries";

/// `contracts/{contract}/hourEntries/{line_reference}`.
#[must_use]
pub fn hour_entry_name(contract: &ContractId, id: &LineReference) -> String {
    format!("{}/{HOUR_ENTRIES}/{}", contract_name(contract), id.as_str())
}

/// The collection segment of savings records.
const SAVINGS: &str = "savings";

/// `contracts/{contract}/savings/{source_reference}`.
#[must_use]
pub fn savings_name(contract: &ContractId, id: &LineReference) -> String {
    format!("{}/{SAVINGS}/{}", contract_name(contract), id.as_str())
}

/// Parses `contracts/{contract}/savings/{source_reference}`.
///
/// # Errors
/// A description of the expected form.
pub fn parse_savings_name(name: &str) -> Result<(ContractId, LineReference), String> {
    match name.split('/').collect::<Vec<_>>().as_slice() {
        [CONTRACTS, contract, SAVINGS, id] => Ok((ContractId::parse(contract)?, LineReference::parse(id)?)),
        _ => Err(format!(
            "must be a savings name of the form contracts/{{contract}}/savings/{{source_reference}}, got {name:?}"
        )),
    }
}

/// The collection segment of go/no-go evaluations.
const EVALUATIONS: &str = "evaluations";

/// `contracts/{contract}/evaluations/{checkpoint as YYYY-MM-DD}`.
#[must_use]
pub fn evaluation_name(contract: &ContractId, checkpoint: NaiveDate) -> String {
    format!("{}/{EVALUATIONS}/{checkpoint}", contract_name(contract))
}

/// Parses `contracts/{contract}/evaluations/{YYYY-MM-DD}`.
///
/// # Errors
/// A description of the expected form.
pub fn parse_evaluation_name(name: &str) -> Result<(ContractId, NaiveDate), String> {
    match name.split('/').collect::<Vec<_>>().as_slice() {
        [CONTRACTS, contract, EVALUATIONS, checkpoint] => Ok((
            ContractId::parse(contract)?,
            checkpoint.parse().map_err(|_| format!("{checkpoint:?} is not a date YYYY-MM-DD"))?,
        )),
        _ => Err(format!(
            "must be an evaluation name of the form contracts/{{contract}}/evaluations/{{YYYY-MM-DD}}, got {name:?}"
        )),
    }
}

/// The collection segment of statements.
const STATEMENTS: &str = "statements";

/// `contracts/{contract}/statements/{period_start as YYYY-MM-DD}`.
#[must_use]
pub fn statement_name(contract: &ContractId, period_start: NaiveDate) -> String {
    format!("{}/{STATEMENTS}/{period_start}", contract_name(contract))
}

/// Parses `contracts/{contract}/statements/{YYYY-MM-DD}`.
///
/// # Errors
/// A description of the expected form.
pub fn parse_statement_name(name: &str) -> Result<(ContractId, NaiveDate), String> {
    match name.split('/').collect::<Vec<_>>().as_slice() {
        [CONTRACTS, contract, STATEMENTS, period] => Ok((
            ContractId::parse(contract)?,
            period.parse().map_err(|_| format!("{period:?} is not a date YYYY-MM-DD"))?,
        )),
        _ => Err(format!(
            "must be a statement name of the form contracts/{{contract}}/statements/{{YYYY-MM-DD}}, got {name:?}"
        )),
    }
}

/// The final segment of a statement's invoice.
const INVOICE: &str = "invoice";

/// `contracts/{contract}/statements/{period_start}/invoice`.
#[must_use]
pub fn invoice_name(contract: &ContractId, period_start: NaiveDate) -> String {
    format!("{}/{INVOICE}", statement_name(contract, period_start))
}

/// Parses an invoice's name, `contracts/{contract}/statements/{YYYY-MM-DD}/invoice`, or its
/// statement's name.
///
/// # Errors
/// A description of the expected form.
pub fn parse_invoice_name(name: &str) -> Result<(ContractId, NaiveDate), String> {
    parse_statement_name(name.strip_suffix(&format!("/{INVOICE}")).unwrap_or(name))
}

/// `contracts/{contract}/invoicing`: a contract's invoicing data.
#[must_use]
pub fn invoicing_name(contract: &ContractId) -> String {
    format!("{}/invoicing", contract_name(contract))
}

/// The collection segment of municipalities.
const MUNICIPALITIES: &str = "municipalities";

/// `municipalities/{CBS code}`.
#[must_use]
pub fn municipality_name(gemeente: &CbsCode) -> String {
    format!("{MUNICIPALITIES}/{}", gemeente.as_str())
}

/// Parses `municipalities/{CBS code}`.
///
/// # Errors
/// A description of the expected form.
pub fn parse_municipality_name(name: &str) -> Result<CbsCode, String> {
    match name.split_once('/') {
        Some((MUNICIPALITIES, code)) => CbsCode::parse(code),
        _ => Err("must be municipalities/{CBS code}, e.g. municipalities/GM0344".to_owned()),
    }
}

/// The collection segment of candidates.
const CANDIDATES: &str = "candidates";

/// `contracts/{contract}/candidates/{candidate}`.
#[must_use]
pub fn candidate_name(contract: &ContractId, id: &str) -> String {
    format!("{}/{CANDIDATES}/{id}", contract_name(contract))
}

/// Parses `contracts/{contract}/candidates/{candidate}`.
///
/// # Errors
/// A description of the expected form.
pub fn parse_candidate_name(name: &str) -> Result<(ContractId, String), String> {
    match name.split('/').collect::<Vec<_>>().as_slice() {
        [CONTRACTS, contract, CANDIDATES, id] => Ok((ContractId::parse(contract)?, super::ids::parse_reference(id)?)),
        _ => Err(format!(
            "must be a candidate name of the form contracts/{{contract}}/candidates/{{candidate}}, got {name:?}"
        )),
    }
}

/// Parses `contracts/{contract}/hourEntries/{line_reference}`.
///
/// # Errors
/// A description of the expected form.
pub fn parse_hour_entry_name(name: &str) -> Result<(ContractId, LineReference), String> {
    match name.split('/').collect::<Vec<_>>().as_slice() {
        [CONTRACTS, contract, HOUR_ENTRIES, id] => Ok((ContractId::parse(contract)?, LineReference::parse(id)?)),
        _ => Err(format!(
            "must be an hour entry name of the form contracts/{{contract}}/hourEntries/{{line_reference}}, got {name:?}"
        )),
    }
}

/// Parses `contracts/{contract}`.
///
/// # Errors
/// A description of the expected form.
pub fn parse_contract_name(name: &str) -> Result<ContractId, String> {
    match name.split('/').collect::<Vec<_>>().as_slice() {
        [CONTRACTS, id] => ContractId::parse(id),
        _ => Err(format!("must be a contract name of the form contracts/{{contract}}, got {name:?}")),
    }
}

/// Parses `contracts/{contract}/intercedents/{intercedent}`.
///
/// # Errors
/// A description of the expected form.
pub fn parse_intercedent_name(name: &str) -> Result<(ContractId, IntercedentId), String> {
    match name.split('/').collect::<Vec<_>>().as_slice() {
        [CONTRACTS, contract, INTERCEDENTS, intercedent] => {
            Ok((ContractId::parse(contract)?, IntercedentId::parse(intercedent)?))
        }
        _ => Err(format!(
            "must be an intercedent name of the form contracts/{{contract}}/intercedents/{{intercedent}}, got {name:?}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        let contract = ContractId::parse("utrecht-2027").unwrap();
        let intercedent = IntercedentId::parse("int-7").unwrap();
        assert_eq!(parse_contract_name(&contract_name(&contract)).unwrap(), contract);
        let name = intercedent_name(&contract, &intercedent);
        assert_eq!(name, "contracts/utrecht-2027/intercedents/int-7");
        assert_eq!(parse_intercedent_name(&name).unwrap(), (contract, intercedent));
    }

    #[test]
    fn malformed_names_are_refused() {
        for bad in ["", "contracts", "contracts/", "contract/x", "contracts/x/y", "contracts/UPPER"] {
            assert!(parse_contract_name(bad).is_err(), "{bad}");
        }
        assert!(parse_intercedent_name("contracts/x/intercedents/111222333").is_err());
        assert!(parse_intercedent_name("contracts/x").is_err());
    }

    #[test]
    fn municipality_and_invoice_names_parse() {
        assert_eq!(parse_municipality_name("municipalities/GM0344").unwrap().as_str(), "GM0344");
        assert!(parse_municipality_name("municipalities/utrecht").is_err());
        assert!(parse_municipality_name("contracts/GM0344").is_err());
        assert_eq!(municipality_name(&CbsCode::parse("GM0344").unwrap()), "municipalities/GM0344");
        let contract = ContractId::parse("c1").unwrap();
        let day = NaiveDate::from_ymd_opt(2027, 1, 1).unwrap();
        assert_eq!(parse_invoice_name(&invoice_name(&contract, day)).unwrap(), (contract.clone(), day));
        assert_eq!(parse_invoice_name(&statement_name(&contract, day)).unwrap(), (contract, day));
    }
}
