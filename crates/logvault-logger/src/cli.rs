//! The logic behind `logvault sim link` and `logvault sim decode`, kept here (and tested
//! here) so that the binary's `sim` module only parses arguments and prints.

use logvault_protocol::qr::{EcLevel, ec_level_name, fits, render_terminal};
use logvault_protocol::{Block, DeviceKey, Envelope, KeyGeneration, Quantity, Serial, from_link, to_link};
use serde_json::{Value, json};

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::logger::LoggerError;
use crate::sim::{SeriesSpec, simulated_logger, synthesize};

/// Everything that can be wrong with `sim` input; each renders as one clear line.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("invalid --key: expected 32 hexadecimal digits (a 128-bit key)")]
    BadKey,
    #[error("invalid --serial: expected 1 to 32 characters of A-Z, a-z, 0-9 and '-'")]
    BadSerial,
    #[error("invalid --start: expected an RFC 3339 time such as 2026-01-01T00:00:00Z")]
    BadStart,
    #[error("invalid --channels: expected a comma-separated list of temperature and humidity")]
    BadChannels,
    #[error("invalid --ec: expected one of L, M, Q, H")]
    BadEcLevel,
    #[error("invalid --interval: must be at least one second")]
    BadInterval,
    #[error("invalid --samples: must be at most {max}")]
    TooManySamples { max: usize },
    #[error("invalid link: expected https://host/l#<payload> or the bare base64url payload")]
    BadLink,
    #[error("the block was rejected: wrong key, or the link is damaged or forged")]
    Rejected,
    #[error(
        "the link ({link_len} characters) does not fit in one QR code at level {level}; use fewer --samples or a lower --ec"
    )]
    TooLongForQr { link_len: usize, level: &'static str },
    /// Carries the logger error in its message rather than as a source, so that the
    /// one-line `{:#}` rendering does not repeat it.
    #[error("the simulated logger failed: {0}")]
    Logger(LoggerError),
}

impl From<LoggerError> for SimError {
    fn from(err: LoggerError) -> Self {
        Self::Logger(err)
    }
}

/// Inputs of `sim link`, as text where the user typed text.
#[derive(Debug, Clone)]
pub struct LinkRequest {
    pub serial: String,
    pub key_hex: String,
    pub base_url: String,
    pub samples: usize,
    pub interval: u32,
    /// RFC 3339.
    pub start: String,
    pub seed: u64,
    /// Comma-separated: `temperature`, `humidity`.
    pub channels: String,
    pub counter: u64,
    pub key_generation: u8,
    /// `L`, `M`, `Q` or `H`.
    pub ec_level: String,
    /// Also draw the QR code.
    pub qr: bool,
}

/// Output of `sim link`.
#[derive(Debug, Clone)]
pub struct LinkResponse {
    pub link: String,
    pub block: Block,
    pub sealed_len: usize,
    /// The terminal drawing, when asked for.
    pub qr: Option<String>,
}

/// Largest `--samples` accepted (the protocol's per-block limit).
pub const MAX_SIM_SAMPLES: usize = logvault_protocol::MAX_SAMPLES;

pub fn parse_key(text: &str) -> Result<DeviceKey, SimError> {
    DeviceKey::from_hex(text).map_err(|_| SimError::BadKey)
}

pub fn parse_quantities(text: &str) -> Result<Vec<Quantity>, SimError> {
    let quantities: Vec<Quantity> = text
        .split(',')
        .map(|name| match name.trim().to_ascii_lowercase().as_str() {
            "temperature" | "temp" | "t" => Ok(Quantity::Temperature),
            "humidity" | "relative_humidity" | "rh" | "h" => Ok(Quantity::RelativeHumidity),
            _ => Err(SimError::BadChannels),
        })
        .collect::<Result<_, _>>()?;
    if quantities.is_empty() || quantities.len() > logvault_protocol::MAX_CHANNELS {
        return Err(SimError::BadChannels);
    }
    Ok(quantities)
}

pub fn parse_ec_level(text: &str) -> Result<EcLevel, SimError> {
    match text.trim().to_ascii_uppercase().as_str() {
        "L" => Ok(EcLevel::L),
        "M" => Ok(EcLevel::M),
        "Q" => Ok(EcLevel::Q),
        "H" => Ok(EcLevel::H),
        _ => Err(SimError::BadEcLevel),
    }
}

