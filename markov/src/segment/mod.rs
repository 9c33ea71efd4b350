//! Word segmentation: MeCab-identical with an IPADIC dictionary (vibrato), or a
//! dictionary-free fallback (a TinySegmenter port) when no dictionary is at hand.

mod fallback;

use std::io::Read;
use std::ops::Range;

use crate::Error;

/// Unknown-word grouping limit that makes vibrato's output identical to MeCab's.
const MECAB_MAX_GROUPING_LEN: usize = 24;

/// Turns text into word byte ranges.
pub enum Segmenter {
    Dictionary(Box<vibrato::Tokenizer>),
    Fallback,
}

impl Segmenter {
    /// Reads a dictionary written by [`build_dictionary`].
    pub fn from_dictionary(reader: impl Read) -> Result<Self, Error> {
        let dictionary = vibrato::Dictionary::read(reader).map_err(|e| Error::Dictionary(e.to_string()))?;
        let tokenizer = vibrato::Tokenizer::new(dictionary)
            .ignore_space(true)
            .map_err(|e| Error::Dictionary(e.to_string()))?
            .max_grouping_len(MECAB_MAX_GROUPING_LEN);
        Ok(Self::Dictionary(Box::new(tokenizer)))
    }

    pub fn is_fallback(&self) -> bool {
        matches!(self, Self::Fallback)
    }

    /// Segments many lines with one reusable lattice.
    pub(crate) fn session(&self) -> Session<'_> {
        match self {
            Self::Dictionary(tokenizer) => Session::Dictionary(Box::new(tokenizer.new_worker())),
            Self::Fallback => Session::Fallback,
        }
    }
}

impl std::fmt::Debug for Segmenter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.is_fallback() { "Segmenter::Fallback" } else { "Segmenter::Dictionary(ipadic)" })
    }
}

pub(crate) enum Session<'t> {
    Dictionary(Box<vibrato::tokenizer::worker::Worker<'t>>),
    Fallback,
}

impl Session<'_> {
    /// Appends the byte ranges of the words of `line` to `words`; whitespace is
    /// never part of a word.
    pub(crate) fn segment(&mut self, line: &str, words: &mut Vec<Range<usize>>) {
        match self {
            Session::Dictionary(worker) => {
                worker.reset_sentence(line);
                worker.tokenize();
                words.extend((0..worker.num_tokens()).map(|i| worker.token(i).range_byte()));
            }
            Session::Fallback => {
                for chunk in whitespace_separated(line) {
                    words.extend(fallback::segment(&line[chunk.clone()]).into_iter().map(|r| {
                        let start = chunk.start + r.start;
                        start..chunk.start + r.end
                    }));
                }
            }
        }
    }
}

/// Byte ranges of the maximal runs of non-whitespace characters.
pub(crate) fn whitespace_separated(line: &str) -> impl Iterator<Item = Range<usize>> + '_ {
    let mut rest = line.char_indices().peekable();
    std::iter::from_fn(move || {
        while rest.next_if(|(_, c)| c.is_whitespace()).is_some() {}
        let (start, _) = *rest.peek()?;
        let mut end = start;
        while let Some((i, c)) = rest.next_if(|(_, c)| !c.is_whitespace()) {
            end = i + c.len_utf8();
        }
        Some(start..end)
    })
}

/// The source files of an IPADIC dictionary (as in Debian's `mecab-ipadic`:
/// EUC-JP text), read by the caller.
pub struct IpadicSources {
    pub lexicon_csvs: Vec<Vec<u8>>,
    pub matrix_def: Vec<u8>,
    pub char_def: Vec<u8>,
    pub unk_def: Vec<u8>,
}

/// Compiles IPADIC sources into vibrato's dictionary format, written to `out`.
pub fn build_dictionary(sources: &IpadicSources, out: impl std::io::Write) -> Result<(), Error> {
    let mut lexicon = String::new();
    for csv in &sources.lexicon_csvs {
        lexicon.push_str(&from_euc_jp(csv)?);
        if !lexicon.ends_with('\n') {
            lexicon.push('\n');
        }
    }
    let dictionary = vibrato::SystemDictionaryBuilder::from_readers(
        lexicon.as_bytes(),
        from_euc_jp(&sources.matrix_def)?.as_bytes(),
        from_euc_jp(&sources.char_def)?.as_bytes(),
        from_euc_jp(&sources.unk_def)?.as_bytes(),
    )
    .map_err(|e| Error::Dictionary(e.to_string()))?;
    dictionary.write(out).map_err(|e| Error::Dictionary(e.to_string()))?;
    Ok(())
}

fn from_euc_jp(bytes: &[u8]) -> Result<String, Error> {
    let (text, had_errors) = encoding_rs::EUC_JP.decode_without_bom_handling(bytes);
    if had_errors {
        return Err(Error::Dictionary("IPADIC source is not valid EUC-JP".into()));
    }
    Ok(text.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whitespace_runs() {
        let line = "  ab\u{3000}c d  ";
        let runs: Vec<&str> = whitespace_separated(line).map(|r| &line[r]).collect();
        assert_eq!(runs, ["ab", "c", "d"]);
        assert_eq!(whitespace_separated("   ").count(), 0);
    }

    #[test]
    fn fallback_words_never_contain_whitespace() {
        let line = "今日は 晴れ\u{3000}です";
        let mut words = Vec::new();
        Segmenter::Fallback.session().segment(line, &mut words);
        assert!(words.iter().all(|r| !line[r.clone()].contains(char::is_whitespace)));
        assert_eq!(words.iter().map(|r| &line[r.clone()]).collect::<String>(), "今日は晴れです");
    }

    #[test]
    fn rejects_sources_that_are_not_euc_jp() {
        let sources = IpadicSources {
            lexicon_csvs: vec![b"\xff\xfe".to_vec()],
            matrix_def: Vec::new(),
            char_def: Vec::new(),
            unk_def: Vec::new(),
        };
        assert!(matches!(build_dictionary(&sources, std::io::sink()), Err(Error::Dictionary(_))));
    }
}
