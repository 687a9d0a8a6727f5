//! Statements as invoices a municipality's finance system can book (DESIGN.md §9): the VAT
//! table and invoicing data of a contract, and the pure renderer from an issued statement to
//! UBL 2.1 `Invoice` documents (SI-UBL 2.0 or Peppol BIS Billing 3.0). No I/O, no clock: the
//! same statement, settings and issue date give the same bytes.
//!
//! How a statement becomes invoice lines, in this order:
//! - `FEE`: the period's fee; `COVERED`: the cost covered this period (it may be negative);
//!   `SHIFTED`: at a window's close, the uncovered cost that shifts to the municipality;
//! - `INTERCEDENT_COST`, under `NET` only: one line per intercedent and rate, quantity
//!   −minutes/60 hours at the hourly rate, amount the statement's cost line (negated);
//! - per correction, in period order: the cost of the late hours (`INTERCEDENT_COST`, under
//!   `NET`) and, for a closed window, the change in what its result covers and in what shifts;
//!   each with a note naming the period and the statement it corrects, and that statement as a
//!   preceding-invoice reference (a line's own period stays the statement's: Peppol wants every
//!   line period within the invoice period, PEPPOL-EN16931-R110);
//! - per window a run-off statement closes: the part that shifts (`SHIFTED`).
//!
//! Lines of zero are left out, except the fee and covered lines of a period's own statement.
//! Under `NET` the lines add up to the statement's net balance; under `SPLIT` to the net balance
//! plus the intercedent cost, which the municipality invoices itself.

use std::fmt::Write as _;

use chrono::{Datelike, NaiveDate};
use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use serde::{Deserialize, Serialize};

use super::money::round_half_away_from_zero;
use super::names::{invoicing_name, municipality_name};
use super::settlement::Statement;
use super::text::{Lines, check_free_text};
use super::{CbsCode, Cents, ContractId, Period, Violations};

/// The kinds of invoice line; each has its own VAT rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum LineType {
    /// Flextensie's service fee.
    Fee,
    /// Intercedent cost covered by the result.
    Covered,
    /// Uncovered cost shifted to the municipality.
    Shifted,
    /// The intercedent cost Flextensie takes over (only under [`CostMode::Net`]).
    IntercedentCost,
}

impl LineType {
    /// Every line type, in document order.
    pub const ALL: [LineType; 4] = [LineType::Fee, LineType::Covered, LineType::Shifted, LineType::IntercedentCost];

    /// The stable name, e.g. `INTERCEDENT_COST`: the line's item id on the invoice.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            LineType::Fee => "FEE",
            LineType::Covered => "COVERED",
            LineType::Shifted => "SHIFTED",
            LineType::IntercedentCost => "INTERCEDENT_COST",
        }
    }

    fn item_name(self) -> &'static str {
        match self {
            LineType::Fee => "Vaste kosten Flextensie (servicefee)",
            LineType::Covered => "Intercedentkosten gedekt door het resultaat (besparingen min vaste kosten)",
            LineType::Shifted => {
                "Ongedekte intercedentkosten, naar de gemeente verschoven (instroom onder het minimum)"
            }
            LineType::IntercedentCost => "Intercedentkosten gewerkte uren, door Flextensie overgenomen",
        }
    }
}

/// An EN 16931 VAT category (UNCL5305).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum VatCategory {
    /// `S`: standard rate.
    Standard,
    /// `Z`: zero rated.
    Zero,
    /// `E`: exempt.
    Exempt,
    /// `AE`: reverse charge.
    ReverseCharge,
    /// `O`: not subject to VAT; such lines go in a document of their own.
    NotSubject,
}

impl VatCategory {
    /// The UNCL5305 code.
    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            VatCategory::Standard => "S",
            VatCategory::Zero => "Z",
            VatCategory::Exempt => "E",
            VatCategory::ReverseCharge => "AE",
            VatCategory::NotSubject => "O",
        }
    }
}

/// How one line type is taxed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VatRule {
    /// The category.
    pub category: VatCategory,
    /// The rate in basis points (2100 is 21%): positive for `S`, zero otherwise.
    pub rate_bps: u32,
    /// The exemption reason, required for `E`, `AE` and `O`, refused otherwise.
    pub exemption_reason: Option<String>,
}

/// The highest VAT rate accepted, in basis points (100%).
pub const RATE_BPS_MAX: u32 = 10_000;

/// The longest exemption reason, in characters.
pub const EXEMPTION_REASON_LEN_MAX: usize = 300;

impl VatRule {
    /// The default of §9: standard rate, 21%.
    #[must_use]
    pub fn standard_21() -> VatRule {
        VatRule { category: VatCategory::Standard, rate_bps: 2_100, exemption_reason: None }
    }

    /// Checks a rule as EN 16931 wants it (BR-S/Z/E/AE/O): a rate above zero only and always for
    /// `S`; an exemption reason exactly for `E`, `AE` and `O`.
    ///
    /// # Errors
    /// What is wrong, for a field violation.
    pub fn parse(category: VatCategory, rate_bps: u32, exemption_reason: &str) -> Result<VatRule, String> {
        let reason = exemption_reason.trim();
        let needs_reason =
            matches!(category, VatCategory::Exempt | VatCategory::ReverseCharge | VatCategory::NotSubject);
        if rate_bps > RATE_BPS_MAX {
            return Err(format!("rate {rate_bps} basis points is above 100% ({RATE_BPS_MAX})"));
        }
        match (category, rate_bps) {
            (VatCategory::Standard, 0) => return Err("category S needs a rate above 0".to_owned()),
            (VatCategory::Standard, _) | (_, 0) => {}
            (other, _) => return Err(format!("category {} has rate 0, not {rate_bps} basis points", other.code())),
        }
        if needs_reason && reason.is_empty() {
            return Err(format!("category {} needs an exemption reason", category.code()));
        }
        if !needs_reason && !reason.is_empty() {
            return Err(format!("category {} takes no exemption reason", category.code()));
        }
        check_free_text(reason, EXEMPTION_REASON_LEN_MAX, Lines::One)
            .map_err(|error| format!("the exemption reason {error}"))?;
        Ok(VatRule { category, rate_bps, exemption_reason: needs_reason.then(|| reason.to_owned()) })
    }
}

