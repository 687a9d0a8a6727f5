//! The renderer against DESIGN.md §9's worked figures, the golden documents that CI validates
//! with the official rule sets (`tests/golden/einvoice`, rewritten with
//! `FLEXSETTLE_TEST_UPDATE_GOLDEN=1`), and a property test of totals and determinism.

use chrono::NaiveDate;
use proptest::prelude::*;

use super::*;
use crate::domain::allocation::{Allocation, IntakeOutcome};
use crate::domain::contract::tests_support::worked_example_terms;
use crate::domain::hours::CostLine;
use crate::domain::pool::Composition;
use crate::domain::settlement::{
    ClosedWindow, CorrectionTotals, PendingInputs, PeriodTotals, SettlementFigures, WindowAdjustment, WindowClosing,
    settle,
};
use crate::domain::{CbsCode, ContractTerms, HourlyRate, IntercedentId, Minutes};

fn cents(value: i64) -> Cents {
    Cents::from_stored(value)
}

fn day(month: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2027, month, day).unwrap()
}

fn seller() -> Seller {
    Seller {
        name: "Flextensie B.V.".to_owned(),
        kvk: "12345678".to_owned(),
        vat_number: "NL001234567B01".to_owned(),
        address: Address {
            street: "Voorbeeldstraat 1".to_owned(),
            city: "Utrecht".to_owned(),
            postal_zone: "3511 AA".to_owned(),
            country: "NL".to_owned(),
        },
        iban: "NL91ABNA0417164300".to_owned(),
        payment_terms_days: 30,
    }
}

fn buyer() -> Buyer {
    Buyer {
        name: "Gemeente Utrecht".to_owned(),
        oin: "00000001002220647000".to_owned(),
        kvk: Some("30280353".to_owned()),
        vat_number: None,
        address: Address {
            street: "Postbus 16200".to_owned(),
            city: "Utrecht".to_owned(),
            postal_zone: "3500 CE".to_owned(),
            country: "NL".to_owned(),
        },
        endpoint: ("0190".to_owned(), "00000001002220647000".to_owned()),
    }
}

fn terms(flavour: Flavour, cost_mode: CostMode) -> InvoicingTerms {
    InvoicingTerms {
        buyer_reference: Some("WI-FLEXPOOL-2027".to_owned()),
        order_reference: None,
        accounting_cost: None,
        flavour,
        vat: VatTable { cost_mode, ..VatTable::default() },
    }
}

fn cost_line(period_start: NaiveDate, minutes: i64, rate: i64) -> CostLine {
    let rate = HourlyRate::parse(rate).unwrap();
    let minutes = Minutes::new(minutes);
    CostLine {
        intercedent: IntercedentId::parse("int-01").unwrap(),
        period_start,
        rate,
        minutes,
        cost: rate.cost_of(minutes).unwrap(),
    }
}

/// A statement of `number` for period `index` with these figures.
fn statement(terms: &ContractTerms, index: u32, lines: Vec<CostLine>, figures: SettlementFigures) -> Statement {
    let period = terms.period(index).unwrap();
    Statement {
        number: format!("GM0344-2027-{:04}", index + 1),
        contract_id: ContractId::parse("gm0344-flex-2027").unwrap(),
        period,
        run_off: false,
        window_start: terms.period(index - index % 3).unwrap().start,
        window_end: terms.period(index - index % 3 + 2).unwrap().end,
        closes_window: figures.allocation.is_some(),
        cost_lines: lines,
        savings: figures.period_savings,
        corrections: Vec::new(),
        closings: Vec::new(),
        contribution: PeriodTotals { period, cost: figures.period_cost, savings: figures.period_savings },
        figures,
        net_balance: figures.net_balance,
        intake: None,
        composition: Composition {
            arrangement_1: 0,
            arrangement_3: 0,
            arrangement_1_bps: 0,
            arrangement_3_bps: 0,
            target_met: false,
        },
        target_arrangement_3_percent: 85,
        pending_hours: PendingInputs { count: 0, first: Vec::new() },
        pending_savings: PendingInputs { count: 0, first: Vec::new() },
    }
}

