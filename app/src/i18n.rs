//! Japanese and English UI. The language comes from the `lang` cookie (the
//! switch in the header sets it), else from Accept-Language, else Japanese. Every
//! string lives in one `Texts` per language, so a missing translation does not
//! compile.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Lang {
    Ja,
    En,
}

/// The cookie the language switch sets.
pub const LANG_COOKIE: &str = "lang";

impl Lang {
    pub const ALL: [Lang; 2] = [Lang::Ja, Lang::En];

    pub fn code(self) -> &'static str {
        match self {
            Lang::Ja => "ja",
            Lang::En => "en",
        }
    }

    pub fn from_code(code: &str) -> Option<Lang> {
        Lang::ALL.into_iter().find(|lang| lang.code().eq_ignore_ascii_case(code.trim()))
    }

    /// The supported language the browser prefers most (RFC 9110 quality values;
    /// `en-US` counts as `en`). Ties keep the header's order.
    pub fn from_accept_language(header: &str) -> Option<Lang> {
        let mut best: Option<(f32, Lang)> = None;
        for item in header.split(',') {
            let mut parts = item.split(';');
            let tag = parts.next().unwrap_or("").trim();
            let quality = parts
                .filter_map(|param| param.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            let primary = tag.split('-').next().unwrap_or("");
            if let Some(lang) = Lang::from_code(primary) {
                if quality > 0.0 && best.is_none_or(|(q, _)| quality > q) {
                    best = Some((quality, lang));
                }
            }
        }
        best.map(|(_, lang)| lang)
    }

    /// The language in which the app renders; provided by `App`.
    pub fn current() -> Lang {
        use_context::<Lang>().unwrap_or(Lang::Ja)
    }

    pub fn texts(self) -> &'static Texts {
        match self {
            Lang::Ja => &JA,
            Lang::En => &EN,
        }
    }

    /// The name of the language, in that language (for the switch).
    pub fn native_name(self) -> &'static str {
        match self {
            Lang::Ja => "日本語",
            Lang::En => "English",
        }
    }
}

/// The texts of the current language.
pub fn texts() -> &'static Texts {
    Lang::current().texts()
}

pub struct Texts {
    pub lang: Lang,
    pub tagline: &'static str,
    /// Under the service name on card images.
    pub card_tagline: &'static str,
    /// The share description of a user page.
    pub share_description: &'static str,
    pub sign_in: &'static str,
    pub sign_out: &'static str,
    pub sign_in_to_learn: &'static str,
    pub sign_in_failed: &'static str,
    pub language: &'static str,
    pub teach_title: &'static str,
    pub paste_label: &'static str,
    pub learn_button: &'static str,
    pub archive_label: &'static str,
    /// What is sent, without JavaScript (the whole file).
    pub archive_hint: &'static str,
    /// What is sent, hydrated (only the tweets files).
    pub archive_hint_hydrated: &'static str,
    pub finding_tweets_files: &'static str,
    pub upload_button: &'static str,
    pub learning_archive: &'static str,
    pub learning: &'static str,
    pub your_page: &'static str,
    pub try_voices: &'static str,
    pub nobody_yet: &'static str,
    pub loading: &'static str,
    pub ranking_title: &'static str,
    pub ranking_empty: &'static str,
    pub unknown_user_title: &'static str,
    pub unknown_user_body: &'static str,
    pub teach_yours: &'static str,
    pub protected_badge: &'static str,
    pub protected_notice: &'static str,
    pub start_with: &'static str,
    pub any_words: &'static str,
    pub at_most: &'static str,
    pub characters: &'static str,
    pub generate: &'static str,
    pub writing: &'static str,
    pub post_to_x: &'static str,
    /// Explains the count beside "Post to X".
    pub x_count_title: &'static str,
    /// Beside the count when the post's text had to be cut.
    pub x_post_cut: &'static str,
    pub mix_title: &'static str,
    pub mix_hint: &'static str,
    pub mix_button: &'static str,
    pub mix_share_description: &'static str,
    /// Beside a member's weight in a mix.
    pub mix_weight: &'static str,
    pub sessions_title: &'static str,
    pub sessions_explained: &'static str,
    pub sign_out_everywhere: &'static str,
    pub delete_title: &'static str,
    pub delete_explained: &'static str,
    pub delete_confirm: &'static str,
    pub delete_button: &'static str,
    pub deleted: &'static str,
    pub not_found: &'static str,
    pub back_home: &'static str,
}

