use std::sync::OnceLock;
use std::time::Instant;

use super::*;

fn fonts() -> &'static CardFonts {
    static FONTS: OnceLock<CardFonts> = OnceLock::new();
    FONTS.get_or_init(|| CardFonts::debian_default().expect("fonts-noto-cjk is installed"))
}

/// Noto CJK alone, for what must hold without the optional fallbacks.
fn noto_only() -> &'static CardFonts {
    static FONTS: OnceLock<CardFonts> = OnceLock::new();
    FONTS.get_or_init(|| CardFonts::load(Path::new(DEBIAN_REGULAR), Path::new(DEBIAN_BOLD)).unwrap())
}

const JA: &str = "今日は朝から雨が降っていたので、家でずっと本を読んでいました。「吾輩は猫である」を久しぶりに読み返したけど、やっぱり面白い！";
const EN: &str = "Just shipped the new release &amp; it feels great. Thanks to everyone who tested the beta last week — you made it better.";

fn card<'a>(screen_name: &'a str, text: &'a str) -> Card<'a> {
    Card { voice: screen_name, text, tagline: "Tweets in your voice, by a Markov chain" }
}

/// Decodes a PNG, checks its size, returns its RGB pixels.
fn decode(png_bytes: &[u8]) -> Vec<u8> {
    let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
    let mut reader = decoder.read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut pixels).unwrap();
    assert_eq!((info.width, info.height), (WIDTH, HEIGHT));
    assert_eq!(info.color_type, png::ColorType::Rgb);
    pixels
}

/// Pixels of `b` darker than the panel's white by a clear margin: drawn text.
fn ink(pixels: &[u8], b: Box2) -> usize {
    let mut count = 0;
    for y in b.y0 as usize..b.y1 as usize {
        for x in b.x0 as usize..b.x1 as usize {
            let i = (y * WIDTH as usize + x) * 3;
            if pixels[i..i + 3].iter().all(|&v| v < 128) {
                count += 1;
            }
        }
    }
    count
}

#[test]
fn renders_japanese_and_english_cards() {
    for (name, text) in [("ja", JA), ("en", EN)] {
        let png = render_png(fonts(), &card("alice_1234", text)).unwrap();
        let pixels = decode(&png);
        assert!(ink(&pixels, QUOTE_BOX) > 5_000, "{name}: too little text drawn");
        assert!(png.len() < 200_000, "{name}: {} bytes", png.len());
    }
}

/// Writes sample cards to look at: `cargo test -- --ignored --nocapture writes_samples`.
#[test]
#[ignore]
fn writes_samples() {
    let dir = std::env::temp_dir().join("tweetgen-card-samples");
    std::fs::create_dir_all(&dir).unwrap();
    let ja = Card {
        voice: "tanaka_hanako", text: JA, tagline: "あなたのツイートから、あなたらしい一言を。"
    };
    let en = Card { voice: "alice", text: EN, tagline: "Tweets in your voice, by a Markov chain" };
    let long_ja = "あ".repeat(140) + &"い".repeat(140);
    let long = Card { voice: "WWWWWWWWWWWWWWW", text: &long_ja, tagline: "tweetgen" };
    for (file, card) in [("card-ja.png", ja), ("card-en.png", en), ("card-long.png", long)] {
        std::fs::write(dir.join(file), render_png(fonts(), &card).unwrap()).unwrap();
        eprintln!("{}", dir.join(file).display());
    }
}

#[test]
fn cuts_280_characters_without_spaces() {
    for text in ["漢".repeat(280), "a".repeat(280), "https://example.com/".repeat(14)] {
        let (lines, cut) = layout(noto_only(), &text);
        let drawn: usize = lines.iter().map(|l| l.trim_end_matches('…').chars().count()).sum();
        assert!(drawn > 100, "{drawn} characters drawn");
        if cut {
            assert!(lines.last().unwrap().ends_with('…'));
        } else {
            assert_eq!(drawn, 280);
        }
        decode(&render_png(noto_only(), &card("bob", &text)).unwrap());
    }
    // 280 kana fit at the smallest size; 400 do not.
    assert!(layout(noto_only(), &"あ".repeat(400)).1);
}

/// The tweet's lines as [`quote`] lays them out.
fn layout(fonts: &CardFonts, text: &str) -> (Vec<String>, bool) {
    let pen = Pen { fonts, bold: true, size: *QUOTE_SIZES.last().unwrap() };
    let max_lines = ((QUOTE_BOX.y1 - QUOTE_BOX.y0) / (pen.size * LINE_HEIGHT)) as usize;
    wrap(&pen.drawable(text), QUOTE_BOX.x1 - QUOTE_BOX.x0, max_lines, |s| pen.width(s))
}

#[test]
fn emoji_and_unknown_characters_do_not_break_rendering() {
    let text = "Good morning ☀️😀👍🏽👨‍👩‍👧 \u{E000}\u{10FFFD}\u{0007} done 🎉";
    for fonts in [noto_only(), fonts()] {
        let pixels = decode(&render_png(fonts, &card("emoji", text)).unwrap());
        assert!(ink(&pixels, QUOTE_BOX) > 1_000);
    }
    // Without an emoji font they are left out, spaces and all.
    let drawable = Pen { fonts: noto_only(), bold: true, size: 40.0 }.drawable(text);
    assert!(drawable.starts_with("Good morning ") && drawable.ends_with(" done"), "{drawable:?}");
    assert!(!drawable.contains("  "), "{drawable:?}");
}

