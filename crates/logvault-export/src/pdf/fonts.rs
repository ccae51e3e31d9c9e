//! The fonts the report is set in, shipped in the crate: DejaVu Sans and DejaVu Sans Bold (Bitstream Vera licence,
//! `assets/fonts/LICENSE-DejaVu.txt`). Nothing is read from the system, so a server without fonts renders the same
//! document as a workstation, byte for byte.

use ab_glyph::{Font as _, FontRef};

use super::PdfError;

pub(crate) static REGULAR_TTF: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
pub(crate) static BOLD_TTF: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans-Bold.ttf");

/// The family name inside the TTF, which the chart's SVG asks for and usvg's font database resolves.
pub(crate) const FAMILY: &str = "DejaVu Sans";

/// A face as the PDF writer sees it and as the layout measures it.
#[derive(Clone)]
pub(crate) struct Face {
    pub(crate) pdf: krilla::text::Font,
    metrics: FontRef<'static>,
}

impl std::fmt::Debug for Face {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Face").finish_non_exhaustive()
    }
}

impl Face {
    fn load(bytes: &'static [u8]) -> Result<Self, PdfError> {
        let pdf = krilla::text::Font::new(bytes.into(), 0).ok_or(PdfError::Font)?;
        let metrics = FontRef::try_from_slice(bytes).map_err(|_| PdfError::Font)?;
        Ok(Face { pdf, metrics })
    }

    /// The advance width of `text` set at `size` points (with kerning, as krilla's shaper sets it).
    pub(crate) fn width(&self, text: &str, size: f32) -> f32 {
        // Unscaled font units, then em → points: ab_glyph's own `PxScale` is relative to the line height, not the em.
        let units_per_em = self.metrics.units_per_em().unwrap_or(2048.0);
        let mut units = 0.0;
        let mut previous = None;
        for c in text.chars() {
            let glyph = self.metrics.glyph_id(c);
            if let Some(previous) = previous {
                units += self.metrics.kern_unscaled(previous, glyph);
            }
            units += self.metrics.h_advance_unscaled(glyph);
            previous = Some(glyph);
        }
        units * size / units_per_em
    }
}

/// The two faces of one rendering.
#[derive(Debug, Clone)]
pub(crate) struct Fonts {
    pub(crate) regular: Face,
    pub(crate) bold: Face,
}

impl Fonts {
    pub(crate) fn load() -> Result<Self, PdfError> {
        Ok(Fonts { regular: Face::load(REGULAR_TTF)?, bold: Face::load(BOLD_TTF)? })
    }

    pub(crate) fn face(&self, bold: bool) -> &Face {
        if bold { &self.bold } else { &self.regular }
    }
}

/// Breaks `text` into lines no wider than `width`: at spaces where it can, inside a word only when the word alone
/// is too wide (a block hash, a long device name), so nothing is ever cut off.
pub(crate) fn wrap(face: &Face, text: &str, size: f32, width: f32) -> Vec<String> {
    let mut lines = Vec::new();
    for paragraph in text.split('\n') {
        let mut line = String::new();
        for word in paragraph.split(' ') {
            let candidate = if line.is_empty() { word.to_owned() } else { format!("{line} {word}") };
            if face.width(&candidate, size) <= width {
                line = candidate;
                continue;
            }
            if !line.is_empty() {
                lines.push(std::mem::take(&mut line));
            }
            // The word alone: split it by characters if it still does not fit.
            for c in word.chars() {
                line.push(c);
                if face.width(&line, size) > width && line.chars().count() > 1 {
                    line.pop();
                    lines.push(std::mem::take(&mut line));
                    line.push(c);
                }
            }
        }
        lines.push(line);
    }
    lines
}
