//! The Open Graph / Twitter card image of a user's page: a 1200×630 PNG with a
//! generated tweet in a quote panel, `@screen_name`, and the service's name and
//! tagline.
//!
//! Text is laid out here, without a shaping engine: Japanese and English need
//! none (no ligatures or contextual forms worth having on a card). Lines break
//! between any two CJK characters except where simple kinsoku forbids it, and
//! at spaces elsewhere; a word too long for a line is cut anywhere. Glyphs come
//! from Noto Sans CJK JP, then from the fallback fonts (DejaVu Sans Bold, Symbola for
//! monochrome emoji, when installed); characters none of them has are left out.

use std::path::{Path, PathBuf};

use ab_glyph::{point, Font, FontVec, GlyphId, PxScale, ScaleFont};

/// The card's size, the one X and Facebook recommend.
pub const WIDTH: u32 = 1200;
pub const HEIGHT: u32 = 630;

/// Debian's fonts-noto-cjk. Face 0 of both collections is Noto Sans CJK JP.
pub const DEBIAN_REGULAR: &str = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc";
pub const DEBIAN_BOLD: &str = "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc";
/// Used by [`CardFonts::debian_default`] when installed: fonts-dejavu-core
/// (symbols, more scripts; bold, as the tweet is) and fonts-symbola (monochrome emoji).
pub const DEBIAN_FALLBACKS: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/truetype/ancient-scripts/Symbola_hint.ttf",
];

#[derive(Debug, thiserror::Error)]
pub enum CardError {
    #[error("cannot read the font file {}: {source}", path.display())]
    ReadFont { path: PathBuf, source: std::io::Error },
    #[error("{} is not a font that can be used", path.display())]
    BadFont { path: PathBuf },
    #[error("cannot encode the card as PNG: {0}")]
    Png(#[from] png::EncodingError),
}

/// The fonts, loaded once (about 40 MB for Noto CJK) and shared by every render.
pub struct CardFonts {
    regular: FontVec,
    bold: FontVec,
    /// Tried in order for characters the main fonts lack.
    fallbacks: Vec<FontVec>,
}

impl CardFonts {
    /// Loads a regular and a bold font file; of a collection (`.ttc`), face 0.
    pub fn load(regular: &Path, bold: &Path) -> Result<Self, CardError> {
        Ok(Self { regular: load_font(regular)?, bold: load_font(bold)?, fallbacks: Vec::new() })
    }

    /// Adds a font for characters the main fonts (and earlier fallbacks) lack.
    pub fn with_fallback(mut self, path: &Path) -> Result<Self, CardError> {
        self.fallbacks.push(load_font(path)?);
        Ok(self)
    }

    /// Noto Sans CJK JP from Debian's fonts-noto-cjk, with the [`DEBIAN_FALLBACKS`] that are installed.
    pub fn debian_default() -> Result<Self, CardError> {
        let mut fonts = Self::load(Path::new(DEBIAN_REGULAR), Path::new(DEBIAN_BOLD))?;
        for path in DEBIAN_FALLBACKS.iter().map(Path::new).filter(|p| p.exists()) {
            fonts = fonts.with_fallback(path)?;
        }
        Ok(fonts)
    }
}

fn load_font(path: &Path) -> Result<FontVec, CardError> {
    let data = std::fs::read(path).map_err(|source| CardError::ReadFont { path: path.to_owned(), source })?;
    FontVec::try_from_vec_and_index(data, 0).map_err(|_| CardError::BadFont { path: path.to_owned() })
}

/// What a card shows.
#[derive(Debug, Clone, Copy)]
pub struct Card<'a> {
    /// `@alice`, or a mix's `@alice + @bob ×2` (the first `@` may be left out).
    pub voice: &'a str,
    /// The sample tweet; line breaks are kept, blank lines are not.
    pub text: &'a str,
    /// Under the service name, in the page's language.
    pub tagline: &'a str,
}

/// Renders the card. Deterministic: the same fonts and card give the same bytes.
pub fn render_png(fonts: &CardFonts, card: &Card) -> Result<Vec<u8>, CardError> {
    let canvas = render(fonts, card);
    let mut png = Vec::with_capacity(64 << 10);
    let mut encoder = png::Encoder::new(&mut png, WIDTH, HEIGHT);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_compression(png::Compression::Balanced);
    let mut writer = encoder.write_header()?;
    writer.write_image_data(&canvas.pixels)?;
    writer.finish()?;
    Ok(png)
}

type Rgb = [u8; 3];

