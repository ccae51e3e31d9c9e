//! QR rendering of links (terminal text and SVG) and how many samples fit in one code.
//!
//! A link is lower-case-heavy text, so it is encoded in byte mode; the largest code
//! (version 40) then holds 2,953 bytes at error-correction level L, 2,331 at M, 1,663 at Q
//! and 1,273 at H.

use std::string::String;
use std::vec::Vec;

pub use qrcode::EcLevel;
use qrcode::QrCode;
use qrcode::render::{svg, unicode};

use crate::block::Block;
use crate::envelope::seal;
use crate::key::{DeviceKey, KeyGeneration};
use crate::link::to_link;

/// The link does not fit in a version-40 QR code at the requested error-correction level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the link is too long for one QR code at this error-correction level")]
pub struct QrTooLong;

/// The four error-correction levels, weakest (most data) first.
pub const EC_LEVELS: [EcLevel; 4] = [EcLevel::L, EcLevel::M, EcLevel::Q, EcLevel::H];

/// One-letter name of a level (`L`, `M`, `Q`, `H`).
pub fn ec_level_name(level: EcLevel) -> &'static str {
    match level {
        EcLevel::L => "L",
        EcLevel::M => "M",
        EcLevel::Q => "Q",
        EcLevel::H => "H",
    }
}

/// Draws the link with Unicode half blocks (two modules per character cell), with the quiet
/// zone, dark on light, for a terminal.
pub fn render_terminal(link: &str, level: EcLevel) -> Result<String, QrTooLong> {
    let code = QrCode::with_error_correction_level(link, level).map_err(|_| QrTooLong)?;
    Ok(code
        .render::<unicode::Dense1x2>()
        .dark_color(unicode::Dense1x2::Light)
        .light_color(unicode::Dense1x2::Dark)
        .build())
}

/// The link as an SVG document.
pub fn render_svg(link: &str, level: EcLevel) -> Result<String, QrTooLong> {
    let code = QrCode::with_error_correction_level(link, level).map_err(|_| QrTooLong)?;
    Ok(code.render::<svg::Color<'_>>().min_dimensions(256, 256).build())
}

/// Whether the link fits in one QR code at `level`.
pub fn fits(link: &str, level: EcLevel) -> bool {
    QrCode::with_error_correction_level(link, level).is_ok()
}

/// How many of a block's newest samples fit in one QR code at one error-correction level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capacity {
    pub level: EcLevel,
    /// Most samples (the newest ones) whose sealed link fits.
    pub max_samples: usize,
    /// Length in characters of that link.
    pub link_len: usize,
}

/// For each level, the largest number of the block's newest samples whose link fits (binary
/// search over real seals and real QR encodings, so it counts exactly what a logger would
/// send).
pub fn capacities(block: &Block, key: &DeviceKey, key_generation: KeyGeneration, base_url: &str) -> Vec<Capacity> {
    EC_LEVELS
        .iter()
        .map(|&level| {
            let link_for = |n: usize| to_link(base_url, &seal(&block.newest(n), key, key_generation));
            // Invariant: `low` samples fit (0 may not, if the URL alone is too long), `high + 1` do not.
            let (mut low, mut high) = (0usize, block.samples().len());
            while low < high {
                let mid = low + (high - low).div_ceil(2);
                if fits(&link_for(mid), level) {
                    low = mid;
                } else {
                    high = mid - 1;
                }
            }
            let link = link_for(low);
            let max_samples = if fits(&link, level) { low } else { 0 };
            Capacity { level, max_samples, link_len: link.len() }
        })
        .collect()
}