impl Texts {
    pub fn paste_hint(&self, max_lines: usize) -> String {
        match self.lang {
            Lang::Ja => format!("ツイートを1行に1つずつ（{max_lines}行まで）"),
            Lang::En => format!("Your tweets, one per line (up to {max_lines})"),
        }
    }

    pub fn uploading(&self, percent: u32) -> String {
        match self.lang {
            Lang::Ja => format!("アップロード中… {percent}%"),
            Lang::En => format!("Uploading… {percent}%"),
        }
    }

    pub fn sending_tweets_files(&self, percent: u32, sent: u64, whole: u64) -> String {
        let (sent, whole) = (size(sent), size(whole));
        match self.lang {
            Lang::Ja => format!("ツイートのファイルだけを送信中（アーカイブ{whole}のうち{sent}）… {percent}%"),
            Lang::En => format!("Sending only your tweets files ({sent} of the {whole} archive)… {percent}%"),
        }
    }

    pub fn signed_in_as(&self, screen_name: &str) -> String {
        match self.lang {
            Lang::Ja => format!("@{screen_name} としてログイン中"),
            Lang::En => format!("Signed in as @{screen_name}"),
        }
    }

    pub fn learned(&self, sentences: i32, trained_at: &str) -> String {
        match self.lang {
            Lang::Ja => format!("{sentences}文を学習 · {trained_at}に学習"),
            Lang::En => format!("Learned {sentences} sentences · trained {trained_at}"),
        }
    }

    pub fn sentences(&self, sentences: i32) -> String {
        match self.lang {
            Lang::Ja => format!(" · {sentences}文"),
            Lang::En => format!(" · {sentences} sentences"),
        }
    }

    /// A ranking's count: people (one per viewer and day), not requests.
    pub fn generations(&self, count: i64) -> String {
        match self.lang {
            Lang::Ja => format!("{count}人が生成"),
            Lang::En if count == 1 => "1 person".to_string(),
            Lang::En => format!("{count} people"),
        }
    }

    /// The page title of a voice (`@alice`, or a mix's label).
    pub fn page_title(&self, voice: &str) -> String {
        match self.lang {
            Lang::Ja => format!("{voice}っぽいツイートを生成 — tweetgen"),
            Lang::En => format!("Tweets in the voice of {voice} — tweetgen"),
        }
    }

    pub fn mix_of(&self, voices: usize, sentences: i64) -> String {
        match self.lang {
            Lang::Ja => format!("{voices}人の声のミックス · 合わせて{sentences}文"),
            Lang::En => format!("A mix of {voices} voices · {sentences} sentences in all"),
        }
    }

    /// The error, for people, in this language.
    pub fn error(&self, error: &AppError) -> String {
        match self.lang {
            Lang::En => error.to_string(),
            Lang::Ja => japanese_error(error),
        }
    }
}

/// A size as people read it: "820 kB", "12.3 MB", "2.1 GB". In integers: float
/// formatting would add tens of kB to the wasm.
fn size(bytes: u64) -> String {
    let tenths = |unit: u64| {
        let tenths = (bytes + unit / 20) / (unit / 10);
        format!("{}.{}", tenths / 10, tenths % 10)
    };
    // Each unit up to where it would round to 1000 of itself.
    match bytes {
        0..=999_000 => format!("{} kB", bytes.div_ceil(1_000)),
        999_001..999_950_000 => format!("{} MB", tenths(1_000_000)),
        _ => format!("{} GB", tenths(1_000_000_000)),
    }
}