/// Whether the intercedent cost is on Flextensie's invoice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CostMode {
    /// Not on the invoice: the municipality invoices its intercedent's cost itself (default).
    Split,
    /// A negative line per intercedent and rate on Flextensie's invoice.
    Net,
}

/// The document flavour: the same UBL model under another customization id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Flavour {
    /// SI-UBL 2.0 (NLCIUS), for Dutch government (default).
    SiUbl20,
    /// Peppol BIS Billing 3.0.
    PeppolBis3,
}

impl Flavour {
    /// The `cbc:CustomizationID`.
    #[must_use]
    pub fn customization_id(self) -> &'static str {
        match self {
            Flavour::SiUbl20 => "urn:cen.eu:en16931:2017#compliant#urn:fdc:nen.nl:nlcius:v1.0",
            Flavour::PeppolBis3 => "urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0",
        }
    }

    /// The stable name, e.g. `SI_UBL_2_0`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Flavour::SiUbl20 => "SI_UBL_2_0",
            Flavour::PeppolBis3 => "PEPPOL_BIS_3",
        }
    }
}

const PROFILE_ID: &str = "urn:fdc:peppol.eu:2017:poacc:billing:01:1.0";

/// A contract's VAT table: a rule per line type (their corrections follow the same rule) and
/// the intercedent cost's mode.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VatTable {
    /// The service fee.
    pub fee: VatRule,
    /// Cost covered by the result.
    pub covered: VatRule,
    /// Cost shifted to the municipality.
    pub shifted: VatRule,
    /// The intercedent cost, under `NET`.
    pub intercedent_cost: VatRule,
    /// `SPLIT` or `NET`.
    pub cost_mode: CostMode,
}

impl Default for VatTable {
    /// §9's defaults: `S` 21% for every line type, the intercedent cost `SPLIT`.
    fn default() -> VatTable {
        VatTable {
            fee: VatRule::standard_21(),
            covered: VatRule::standard_21(),
            shifted: VatRule::standard_21(),
            intercedent_cost: VatRule::standard_21(),
            cost_mode: CostMode::Split,
        }
    }
}

impl VatTable {
    /// Checks the table as a whole: line types of one category and rate share one VAT
    /// breakdown on the invoice, which has room for one exemption reason, so they must give
    /// the same one.
    ///
    /// # Errors
    /// The conflict, for a field violation.
    pub fn check(&self) -> Result<(), String> {
        for (index, first) in LineType::ALL.iter().enumerate() {
            for second in LineType::ALL.iter().skip(index + 1) {
                let (a, b) = (self.rule(*first), self.rule(*second));
                if (a.category, a.rate_bps) == (b.category, b.rate_bps) && a.exemption_reason != b.exemption_reason {
                    return Err(format!(
                        "{} and {} are both category {} at the same rate, so they need the same exemption reason",
                        first.as_str(),
                        second.as_str(),
                        a.category.code()
                    ));
                }
            }
        }
        Ok(())
    }

    /// The line types that can appear on an invoice under this table: the intercedent cost
    /// only under `NET`.
    pub fn invoiced(&self) -> impl Iterator<Item = LineType> + '_ {
        LineType::ALL
            .into_iter()
            .filter(|line_type| *line_type != LineType::IntercedentCost || self.cost_mode == CostMode::Net)
    }

    /// The rule of `line_type`.
    #[must_use]
    pub fn rule(&self, line_type: LineType) -> &VatRule {
        match line_type {
            LineType::Fee => &self.fee,
            LineType::Covered => &self.covered,
            LineType::Shifted => &self.shifted,
            LineType::IntercedentCost => &self.intercedent_cost,
        }
    }
}

/// A contract's invoicing data, in force from a day on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoicingTerms {
    /// The municipality's buyer reference (BT-10), if it gave one.
    pub buyer_reference: Option<String>,
    /// The municipality's purchase-order number (BT-13), if it gave one.
    pub order_reference: Option<String>,
    /// The buyer's accounting cost (BT-19), if it gave one.
    pub accounting_cost: Option<String>,
    /// The document flavour.
    pub flavour: Flavour,
    /// The VAT table.
    pub vat: VatTable,
}

/// A postal address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    /// Street and number (or a PO box).
    pub street: String,
    /// City.
    pub city: String,
    /// Postal code.
    pub postal_zone: String,
    /// ISO 3166-1 alpha-2 country code, e.g. `NL`.
    pub country: String,
}

/// Flextensie as the seller, from configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seller {
    /// Registered name.
    pub name: String,
    /// KvK number (scheme 0106).
    pub kvk: String,
    /// VAT number, e.g. `NL001234567B01`.
    pub vat_number: String,
    /// Address.
    pub address: Address,
    /// IBAN that payments go to.
    pub iban: String,
    /// Days from issue to due date, when the municipality pays.
    pub payment_terms_days: u32,
}

