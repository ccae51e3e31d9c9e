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
    let text = without_controls(text);
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

/// `text` with control characters other than line breaks as spaces: a tab or an escape code in a device name
/// has no glyph and would print as a box.
pub(crate) fn without_controls(text: &str) -> String {
    text.chars().map(|c| if c.is_control() && c != '\n' { ' ' } else { c }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapping_breaks_at_spaces_and_splits_only_words_too_wide_without_losing_a_character() {
        let fonts = Fonts::load().unwrap();
        let hash = "9f2c4e6a8b0d1f3e5a7c9b1d3f5e7a9c0b2d4f6e8a1c3e5b7d9f0a2c4e6b8d0f";
        let lines = wrap(&fonts.regular, &format!("chain {hash} ok"), 9.0, 120.0);
        assert!(lines.len() >= 3, "{lines:?}");
        assert!(lines.iter().all(|l| fonts.regular.width(l, 9.0) <= 120.0), "{lines:?}");
        assert_eq!(lines.concat().replace(' ', ""), format!("chain{hash}ok"));
        assert_eq!(wrap(&fonts.regular, "short text", 9.0, 120.0), vec!["short text"]);
    }

    #[test]
    fn widths_scale_with_the_em_of_the_embedded_font() {
        let fonts = Fonts::load().unwrap();
        // DejaVu Sans digits advance 1303 of 2048 font units.
        assert!((fonts.regular.width("0", 10.0) - 1303.0 * 10.0 / 2048.0).abs() < 0.01);
        assert!(fonts.bold.width("Maximum", 8.5) > fonts.regular.width("Maximum", 8.5));
    }
}
