//! The coverage heatmap as a PNG: tactics as columns (in bands of seven, so the picture stays
//! readable on a phone), every live technique a cell coloured playbook / seen without playbook /
//! none, with a legend and the counts. Drawn into an RGB buffer with socbot's own bitmap font,
//! encoded with the `png` crate.

use super::coverage::{Cell, Coverage, TacticCoverage};
use super::font;

/// The picture's width in pixels.
pub const WIDTH: usize = 1920;
/// Tactic columns per band.
const PER_BAND: usize = 7;
const MARGIN: usize = 28;
const COLUMN_GAP: usize = 16;
const CELL: usize = 22;
const CELL_GAP: usize = 4;

const BACKGROUND: [u8; 3] = [0xff, 0xff, 0xff];
const INK: [u8; 3] = [0x1f, 0x23, 0x28];
const MUTED: [u8; 3] = [0x5c, 0x63, 0x6e];
const RULE: [u8; 3] = [0xc4, 0xc9, 0xd0];

/// An RGB picture being drawn.
struct Canvas {
    width: usize,
    height: usize,
    pixels: Vec<u8>,
}

impl Canvas {
    fn new(width: usize, height: usize) -> Self {
        let mut pixels = Vec::with_capacity(width * height * 3);
        for _ in 0..width * height {
            pixels.extend_from_slice(&BACKGROUND);
        }
        Self {
            width,
            height,
            pixels,
        }
    }

    fn rect(&mut self, x: usize, y: usize, w: usize, h: usize, rgb: [u8; 3]) {
        let (x1, y1) = ((x + w).min(self.width), (y + h).min(self.height));
        for row in y.min(y1)..y1 {
            let start = (row * self.width + x.min(x1)) * 3;
            let end = (row * self.width + x1) * 3;
            for px in self.pixels[start..end].chunks_exact_mut(3) {
                px.copy_from_slice(&rgb);
            }
        }
    }

    /// Draws `text` with its top-left corner at (x, y); returns the width drawn.
    fn text(&mut self, x: usize, y: usize, text: &str, scale: usize, rgb: [u8; 3]) -> usize {
        let mut cx = x;
        for c in text.chars() {
            let rows = font::glyph(c);
            for (r, bits) in rows.iter().enumerate() {
                for col in 0..font::WIDTH {
                    if bits & (1 << (font::WIDTH - 1 - col)) != 0 {
                        self.rect(cx + col * scale, y + r * scale, scale, scale, rgb);
                    }
                }
            }
            cx += (font::WIDTH + 1) * scale;
        }
        cx - x
    }

    fn png(&self) -> Vec<u8> {
        let mut out = Vec::new();
        {
            let mut encoder = png::Encoder::new(&mut out, self.width as u32, self.height as u32);
            encoder.set_color(png::ColorType::Rgb);
            encoder.set_depth(png::BitDepth::Eight);
            encoder.set_compression(png::Compression::Balanced);
            // Writing to a Vec fails only on a size png refuses, which these dimensions are not.
            let mut writer = encoder.write_header().expect("PNG header into memory");
            writer
                .write_image_data(&self.pixels)
                .expect("PNG data into memory");
        }
        out
    }
}