/// A municipality as the buyer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Buyer {
    /// Name, e.g. `Gemeente Utrecht`.
    pub name: String,
    /// Its OIN, 20 digits (scheme 0190): its legal identifier on the invoice.
    pub oin: String,
    /// Its KvK number, if any: a buyer identifier (BT-46, scheme 0106) on the invoice.
    #[serde(default)]
    pub kvk: Option<String>,
    /// Its VAT number, if any (needed for reverse-charge lines).
    pub vat_number: Option<String>,
    /// Address.
    pub address: Address,
    /// Its Peppol endpoint: scheme (ISO 6523 ICD, e.g. `0190`) and id.
    pub endpoint: (String, String),
}

/// The longest name, street, city or reference accepted, in characters.
pub const TEXT_LEN_MAX: usize = 200;

/// A required line of text: trimmed, 1 to [`TEXT_LEN_MAX`] printable characters.
///
/// # Errors
/// What is wrong, for a field violation.
pub fn required_text(raw: &str) -> Result<String, String> {
    let text = raw.trim();
    if text.is_empty() {
        return Err("is required".to_owned());
    }
    check_free_text(text, TEXT_LEN_MAX, Lines::One)?;
    Ok(text.to_owned())
}

/// An optional line of text: empty means none.
///
/// # Errors
/// What is wrong, for a field violation.
pub fn optional_text(raw: &str) -> Result<Option<String>, String> {
    if raw.trim().is_empty() { Ok(None) } else { required_text(raw).map(Some) }
}

fn digits(raw: &str, count: usize, what: &str) -> Result<String, String> {
    let text = raw.trim();
    if text.len() == count && text.bytes().all(|byte| byte.is_ascii_digit()) {
        Ok(text.to_owned())
    } else {
        Err(format!("must be a {what}: {count} digits"))
    }
}

/// A KvK (Dutch Chamber of Commerce) number: 8 digits.
///
/// # Errors
/// What is wrong.
pub fn parse_kvk(raw: &str) -> Result<String, String> {
    digits(raw, 8, "KvK number")
}

/// An OIN (Dutch government organisation id): 20 digits.
///
/// # Errors
/// What is wrong.
pub fn parse_oin(raw: &str) -> Result<String, String> {
    digits(raw, 20, "OIN")
}

/// A VAT number: a two-letter country prefix and 2 to 13 letters or digits, e.g.
/// `NL001234567B01`.
///
/// # Errors
/// What is wrong.
pub fn parse_vat_number(raw: &str) -> Result<String, String> {
    let text = raw.trim();
    let valid = (4..=15).contains(&text.len())
        && text.bytes().take(2).all(|byte| byte.is_ascii_uppercase())
        && text.bytes().skip(2).all(|byte| byte.is_ascii_uppercase() || byte.is_ascii_digit());
    if valid {
        Ok(text.to_owned())
    } else {
        Err("must be a VAT number: a country prefix such as NL, then letters and digits".to_owned())
    }
}

/// An IBAN (ISO 13616), spaces allowed on input, checked by its mod-97 check digits.
///
/// # Errors
/// What is wrong.
pub fn parse_iban(raw: &str) -> Result<String, String> {
    let iban: String = raw.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_ascii_uppercase();
    let shaped = (15..=34).contains(&iban.len())
        && iban.bytes().take(2).all(|byte| byte.is_ascii_uppercase())
        && iban.bytes().skip(2).take(2).all(|byte| byte.is_ascii_digit())
        && iban.bytes().all(|byte| byte.is_ascii_alphanumeric());
    if !shaped {
        return Err("must be an IBAN: country code, check digits and account, e.g. NL91ABNA0417164300".to_owned());
    }
    let rearranged = iban.bytes().skip(4).chain(iban.bytes().take(4));
    let remainder = rearranged.fold(0_u32, |remainder, byte| {
        let value = if byte.is_ascii_digit() { u32::from(byte - b'0') } else { u32::from(byte - b'A') + 10 };
        if value >= 10 { (remainder * 100 + value) % 97 } else { (remainder * 10 + value) % 97 }
    });
    if remainder == 1 { Ok(iban) } else { Err("is not a valid IBAN: its check digits do not match".to_owned()) }
}

/// An ISO 3166-1 alpha-2 country code: two capital letters.
///
/// # Errors
/// What is wrong.
pub fn parse_country(raw: &str) -> Result<String, String> {
    let text = raw.trim();
    if text.len() == 2 && text.bytes().all(|byte| byte.is_ascii_uppercase()) {
        Ok(text.to_owned())
    } else {
        Err("must be an ISO 3166-1 country code of two capital letters, e.g. NL".to_owned())
    }
}

/// A Peppol endpoint scheme: an ISO 6523 ICD of four digits, e.g. `0190` (OIN).
///
/// # Errors
/// What is wrong.
pub fn parse_endpoint_scheme(raw: &str) -> Result<String, String> {
    digits(raw, 4, "Peppol endpoint scheme (an ISO 6523 ICD, e.g. 0190 for an OIN)")
}

/// A Peppol endpoint id: 1 to 50 letters, digits or `- . _ :`.
///
/// # Errors
/// What is wrong.
pub fn parse_endpoint_id(raw: &str) -> Result<String, String> {
    let text = raw.trim();
    if (1..=50).contains(&text.len())
        && text.bytes().all(|byte| byte.is_ascii_alphanumeric() || b"-._:".contains(&byte))
    {
        Ok(text.to_owned())
    } else {
        Err("must be 1 to 50 letters, digits or - . _ :".to_owned())
    }
}

/// An address's fields as a client or the configuration gives them.
#[derive(Debug, Clone, Copy)]
pub struct RawAddress<'a> {
    /// Street and number.
    pub street: &'a str,
    /// City.
    pub city: &'a str,
    /// Postal code.
    pub postal_zone: &'a str,
    /// Country code.
    pub country: &'a str,
}

