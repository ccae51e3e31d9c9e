//! The published test vectors in `docs/protocol.md`: each is rebuilt from its inputs, sealed,
//! and compared byte for byte with the payload in the document, then opened again.
//!
//! A vector is a fenced block tagged `vector` with `name: value` lines:
//! `key`, `key_generation`, `serial`, `counter`, `base_url`, one `channel` line per channel
//! (`quantity lowest step:upper …`), one `sample` line per sample (`time value …`, values in
//! thousandths), then the expected `plaintext_hex`, `payload_hex` and `link`.
//!
//! A `decode-vector` block is a plaintext (`serial`, `plaintext_hex`) that a decoder must refuse (`result: refused`)
//! or accept as the block its `counter`, `channel` and `sample` lines describe. The `link-texts` block lists texts
//! that `from_link` accepts (`accept HEX TEXT`) or refuses (`refuse TEXT`).

use logvault_protocol::{
    Block, Channel, DeviceKey, KeyGeneration, Quantity, ResolutionTable, Sample, Serial, decode_plaintext,
    encode_plaintext, from_link, open, seal, to_link,
};

const PROTOCOL_MD: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/protocol.md"));

struct Vector {
    name: String,
    fields: Vec<(String, String)>,
}

impl Vector {
    fn one(&self, field: &str) -> &str {
        let mut found = self.fields.iter().filter(|(name, _)| name == field);
        let value = found.next().map(|(_, value)| value.as_str());
        value.unwrap_or_else(|| panic!("vector {}: missing {field}", self.name))
    }

    fn all(&self, field: &str) -> impl Iterator<Item = &str> {
        self.fields.iter().filter(move |(name, _)| name == field).map(|(_, value)| value.as_str())
    }
}

fn vectors() -> Vec<Vector> {
    fenced_vectors("```vector")
}

fn decode_vectors() -> Vec<Vector> {
    fenced_vectors("```decode-vector")
}

/// The lines of the document's `link-texts` blocks.
fn link_texts() -> Vec<&'static str> {
    let mut lines = Vec::new();
    let mut inside = false;
    for line in PROTOCOL_MD.lines() {
        match (inside, line.trim()) {
            (false, "```link-texts") => inside = true,
            (true, "```") => inside = false,
            (true, line) => lines.push(line),
            (false, _) => {}
        }
    }
    lines
}

fn fenced_vectors(fence: &str) -> Vec<Vector> {
    let mut vectors = Vec::new();
    let mut current: Option<Vector> = None;
    for line in PROTOCOL_MD.lines() {
        match (&mut current, line.trim()) {
            (None, opening) if opening == fence => current = Some(Vector { name: String::new(), fields: Vec::new() }),
            (Some(_), "```") => vectors.extend(current.take()),
            (Some(vector), line) => {
                let (name, value) = line.split_once(':').unwrap_or_else(|| panic!("bad vector line {line:?}"));
                let (name, value) = (name.trim().to_string(), value.trim().to_string());
                if name == "name" {
                    vector.name = value.clone();
                }
                vector.fields.push((name, value));
            }
            (None, _) => {}
        }
    }
    vectors
}

fn parse<T: std::str::FromStr>(text: &str) -> T
where
    T::Err: std::fmt::Debug,
{
    text.parse().unwrap_or_else(|err| panic!("cannot parse {text:?}: {err:?}"))
}

fn build(vector: &Vector) -> Block {
    let channels: Vec<Channel> = vector
        .all("channel")
        .map(|line| {
            let mut words = line.split_whitespace();
            let quantity = match words.next() {
                Some("temperature") => Quantity::Temperature,
                Some("relative_humidity") => Quantity::RelativeHumidity,
                other => panic!("unknown quantity {other:?}"),
            };
            let lowest: i32 = parse(words.next().unwrap_or_default());
            let ranges: Vec<(u32, i32)> = words
                .map(|range| {
                    let (step, upper) = range.split_once(':').unwrap_or_else(|| panic!("bad range {range}"));
                    (parse(step), parse(upper))
                })
                .collect();
            let resolution = ResolutionTable::new(lowest, &ranges).unwrap_or_else(|err| panic!("{err}"));
            Channel { quantity, resolution }
        })
        .collect();
    let samples = vector
        .all("sample")
        .map(|line| {
            let mut words = line.split_whitespace();
            let time = parse(words.next().unwrap_or_default());
            Sample { time, values: words.map(parse).collect() }
        })
        .collect();
    let serial = Serial::parse(vector.one("serial")).unwrap_or_else(|err| panic!("{err}"));
    Block::new(serial, parse(vector.one("counter")), channels, samples).unwrap_or_else(|err| panic!("{err}"))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len()).step_by(2).map(|idx| u8::from_str_radix(&text[idx..idx + 2], 16).expect("hex")).collect()
}