fn japanese_error(error: &AppError) -> String {
    match error {
        AppError::InvalidScreenName => "スクリーンネームは英数字とアンダースコアの1〜15文字です。".into(),
        AppError::NoTweets => "ツイートを1行に1つ以上貼り付けてください。".into(),
        AppError::TooMuchText { max_lines, max_kib } => {
            format!("貼り付けられる量を超えています（{max_lines}行・{max_kib} KiBまで）。")
        }
        AppError::LineTooLong { line, max_kib } => {
            format!("{line}行目が長すぎます（1ツイート{max_kib} KiBまで）。")
        }
        AppError::NothingLearnable => {
            "整理した後に学習できるツイートが残りませんでした（RT、リプライ、メンション、リンクは除きます）。".into()
        }
        AppError::UnknownUser(name) => format!("@{name} はまだ何も学習させていません。"),
        AppError::GenerationFailed => "今回は生成できませんでした。もう一度試すか、ツイートを増やしてください。".into(),
        AppError::InvalidMaxChars { min, max } => format!("最大文字数は{min}〜{max}の数で指定してください。"),
        AppError::UnknownStartWords(words) => {
            format!("学習したツイートに「{words}」がありません。別の書き出しを試してください。")
        }
        AppError::StartTooLong { max } => format!("書き出しの言葉は{max}文字までです。"),
        AppError::ImpossibleOptions(why) => format!("その条件では生成できません: {why}"),
        AppError::UnknownGeneration => "その生成ツイートは存在しません。".into(),
        AppError::SignInRequired => "Xでログインしてください。".into(),
        AppError::NoVoices => "混ぜる声をカンマ区切りで入力してください（例: alice, bob:2 — コロンの後は重み）。".into(),
        AppError::InvalidMixMember(name) => {
            format!("「{name}」はスクリーンネームではありません（英数字とアンダースコアの1〜15文字）。")
        }
        AppError::InvalidMixWeight { min, max } => format!("重みは{min}〜{max}の整数です（例: bob:2）。"),
        AppError::MixTooLarge { max } => format!("混ぜられるのは{max}人までです。"),
        AppError::MixRepeats(name) => format!("@{name} が2回入っています。"),
        AppError::NoUpload => "アップロードするアーカイブの.zipか、data/tweets.jsを選んでください。".into(),
        AppError::UploadTooLarge { max_mb } => format!(
            "ファイルが{max_mb} MBを超えています。アーカイブの中のdata/tweets.jsだけを（またはそれだけを.zipにして）アップロードしてください。"
        ),
        AppError::BadZip { detail } => format!(".zipファイルを読めませんでした（{detail}）。"),
        AppError::NoTweetsFile => ".zipにツイートのファイル（data/tweets.js）がありません。".into(),
        AppError::UnpackedTooLarge { max_mb } => format!("ツイートのファイルが展開すると{max_mb} MBを超えます。"),
        AppError::ArchiveTextTooLong { file, line, max_kib } => {
            format!("{file}の{line}行目に{max_kib} KiBを超えるテキストがあります（ツイートとしては長すぎます）。")
        }
        AppError::NotTweetsFile { file } => {
            format!("{file}はXのアーカイブのツイートファイルではありません（window.YTD.tweets.part0 = [ で始まるはずです）。")
        }
        AppError::ArchiveInvalidUtf8 { file, line, column } => {
            format!("{file}の{line}行{column}文字目がUTF-8のテキストではありません。")
        }
        AppError::ArchiveBrokenJson { file, line, column } => {
            format!("{file}の{line}行{column}文字目でJSONが壊れています。")
        }
        AppError::ArchiveEmpty => "アーカイブにツイートがありません。".into(),
        AppError::DeleteNotConfirmed => "すべて削除してよいか、チェックを入れて確認してください。".into(),
        AppError::ProtectedAccount(name) => {
            format!("@{name} は非公開アカウントです。本人だけが生成できます。")
        }
        AppError::RetrainTooSoon { minutes } => {
            format!("学習したばかりです。あと{}で再学習できます。", japanese_duration(*minutes))
        }
        AppError::TrainingUnderWay => "学習がまだ進行中です。終わるまでお待ちください。".into(),
        AppError::TooBusyToTrain => "いま多くの人の学習が進んでいます。1分ほどしてからもう一度お試しください。".into(),
        AppError::RateLimited { retry_after_secs } => {
            format!("短い時間に受け付けられる回数を超えました。{retry_after_secs}秒ほど待ってからもう一度お試しください。")
        }
        AppError::ReadOnly => "tweetgenはお引っ越し中です。保存を数秒間止めています。少し待ってからもう一度お試しください。".into(),
        AppError::NotOpenYet => {
            "このサーバーはまだ保存を受け付けていません（tweetgenのお引っ越し先です）。1分ほど待ってからお試しください。".into()
        }
        AppError::Unavailable => "データベースに一時的につながりませんでした。少し待ってからもう一度お試しください。".into(),
        AppError::Internal => "サーバー側で問題が起きました。もう一度お試しください。".into(),
        AppError::Request(detail) => format!("リクエストに失敗しました: {detail}"),
    }
}