// The site's colours (style/main.css).
const BACKGROUND_TOP: Rgb = [0xe8, 0xf5, 0xfe];
const BACKGROUND_BOTTOM: Rgb = [0xf6, 0xf7, 0xf9];
const PANEL: Rgb = [0xff, 0xff, 0xff];
const BORDER: Rgb = [0xe3, 0xe6, 0xea];
const TEXT: Rgb = [0x14, 0x17, 0x1a];
const MUTED: Rgb = [0x5b, 0x66, 0x70];
const ACCENT: Rgb = [0x1d, 0x9b, 0xf0];
const SHADOW: Rgb = [0x0f, 0x2a, 0x44];

/// An axis-aligned box: left, top, right, bottom.
#[derive(Debug, Clone, Copy)]
struct Box2 {
    x0: f32,
    y0: f32,
    x1: f32,
    y1: f32,
}

const MARGIN: f32 = 48.0;
const PANEL_BOX: Box2 = Box2 { x0: MARGIN, y0: MARGIN, x1: WIDTH as f32 - MARGIN, y1: 492.0 };
const PANEL_RADIUS: f32 = 28.0;
/// Where the tweet goes, inside the panel.
const QUOTE_BOX: Box2 = Box2 { x0: 116.0, y0: 92.0, x1: WIDTH as f32 - 104.0, y1: 452.0 };
/// Font sizes (px per em) tried for the tweet, largest first; the last one cuts with "…".
const QUOTE_SIZES: [f32; 7] = [64.0, 56.0, 50.0, 44.0, 38.0, 32.0, 28.0];
const LINE_HEIGHT: f32 = 1.45;
/// The footer's vertical middle, between the panel and the bottom edge.
const FOOTER_MIDDLE: f32 = (PANEL_BOX.y1 + HEIGHT as f32) / 2.0;
const AVATAR_RADIUS: f32 = 30.0;
const BRAND: &str = "tweetgen";

fn render(fonts: &CardFonts, card: &Card) -> Canvas {
    let mut canvas = Canvas::new();
    canvas.vertical_gradient(BACKGROUND_TOP, BACKGROUND_BOTTOM);
    canvas.rounded_rect(PANEL_BOX.down(10.0), PANEL_RADIUS, 24.0, SHADOW, 0.10);
    canvas.rounded_rect(PANEL_BOX.grow(1.0), PANEL_RADIUS + 1.0, 1.0, BORDER, 1.0);
    canvas.rounded_rect(PANEL_BOX, PANEL_RADIUS, 1.0, PANEL, 1.0);

    // A large, faint opening quote mark in the panel's corner, left of the text.
    let mark = Pen { fonts, bold: true, size: 110.0 };
    canvas.text(&mark, 50.0, 160.0, "“", ACCENT, 0.25);

    quote(&mut canvas, fonts, card.text);
    footer(&mut canvas, fonts, card);
    canvas
}

/// The tweet, in the largest size that fits, centred vertically in [`QUOTE_BOX`].
fn quote(canvas: &mut Canvas, fonts: &CardFonts, text: &str) {
    let max_width = QUOTE_BOX.x1 - QUOTE_BOX.x0;
    let height = QUOTE_BOX.y1 - QUOTE_BOX.y0;
    let mut pen = Pen { fonts, bold: true, size: QUOTE_SIZES[0] };
    let text = pen.drawable(text);
    let mut lines = Vec::new();
    for size in QUOTE_SIZES {
        pen.size = size;
        let max_lines = ((height / (size * LINE_HEIGHT)) as usize).max(1);
        let (wrapped, cut) = wrap(&text, max_width, max_lines, |s| pen.width(s));
        lines = wrapped;
        if !cut {
            break;
        }
    }
    let line_height = pen.size * LINE_HEIGHT;
    let top = QUOTE_BOX.y0 + (height - line_height * lines.len() as f32) / 2.0;
    for (i, line) in lines.iter().enumerate() {
        // Glyphs' visual middle sits about 0.36 em above the baseline, in both scripts.
        let baseline = top + line_height * (i as f32 + 0.5) + pen.size * 0.36;
        canvas.text(&pen, QUOTE_BOX.x0, baseline, line, TEXT, 1.0);
    }
}