/// Splits a tactic name into lines of at most `max` characters (a longer word is cut).
fn wrap(text: &str, max: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        let word: String = word.chars().take(max).collect();
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > max {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(&word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// Characters of header text that fit a column (the last needs no spacing after it).
fn columns_chars(column: usize) -> usize {
    (column + TEXT_SCALE) / ((font::WIDTH + 1) * TEXT_SCALE)
}

/// The picture's layout, computed once for drawing.
struct Layout {
    column: usize,
    per_row: usize,
    header: usize,
    bands: Vec<(usize, usize)>,
    top: usize,
    height: usize,
}

const TITLE_SCALE: usize = 6;
const TEXT_SCALE: usize = 3;
const LINE: usize = font::HEIGHT * TEXT_SCALE + 10;

fn layout(cov: &Coverage) -> Layout {
    let column = (WIDTH - 2 * MARGIN - (PER_BAND - 1) * COLUMN_GAP) / PER_BAND;
    let per_row = (column + CELL_GAP) / (CELL + CELL_GAP);
    let chars = columns_chars(column);
    let name_lines = cov
        .tactics
        .iter()
        .map(|t| wrap(&t.name, chars).len())
        .max()
        .unwrap_or(1);
    // Name lines, the count line, the bar.
    let header = name_lines * LINE + LINE + 16 + 14;
    let top = MARGIN + font::HEIGHT * TITLE_SCALE + 16 + LINE + 12 + LINE + 28;
    let mut bands = Vec::new();
    let mut y = top;
    for band in cov.tactics.chunks(PER_BAND) {
        let rows = band
            .iter()
            .map(|t| t.cells.len().div_ceil(per_row.max(1)))
            .max()
            .unwrap_or(0);
        let h = header + rows * (CELL + CELL_GAP) + 36;
        bands.push((y, h));
        y += h;
    }
    Layout {
        column,
        per_row: per_row.max(1),
        header,
        bands,
        top,
        height: y + LINE + MARGIN,
    }
}

/// The picture's size in pixels (width, height) for this coverage.
pub fn size(cov: &Coverage) -> (usize, usize) {
    (WIDTH, layout(cov).height)
}

/// Draws the heatmap and encodes it as PNG.
pub fn png(cov: &Coverage) -> Vec<u8> {
    let l = layout(cov);
    let mut c = Canvas::new(WIDTH, l.height);
    let y = heading(&mut c, cov);
    debug_assert!(y + LINE + 28 <= l.top);
    let chars = columns_chars(l.column);
    for (band, &(band_y, band_h)) in cov.tactics.chunks(PER_BAND).zip(&l.bands) {
        c.rect(MARGIN, band_y - 14, WIDTH - 2 * MARGIN, 2, RULE);
        for (i, t) in band.iter().enumerate() {
            let x = MARGIN + i * (l.column + COLUMN_GAP);
            if i > 0 {
                // A hairline between columns, so long tactic names never run together.
                c.rect(x - COLUMN_GAP / 2 - 1, band_y, 1, band_h - 36, RULE);
            }
            column(&mut c, t, x, band_y, &l, chars);
        }
    }
    c.text(
        MARGIN,
        l.height - MARGIN - font::HEIGHT * 2,
        &format!(
            "SOCBOT · {} UTC · MITRE ATT&CK DATA (C) THE MITRE CORPORATION, USED UNDER THE ATT&CK TERMS OF USE",
            cov.generated_at.format("%Y-%m-%d %H:%M")
        ),
        2,
        MUTED,
    );
    c.png()
}

/// The title with the overall share, the subtitle and the legend; returns the legend's y.
fn heading(c: &mut Canvas, cov: &Coverage) -> usize {
    let percent = (cov.with_playbook * 100).checked_div(cov.live).unwrap_or(0);
    // Title, with the overall share on the right.
    c.text(MARGIN, MARGIN, "ATT&CK COVERAGE", TITLE_SCALE, INK);
    let share = format!("{percent}%");
    let share_w = font::text_width(&share, TITLE_SCALE);
    c.text(
        WIDTH - MARGIN - share_w,
        MARGIN,
        &share,
        TITLE_SCALE,
        Cell::Playbook.rgb(),
    );
    let mut y = MARGIN + font::HEIGHT * TITLE_SCALE + 16;
    c.text(
        MARGIN,
        y,
        &format!(
            "ENTERPRISE V{} · {} OF {} LIVE TECHNIQUES HAVE A PLAYBOOK · {} INCIDENTS IN {} DAYS",
            cov.attack_version, cov.with_playbook, cov.live, cov.incidents, cov.days
        ),
        TEXT_SCALE,
        MUTED,
    );
    y += LINE + 12;
    // Legend with counts of distinct techniques.
    let count = |k: Cell| cov.cells.values().filter(|c| **c == k).count();
    let mut x = MARGIN;
    for kind in [Cell::Playbook, Cell::SeenWithoutPlaybook, Cell::None] {
        let swatch = font::HEIGHT * TEXT_SCALE;
        c.rect(x, y, swatch, swatch, kind.rgb());
        x += swatch + 12;
        x += c.text(
            x,
            y,
            &format!("{} {}", kind.label(), count(kind)),
            TEXT_SCALE,
            INK,
        );
        x += 48;
    }
    y
}

/// One tactic's column: its name, share, bar and cells.
fn column(c: &mut Canvas, t: &TacticCoverage, x: usize, band_y: usize, l: &Layout, chars: usize) {
    let mut y = band_y;
    for line in wrap(&t.name, chars) {
        c.text(x, y, &line, TEXT_SCALE, INK);
        y += LINE;
    }
    let y = band_y + l.header - LINE - 30;
    c.text(
        x,
        y,
        &format!("{}/{} {}%", t.with_playbook, t.live, t.percent()),
        TEXT_SCALE,
        MUTED,
    );
    // The share as a bar the width of the column.
    let bar_y = y + LINE;
    c.rect(x, bar_y, l.column, 12, Cell::None.rgb());
    let filled = (l.column * t.with_playbook)
        .checked_div(t.live)
        .unwrap_or(0);
    c.rect(x, bar_y, filled, 12, Cell::Playbook.rgb());
    // Cells: playbooks first, then the gaps seen, then the rest; each in id order.
    let mut cells = t.cells.clone();
    cells.sort_by_key(|(id, cell)| (2 - cell.score(), *id));
    let cells_y = band_y + l.header;
    for (n, (_, cell)) in cells.iter().enumerate() {
        let cx = x + (n % l.per_row) * (CELL + CELL_GAP);
        let cy = cells_y + (n / l.per_row) * (CELL + CELL_GAP);
        c.rect(cx, cy, CELL, CELL, cell.rgb());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_wrap_on_words_and_long_words_are_cut() {
        assert_eq!(wrap("Defense Evasion", 14), vec!["Defense", "Evasion"]);
        assert_eq!(
            wrap("Command and Control", 14),
            vec!["Command and", "Control"]
        );
        assert_eq!(wrap("Reconnaissance", 5), vec!["Recon"]);
    }
}
