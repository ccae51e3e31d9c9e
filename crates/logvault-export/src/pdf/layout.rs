//! Page flow: the report is laid out first into a list of drawing operations per page, and only then written, so
//! every footer can say "Page N of M" and a table that runs over a page break repeats its header.

use super::fonts::{Fonts, wrap};

/// A4 in points.
pub(crate) const PAGE_WIDTH: f32 = 595.28;
pub(crate) const PAGE_HEIGHT: f32 = 841.89;
pub(crate) const MARGIN_X: f32 = 50.0;
pub(crate) const CONTENT_WIDTH: f32 = PAGE_WIDTH - 2.0 * MARGIN_X;
/// Where the body starts and ends; the running header and the footer sit outside.
const BODY_TOP: f32 = 62.0;
const BODY_BOTTOM: f32 = PAGE_HEIGHT - 62.0;

pub(crate) type Colour = (u8, u8, u8);
pub(crate) const TEXT: Colour = (25, 25, 25);
pub(crate) const MUTED: Colour = (100, 100, 100);
pub(crate) const RULE: Colour = (170, 170, 170);
const HEADER_FILL: Colour = (232, 236, 242);
const STRIPE_FILL: Colour = (246, 247, 249);

/// One drawing operation; `y` grows downwards from the top of the page, text `y` is the baseline.
#[derive(Debug)]
pub(crate) enum Op {
    Text { x: f32, y: f32, size: f32, bold: bool, colour: Colour, text: String },
    Line { from: (f32, f32), to: (f32, f32), width: f32, colour: Colour },
    Rect { x: f32, y: f32, width: f32, height: f32, colour: Colour },
    Svg { x: f32, y: f32, width: f32, height: f32, tree: Box<usvg::Tree> },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Align {
    Left,
    Right,
}

/// A table column: its title, its share of the content width and how its cells align.
#[derive(Debug, Clone)]
pub(crate) struct Column {
    pub(crate) title: &'static str,
    pub(crate) weight: f32,
    pub(crate) align: Align,
}

impl Column {
    pub(crate) fn left(title: &'static str, weight: f32) -> Self {
        Column { title, weight, align: Align::Left }
    }

    pub(crate) fn right(title: &'static str, weight: f32) -> Self {
        Column { title, weight, align: Align::Right }
    }
}

const TABLE_SIZE: f32 = 8.5;
const TABLE_LINE: f32 = 11.0;
const CELL_PAD_X: f32 = 4.0;
const CELL_PAD_Y: f32 = 3.5;

/// The document being laid out: finished pages and the cursor on the current one.
#[derive(Debug)]
pub(crate) struct Flow<'f> {
    fonts: &'f Fonts,
    pages: Vec<Vec<Op>>,
    y: f32,
}

impl<'f> Flow<'f> {
    pub(crate) fn new(fonts: &'f Fonts) -> Self {
        Flow { fonts, pages: vec![Vec::new()], y: BODY_TOP }
    }

    /// The pages laid out, each a list of operations.
    pub(crate) fn finish(self) -> Vec<Vec<Op>> {
        self.pages
    }

    fn push(&mut self, op: Op) {
        if let Some(page) = self.pages.last_mut() {
            page.push(op);
        }
    }

    fn new_page(&mut self) {
        self.pages.push(Vec::new());
        self.y = BODY_TOP;
    }

    /// Starts a new page unless `height` more fits on this one; true when it did.
    fn ensure(&mut self, height: f32) -> bool {
        if self.y + height > BODY_BOTTOM && self.y > BODY_TOP {
            self.new_page();
            return true;
        }
        false
    }

    pub(crate) fn space(&mut self, height: f32) {
        self.y += height;
    }

    /// A line of text at `x` whose top is the cursor; does not move the cursor.
    fn text_at(&mut self, x: f32, top: f32, size: f32, bold: bool, colour: Colour, text: &str) {
        // DejaVu's ascender is about 0.93 em; 0.8 em puts cap height and accents comfortably inside the line.
        self.push(Op::Text { x, y: top + size * 0.85, size, bold, colour, text: text.to_owned() });
    }

    pub(crate) fn title(&mut self, text: &str, size: f32) {
        self.ensure(size * 1.4);
        let top = self.y;
        self.text_at(MARGIN_X, top, size, true, TEXT, text);
        self.y += size * 1.35;
    }