/// The worked example's months 1 to 3 (January to March 2027), intake 24 of 30 (FULL shift).
fn worked_month(month: u32) -> Statement {
    let terms = worked_example_terms();
    let figures = [(587_438, 410_000), (487_500, 980_000), (552_200, 200_000)];
    let periods: Vec<PeriodTotals> = figures
        .iter()
        .enumerate()
        .map(|(index, &(cost, savings))| PeriodTotals {
            period: terms.period(u32::try_from(index).unwrap()).unwrap(),
            cost: cents(cost),
            savings: cents(savings),
        })
        .collect();
    let count = month as usize;
    let closing = (count == 3).then_some(IntakeOutcome { motivated: 24, minimum: 30 });
    let settled = settle(&terms, &periods[..count], closing).unwrap();
    let lines = match month {
        1 => vec![cost_line(day(1, 1), 7_230, 4_875)],
        2 => vec![cost_line(day(2, 1), 6_000, 4_875)],
        _ => vec![cost_line(day(3, 1), 6_600, 5_020)],
    };
    let mut statement = statement(&terms, month - 1, lines, settled);
    statement.intake = closing;
    statement
}

fn earlier_statements() -> Vec<Corrected> {
    let terms = worked_example_terms();
    (0..3)
        .map(|index| Corrected {
            period: terms.period(index).unwrap(),
            number: format!("GM0344-2027-{:04}", index + 1),
            not_subject_number: None,
        })
        .collect()
}

/// April 2027 (window 2), carrying late hours (60 minutes) and late savings (100.00) of
/// January, whose window March closed with a shift: the correction's covered, shifted and cost
/// lines.
fn april_with_a_correction() -> Statement {
    let terms = worked_example_terms();
    let april = terms.period(3).unwrap();
    let figures =
        settle(&terms, &[PeriodTotals { period: april, cost: cents(292_500), savings: cents(500_000) }], None).unwrap();
    let mut statement = statement(&terms, 3, vec![cost_line(day(4, 1), 3_600, 4_875)], figures);
    let window = ClosedWindow {
        start: day(1, 1),
        periods: 3,
        cost: cents(1_627_138),
        savings: cents(1_590_000),
        intake: IntakeOutcome { motivated: 24, minimum: 30 },
    };
    let (_, adjustment) = window.correct(&terms, cents(4_875), cents(10_000)).unwrap();
    statement.corrections = vec![CorrectionTotals {
        period_start: day(1, 1),
        cost: cents(4_875),
        savings: cents(10_000),
        same_window: false,
        adjustment: Some(adjustment),
    }];
    statement.net_balance = statement.net_balance.checked_add(adjustment.net_balance).unwrap();
    statement
}

/// February after a January whose savings were corrected down below the fees: what the
/// result covered in January is taken back (covered this period is negative).
fn february_with_negative_covered() -> Statement {
    let terms = worked_example_terms();
    let periods = [
        PeriodTotals { period: terms.period(0).unwrap(), cost: cents(100_000), savings: cents(300_000) },
        PeriodTotals { period: terms.period(1).unwrap(), cost: cents(48_750), savings: cents(-150_000) },
    ];
    let figures = settle(&terms, &periods, None).unwrap();
    statement(&terms, 1, vec![cost_line(day(2, 1), 600, 4_875), cost_line(day(2, 1), 0, 4_875)], figures)
}

fn render_with(statement: &Statement, terms: &InvoicingTerms) -> Vec<Document> {
    let corrected = earlier_statements();
    let (seller, buyer) = (seller(), buyer());
    let lines = InvoiceLines::of(statement, &terms.vat, &corrected).unwrap();
    let second = lines.needs_second_document().then_some("GM0344-2027-O0001");
    let source = InvoiceSource {
        statement,
        terms,
        seller: &seller,
        buyer: &buyer,
        issue_date: statement.period.end.checked_add_days(chrono::Days::new(5)).unwrap(),
        second_number: second,
    };
    render(&source, &lines).unwrap()
}

fn totals(documents: &[Document]) -> Vec<(i64, i64, i64)> {
    documents.iter().map(|d| (d.line_total.cents(), d.vat.cents(), d.payable.cents())).collect()
}

#[test]
fn january_split_invoices_fee_and_covered_only() {
    let documents = render_with(&worked_month(1), &terms(Flavour::SiUbl20, CostMode::Split));
    assert_eq!(totals(&documents), [(410_000, 86_100, 496_100)]);
    assert!(!documents[0].xml.contains("INTERCEDENT_COST"));
    assert!(documents[0].xml.contains("<cbc:DueDate>2027-03-07</cbc:DueDate>"));
    assert!(documents[0].xml.contains("<cbc:PaymentMeansCode>58</cbc:PaymentMeansCode>"));
}