/// Avatar and `@screen_name` on the left; the service's name and tagline on the right.
fn footer(canvas: &mut Canvas, fonts: &CardFonts, card: &Card) {
    let right = WIDTH as f32 - MARGIN;
    let brand = Pen { fonts, bold: true, size: 40.0 };
    let brand_width = brand.width(BRAND);
    canvas.text(&brand, right - brand_width, FOOTER_MIDDLE - 2.0, BRAND, ACCENT, 1.0);
    let (tagline_pen, tagline) = fit(Pen { fonts, bold: false, size: 22.0 }, 18.0, card.tagline, 560.0);
    let tagline_width = tagline_pen.width(&tagline);
    canvas.text(&tagline_pen, right - tagline_width, FOOTER_MIDDLE + 32.0, &tagline, MUTED, 1.0);

    let name = card.voice.strip_prefix('@').unwrap_or(card.voice);
    let centre = (MARGIN + AVATAR_RADIUS, FOOTER_MIDDLE);
    canvas.circle(centre, AVATAR_RADIUS, ACCENT);
    let initial_pen = Pen { fonts, bold: true, size: 30.0 };
    if let Some(initial) = name.chars().find(|&c| initial_pen.glyph(c).is_some()) {
        let initial: String = initial.to_uppercase().collect();
        let x = centre.0 - initial_pen.width(&initial) / 2.0;
        canvas.text(&initial_pen, x, centre.1 + initial_pen.size * 0.36, &initial, PANEL, 1.0);
    }
    let left = MARGIN + 2.0 * AVATAR_RADIUS + 16.0;
    let room = right - brand_width.max(tagline_width) - 40.0 - left;
    let (name_pen, name) = fit(Pen { fonts, bold: true, size: 36.0 }, 24.0, &format!("@{name}"), room);
    canvas.text(&name_pen, left, FOOTER_MIDDLE + name_pen.size * 0.36, &name, TEXT, 1.0);
}

/// Shrinks `pen` towards `min_size` until `text` fits `max_width`, then cuts it with "…".
fn fit<'f>(mut pen: Pen<'f>, min_size: f32, text: &str, max_width: f32) -> (Pen<'f>, String) {
    let text = pen.drawable(text).replace('\n', " ");
    while pen.width(&text) > max_width && pen.size > min_size {
        pen.size = (pen.size - 2.0).max(min_size);
    }
    let text = if pen.width(&text) > max_width { with_ellipsis(&text, max_width, |s| pen.width(s)) } else { text };
    (pen, text)
}

/// A font style at a size.
#[derive(Clone, Copy)]
struct Pen<'f> {
    fonts: &'f CardFonts,
    bold: bool,
    /// Pixels per em.
    size: f32,
}

impl<'f> Pen<'f> {
    /// The first font that has `c`, and its glyph.
    fn glyph(&self, c: char) -> Option<(&'f FontVec, GlyphId)> {
        let main = if self.bold { &self.fonts.bold } else { &self.fonts.regular };
        std::iter::once(main).chain(&self.fonts.fallbacks).find_map(|font| {
            let id = font.glyph_id(c);
            (id.0 != 0).then_some((font, id))
        })
    }

    /// ab_glyph scales to the font's ascent-to-descent height; we size by the em,
    /// so that the main and fallback fonts match.
    fn scale(&self, font: &FontVec) -> PxScale {
        PxScale::from(self.size * font.height_unscaled() / font.units_per_em().unwrap_or(1000.0))
    }

    fn advance(&self, c: char) -> f32 {
        self.glyph(c).map_or(0.0, |(font, id)| font.as_scaled(self.scale(font)).h_advance(id))
    }

    fn width(&self, text: &str) -> f32 {
        text.chars().map(|c| self.advance(c)).sum()
    }

    /// `text` with what cannot be drawn left out: control characters, invisible
    /// ones (joiners, variation selectors …), characters no font has; runs of
    /// spaces and of line breaks become one.
    fn drawable(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        for c in text.chars() {
            let c = match c {
                '\n' | '\r' => '\n',
                c if c.is_whitespace() && c != '\u{3000}' => ' ',
                c if c.is_control() || is_invisible(c) || self.glyph(c).is_none() => continue,
                c => c,
            };
            match (out.chars().next_back(), c) {
                (None, ' ' | '\n') | (Some(' ' | '\n'), ' ') => {}
                (Some(' '), '\n') => {
                    out.pop();
                    out.push('\n');
                }
                (Some('\n'), '\n') => {}
                _ => out.push(c),
            }
        }
        out.trim_end().to_owned()
    }
}

/// Characters that only modify their neighbours: Unicode's default-ignorables
/// (joiners, variation selectors, tags) and emoji skin tones. Fonts may map
/// them, but without a shaper they would only take room or draw a swatch.
fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{180B}'..='\u{180F}' | '\u{200B}'..='\u{200F}' | '\u{2060}'..='\u{206F}'
        | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}' | '\u{1F3FB}'..='\u{1F3FF}' | '\u{E0000}'..='\u{E0FFF}')
}