impl Address {
    /// Checks an address; violations are reported under `prefix` (e.g. `address.city`).
    pub fn parse(raw: RawAddress<'_>, prefix: &str, v: &mut Violations) -> Option<Address> {
        let street = v.check(&format!("{prefix}.street"), required_text(raw.street));
        let city = v.check(&format!("{prefix}.city"), required_text(raw.city));
        let postal_zone = v.check(&format!("{prefix}.postal_zone"), required_text(raw.postal_zone));
        let country = v.check(&format!("{prefix}.country"), parse_country(raw.country));
        Some(Address { street: street?, city: city?, postal_zone: postal_zone?, country: country? })
    }
}

/// An earlier statement a correction line refers to, with its invoice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Corrected {
    /// Its period.
    pub period: Period,
    /// Its number: the number of its invoice's document.
    pub number: String,
    /// The number of its invoice's second document (of lines not subject to VAT), if it had
    /// one: what a correction line not subject to VAT refers to.
    pub not_subject_number: Option<String>,
}

/// Everything an invoice is rendered from.
#[derive(Debug, Clone, Copy)]
pub struct InvoiceSource<'a> {
    /// The issued statement.
    pub statement: &'a Statement,
    /// The contract's invoicing data in force on the statement's period.
    pub terms: &'a InvoicingTerms,
    /// Flextensie.
    pub seller: &'a Seller,
    /// The municipality.
    pub buyer: &'a Buyer,
    /// The day the invoice is issued.
    pub issue_date: NaiveDate,
    /// The number of the second document (its `O` lines), when there is one: see
    /// [`InvoiceLines::needs_second_document`].
    pub second_number: Option<&'a str>,
}

/// Which series a document's number belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Series {
    /// The statement's own number.
    Statement,
    /// The gapless series of documents holding only lines not subject to VAT (`O`), issued
    /// beside a statement's main document.
    NotSubject,
}

/// One rendered UBL document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    /// Its number (`cbc:ID`).
    pub number: String,
    /// Its series.
    pub series: Series,
    /// The UBL XML, UTF-8.
    pub xml: String,
    /// Sum of its lines, before VAT.
    pub line_total: Cents,
    /// Its VAT.
    pub vat: Cents,
    /// What is payable: positive to Flextensie, negative to the municipality.
    pub payable: Cents,
}

/// A piece of invoicing data that is missing: what it concerns and what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing {
    /// What it concerns, e.g. `contracts/c1/invoicing`.
    pub subject: String,
    /// What is missing and how to supply it.
    pub description: String,
}

