//! `logvault sim link` / `logvault sim decode` through the real binary.

use std::process::{Command, Output};

const KEY: &str = "000102030405060708090a0b0c0d0e0f";

fn logvault(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_logvault"))
        .args(args)
        .output()
        .unwrap_or_else(|err| panic!("cannot run logvault: {err}"))
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

fn link() -> String {
    let output = logvault(&[
        "sim",
        "link",
        "--serial",
        "LV-000042",
        "--key",
        KEY,
        "--base-url",
        "https://logvault.example",
        "--samples",
        "200",
        "--channels",
        "temperature,humidity",
        "--seed",
        "3",
    ]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    stdout(&output)
}

#[test]
fn sim_link_prints_one_link_that_sim_decode_turns_into_json() {
    let link = link();
    assert!(link.starts_with("https://logvault.example/l#"), "{link}");
    assert_eq!(link, self::link(), "the same arguments give the same link");
    let output = logvault(&["sim", "decode", "--key", KEY, &link]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let json: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap_or_default();
    assert_eq!(json["serial"], "LV-000042");
    assert_eq!(json["samples"].as_array().map(Vec::len), Some(200));
}

#[test]
fn sim_link_with_qr_draws_the_code_above_the_link() {
    let output = logvault(&[
        "sim",
        "link",
        "--serial",
        "LV-1",
        "--key",
        KEY,
        "--base-url",
        "https://lv.example",
        "--samples",
        "100",
        "--qr",
    ]);
    assert!(output.status.success());
    let text = stdout(&output);
    assert!(text.contains('█') || text.contains('▀'), "no QR drawing");
    assert!(text.lines().last().unwrap_or_default().starts_with("https://lv.example/l#"));
}

#[test]
fn bad_input_exits_non_zero_with_one_line_and_no_panic() {
    let link = link();
    let cases: [&[&str]; 4] = [
        &["sim", "decode", "--key", "not-hex", &link],
        &["sim", "decode", "--key", "ffffffffffffffffffffffffffffffff", &link],
        &["sim", "decode", "--key", KEY, "https://logvault.example/l#%%%"],
        &["sim", "link", "--serial", "bad serial", "--key", KEY, "--base-url", "https://x"],
    ];
    for args in cases {
        let output = logvault(args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{args:?} succeeded");
        assert_eq!(stderr.trim().lines().count(), 1, "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}