/// Characters that may not start a line (行頭禁則), kept on the line before.
const NO_LINE_START: &str = "、。，．,.・：；:;？！?!)]}）〕］｝〉》」』】〙〗〟’”｠»ーぁぃぅぇぉっゃゅょゎゕゖァィゥェォッャュョヮヵヶㇰㇱㇲㇳㇴㇵㇶㇷㇸㇹㇺㇻㇼㇽㇾㇿ々〻ゝゞヽヾ゠〜～…‥";
/// Characters that may not end a line (行末禁則), moved to the next.
const NO_LINE_END: &str = "([{（〔［｛〈《「『【〘〖〝‘“｟«";

/// Scripts written without spaces, where a line may break between any two characters.
fn breaks_anywhere(c: char) -> bool {
    matches!(c,
        '\u{2E80}'..='\u{9FFF}'     // CJK punctuation, kana, ideographs
        | '\u{AC00}'..='\u{D7AF}'   // Hangul
        | '\u{F900}'..='\u{FAFF}'   // compatibility ideographs
        | '\u{FF00}'..='\u{FFEF}'   // full-width forms
        | '\u{2600}'..='\u{27BF}'   // symbols and dingbats
        | '\u{1F000}'..='\u{1FAFF}' // emoji
        | '\u{20000}'..='\u{3FFFF}')
}

fn may_break_between(before: char, after: char) -> bool {
    if after == ' ' {
        return false;
    }
    if before == ' ' {
        return true;
    }
    if NO_LINE_START.contains(after) || NO_LINE_END.contains(before) {
        return false;
    }
    breaks_anywhere(before) || breaks_anywhere(after)
}

/// Breaks `text` (from [`Pen::drawable`]) into at most `max_lines` lines of at
/// most `max_width`; returns them, and whether text was cut (the last line then
/// ends with "…").
fn wrap(text: &str, max_width: f32, max_lines: usize, width: impl Fn(&str) -> f32) -> (Vec<String>, bool) {
    let mut lines: Vec<String> = Vec::new();
    for paragraph in text.split('\n') {
        let mut line = String::new();
        for piece in pieces(paragraph) {
            let mut candidate = format!("{line}{piece}");
            if width(candidate.trim_end()) <= max_width {
                line = candidate;
                continue;
            }
            if !line.is_empty() {
                lines.push(std::mem::take(&mut line).trim_end().to_owned());
                candidate = piece.to_owned();
                if width(candidate.trim_end()) <= max_width {
                    line = candidate;
                    continue;
                }
            }
            // A piece wider than a whole line (a long word or URL): cut it anywhere.
            for c in candidate.chars() {
                line.push(c);
                if width(line.trim_end()) > max_width && line.chars().count() > 1 {
                    line.pop();
                    lines.push(std::mem::replace(&mut line, c.to_string()));
                }
            }
        }
        lines.push(line.trim_end().to_owned());
    }
    if lines.len() <= max_lines {
        return (lines, false);
    }
    lines.truncate(max_lines);
    if let Some(last) = lines.last_mut() {
        *last = with_ellipsis(last, max_width, &width);
    }
    (lines, true)
}

/// The unbreakable pieces of a paragraph, each with its trailing spaces.
fn pieces(paragraph: &str) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut start = 0;
    let mut chars = paragraph.char_indices().peekable();
    while let Some((_, c)) = chars.next() {
        if let Some(&(i, next)) = chars.peek() {
            if may_break_between(c, next) {
                pieces.push(&paragraph[start..i]);
                start = i;
            }
        }
    }
    if start < paragraph.len() {
        pieces.push(&paragraph[start..]);
    }
    pieces
}

/// `text`, cut as much as needed for it to fit `max_width` followed by "…".
fn with_ellipsis(text: &str, max_width: f32, width: impl Fn(&str) -> f32) -> String {
    let mut kept = text.to_owned();
    loop {
        let candidate = format!("{}…", kept.trim_end());
        if width(&candidate) <= max_width || kept.is_empty() {
            return candidate;
        }
        kept.pop();
    }
}

/// An RGB image the size of the card.
struct Canvas {
    pixels: Vec<u8>,
}

impl Canvas {
    fn new() -> Self {
        Self { pixels: vec![0; (WIDTH * HEIGHT * 3) as usize] }
    }