/// What keeps a statement of `contract` from being invoiced: the data §9 requires that is
/// missing. Empty when it can be invoiced.
#[must_use]
pub fn missing_data(
    contract: &ContractId,
    gemeente: &CbsCode,
    seller: Option<&Seller>,
    buyer: Option<&Buyer>,
    terms: Option<&InvoicingTerms>,
) -> Vec<Missing> {
    let mut missing = Vec::new();
    let mut add =
        |subject: String, description: &str| missing.push(Missing { subject, description: description.to_owned() });
    if seller.is_none() {
        add(
            "invoicing.seller".to_owned(),
            "Flextensie's own party (name, KvK and VAT number, address, IBAN) is not configured",
        );
    }
    if buyer.is_none() {
        add(
            municipality_name(gemeente),
            "the municipality's party data (name, OIN, address) is not recorded: PutMunicipality",
        );
    }
    let invoicing = invoicing_name(contract);
    match terms {
        None => add(invoicing, "the contract has no invoicing data for this period: SetContractInvoicing"),
        Some(terms) => {
            if terms.buyer_reference.is_none() && terms.order_reference.is_none() {
                add(invoicing.clone(), "a buyer reference or a purchase-order number is required (BR-NL-2)");
            }
            let reverse_charge = terms.vat.invoiced().any(|t| terms.vat.rule(t).category == VatCategory::ReverseCharge);
            if reverse_charge && buyer.is_none_or(|buyer| buyer.vat_number.is_none()) {
                add(
                    municipality_name(gemeente),
                    "a reverse-charge (AE) line needs the municipality's VAT number (BR-AE-02)",
                );
            }
        }
    }
    missing
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Line {
    line_type: LineType,
    amount: Cents,
    /// Unit (`C62` or `HUR`) and quantity: ±1 unit, or −minutes/60 hours.
    quantity: (&'static str, String),
    /// Unit price in cents, never negative.
    price: i64,
    period: (NaiveDate, NaiveDate),
    name: String,
    note: Option<String>,
    /// The corrected statement's number.
    corrects: Option<String>,
    properties: Vec<(&'static str, String)>,
}

impl Line {
    fn units(line_type: LineType, amount: Cents, period: (NaiveDate, NaiveDate), name: String) -> Line {
        let count = if amount.cents() < 0 { "-1" } else { "1" };
        Line {
            line_type,
            amount,
            quantity: ("C62", count.to_owned()),
            price: amount.cents().saturating_abs(),
            period,
            name,
            note: None,
            corrects: None,
            properties: Vec::new(),
        }
    }
}

/// The statement's invoice lines under `vat` (see the module's description), before they are
/// split by document. `None` on overflow or when a corrected statement is not given.
fn lines(statement: &Statement, vat: &VatTable, corrected: &[Corrected]) -> Option<Vec<Line>> {
    let own = (statement.period.start, statement.period.end);
    let label = period_label(statement.period.start, statement.period.end);
    let net = vat.cost_mode == CostMode::Net;
    let figures = &statement.figures;
    let mut lines = Vec::new();
    if !statement.run_off {
        for (line_type, amount) in
            [(LineType::Fee, figures.period_fee), (LineType::Covered, figures.covered_this_period)]
        {
            lines.push(Line::units(line_type, amount, own, format!("{} {label}", line_type.item_name())));
        }
    }
    if let Some(allocation) = figures.allocation.filter(|allocation| allocation.shifted != Cents::ZERO) {
        let name = format!(
            "{}, intakevenster {} t/m {}",
            LineType::Shifted.item_name(),
            statement.window_start,
            statement.window_end
        );
        lines.push(Line::units(LineType::Shifted, allocation.shifted, own, name));
    }
    if net {
        for cost in &statement.cost_lines {
            if cost.cost == Cents::ZERO && cost.minutes.get() == 0 {
                continue;
            }
            lines.push(Line {
                line_type: LineType::IntercedentCost,
                amount: Cents::from_stored(cost.cost.cents().checked_neg()?),
                quantity: ("HUR", hours(cost.minutes.get().checked_neg()?)?),
                price: cost.rate.cents_per_hour(),
                period: own,
                name: format!("{} {label}", LineType::IntercedentCost.item_name()),
                note: None,
                corrects: None,
                properties: vec![
                    ("Intercedent", cost.intercedent.as_str().to_owned()),
                    ("Minuten", cost.minutes.get().to_string()),
                    ("Uurtarief", Cents::from_stored(cost.rate.cents_per_hour()).to_string()),
                ],
            });
        }
    }
    for correction in &statement.corrections {
        let of = corrected.iter().find(|earlier| earlier.period.start == correction.period_start)?;
        let what = format!("periode {} (afrekening {})", period_label(of.period.start, of.period.end), of.number);
        let mut parts = Vec::new();
        if let Some(adjustment) = &correction.adjustment {
            parts.push((LineType::Covered, adjustment.covered));
            parts.push((LineType::Shifted, adjustment.shifted));
        }
        if net {
            parts.push((LineType::IntercedentCost, Cents::from_stored(correction.cost.cents().checked_neg()?)));
        }
        for (line_type, amount) in parts.into_iter().filter(|(_, amount)| *amount != Cents::ZERO) {
            let mut line =
                Line::units(line_type, amount, own, format!("Correctie {}: {}", what, line_type.item_name()));
            line.note = Some(format!("Correctie van {what}: laat geverifieerde uren of besparingen"));
            let not_subject = vat.rule(line_type).category == VatCategory::NotSubject;
            let document = of.not_subject_number.as_ref().filter(|_| not_subject).unwrap_or(&of.number);
            line.corrects = Some(document.clone());
            lines.push(line);
        }
    }
    for closing in &statement.closings {
        if closing.allocation.shifted == Cents::ZERO {
            continue;
        }
        let name = format!(
            "{}, intakevenster {} t/m {} (afgesloten na einde contract)",
            LineType::Shifted.item_name(),
            closing.window_start,
            closing.window_end
        );
        lines.push(Line::units(LineType::Shifted, closing.allocation.shifted, own, name));
    }
    Some(lines)
}

/// A statement's invoice lines under a VAT table, checked to add up to the statement's figure
/// and split by document: lines not subject to VAT (`O`) never share one with others.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvoiceLines {
    subject: Vec<Line>,
    not_subject: Vec<Line>,
}

impl InvoiceLines {
    /// The lines of `statement` under `vat` (see the module's description); `corrected` are
    /// the statements its corrections correct.
    ///
    /// # Errors
    /// An internal inconsistency (overflow, a corrected statement not given, lines that do not
    /// add up to the statement's figure), described.
    pub fn of(statement: &Statement, vat: &VatTable, corrected: &[Corrected]) -> Result<InvoiceLines, String> {
        let mut lines = lines(statement, vat, corrected).ok_or_else(|| {
            format!("statement {}: a corrected statement is missing, or an amount overflows", statement.number)
        })?;
        if lines.is_empty() {
            // Nothing to charge either way (a run-off statement whose corrections cancel out):
            // a document still needs a line.
            let own = (statement.period.start, statement.period.end);
            let label = period_label(own.0, own.1);
            lines.push(Line::units(LineType::Fee, Cents::ZERO, own, format!("{} {label}", LineType::Fee.item_name())));
        }
        // The lines add up to the statement's figure, or nothing is issued.
        let expected = expected_line_total(statement, vat.cost_mode)
            .ok_or_else(|| format!("statement {}: an amount overflows", statement.number))?;
        if Cents::checked_sum(lines.iter().map(|line| line.amount)) != Some(expected) {
            return Err(format!("statement {}: its invoice lines do not add up to {expected}", statement.number));
        }
        let (not_subject, subject) =
            lines.into_iter().partition(|line| vat.rule(line.line_type).category == VatCategory::NotSubject);
        Ok(InvoiceLines { subject, not_subject })
    }

    /// Whether the invoice takes two documents: lines not subject to VAT beside lines of other
    /// categories. The second one then needs a number of its own series.
    #[must_use]
    pub fn needs_second_document(&self) -> bool {
        !self.subject.is_empty() && !self.not_subject.is_empty()
    }
}

/// Renders the statement's invoice from its `lines`: one document, or two when `O` lines sit
/// beside others (the first keeps the statement's number, the second takes `second_number`).
///
/// # Errors
/// An internal inconsistency (overflow, a second number not given, a write into memory that
/// failed), described.
pub fn render(source: &InvoiceSource<'_>, lines: &InvoiceLines) -> Result<Vec<Document>, String> {
    let number = &source.statement.number;
    if !lines.needs_second_document() {
        let only = if lines.subject.is_empty() { &lines.not_subject } else { &lines.subject };
        return Ok(vec![document(source, number, Series::Statement, only)?]);
    }
    let second =
        source.second_number.ok_or_else(|| format!("statement {number}: its O lines need a second document number"))?;
    Ok(vec![
        document(source, number, Series::Statement, &lines.subject)?,
        document(source, second, Series::NotSubject, &lines.not_subject)?,
    ])
}

/// What a statement's invoice lines add up to (before VAT): its net balance, and under `SPLIT`
/// plus the intercedent cost it carries (its cost lines and its corrections' cost), which is
/// the municipality's to invoice. `None` on overflow.
#[must_use]
pub fn expected_line_total(statement: &Statement, cost_mode: CostMode) -> Option<Cents> {
    match cost_mode {
        CostMode::Net => Some(statement.net_balance),
        CostMode::Split => {
            let lines = Cents::checked_sum(statement.cost_lines.iter().map(|line| line.cost))?;
            let corrections = Cents::checked_sum(statement.corrections.iter().map(|correction| correction.cost))?;
            statement.net_balance.checked_add(lines)?.checked_add(corrections)
        }
    }
}

/// VAT of `taxable` cents at `rate_bps`, half away from zero.
#[must_use]
pub fn vat_of(taxable: Cents, rate_bps: u32) -> Option<Cents> {
    Cents::from_exact_ratio(i128::from(taxable.cents()) * i128::from(rate_bps), 10_000)
}

/// One VAT breakdown of a document: category and rate, taxable amount and VAT.
struct Subtotal<'a> {
    rule: &'a VatRule,
    taxable: Cents,
    vat: Cents,
}

fn subtotals<'a>(vat: &'a VatTable, lines: &[Line]) -> Option<Vec<Subtotal<'a>>> {
    let mut keys: Vec<(VatCategory, u32)> =
        lines.iter().map(|line| vat.rule(line.line_type)).map(|rule| (rule.category, rule.rate_bps)).collect();
    keys.sort_unstable();
    keys.dedup();
    keys.into_iter()
        .map(|(category, rate)| {
            let mut members = lines.iter().filter(|line| {
                let rule = vat.rule(line.line_type);
                (rule.category, rule.rate_bps) == (category, rate)
            });
            let rule = vat.rule(members.clone().next()?.line_type);
            let taxable = Cents::checked_sum(members.by_ref().map(|line| line.amount))?;
            Some(Subtotal { rule, taxable, vat: vat_of(taxable, rate)? })
        })
        .collect()
}

