//! The logic of `logvault sim link` and `logvault sim decode`.

use logvault_logger::cli::{LinkRequest, SimError, decode_link, make_link};

const KEY: &str = "00112233445566778899aabbccddeeff";

fn request() -> LinkRequest {
    LinkRequest {
        serial: "LV-000042".into(),
        key_hex: KEY.into(),
        base_url: "https://logvault.example".into(),
        samples: 1_500,
        interval: 300,
        start: "2026-01-01T00:00:00Z".into(),
        seed: 1,
        channels: "temperature".into(),
        counter: 1,
        key_generation: 0,
        ec_level: "L".into(),
        qr: false,
    }
}

#[test]
fn a_link_for_1500_samples_fits_one_qr_code_and_decodes_back() {
    let response = make_link(&request()).unwrap_or_else(|err| panic!("{err}"));
    assert!(response.link.starts_with("https://logvault.example/l#"));
    assert!(logvault_logger::cli::link_fits(&response.link, logvault_protocol::qr::EcLevel::L));
    let json = decode_link(KEY, &response.link)
        .map(|decoded| serde_json::to_value(decoded).unwrap_or_default())
        .unwrap_or_else(|err| panic!("{err}"));
    assert_eq!(json["serial"], "LV-000042");
    assert_eq!(json["counter"], 1);
    assert_eq!(json["samples"].as_array().map(Vec::len), Some(1_500));
    assert_eq!(json["samples"][0]["time"], "2026-01-01T00:00:00Z");
    assert_eq!(json["channels"][0]["unit"], "°C");
}

#[test]
fn the_same_arguments_give_the_same_link() {
    let a = make_link(&request()).map(|r| r.link).ok();
    let b = make_link(&request()).map(|r| r.link).ok();
    assert!(a.is_some());
    assert_eq!(a, b);
}

#[test]
fn decoded_values_are_exact_decimals() {
    let mut request = request();
    request.samples = 50;
    request.channels = "temperature,humidity".into();
    let response = make_link(&request).unwrap_or_else(|err| panic!("{err}"));
    let json = decode_link(KEY, &response.link)
        .map(|decoded| serde_json::to_value(decoded).unwrap_or_default())
        .unwrap_or_else(|err| panic!("{err}"));
    let text = serde_json::to_string(&json["samples"]).unwrap_or_default();
    let printed = decode_link(KEY, &response.link)
        .map(|decoded| serde_json::to_string(&decoded).unwrap_or_default())
        .unwrap_or_default();
    assert!(printed.starts_with(r#"{"serial":"LV-000042","key_generation":0,"counter":1,"#));
    for (sample, decoded) in response.block.samples().iter().zip(json["samples"].as_array().into_iter().flatten()) {
        for (&milli, value) in sample.values.iter().zip(decoded["values"].as_array().into_iter().flatten()) {
            // Printed as the exact decimal: at most three fractional digits, same value.
            let printed = value.to_string();
            let fraction_len = printed.split_once('.').map_or(0, |(_, fraction)| fraction.len());
            assert!(fraction_len <= 3, "{printed} in {text}");
            let parsed: f64 = printed.parse().unwrap_or(f64::NAN);
            assert_eq!((parsed * 1000.0).round() as i32, milli, "{printed}");
        }
    }
}

#[test]
fn bad_input_gives_one_clear_error_each() {
    let cases: Vec<(LinkRequest, &str)> = vec![
        (LinkRequest { key_hex: "xyz".into(), ..request() }, "invalid --key"),
        (LinkRequest { serial: "bad serial!".into(), ..request() }, "invalid --serial"),
        (LinkRequest { start: "yesterday".into(), ..request() }, "invalid --start"),
        (LinkRequest { channels: "pressure".into(), ..request() }, "invalid --channels"),
        (LinkRequest { interval: 0, ..request() }, "invalid --interval"),
        (LinkRequest { ec_level: "X".into(), ..request() }, "invalid --ec"),
        (LinkRequest { samples: 20_000, qr: true, ec_level: "H".into(), ..request() }, "does not fit in one QR code"),
    ];
    for (request, expected) in cases {
        let message = make_link(&request).err().map(|err| err.to_string()).unwrap_or_default();
        assert!(message.starts_with(expected) || message.contains(expected), "{message:?} vs {expected:?}");
        assert!(!message.contains('\n'));
    }
}

#[test]
fn decoding_with_the_wrong_key_or_a_damaged_link_is_rejected() {
    let link = make_link(&LinkRequest { samples: 10, ..request() }).map(|r| r.link).unwrap_or_default();
    assert!(matches!(decode_link("ffffffffffffffffffffffffffffffff", &link), Err(SimError::Rejected)));
    assert!(matches!(decode_link(KEY, "https://logvault.example/l#%%%"), Err(SimError::BadLink)));
    assert!(matches!(decode_link("12", &link), Err(SimError::BadKey)));
    let mut damaged = link.clone();
    damaged.pop();
    damaged.push(if link.ends_with('A') { 'B' } else { 'A' });
    assert!(decode_link(KEY, &damaged).is_err());
}
