//! `flexsettle demo`: the binary prints DESIGN.md's worked example, to the cent.

use std::process::Command;

use crate::helpers::{Backend, ServerProcess, TestDatabase};

/// The figures of the statement rows (January to March) of the demo's table, in the printed
/// text: cost, savings, fee, covered, uncovered, shifted, borne, net balance.
fn rows(stdout: &str) -> Vec<Vec<String>> {
    ["January ", "February ", "March "]
        .iter()
        .map(|month| {
            let line = stdout.lines().find(|line| line.starts_with(month)).expect("a row per month");
            line.split_whitespace().skip(2).take(8).map(str::to_owned).collect()
        })
        .collect()
}

fn demo(arguments: &[&str], data_dir: &std::path::Path) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_flexsettle"))
        .arg("demo")
        .args(arguments)
        .env("FLEXSETTLE_DATA_DIR", data_dir)
        .env_remove("RUST_LOG")
        .output()
        .expect("the demo runs");
    let stdout = String::from_utf8(output.stdout).expect("UTF-8 output");
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    stdout
}

#[test]
fn the_demo_prints_the_worked_example_on_an_embedded_server() {
    let data_dir = tempfile::tempdir().unwrap();
    let stdout = demo(&[], data_dir.path());
    let rows = rows(&stdout);
    assert_eq!(rows[0], ["5,874.38", "4,100.00", "1,250.00", "2,850.00", "3,024.38", "0.00", "0.00", "-1,774.38"]);
    assert_eq!(rows[1], ["4,875.00", "9,800.00", "1,250.00", "7,899.38", "0.00", "0.00", "0.00", "4,274.38"]);
    assert_eq!(rows[2], ["5,522.00", "2,000.00", "1,250.00", "1,400.62", "4,121.38", "4,121.38", "0.00", "1,250.00"]);
    assert!(stdout.contains("window total net balance 3,750.00"), "{stdout}");
    assert!(stdout.contains("Flextensie pays the municipality 1,774.38"), "{stdout}");
    assert!(stdout.contains("3 × statement.settle"), "the audit entries it wrote: {stdout}");
    // DESIGN.md §9 under NET: January −1,774.38 + VAT −372.62 = −2,147.00, February 4,274.38
    // + 897.62 = 5,172.00, issued at settlement by billing.
    let invoice =
        |number: &str| stdout.lines().find(|line| line.trim_start().starts_with(number)).map(str::split_whitespace);
    let january: Vec<&str> = invoice("GM0344-2027-0001").expect("January's invoice").collect();
    assert_eq!(january[1..6], ["-1,774.38", "+", "VAT", "-372.62", "="]);
    assert_eq!(january[6], "-2,147.00");
    let february: Vec<&str> = invoice("GM0344-2027-0002").expect("February's invoice").collect();
    assert_eq!([february[1], february[4], february[6]], ["4,274.38", "897.62", "5,172.00"]);
    assert!(stdout.contains("3 × invoice.issue"), "issued at settlement: {stdout}");
}

#[test]
fn the_demo_runs_against_a_running_server() {
    let database = TestDatabase::create(Backend::Sqlite);
    let data_dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(database.url(), data_dir.path());
    // A past year: a running server refuses hours dated in the future.
    let stdout =
        demo(&["--server", &server.address, "--year", "2025", "--risk-shift-mode", "PRO_RATA"], data_dir.path());
    let rows = rows(&stdout);
    assert_eq!(rows[0][7], "-1,774.38");
    assert_eq!(rows[1][7], "4,274.38");
    assert_eq!(rows[2][5..], ["824.28", "3,297.10", "-2,047.10"]);
    assert!(stdout.contains("window total net balance 452.90"), "{stdout}");
}