fn document(source: &InvoiceSource<'_>, number: &str, series: Series, lines: &[Line]) -> Result<Document, String> {
    let overflow = || format!("invoice {number}: an amount overflows");
    let vat = &source.terms.vat;
    let subtotals = subtotals(vat, lines).ok_or_else(overflow)?;
    let line_total = Cents::checked_sum(lines.iter().map(|line| line.amount)).ok_or_else(overflow)?;
    let tax = Cents::checked_sum(subtotals.iter().map(|subtotal| subtotal.vat)).ok_or_else(overflow)?;
    let payable = line_total.checked_add(tax).ok_or_else(overflow)?;
    let not_subject = subtotals.iter().all(|subtotal| subtotal.rule.category == VatCategory::NotSubject);
    let xml = write_document(source, number, lines, &subtotals, (line_total, tax, payable), not_subject)
        .map_err(|error| format!("invoice {number}: writing its XML: {error}"))?;
    Ok(Document { number: number.to_owned(), series, xml, line_total, vat: tax, payable })
}

/// Writes UBL through quick-xml, which escapes every text and attribute value.
struct Xml {
    writer: Writer<Vec<u8>>,
}

type XmlResult = Result<(), String>;

impl Xml {
    fn event(&mut self, event: Event<'_>) -> XmlResult {
        self.writer.write_event(event).map_err(|error| error.to_string())
    }

    fn open(&mut self, name: &str) -> XmlResult {
        self.event(Event::Start(BytesStart::new(name)))
    }

    fn close(&mut self, name: &str) -> XmlResult {
        self.event(Event::End(BytesEnd::new(name)))
    }

    fn leaf_with(&mut self, name: &str, attribute: Option<(&str, &str)>, text: &str) -> XmlResult {
        let mut start = BytesStart::new(name);
        if let Some(attribute) = attribute {
            start.push_attribute(attribute);
        }
        self.event(Event::Start(start))?;
        self.event(Event::Text(BytesText::new(text)))?;
        self.close(name)
    }

    fn leaf(&mut self, name: &str, text: &str) -> XmlResult {
        self.leaf_with(name, None, text)
    }

    fn amount(&mut self, name: &str, amount: Cents) -> XmlResult {
        self.leaf_with(name, Some(("currencyID", "EUR")), &amount.to_string())
    }

    fn period(&mut self, (start, end): (NaiveDate, NaiveDate)) -> XmlResult {
        self.open("cac:InvoicePeriod")?;
        self.leaf("cbc:StartDate", &start.to_string())?;
        self.leaf("cbc:EndDate", &end.to_string())?;
        self.close("cac:InvoicePeriod")
    }

    fn address(&mut self, address: &Address) -> XmlResult {
        self.open("cac:PostalAddress")?;
        self.leaf("cbc:StreetName", &address.street)?;
        self.leaf("cbc:CityName", &address.city)?;
        self.leaf("cbc:PostalZone", &address.postal_zone)?;
        self.open("cac:Country")?;
        self.leaf("cbc:IdentificationCode", &address.country)?;
        self.close("cac:Country")?;
        self.close("cac:PostalAddress")
    }

    fn tax_scheme(&mut self) -> XmlResult {
        self.open("cac:TaxScheme")?;
        self.leaf("cbc:ID", "VAT")?;
        self.close("cac:TaxScheme")
    }

    fn party_tax_scheme(&mut self, vat_number: &str) -> XmlResult {
        self.open("cac:PartyTaxScheme")?;
        self.leaf("cbc:CompanyID", vat_number)?;
        self.tax_scheme()?;
        self.close("cac:PartyTaxScheme")
    }