/// Runs a simulated logger over a synthetic series and seals its memory window as a link.
pub fn make_link(request: &LinkRequest) -> Result<LinkResponse, SimError> {
    let serial = Serial::parse(&request.serial).map_err(|_| SimError::BadSerial)?;
    let key = parse_key(&request.key_hex)?;
    let quantities = parse_quantities(&request.channels)?;
    let level = parse_ec_level(&request.ec_level)?;
    if request.interval == 0 {
        return Err(SimError::BadInterval);
    }
    if request.samples > MAX_SIM_SAMPLES {
        return Err(SimError::TooManySamples { max: MAX_SIM_SAMPLES });
    }
    let start = OffsetDateTime::parse(request.start.trim(), &Rfc3339).map_err(|_| SimError::BadStart)?;
    let spec = SeriesSpec {
        samples: request.samples,
        interval: request.interval,
        start: start.unix_timestamp(),
        seed: request.seed,
        quantities: quantities.clone(),
    };
    let mut logger = simulated_logger(serial, key.clone(), &quantities, request.interval, request.samples.max(1))?;
    for (time, readings) in synthesize(&spec) {
        logger.observe(time, &readings)?;
    }
    let block = logger.to_block(request.counter)?;
    let sealed = logvault_protocol::seal(&block, &key, KeyGeneration(request.key_generation));
    let link = to_link(&request.base_url, &sealed);
    let qr = if request.qr {
        let drawing = render_terminal(&link, level)
            .map_err(|_| SimError::TooLongForQr { link_len: link.len(), level: ec_level_name(level) })?;
        Some(drawing)
    } else {
        None
    };
    Ok(LinkResponse { link, block, sealed_len: sealed.len(), qr })
}

/// Whether `link` fits in one QR code at `level`.
pub fn link_fits(link: &str, level: EcLevel) -> bool {
    fits(link, level)
}

/// Opens a link with a key and renders the block as JSON: serial, key generation, counter,
/// channels and samples with physical values (exact decimals) and RFC 3339 times.
pub fn decode_link(key_hex: &str, link: &str) -> Result<BlockJson, SimError> {
    let key = parse_key(key_hex)?;
    let sealed = from_link(link).map_err(|_| SimError::BadLink)?;
    let envelope = Envelope::parse(&sealed).map_err(|_| SimError::Rejected)?;
    let block = envelope.open(&key).map_err(|_| SimError::Rejected)?;
    Ok(block_json(&block, envelope.key_generation()))
}

/// The JSON form of a decoded block: serial, key generation, counter, channels (with unit
/// and resolution ranges) and samples (RFC 3339 time, UTC seconds, physical values).
pub fn block_json(block: &Block, key_generation: KeyGeneration) -> BlockJson {
    let channels = block
        .channels()
        .iter()
        .map(|channel| ChannelJson {
            quantity: channel.quantity,
            unit: channel.quantity.unit(),
            resolution: channel
                .resolution
                .ranges()
                .map(|range| RangeJson { from: milli(range.lower), to: milli(range.upper), step: milli_u(range.step) })
                .collect(),
        })
        .collect();
    let samples = block
        .samples()
        .iter()
        .map(|sample| SampleJson {
            time: OffsetDateTime::from_unix_timestamp(sample.time).ok().and_then(|t| t.format(&Rfc3339).ok()),
            unix: sample.time,
            values: sample.values.iter().map(|&v| milli(v)).collect(),
        })
        .collect();
    BlockJson {
        serial: block.serial().to_string(),
        key_generation: key_generation.0,
        counter: block.counter(),
        channels,
        samples,
    }
}

/// A decoded block as `sim decode` prints it (fields in this order).
#[derive(Debug, Clone, serde::Serialize)]
pub struct BlockJson {
    serial: String,
    key_generation: u8,
    counter: u64,
    channels: Vec<ChannelJson>,
    samples: Vec<SampleJson>,
}

#[derive(Debug, Clone, serde::Serialize)]
struct ChannelJson {
    quantity: Quantity,
    unit: &'static str,
    resolution: Vec<RangeJson>,
}

#[derive(Debug, Clone, serde::Serialize)]
struct RangeJson {
    from: Value,
    to: Value,
    step: Value,
}

#[derive(Debug, Clone, serde::Serialize)]
struct SampleJson {
    time: Option<String>,
    unix: i64,
    values: Vec<Value>,
}

/// Thousandths as a JSON number. The nearest double of `n / 1000` prints as exactly the
/// decimal `n / 1000` (at most ten significant digits), so no rounding shows.
fn milli(value: i32) -> Value {
    json!(f64::from(value) / 1000.0)
}

fn milli_u(value: u32) -> Value {
    json!(f64::from(value) / 1000.0)
}