fn japanese_duration(minutes: u64) -> String {
    match (minutes / 60, minutes % 60) {
        (0, m) => format!("{m}分"),
        (h, 0) => format!("{h}時間"),
        (h, m) => format!("{h}時間{m}分"),
    }
}

static JA: Texts = Texts {
    lang: Lang::Ja,
    tagline: "あなたのツイートを学習して、あなたっぽいツイートを書きます。",
    card_tagline: "あなたのツイートから、あなたらしい一言を。",
    share_description: "このアカウントっぽいツイートを、マルコフ連鎖で生成します。",
    sign_in: "Xでログイン",
    sign_out: "ログアウト",
    sign_in_to_learn: "Xでログインすると、あなたのツイートを学習させられます。",
    sign_in_failed: "ログインできませんでした。もう一度お試しください。",
    language: "言語",
    teach_title: "ツイートを学習させる",
    paste_label: "ツイートを貼り付ける",
    learn_button: "学習する",
    archive_label: "Xのアーカイブ（.zip）か data/tweets.js",
    archive_hint: "Xの「データのアーカイブをダウンロード」で届くファイルです。JavaScriptが無効なので、選んだファイルがそのまま送信されます。32 MBを超える場合は、中の data/tweets.js だけを選んでください。",
    archive_hint_hydrated: "Xの「データのアーカイブをダウンロード」で届いた.zipを、そのまま選んでください（大きさは問いません）。送信するのはツイートのファイル（data/tweets.js とその続き、長文ポストの data/note-tweet.js）だけです。写真・動画、DM、いいねなど、ほかのものはあなたのパソコンから出ません。",
    finding_tweets_files: "アーカイブの中からツイートのファイルを探しています…",
    upload_button: "アップロードして学習",
    learning_archive: "アーカイブを読んで学習しています…",
    learning: "学習中…",
    your_page: "あなたのページ",
    try_voices: "みんなのツイートジェネレーター",
    nobody_yet: "まだ誰も学習させていません。",
    loading: "読み込み中…",
    ranking_title: "ランキング（直近7日間）",
    ranking_empty: "この7日間はまだ生成がありません。",
    unknown_user_title: "ユーザーが見つかりません",
    unknown_user_body: "その名前ではまだ誰も学習させていません。",
    teach_yours: "あなたのツイートを学習させる",
    protected_badge: "非公開",
    protected_notice: "非公開アカウントです。本人だけが生成できます。",
    start_with: "書き出し",
    any_words: "指定なし",
    at_most: "最大",
    characters: "文字",
    generate: "生成する",
    writing: "生成中…",
    post_to_x: "Xにポスト",
    x_count_title: "Xでの文字数: ハッシュタグとリンク（23）を含み、全角文字と絵文字は2と数えます",
    x_post_cut: "収まるよう短縮",
    mix_title: "声を混ぜる",
    mix_hint: "ほかに9人まで、カンマ区切りで。重みはコロンの後に（例: bob:2）。",
    mix_button: "混ぜて生成",
    mix_share_description: "これらのアカウントの声を混ぜて、マルコフ連鎖がツイートを生成します。",
    mix_weight: "重み",
    sessions_title: "ログイン中の端末",
    sessions_explained: "ほかの端末やブラウザでもログインしたままなら、ここですべてログアウトできます（この端末も含みます）。",
    sign_out_everywhere: "すべての端末からログアウト",
    delete_title: "データの削除",
    delete_explained: "学習したモデル、生成したツイート、ログイン情報をすべて削除します。元に戻せません。",
    delete_confirm: "削除することを確認しました",
    delete_button: "すべて削除する",
    deleted: "データを削除しました。",
    not_found: "ページが見つかりません",
    back_home: "tweetgenへ戻る",
};