#[test]
fn empty_text_and_names_still_render() {
    for (name, text) in [("", ""), ("x", " \n\n "), ("@already_at", "\u{200B}")] {
        let pixels = decode(&render_png(fonts(), &card(name, text)).unwrap());
        assert_eq!(ink(&pixels, QUOTE_BOX), 0);
    }
}

#[test]
fn long_screen_names_fit_left_of_the_brand() {
    // 15 characters is X's limit; W is the widest letter.
    let pen = Pen { fonts: fonts(), bold: true, size: 36.0 };
    let (fitted, name) = fit(pen, 24.0, "@WWWWWWWWWWWWWWW", 500.0);
    assert!(fitted.width(&name) <= 500.0);
    assert!(fitted.size < 36.0);
    let pixels = decode(&render_png(fonts(), &card("WWWWWWWWWWWWWWW", EN)).unwrap());
    // The footer has both the name and the brand.
    let footer = Box2 { x0: 0.0, y0: PANEL_BOX.y1 + 4.0, x1: WIDTH as f32, y1: HEIGHT as f32 };
    assert!(ink(&pixels, footer) > 1_000);
}

#[test]
fn same_input_same_bytes() {
    let a = render_png(fonts(), &card("alice", JA)).unwrap();
    let b = render_png(fonts(), &card("alice", JA)).unwrap();
    let c = render_png(fonts(), &card("alice", EN)).unwrap();
    assert_eq!(a, b);
    assert_ne!(a, c);
}

#[test]
fn fonts_are_shared_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<CardFonts>();
    let fonts = fonts();
    let pngs: Vec<Vec<u8>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..2).map(|_| s.spawn(|| render_png(fonts, &card("alice", JA)).unwrap())).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(pngs[0], pngs[1]);
}

#[test]
fn missing_font_files_are_errors() {
    let err = CardFonts::load(Path::new("/nonexistent.ttc"), Path::new(DEBIAN_BOLD)).err().unwrap();
    assert!(matches!(err, CardError::ReadFont { .. }), "{err}");
    let not_a_font = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
    let err = CardFonts::load(&not_a_font, &not_a_font).err().unwrap();
    assert!(matches!(err, CardError::BadFont { .. }), "{err}");
}

/// One unit per character, for testing line breaking without fonts.
fn chars(s: &str) -> f32 {
    s.chars().count() as f32
}

#[test]
fn japanese_breaks_anywhere_but_before_closing_punctuation() {
    let (lines, cut) = wrap("あいうえお。かきくけこ", 5.0, 10, chars);
    // "。" may not start a line: "お" goes down with it.
    assert_eq!(lines, ["あいうえ", "お。かきく", "けこ"]);
    assert!(!cut);
    // Small kana and long vowel marks stay with the character before.
    assert_eq!(wrap("あいうえっとー", 4.0, 10, chars).0, ["あいう", "えっとー"]);
    // An opening bracket does not end a line.
    assert_eq!(wrap("あいう「えお」", 4.0, 10, chars).0, ["あいう", "「えお」"]);
}

#[test]
fn english_breaks_at_spaces() {
    let (lines, _) = wrap("the quick brown fox jumps", 10.0, 10, chars);
    assert_eq!(lines, ["the quick", "brown fox", "jumps"]);
    // Too long for a line: cut anywhere.
    assert_eq!(wrap("abcdefghijkl mn", 5.0, 10, chars).0, ["abcde", "fghij", "kl mn"]);
    // Mixed: a Latin word inside Japanese stays whole.
    assert_eq!(wrap("今日はRustを書く", 6.0, 10, chars).0, ["今日は", "Rustを書", "く"]);
    // Line breaks in the tweet are kept.
    assert_eq!(wrap("one\ntwo", 10.0, 10, chars).0, ["one", "two"]);
}

#[test]
fn too_long_ends_with_an_ellipsis() {
    let (lines, cut) = wrap("the quick brown fox jumps over the lazy dog", 10.0, 2, chars);
    assert!(cut);
    assert_eq!(lines, ["the quick", "brown fox…"]);
    let (lines, cut) = wrap(&"あ".repeat(30), 10.0, 2, chars);
    assert!(cut);
    assert_eq!(lines[1], format!("{}…", "あ".repeat(9)));
}

/// Render time and PNG size: `cargo test --release -- --ignored --nocapture card_speed`.
#[test]
#[ignore]
fn card_speed() {
    let fonts = fonts();
    let long_ja = "今日はいい天気ですね。".repeat(25);
    for (name, text) in [("ja", JA), ("en", EN), ("ja-280", long_ja.as_str())] {
        let runs = 20;
        let start = Instant::now();
        let mut size = 0;
        for _ in 0..runs {
            size = render_png(fonts, &card("alice", text)).unwrap().len();
        }
        let ms = start.elapsed().as_secs_f64() * 1e3 / runs as f64;
        let layout_start = Instant::now();
        let canvas = render(fonts, &card("alice", text));
        let render_ms = layout_start.elapsed().as_secs_f64() * 1e3;
        drop(canvas);
        eprintln!("{name}: {ms:.1} ms per card ({render_ms:.1} ms drawing), {size} bytes");
    }
}