    /// A section heading with a rule under it; keeps at least `keep_with` points of what follows on its page.
    pub(crate) fn heading(&mut self, text: &str, keep_with: f32) {
        self.space(10.0);
        self.ensure(24.0 + keep_with);
        let top = self.y;
        self.text_at(MARGIN_X, top, 12.5, true, TEXT, text);
        self.y += 17.0;
        let y = self.y;
        self.push(Op::Line { from: (MARGIN_X, y), to: (MARGIN_X + CONTENT_WIDTH, y), width: 0.6, colour: RULE });
        self.y += 7.0;
    }

    /// Wrapped text across the content width.
    pub(crate) fn paragraph(&mut self, text: &str, size: f32, colour: Colour) {
        let line_height = size * 1.35;
        for line in wrap(&self.fonts.regular, text, size, CONTENT_WIDTH) {
            self.ensure(line_height);
            let top = self.y;
            self.text_at(MARGIN_X, top, size, false, colour, &line);
            self.y += line_height;
        }
    }

    /// A command line to type, bold and indented.
    pub(crate) fn command(&mut self, text: &str) {
        const SIZE: f32 = 9.0;
        const INDENT: f32 = 14.0;
        for line in wrap(&self.fonts.bold, text, SIZE, CONTENT_WIDTH - INDENT) {
            self.ensure(SIZE * 1.4);
            let top = self.y;
            self.text_at(MARGIN_X + INDENT, top, SIZE, true, TEXT, &line);
            self.y += SIZE * 1.4;
        }
    }

    /// Label/value pairs, the labels in a bold column, the values wrapped beside them.
    pub(crate) fn fields(&mut self, fields: &[(&str, String)]) {
        const SIZE: f32 = 9.5;
        const LABEL_WIDTH: f32 = 105.0;
        let line_height = SIZE * 1.45;
        for (label, value) in fields {
            let lines = wrap(&self.fonts.regular, value, SIZE, CONTENT_WIDTH - LABEL_WIDTH);
            self.ensure(line_height * lines.len() as f32);
            let top = self.y;
            self.text_at(MARGIN_X, top, SIZE, true, TEXT, label);
            for (i, line) in lines.iter().enumerate() {
                self.text_at(MARGIN_X + LABEL_WIDTH, top + i as f32 * line_height, SIZE, false, TEXT, line);
            }
            self.y += line_height * lines.len() as f32;
        }
    }

    /// A table across the content width; rows that run past the page continue on the next one under a repeated
    /// header row.
    pub(crate) fn table(&mut self, columns: &[Column], rows: &[Vec<String>]) {
        let total: f32 = columns.iter().map(|c| c.weight).sum::<f32>().max(f32::EPSILON);
        let widths: Vec<f32> = columns.iter().map(|c| c.weight / total * CONTENT_WIDTH).collect();
        let header: Vec<String> = columns.iter().map(|c| c.title.to_owned()).collect();
        let header_lines = self.cell_lines(&header, &widths, true);
        let header_height = row_height(&header_lines);
        let first_row_height = rows.first().map(|row| row_height(&self.cell_lines(row, &widths, false))).unwrap_or(0.0);
        self.ensure(header_height + first_row_height);
        self.table_row(columns, &widths, &header_lines, true, HEADER_FILL);
        for (i, row) in rows.iter().enumerate() {
            let lines = self.cell_lines(row, &widths, false);
            if self.ensure(row_height(&lines)) {
                self.table_row(columns, &widths, &header_lines, true, HEADER_FILL);
            }
            let fill = if i % 2 == 1 { STRIPE_FILL } else { (255, 255, 255) };
            self.table_row(columns, &widths, &lines, false, fill);
        }
        let y = self.y;
        self.push(Op::Line { from: (MARGIN_X, y), to: (MARGIN_X + CONTENT_WIDTH, y), width: 0.6, colour: RULE });
    }

    fn cell_lines(&self, cells: &[String], widths: &[f32], bold: bool) -> Vec<Vec<String>> {
        let face = self.fonts.face(bold);
        widths
            .iter()
            .enumerate()
            .map(|(i, width)| {
                let text = cells.get(i).map(String::as_str).unwrap_or("");
                wrap(face, text, TABLE_SIZE, width - 2.0 * CELL_PAD_X)
            })
            .collect()
    }