#[test]
fn january_net_is_owed_to_the_municipality() {
    let documents = render_with(&worked_month(1), &terms(Flavour::SiUbl20, CostMode::Net));
    assert_eq!(totals(&documents), [(-177_438, -37_262, -214_700)]);
    let xml = &documents[0].xml;
    assert!(xml.contains(r#"<cbc:InvoicedQuantity unitCode="HUR">-120.5</cbc:InvoicedQuantity>"#), "{xml}");
    assert!(xml.contains(r#"<cbc:PriceAmount currencyID="EUR">48.75</cbc:PriceAmount>"#));
    assert!(xml.contains(r#"<cbc:PayableAmount currencyID="EUR">-2147.00</cbc:PayableAmount>"#));
    assert!(!xml.contains("PaymentMeans") && !xml.contains("DueDate"));
}

#[test]
fn february_net_is_payable_to_flextensie() {
    let documents = render_with(&worked_month(2), &terms(Flavour::SiUbl20, CostMode::Net));
    assert_eq!(totals(&documents), [(427_438, 89_762, 517_200)]);
}

#[test]
fn a_correction_is_priced_on_its_own_lines_referring_to_the_statement_it_corrects() {
    let april = april_with_a_correction();
    let adjustment = april.corrections[0].adjustment.unwrap();
    assert_eq!((adjustment.covered.cents(), adjustment.shifted.cents()), (10_000, -5_125));
    let documents = render_with(&april, &terms(Flavour::SiUbl20, CostMode::Net));
    assert_eq!(documents[0].line_total, april.net_balance);
    let xml = &documents[0].xml;
    assert!(
        xml.contains(
            "<cac:BillingReference>\n    <cac:InvoiceDocumentReference>\n      <cbc:ID>GM0344-2027-0001</cbc:ID>"
        ),
        "{xml}"
    );
    assert_eq!(xml.matches("Correctie van periode januari 2027 (afrekening GM0344-2027-0001)").count(), 3);
}

#[test]
fn a_negative_covered_amount_is_a_negative_quantity_at_a_positive_price() {
    let february = february_with_negative_covered();
    assert_eq!(february.figures.covered_this_period.cents(), -100_000);
    let documents = render_with(&february, &terms(Flavour::SiUbl20, CostMode::Split));
    assert_eq!(totals(&documents), [(25_000, 5_250, 30_250)]);
    assert!(documents[0].xml.contains(
        r#"<cbc:InvoicedQuantity unitCode="C62">-1</cbc:InvoicedQuantity>
    <cbc:LineExtensionAmount currencyID="EUR">-1000.00</cbc:LineExtensionAmount>"#
    ));
}

fn with_shift_not_subject(flavour: Flavour) -> InvoicingTerms {
    let mut terms = terms(flavour, CostMode::Net);
    terms.vat.shifted =
        VatRule::parse(VatCategory::NotSubject, 0, "Schadevergoeding: geen vergoeding voor een dienst").unwrap();
    terms
}

#[test]
fn lines_not_subject_to_vat_take_a_document_of_their_own() {
    let march = worked_month(3);
    let documents = render_with(&march, &with_shift_not_subject(Flavour::SiUbl20));
    let numbers: Vec<(&str, Series)> = documents.iter().map(|d| (d.number.as_str(), d.series)).collect();
    assert_eq!(numbers, [("GM0344-2027-0003", Series::Statement), ("GM0344-2027-O0001", Series::NotSubject)]);
    // Fee 1,250.00 + covered 1,400.62 − cost 5,522.00 at 21%; shifted 4,121.38 without VAT.
    assert_eq!(totals(&documents), [(-287_138, -60_299, -347_437), (412_138, 0, 412_138)]);
    assert!(!documents[1].xml.contains("NL001234567B01"), "an O document names no VAT number (BR-O-02)");
    assert!(!documents[1].xml.contains("<cbc:Percent>"));
    let sum = Cents::checked_sum(documents.iter().map(|d| d.line_total)).unwrap();
    assert_eq!(sum, march.net_balance);
}

#[test]
fn one_category_and_rate_takes_one_exemption_reason() {
    let mut table = VatTable {
        fee: VatRule::parse(VatCategory::Exempt, 0, "Vrijgesteld, artikel 11").unwrap(),
        covered: VatRule::parse(VatCategory::Exempt, 0, "Een andere reden").unwrap(),
        ..VatTable::default()
    };
    assert!(table.check().unwrap_err().contains("FEE and COVERED"));
    table.covered = table.fee.clone();
    assert!(table.check().is_ok());
}

#[test]
fn vat_rules_follow_en_16931() {
    assert!(VatRule::parse(VatCategory::Exempt, 0, "Vrij\u{202e}gesteld").is_err());
    assert!(VatRule::parse(VatCategory::Standard, 0, "").is_err());
    assert!(VatRule::parse(VatCategory::Standard, 900, "").is_ok());
    assert!(VatRule::parse(VatCategory::Standard, 2_100, "vrijgesteld").is_err());
    assert!(VatRule::parse(VatCategory::Zero, 2_100, "").is_err());
    assert!(VatRule::parse(VatCategory::Exempt, 0, " ").is_err());
    assert!(VatRule::parse(VatCategory::ReverseCharge, 0, "Verlegd").is_ok());
    assert!(VatRule::parse(VatCategory::Standard, 10_001, "").is_err());
}

#[test]
fn what_keeps_a_statement_from_being_invoiced_is_named() {
    let contract = ContractId::parse("c1").unwrap();
    let utrecht = CbsCode::parse("GM0344").unwrap();
    let all = missing_data(&contract, &utrecht, None, None, None);
    assert_eq!(all.len(), 3, "{all:?}");
    let mut no_reference = terms(Flavour::SiUbl20, CostMode::Split);
    no_reference.buyer_reference = None;
    let missing = missing_data(&contract, &utrecht, Some(&seller()), Some(&buyer()), Some(&no_reference));
    assert_eq!(missing.len(), 1);
    assert!(missing[0].description.contains("BR-NL-2"));
    no_reference.order_reference = Some("PO-1".to_owned());
    assert!(missing_data(&contract, &utrecht, Some(&seller()), Some(&buyer()), Some(&no_reference)).is_empty());
    // Reverse charge needs the municipality's VAT number, but only on a line that is invoiced.
    no_reference.vat.intercedent_cost = VatRule::parse(VatCategory::ReverseCharge, 0, "Btw verlegd").unwrap();
    assert!(missing_data(&contract, &utrecht, Some(&seller()), Some(&buyer()), Some(&no_reference)).is_empty());
    no_reference.vat.cost_mode = CostMode::Net;
    let missing = missing_data(&contract, &utrecht, Some(&seller()), Some(&buyer()), Some(&no_reference));
    assert!(missing[0].description.contains("BR-AE-02"), "{missing:?}");
}

#[test]
fn hours_and_rates_are_plain_decimals() {
    assert_eq!(hours(-7_230).unwrap(), "-120.5");
    assert_eq!(hours(7).unwrap(), "0.116667");
    assert_eq!(hours(60).unwrap(), "1");
    assert_eq!(scaled(2_100, 2), "21");
    assert_eq!(scaled(550, 2), "5.5");
    assert_eq!(scaled(0, 2), "0");
}

/// The golden documents: rendered from the cases above in both flavours, compared byte for
/// byte with `tests/golden/einvoice`; `.ci/run` validates those files with the official rule
/// sets.
#[test]
fn golden_documents_are_reproduced_byte_for_byte() {
    type TermsOf = fn(Flavour) -> InvoicingTerms;
    let cases: Vec<(&str, Statement, TermsOf)> = vec![
        ("jan-split", worked_month(1), |f| terms(f, CostMode::Split)),
        ("jan-net", worked_month(1), |f| terms(f, CostMode::Net)),
        ("feb-net", worked_month(2), |f| terms(f, CostMode::Net)),
        ("apr-correction", april_with_a_correction(), |f| terms(f, CostMode::Net)),
        ("feb-negative-covered", february_with_negative_covered(), |f| terms(f, CostMode::Split)),
        ("mar-not-subject", worked_month(3), with_shift_not_subject),
    ];
    let folder = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/einvoice");
    let update = std::env::var_os("FLEXSETTLE_TEST_UPDATE_GOLDEN").is_some();
    let mut expected_files = Vec::new();
    for (name, statement, terms_of) in &cases {
        for (flavour, suffix) in [(Flavour::SiUbl20, "si-ubl"), (Flavour::PeppolBis3, "peppol")] {
            let documents = render_with(statement, &terms_of(flavour));
            for (index, document) in documents.iter().enumerate() {
                let file = folder.join(format!("{name}-{suffix}-{}.xml", index + 1));
                expected_files.push(file.clone());
                if update {
                    std::fs::create_dir_all(&folder).unwrap();
                    std::fs::write(&file, &document.xml).unwrap();
                }
                let golden = std::fs::read_to_string(&file).unwrap_or_else(|error| {
                    panic!("{}: {error} (FLEXSETTLE_TEST_UPDATE_GOLDEN=1 writes it)", file.display())
                });
                assert_eq!(golden, document.xml, "{} differs from what the renderer gives", file.display());
            }
        }
    }
    let mut present: Vec<_> = std::fs::read_dir(&folder).unwrap().map(|entry| entry.unwrap().path()).collect();
    present.sort();
    expected_files.sort();
    assert_eq!(present, expected_files, "the golden folder holds exactly the rendered documents");
}

fn any_rule() -> impl Strategy<Value = VatRule> {
    prop_oneof![
        (1_u32..=2_500).prop_map(|rate| VatRule::parse(VatCategory::Standard, rate, "").unwrap()),
        Just(VatRule::parse(VatCategory::Zero, 0, "").unwrap()),
        Just(VatRule::parse(VatCategory::Exempt, 0, "Vrijgesteld").unwrap()),
        Just(VatRule::parse(VatCategory::ReverseCharge, 0, "Verlegd").unwrap()),
        Just(VatRule::parse(VatCategory::NotSubject, 0, "Niet onderworpen").unwrap()),
    ]
}

fn any_table() -> impl Strategy<Value = VatTable> {
    (any_rule(), any_rule(), any_rule(), any_rule(), any::<bool>()).prop_map(
        |(fee, covered, shifted, intercedent_cost, net)| VatTable {
            fee,
            covered,
            shifted,
            intercedent_cost,
            cost_mode: if net { CostMode::Net } else { CostMode::Split },
        },
    )
}

fn amount() -> impl Strategy<Value = i64> {
    -5_000_000_i64..5_000_000
}

fn any_adjustment() -> impl Strategy<Value = Option<(i64, i64)>> {
    proptest::option::of((amount(), amount()))
}

prop_compose! {
    /// A statement of July 2027 (window 3) with random figures, cost lines, corrections of
    /// January to June (the first three of a closed window) and closings; its net balance is
    /// DESIGN.md §4's sum of what it carries.
    fn any_statement()(
        fee in 0_i64..2_000_000,
        covered in amount(),
        shifted in proptest::option::of(amount()),
        lines in proptest::collection::vec((0_i64..20_000, 1_i64..20_000), 0..4),
        corrections in proptest::collection::vec((amount(), amount(), any_adjustment()), 0..4),
        closings in proptest::collection::vec(amount(), 0..2),
        run_off in any::<bool>(),
    ) -> Statement {
        let terms = worked_example_terms();
        let july = terms.period(6).unwrap();
        let allocation = shifted.map(|shifted| Allocation {
            result: Cents::ZERO, covered: Cents::ZERO, uncovered: Cents::ZERO, shifted: cents(shifted), borne: Cents::ZERO,
        });
        let lines: Vec<CostLine> = lines.iter().map(|&(minutes, rate)| cost_line(july.start, minutes, rate)).collect();
        let corrections: Vec<CorrectionTotals> = corrections
            .iter()
            .enumerate()
            .map(|(index, &(cost, savings, adjustment))| CorrectionTotals {
                period_start: terms.period(u32::try_from(index).unwrap()).unwrap().start,
                cost: cents(cost),
                savings: cents(savings),
                same_window: adjustment.is_none(),
                adjustment: adjustment.map(|(covered, shifted)| WindowAdjustment {
                    window_start: day(1, 1),
                    intake: IntakeOutcome { motivated: 1, minimum: 2 },
                    covered: cents(covered),
                    shifted: cents(shifted),
                    borne: Cents::ZERO,
                    net_balance: cents(covered + shifted - cost),
                }),
            })
            .collect();
        let own_cost: i64 = lines.iter().map(|line| line.cost.cents()).sum::<i64>()
            + corrections.iter().filter(|c| c.same_window).map(|c| c.cost.cents()).sum::<i64>();
        let (fee, covered) = if run_off { (0, 0) } else { (fee, covered) };
        let window_net = fee + covered + shifted.unwrap_or(0) - own_cost;
        let figures = SettlementFigures {
            period_fee: cents(fee),
            covered_this_period: cents(covered),
            allocation,
            net_balance: cents(window_net),
            ..SettlementFigures::NONE
        };
        let closings: Vec<WindowClosing> = closings
            .iter()
            .map(|&shifted| WindowClosing {
                window_start: day(4, 1),
                window_end: day(6, 30),
                intake: IntakeOutcome { motivated: 1, minimum: 2 },
                allocation: Allocation {
                    result: Cents::ZERO, covered: Cents::ZERO, uncovered: Cents::ZERO, shifted: cents(shifted), borne: Cents::ZERO,
                },
                net_balance: cents(shifted),
            })
            .collect();
        let net = window_net
            + corrections.iter().filter_map(|c| c.adjustment).map(|a| a.net_balance.cents()).sum::<i64>()
            + closings.iter().map(|c| c.net_balance.cents()).sum::<i64>();
        let mut statement = statement(&terms, 6, lines, figures);
        statement.run_off = run_off;
        statement.corrections = corrections;
        statement.closings = closings;
        statement.net_balance = cents(net);
        statement
    }
}

/// The text of the first `<cbc:{tag}>` in `xml`, if any.
fn text_of<'a>(xml: &'a str, tag: &str) -> Option<&'a str> {
    let open = format!("<cbc:{tag}>");
    let rest = &xml[xml.find(&open)? + open.len()..];
    Some(&rest[..rest.find('<')?])
}

/// Category code and rate (basis points; 0 for `O`, which has none) of the first `element`.
fn category_in(xml: &str, element: &str) -> (String, i64) {
    let category = &xml[xml.find(element).unwrap()..];
    let code = text_of(category, "ID").unwrap().to_owned();
    let bps = text_of(category, "Percent").map_or(0, |percent| {
        let (whole, fraction) = percent.split_once('.').unwrap_or((percent, ""));
        whole.parse::<i64>().unwrap() * 100 + format!("{fraction:0<2}").parse::<i64>().unwrap()
    });
    (code, bps)
}

/// The amounts of every `tag` element of a document, in cents, read back from its XML.
fn amounts_in(xml: &str, tag: &str) -> Vec<i64> {
    let open = format!("<cbc:{tag} currencyID=\"EUR\">");
    xml.match_indices(&open)
        .map(|(at, _)| {
            let rest = &xml[at + open.len()..];
            let text = &rest[..rest.find('<').unwrap()];
            let (whole, fraction) = text.trim_start_matches('-').split_once('.').unwrap();
            let value = whole.parse::<i64>().unwrap() * 100 + fraction.parse::<i64>().unwrap();
            if text.starts_with('-') { -value } else { value }
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn documents_add_up_to_the_statement_under_any_vat_table(statement in any_statement(), vat in any_table()) {
        let mut terms = terms(Flavour::SiUbl20, vat.cost_mode);
        terms.vat = vat.clone();
        let documents = render_with(&statement, &terms);
        prop_assert_eq!(&documents, &render_with(&statement, &terms), "rendering twice gives the same bytes");

        // What the invoice must add up to (§9): the net balance, plus under SPLIT the cost
        // the municipality invoices itself.
        let all_cost: i64 = statement.cost_lines.iter().map(|l| l.cost.cents()).sum::<i64>()
            + statement.corrections.iter().map(|c| c.cost.cents()).sum::<i64>();
        let expected = statement.net_balance.cents() + if vat.cost_mode == CostMode::Split { all_cost } else { 0 };
        let lines: i64 = documents.iter().map(|d| d.line_total.cents()).sum();
        prop_assert_eq!(lines, expected);

        for document in &documents {
            let xml = &document.xml;
            let line_amounts = amounts_in(xml, "LineExtensionAmount");
            let (total, each) = line_amounts.split_first().unwrap();
            prop_assert_eq!(*total, each.iter().sum::<i64>());
            prop_assert_eq!(*total, document.line_total.cents());
            // VAT per category and rate, each rounded half away from zero, from the lines as
            // the document states them.
            let mut expected: std::collections::BTreeMap<(String, i64), i64> = std::collections::BTreeMap::new();
            for line in xml.split("<cac:InvoiceLine>").skip(1) {
                let (code, bps) = category_in(line, "<cac:ClassifiedTaxCategory>");
                *expected.entry((code, bps)).or_default() += amounts_in(line, "LineExtensionAmount")[0];
            }
            let mut stated: Vec<(String, i64, i64, i64)> = xml
                .split("<cac:TaxSubtotal>")
                .skip(1)
                .map(|subtotal| {
                    let (code, bps) = category_in(subtotal, "<cac:TaxCategory>");
                    (code, bps, amounts_in(subtotal, "TaxableAmount")[0], amounts_in(subtotal, "TaxAmount")[0])
                })
                .collect();
            stated.sort();
            let modelled: Vec<(String, i64, i64, i64)> = expected
                .into_iter()
                .map(|((code, bps), taxable)| {
                    let exact = i128::from(taxable) * i128::from(bps);
                    let tax = (exact.abs() * 2 + 10_000) / 20_000 * exact.signum();
                    (code, bps, taxable, i64::try_from(tax).unwrap())
                })
                .collect();
            prop_assert_eq!(&stated, &modelled);
            let not_subject = stated.iter().filter(|subtotal| subtotal.0 == "O").count();
            prop_assert!(not_subject == 0 || not_subject == stated.len(), "O never shares a document");
            let vat_sum: i64 = stated.iter().map(|subtotal| subtotal.3).sum();
            prop_assert_eq!(amounts_in(xml, "TaxAmount")[0], vat_sum);
            prop_assert_eq!(document.vat.cents(), vat_sum);
            prop_assert_eq!(amounts_in(xml, "PayableAmount"), vec![*total + vat_sum]);
            prop_assert!(!xml.contains("E+") && !xml.contains("e+"), "no exponent notation");
        }
    }
}

#[test]
fn text_from_the_parties_is_escaped() {
    let mut terms = terms(Flavour::SiUbl20, CostMode::Split);
    terms.buyer_reference = Some("PO <12> & \"A\"".to_owned());
    let documents = render_with(&worked_month(1), &terms);
    let xml = &documents[0].xml;
    assert!(xml.contains("<cbc:BuyerReference>PO &lt;12&gt; &amp; &quot;A&quot;</cbc:BuyerReference>"), "{xml}");
    assert!(!xml.contains("<12>"));
}

#[test]
fn ibans_kvk_and_oin_are_checked() {
    assert_eq!(parse_iban("nl91 abna 0417 1643 00").unwrap(), "NL91ABNA0417164300");
    assert!(parse_iban("NL92ABNA0417164300").is_err(), "check digits");
    assert!(parse_iban("NL91").is_err());
    assert!(parse_kvk("1234567").is_err() && parse_kvk("12345678").is_ok());
    assert!(parse_oin("00000001002220647000").is_ok() && parse_oin("0000000100222064700A").is_err());
    assert!(parse_vat_number("NL001234567B01").is_ok() && parse_vat_number("001234567").is_err());
}

#[test]
fn a_correction_not_subject_to_vat_refers_to_the_earlier_document_of_its_series() {
    let april = april_with_a_correction();
    let mut corrected = earlier_statements();
    corrected[0].not_subject_number = Some("GM0344-2027-O0001".to_owned());
    let terms = with_shift_not_subject(Flavour::SiUbl20);
    let lines = InvoiceLines::of(&april, &terms.vat, &corrected).unwrap();
    assert!(lines.needs_second_document());
    let (seller, buyer) = (seller(), buyer());
    let source = InvoiceSource {
        statement: &april,
        terms: &terms,
        seller: &seller,
        buyer: &buyer,
        issue_date: day(5, 5),
        second_number: Some("GM0344-2027-O0002"),
    };
    let documents = render(&source, &lines).unwrap();
    let reference = |xml: &str| {
        let at = xml.find("<cac:InvoiceDocumentReference>").unwrap();
        xml[at..].split("<cbc:ID>").nth(1).unwrap().split('<').next().unwrap().to_owned()
    };
    assert_eq!(reference(&documents[0].xml), "GM0344-2027-0001");
    assert_eq!(reference(&documents[1].xml), "GM0344-2027-O0001");
}