#[test]
fn the_document_publishes_at_least_three_vectors() {
    assert!(vectors().len() >= 3, "found {}", vectors().len());
}

#[test]
fn every_published_vector_seals_to_exactly_the_published_payload_and_opens_back() {
    for vector in vectors() {
        let block = build(&vector);
        let key = DeviceKey::from_hex(vector.one("key")).unwrap_or_else(|err| panic!("{err}"));
        let sealed = seal(&block, &key, KeyGeneration(parse(vector.one("key_generation"))));
        let link = to_link(vector.one("base_url"), &sealed);
        let name = &vector.name;
        assert_eq!(hex(&encode_plaintext(&block)), vector.one("plaintext_hex"), "vector {name}: plaintext_hex");
        assert_eq!(hex(&sealed), vector.one("payload_hex"), "vector {name}: payload_hex");
        assert_eq!(link, vector.one("link"), "vector {name}: link");
        let from_document = from_link(vector.one("link")).unwrap_or_else(|err| panic!("{err}"));
        assert_eq!(open(&from_document, &key), Ok(block), "vector {name}: open");
    }
}

#[test]
fn the_document_publishes_the_vectors_that_pin_each_ambiguity() {
    let names: Vec<String> = vectors().into_iter().chain(decode_vectors()).map(|vector| vector.name).collect();
    for name in [
        "exceptions-counted-from-the-start",
        "jittery-clock-rice-by-two-bits",
        "widest-grid",
        "base-other-than-the-most-frequent-delta",
        "exception-list-where-rice-is-smaller",
        "exception-beyond-the-last-delta",
        "one-grid-value-too-many",
        "lowest-below-32-bits",
        "upper-above-32-bits",
        "time-beyond-64-bits",
    ] {
        assert!(names.iter().any(|n| n == name), "missing vector {name}");
    }
    assert!(link_texts().len() >= 8, "found {} link texts", link_texts().len());
}

#[test]
fn every_decode_vector_is_accepted_as_its_block_or_refused_as_published() {
    for vector in decode_vectors() {
        let name = &vector.name;
        let serial = Serial::parse(vector.one("serial")).unwrap_or_else(|err| panic!("{err}"));
        let plaintext = unhex(vector.one("plaintext_hex"));
        let decoded = decode_plaintext(&plaintext, serial);
        if vector.all("result").any(|result| result == "refused") {
            assert!(decoded.is_err(), "vector {name}: decoded although the document says refused");
        } else {
            let block = build(&vector);
            assert_eq!(decoded.as_ref(), Ok(&block), "vector {name}: decoded block");
            // Accepted, but not what our encoder writes for that block: these pin the decoder's tolerance only.
            let ours = hex(&encode_plaintext(&block));
            assert_ne!(ours, vector.one("plaintext_hex"), "vector {name}: the encoder writes it, so it pins nothing");
        }
    }
}

#[test]
fn every_published_link_text_is_accepted_or_refused_as_the_document_says() {
    for line in link_texts() {
        let (verdict, rest) = line.split_once(' ').unwrap_or_else(|| panic!("bad link-texts line {line:?}"));
        match verdict {
            "accept" => {
                let (bytes, text) = rest.split_once(' ').unwrap_or_else(|| panic!("bad link-texts line {line:?}"));
                assert_eq!(from_link(text).map(|b| hex(&b)), Ok(bytes.to_owned()), "link text {text:?}");
            }
            "refuse" => assert!(from_link(rest).is_err(), "link text {rest:?} was accepted"),
            other => panic!("unknown verdict {other:?}"),
        }
    }
}