    fn legal_entity(&mut self, name: &str, (scheme, id): (&str, &str)) -> XmlResult {
        self.open("cac:PartyLegalEntity")?;
        self.leaf("cbc:RegistrationName", name)?;
        self.leaf_with("cbc:CompanyID", Some(("schemeID", scheme)), id)?;
        self.close("cac:PartyLegalEntity")
    }

    /// A tax category: `cac:TaxCategory` on the document, `cac:ClassifiedTaxCategory` on a
    /// line (which carries no exemption reason). `O` has no rate (BR-O-05, BR-O-10).
    fn category(&mut self, element: &str, rule: &VatRule, with_reason: bool) -> XmlResult {
        self.open(element)?;
        self.leaf("cbc:ID", rule.category.code())?;
        if rule.category != VatCategory::NotSubject {
            self.leaf("cbc:Percent", &scaled(i64::from(rule.rate_bps), 2))?;
        }
        if let Some(reason) = rule.exemption_reason.as_deref().filter(|_| with_reason) {
            self.leaf("cbc:TaxExemptionReason", reason)?;
        }
        self.tax_scheme()?;
        self.close(element)
    }
}

fn write_document(
    source: &InvoiceSource<'_>,
    number: &str,
    lines: &[Line],
    subtotals: &[Subtotal<'_>],
    (line_total, tax, payable): (Cents, Cents, Cents),
    not_subject: bool,
) -> Result<String, String> {
    let (statement, terms, seller, buyer) = (source.statement, source.terms, source.seller, source.buyer);
    let mut x = Xml { writer: Writer::new_with_indent(Vec::new(), b' ', 2) };
    x.event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    let mut root = BytesStart::new("Invoice");
    root.push_attribute(("xmlns", "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"));
    root.push_attribute(("xmlns:cac", "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"));
    root.push_attribute(("xmlns:cbc", "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"));
    x.event(Event::Start(root))?;
    x.leaf("cbc:CustomizationID", terms.flavour.customization_id())?;
    x.leaf("cbc:ProfileID", PROFILE_ID)?;
    x.leaf("cbc:ID", number)?;
    x.leaf("cbc:IssueDate", &source.issue_date.to_string())?;
    let payable_to_seller = payable > Cents::ZERO;
    if payable_to_seller {
        let due = source.issue_date.checked_add_days(chrono::Days::new(u64::from(seller.payment_terms_days)));
        if let Some(due) = due {
            x.leaf("cbc:DueDate", &due.to_string())?;
        }
    }
    x.leaf("cbc:InvoiceTypeCode", "380")?;
    x.leaf("cbc:Note", &summary(statement, number, line_total))?;
    x.leaf("cbc:DocumentCurrencyCode", "EUR")?;
    if let Some(cost) = &terms.accounting_cost {
        x.leaf("cbc:AccountingCost", cost)?;
    }
    if let Some(reference) = &terms.buyer_reference {
        x.leaf("cbc:BuyerReference", reference)?;
    }
    x.period((statement.period.start, statement.period.end))?;
    if let Some(order) = &terms.order_reference {
        x.open("cac:OrderReference")?;
        x.leaf("cbc:ID", order)?;
        x.close("cac:OrderReference")?;
    }
    let mut preceding: Vec<&str> = lines.iter().filter_map(|line| line.corrects.as_deref()).collect();
    preceding.dedup();
    for earlier in preceding {
        x.open("cac:BillingReference")?;
        x.open("cac:InvoiceDocumentReference")?;
        x.leaf("cbc:ID", earlier)?;
        x.close("cac:InvoiceDocumentReference")?;
        x.close("cac:BillingReference")?;
    }
    x.open("cac:ContractDocumentReference")?;
    x.leaf("cbc:ID", statement.contract_id.as_str())?;
    x.close("cac:ContractDocumentReference")?;

    x.open("cac:AccountingSupplierParty")?;
    x.open("cac:Party")?;
    x.leaf_with("cbc:EndpointID", Some(("schemeID", "0106")), &seller.kvk)?;
    x.open("cac:PartyName")?;
    x.leaf("cbc:Name", &seller.name)?;
    x.close("cac:PartyName")?;
    x.address(&seller.address)?;
    if !not_subject {
        // A document of `O` lines names no VAT number of either party (BR-O-02).
        x.party_tax_scheme(&seller.vat_number)?;
    }
    x.legal_entity(&seller.name, ("0106", &seller.kvk))?;
    x.close("cac:Party")?;
    x.close("cac:AccountingSupplierParty")?;

    x.open("cac:AccountingCustomerParty")?;
    x.open("cac:Party")?;
    x.leaf_with("cbc:EndpointID", Some(("schemeID", &buyer.endpoint.0)), &buyer.endpoint.1)?;
    if let Some(kvk) = &buyer.kvk {
        x.open("cac:PartyIdentification")?;
        x.leaf_with("cbc:ID", Some(("schemeID", "0106")), kvk)?;
        x.close("cac:PartyIdentification")?;
    }
    x.open("cac:PartyName")?;
    x.leaf("cbc:Name", &buyer.name)?;
    x.close("cac:PartyName")?;
    x.address(&buyer.address)?;
    if let Some(vat_number) = buyer.vat_number.as_deref().filter(|_| !not_subject) {
        x.party_tax_scheme(vat_number)?;
    }
    x.legal_entity(&buyer.name, ("0190", &buyer.oin))?;
    x.close("cac:Party")?;
    x.close("cac:AccountingCustomerParty")?;

    if payable_to_seller {
        x.open("cac:PaymentMeans")?;
        x.leaf("cbc:PaymentMeansCode", "58")?;
        x.leaf("cbc:PaymentID", number)?;
        x.open("cac:PayeeFinancialAccount")?;
        x.leaf("cbc:ID", &seller.iban)?;
        x.close("cac:PayeeFinancialAccount")?;
        x.close("cac:PaymentMeans")?;
    } else {
        x.open("cac:PaymentTerms")?;
        x.leaf(
            "cbc:Note",
            "Saldo in het voordeel van de gemeente of nihil: Flextensie maakt een bedrag in het voordeel van de gemeente over of verrekent het met de volgende afrekening, volgens het contract.",
        )?;
        x.close("cac:PaymentTerms")?;
    }

    x.open("cac:TaxTotal")?;
    x.amount("cbc:TaxAmount", tax)?;
    for subtotal in subtotals {
        x.open("cac:TaxSubtotal")?;
        x.amount("cbc:TaxableAmount", subtotal.taxable)?;
        x.amount("cbc:TaxAmount", subtotal.vat)?;
        x.category("cac:TaxCategory", subtotal.rule, true)?;
        x.close("cac:TaxSubtotal")?;
    }
    x.close("cac:TaxTotal")?;

    x.open("cac:LegalMonetaryTotal")?;
    x.amount("cbc:LineExtensionAmount", line_total)?;
    x.amount("cbc:TaxExclusiveAmount", line_total)?;
    x.amount("cbc:TaxInclusiveAmount", payable)?;
    x.amount("cbc:PayableAmount", payable)?;
    x.close("cac:LegalMonetaryTotal")?;

    for (index, line) in lines.iter().enumerate() {
        x.open("cac:InvoiceLine")?;
        x.leaf("cbc:ID", &(index + 1).to_string())?;
        if let Some(note) = &line.note {
            x.leaf("cbc:Note", note)?;
        }
        let (unit, quantity) = &line.quantity;
        x.leaf_with("cbc:InvoicedQuantity", Some(("unitCode", unit)), quantity)?;
        x.amount("cbc:LineExtensionAmount", line.amount)?;
        x.period(line.period)?;
        x.open("cac:Item")?;
        x.leaf("cbc:Name", &line.name)?;
        x.open("cac:SellersItemIdentification")?;
        x.leaf("cbc:ID", line.line_type.as_str())?;
        x.close("cac:SellersItemIdentification")?;
        x.category("cac:ClassifiedTaxCategory", terms.vat.rule(line.line_type), false)?;
        for (name, value) in &line.properties {
            x.open("cac:AdditionalItemProperty")?;
            x.leaf("cbc:Name", name)?;
            x.leaf("cbc:Value", value)?;
            x.close("cac:AdditionalItemProperty")?;
        }
        x.close("cac:Item")?;
        x.open("cac:Price")?;
        x.amount("cbc:PriceAmount", Cents::from_stored(line.price))?;
        x.close("cac:Price")?;
        x.close("cac:InvoiceLine")?;
    }
    x.close("Invoice")?;
    let mut bytes = x.writer.into_inner();
    bytes.push(b'\n');
    String::from_utf8(bytes).map_err(|error| error.to_string())
}

/// The document's note: what it settles and the balance before VAT.
fn summary(statement: &Statement, number: &str, line_total: Cents) -> String {
    let mut note = format!(
        "Afrekening flexpool contract {}, periode {} (afrekening {}",
        statement.contract_id.as_str(),
        period_label(statement.period.start, statement.period.end),
        statement.number
    );
    if number != statement.number {
        note.push_str(", niet aan btw onderworpen deel");
    }
    let _ = write!(note, "). Saldo excl. btw {line_total}");
    note.push_str(match line_total.cents() {
        ..0 => " (in het voordeel van de gemeente).",
        0 => ".",
        _ => " (te betalen door de gemeente).",
    });
    note
}

const MONTHS: [&str; 12] = [
    "januari",
    "februari",
    "maart",
    "april",
    "mei",
    "juni",
    "juli",
    "augustus",
    "september",
    "oktober",
    "november",
    "december",
];

/// `januari 2027` for a calendar month, else `2027-01-01 t/m 2027-03-31`.
fn period_label(start: NaiveDate, end: NaiveDate) -> String {
    let whole_month = start.day() == 1
        && start.year() == end.year()
        && start.month() == end.month()
        && end.checked_add_days(chrono::Days::new(1)).is_some_and(|next| next.day() == 1);
    match usize::try_from(start.month0()).ok().and_then(|month| MONTHS.get(month)).filter(|_| whole_month) {
        Some(month) => format!("{month} {}", start.year()),
        None => format!("{start} t/m {end}"),
    }
}

/// `value / 10^places` as a plain decimal without trailing zeros: `2100, 2` → `21`,
/// `-120500000, 6` → `-120.5`.
fn scaled(value: i64, places: u32) -> String {
    let unit = 10_i64.pow(places);
    let sign = if value < 0 { "-" } else { "" };
    let (whole, fraction) = (value.unsigned_abs() / unit.unsigned_abs(), value.unsigned_abs() % unit.unsigned_abs());
    if fraction == 0 {
        return format!("{sign}{whole}");
    }
    let digits = format!("{fraction:0width$}", width = places as usize);
    format!("{sign}{whole}.{}", digits.trim_end_matches('0'))
}

/// Hours of `minutes` as a plain decimal, exact to six places (half away from zero beyond):
/// `-7230` → `-120.5`, `7` → `0.116667`. `None` when it does not fit.
fn hours(minutes: i64) -> Option<String> {
    let micro = round_half_away_from_zero(i128::from(minutes).checked_mul(1_000_000)?, 60)?;
    Some(scaled(i64::try_from(micro).ok()?, 6))
}

#[cfg(test)]
#[path = "invoice_tests.rs"]
mod tests;