static EN: Texts = Texts {
    lang: Lang::En,
    tagline: "Teach it your tweets; it writes new ones in your voice.",
    card_tagline: "Tweets in your voice, by a Markov chain",
    share_description: "New tweets in this account's voice, written by a Markov chain.",
    sign_in: "Sign in with X",
    sign_out: "Sign out",
    sign_in_to_learn: "Sign in with X to teach tweetgen your tweets.",
    sign_in_failed: "Signing in did not work. Please try again.",
    language: "Language",
    teach_title: "Teach tweetgen",
    paste_label: "Paste tweets",
    learn_button: "Learn",
    archive_label: "Your X archive (.zip) or its data/tweets.js",
    archive_hint: "The file X sends from \"Download an archive of your data\". Without JavaScript the file is sent \
                   whole: over 32 MB, choose data/tweets.js from inside it.",
    archive_hint_hydrated: "Choose the .zip X sends from \"Download an archive of your data\" as it is, whatever its \
                            size. Only your tweets files are sent (data/tweets.js, its parts, and data/note-tweet.js \
                            for long posts); your photos, videos, messages, likes and everything else stay on your \
                            computer.",
    finding_tweets_files: "Finding your tweets files in the archive…",
    upload_button: "Upload and learn",
    learning_archive: "Reading your archive and learning…",
    learning: "Learning…",
    your_page: "Your page",
    try_voices: "Try someone's voice",
    nobody_yet: "Nobody has taught tweetgen yet.",
    loading: "Loading…",
    ranking_title: "Most generated (last 7 days)",
    ranking_empty: "Nothing generated in the last 7 days yet.",
    unknown_user_title: "Unknown user",
    unknown_user_body: "Nobody by that name has taught tweetgen yet.",
    teach_yours: "Teach it yours",
    protected_badge: "Protected",
    protected_notice: "This account is protected: only its owner can generate.",
    start_with: "Start with",
    any_words: "any words",
    at_most: "At most",
    characters: "characters",
    generate: "Generate",
    writing: "Writing…",
    post_to_x: "Post to X",
    x_count_title: "Length as X counts it: the hashtag and the link (23) included, CJK characters and emoji count 2",
    x_post_cut: "shortened to fit",
    mix_title: "Mix voices",
    mix_hint: "Up to 9 more screen names, separated by commas; a weight after a colon (bob:2).",
    mix_button: "Mix",
    mix_share_description: "New tweets in a mix of these accounts' voices, written by a Markov chain.",
    mix_weight: "weight",
    sessions_title: "Where you are signed in",
    sessions_explained:
        "Signed in on another device or browser you no longer have? Sign out everywhere, this one included.",
    sign_out_everywhere: "Sign out everywhere",
    delete_title: "Delete my data",
    delete_explained: "Deletes your model, the tweets generated from it, and your sign-in. This cannot be undone.",
    delete_confirm: "I understand, delete everything",
    delete_button: "Delete everything",
    deleted: "Your data has been deleted.",
    not_found: "Page not found",
    back_home: "Back to tweetgen",
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_picks_the_preferred_supported_language() {
        assert_eq!(Lang::from_accept_language("en-US,en;q=0.9"), Some(Lang::En));
        assert_eq!(Lang::from_accept_language("ja,en-US;q=0.8"), Some(Lang::Ja));
        assert_eq!(Lang::from_accept_language("fr-FR, en;q=0.5, ja;q=0.7"), Some(Lang::Ja));
        assert_eq!(Lang::from_accept_language("de, fr;q=0.8"), None);
        assert_eq!(Lang::from_accept_language("en;q=0, ja;q=0.1"), Some(Lang::Ja));
        assert_eq!(Lang::from_accept_language(""), None);
    }

    #[test]
    fn sizes_read_as_people_write_them() {
        let sizes =
            [(1, "1 kB"), (16_796, "17 kB"), (999_999, "1.0 MB"), (1_000_000, "1.0 MB"), (12_345_678, "12.3 MB")];
        for (bytes, read) in sizes.into_iter().chain([(2_147_862_837, "2.1 GB"), (999_950_000, "1.0 GB")]) {
            assert_eq!(size(bytes), read, "{bytes}");
        }
    }

    #[test]
    fn every_error_has_a_japanese_message() {
        let errors = [
            AppError::RetrainTooSoon { minutes: 125 },
            AppError::ProtectedAccount("a".into()),
            AppError::SignInRequired,
        ];
        for error in errors {
            let ja = JA.error(&error);
            assert_ne!(ja, EN.error(&error));
            assert!(!ja.is_ascii(), "{ja}");
        }
        assert!(JA.error(&AppError::RetrainTooSoon { minutes: 125 }).contains("2時間5分"));
    }
}