    /// Mixes `color` into pixel (x, y) by `alpha`; outside the canvas, nothing.
    fn blend(&mut self, x: i32, y: i32, color: Rgb, alpha: f32) {
        if !(0..WIDTH as i32).contains(&x) || !(0..HEIGHT as i32).contains(&y) || alpha <= 0.0 {
            return;
        }
        let i = (y as usize * WIDTH as usize + x as usize) * 3;
        let pixel = &mut self.pixels[i..i + 3];
        if alpha >= 1.0 {
            pixel.copy_from_slice(&color);
            return;
        }
        // In 1/256ths: integer arithmetic, and the same result on every platform.
        let a = (alpha * 256.0) as i32;
        for (dst, &src) in pixel.iter_mut().zip(&color) {
            *dst = (*dst as i32 + (((src as i32 - *dst as i32) * a) >> 8)) as u8;
        }
    }

    fn vertical_gradient(&mut self, top: Rgb, bottom: Rgb) {
        for (y, row) in self.pixels.chunks_exact_mut(WIDTH as usize * 3).enumerate() {
            let t = y as f32 / (HEIGHT - 1) as f32;
            let color: Rgb =
                std::array::from_fn(|i| (top[i] as f32 + (bottom[i] as f32 - top[i] as f32) * t).round() as u8);
            for px in row.chunks_exact_mut(3) {
                px.copy_from_slice(&color);
            }
        }
    }

    /// Fills a rounded rectangle whose edge fades over `soft` pixels (1 for a
    /// crisp antialiased edge, more for a shadow).
    fn rounded_rect(&mut self, b: Box2, radius: f32, soft: f32, color: Rgb, alpha: f32) {
        let (cx, cy) = ((b.x0 + b.x1) / 2.0, (b.y0 + b.y1) / 2.0);
        let (hx, hy) = ((b.x1 - b.x0) / 2.0 - radius, (b.y1 - b.y0) / 2.0 - radius);
        // Pixels closer than this to the rounded corners' centres are fully covered.
        let inner = radius - soft / 2.0 - 0.5;
        let reach = soft.ceil() as i32 + 1;
        for y in (b.y0 as i32 - reach)..(b.y1 as i32 + reach) {
            let qy = ((y as f32 + 0.5 - cy).abs() - hy).max(0.0);
            // The row's fully covered span, filled without the distance computation.
            let half_span = if qy < inner { hx + (inner * inner - qy * qy).sqrt() } else { -1.0 };
            let (full_from, full_to) = ((cx - half_span - 0.5).ceil() as i32, (cx + half_span - 0.5).floor() as i32);
            for x in (b.x0 as i32 - reach)..(b.x1 as i32 + reach) {
                if (full_from..=full_to).contains(&x) {
                    self.blend(x, y, color, alpha);
                    continue;
                }
                // Signed distance from the pixel's centre to the shape's edge.
                let qx = ((x as f32 + 0.5 - cx).abs() - hx).max(0.0);
                let distance = (qx * qx + qy * qy).sqrt() - radius;
                let coverage = (0.5 - distance / soft).clamp(0.0, 1.0);
                self.blend(x, y, color, alpha * coverage);
            }
        }
    }

    fn circle(&mut self, (cx, cy): (f32, f32), radius: f32, color: Rgb) {
        let b = Box2 { x0: cx - radius, y0: cy - radius, x1: cx + radius, y1: cy + radius };
        self.rounded_rect(b, radius, 1.0, color, 1.0);
    }

    /// Draws one line of text from (x, baseline).
    fn text(&mut self, pen: &Pen, mut x: f32, baseline: f32, text: &str, color: Rgb, alpha: f32) {
        for c in text.chars() {
            let Some((font, id)) = pen.glyph(c) else { continue };
            let scale = pen.scale(font);
            if let Some(outline) = font.outline_glyph(id.with_scale_and_position(scale, point(x, baseline))) {
                let bounds = outline.px_bounds();
                let (left, top) = (bounds.min.x as i32, bounds.min.y as i32);
                outline.draw(|gx, gy, coverage| self.blend(left + gx as i32, top + gy as i32, color, alpha * coverage));
            }
            x += font.as_scaled(scale).h_advance(id);
        }
    }
}

impl Box2 {
    fn down(self, dy: f32) -> Self {
        Self { y0: self.y0 + dy, y1: self.y1 + dy, ..self }
    }

    fn grow(self, by: f32) -> Self {
        Self { x0: self.x0 - by, y0: self.y0 - by, x1: self.x1 + by, y1: self.y1 + by }
    }
}

#[cfg(test)]
mod tests;