    fn table_row(&mut self, columns: &[Column], widths: &[f32], lines: &[Vec<String>], bold: bool, fill: Colour) {
        let height = row_height(lines);
        let top = self.y;
        if fill != (255, 255, 255) {
            self.push(Op::Rect { x: MARGIN_X, y: top, width: CONTENT_WIDTH, height, colour: fill });
        }
        let face = self.fonts.face(bold);
        let mut x = MARGIN_X;
        for ((column, width), cell) in columns.iter().zip(widths).zip(lines) {
            for (i, line) in cell.iter().enumerate() {
                let line_x = match column.align {
                    Align::Left => x + CELL_PAD_X,
                    Align::Right => x + width - CELL_PAD_X - face.width(line, TABLE_SIZE),
                };
                let line_top = top + CELL_PAD_Y + i as f32 * TABLE_LINE;
                self.text_at(line_x, line_top, TABLE_SIZE, bold, TEXT, line);
            }
            x += width;
        }
        self.y += height;
    }

    /// A chart (or any SVG) `width` × `height` points large at the left margin.
    pub(crate) fn figure(&mut self, tree: usvg::Tree, width: f32, height: f32) {
        self.ensure(height);
        let top = self.y;
        self.push(Op::Svg { x: MARGIN_X, y: top, width, height, tree: Box::new(tree) });
        self.y += height;
    }

    /// A bold caption kept on the same page as the `keep_with` points that follow it.
    pub(crate) fn caption(&mut self, text: &str, keep_with: f32) {
        self.ensure(16.0 + keep_with);
        let top = self.y;
        self.text_at(MARGIN_X, top, 10.0, true, TEXT, text);
        self.y += 15.0;
    }
}

fn row_height(lines: &[Vec<String>]) -> f32 {
    let n_lines = lines.iter().map(Vec::len).max().unwrap_or(1).max(1);
    n_lines as f32 * TABLE_LINE + 2.0 * CELL_PAD_Y - (TABLE_LINE - TABLE_SIZE * 1.2)
}

/// The running header and the footer of page `page_no` of `n_pages`, added once the page count is known.
pub(crate) fn page_furniture(
    fonts: &Fonts,
    page_no: usize,
    n_pages: usize,
    running_title: &str,
    organisation: &str,
    generated: &str,
) -> Vec<Op> {
    const SIZE: f32 = 7.5;
    let mut ops = Vec::new();
    let text = |ops: &mut Vec<Op>, x: f32, y: f32, text: &str| {
        ops.push(Op::Text { x, y, size: SIZE, bold: false, colour: MUTED, text: text.to_owned() });
    };
    let right = MARGIN_X + CONTENT_WIDTH;
    // Running header: what the page belongs to, so a loose page is still identifiable (in full on page 1).
    let organisation =
        wrap(&fonts.regular, organisation, SIZE, CONTENT_WIDTH / 2.0 - 8.0).into_iter().next().unwrap_or_default();
    let organisation_width = fonts.regular.width(&organisation, SIZE);
    let title = wrap(&fonts.regular, running_title, SIZE, CONTENT_WIDTH - organisation_width - 16.0)
        .into_iter()
        .next()
        .unwrap_or_default();
    text(&mut ops, MARGIN_X, 36.0, &title);
    text(&mut ops, right - organisation_width, 36.0, &organisation);
    ops.push(Op::Line { from: (MARGIN_X, 42.0), to: (right, 42.0), width: 0.5, colour: RULE });
    // Footer: page N of M on the right, when and by whom on the left (wrapped, never cut).
    let footer_top = PAGE_HEIGHT - 44.0;
    ops.push(Op::Line { from: (MARGIN_X, footer_top), to: (right, footer_top), width: 0.5, colour: RULE });
    let page = format!("Page {page_no} of {n_pages}");
    let page_width = fonts.regular.width(&page, SIZE);
    text(&mut ops, right - page_width, footer_top + 12.0, &page);
    for (i, line) in wrap(&fonts.regular, generated, SIZE, CONTENT_WIDTH - page_width - 20.0).iter().enumerate() {
        text(&mut ops, MARGIN_X, footer_top + 12.0 + i as f32 * SIZE * 1.3, line);
    }
    ops
}
