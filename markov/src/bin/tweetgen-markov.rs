//! The engine from the command line: build the dictionary, train, generate,
//! segment, inspect. One result a line on stdout; `--timings` adds a JSON line of
//! measurements on stderr (used by `bench/engine`).

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand};
use rand::rngs::StdRng;
use rand::SeedableRng;
use tweetgen_markov::{
    build_dictionary, clean, lines, Blend, CleanOptions, GenerateOptions, IpadicSources, Model, StartWords, Tokenizer,
    DEFAULT_ORDER,
};

#[derive(Parser)]
#[command(name = "tweetgen-markov", version, about = "Train Markov tweet models and generate from them")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Compile Debian's mecab-ipadic sources into the segmenter's dictionary.
    Dictionary {
        #[arg(long, default_value = "/usr/share/mecab/dic/ipadic")]
        ipadic: PathBuf,
        #[arg(long)]
        out: PathBuf,
    },
    /// Learn from a file of tweets, one a line.
    Train {
        #[arg(long)]
        input: PathBuf,
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = DEFAULT_ORDER)]
        order: usize,
        /// Learn every line as it is: no retweet/reply skipping, link or mention removal, unescaping.
        #[arg(long)]
        raw: bool,
        #[command(flatten)]
        dictionary: DictionaryArg,
        #[arg(long)]
        timings: bool,
    },
    /// Write new sentences from a model, or from a blend of several (`--mix`).
    Generate {
        /// The model to generate from (or several with `--mix`).
        #[arg(long, required_unless_present = "mix", conflicts_with = "mix")]
        model: Option<PathBuf>,
        /// Blend this model with the other `--mix` ones, its transitions weighted by WEIGHT
        /// (repeatable; the blend is built once, before the timed generation).
        #[arg(long, value_name = "PATH:WEIGHT", value_parser = parse_mix)]
        mix: Vec<(PathBuf, f64)>,
        #[arg(long, default_value_t = 1)]
        count: usize,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Use the models' corpora as chains of this order instead of the trained one.
        #[arg(long)]
        order: Option<usize>,
        #[arg(long)]
        tries: Option<usize>,
        #[arg(long)]
        max_chars: Option<usize>,
        #[arg(long, default_value_t = 0)]
        min_chars: usize,
        #[arg(long)]
        min_words: Option<usize>,
        #[arg(long)]
        max_words: Option<usize>,
        /// Begin with these words (tokenized like the training text).
        #[arg(long)]
        start: Option<String>,
        /// The start words must begin a training sentence (markovify's strict).
        #[arg(long)]
        strict: bool,
        #[arg(long)]
        max_overlap_ratio: Option<f64>,
        #[arg(long)]
        max_overlap_total: Option<usize>,
        /// Allow copies of training sentences.
        #[arg(long)]
        no_test_output: bool,
        #[command(flatten)]
        dictionary: DictionaryArg,
        #[arg(long)]
        timings: bool,
    },
    /// Segment stdin into words separated by one space (MeCab's -Owakati).
    Segment {
        /// Only the segmenter's words, without keeping URLs, emoji, numbers… whole.
        #[arg(long)]
        words_only: bool,
        #[command(flatten)]
        dictionary: DictionaryArg,
    },
    /// Print a model's size and counts, and how long it takes to load.
    Info {
        #[arg(long)]
        model: PathBuf,
    },
}

#[derive(Args)]
struct DictionaryArg {
    /// Dictionary from `tweetgen-markov dictionary`; without one, a coarser
    /// dictionary-free segmenter is used.
    #[arg(long, env = "TWEETGEN_DICTIONARY")]
    dictionary: Option<PathBuf>,
}

impl DictionaryArg {
    fn tokenizer(&self) -> anyhow::Result<Tokenizer> {
        match &self.dictionary {
            Some(path) if path.exists() => {
                let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
                Ok(Tokenizer::with_dictionary(BufReader::new(file))
                    .with_context(|| format!("reading dictionary {}", path.display()))?)
            }
            missing => {
                let at = missing.as_ref().map_or(String::new(), |p| format!(" at {}", p.display()));
                eprintln!(
                    "warning: no dictionary{at}: using the dictionary-free segmenter (coarser Japanese words); \
                     build one with `tweetgen-markov dictionary --out FILE` and pass --dictionary"
                );
                Ok(Tokenizer::fallback())
            }
        }
    }
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Dictionary { ipadic, out } => dictionary(&ipadic, &out),
        Command::Train { input, out, order, raw, dictionary, timings } => {
            let started = Instant::now();
            let tokenizer = dictionary.tokenizer()?;
            let dictionary_ms = ms(started);
            let bytes = std::fs::read(&input).with_context(|| format!("reading {}", input.display()))?;
            let started = Instant::now();
            let lines = lines(&bytes).with_context(|| input.display().to_string())?;
            let sentences = if raw {
                lines.into_iter().map(str::to_string).collect()
            } else {
                clean(&lines, &CleanOptions::default())?
            };
            let model = Model::train(&tokenizer, &sentences, order)?;
            let train_ms = ms(started);
            let started = Instant::now();
            let encoded = model.encode();
            let encode_ms = ms(started);
            std::fs::write(&out, &encoded).with_context(|| format!("writing {}", out.display()))?;
            if timings {
                eprintln!(
                    r#"{{"dictionary_ms":{dictionary_ms:.3},"train_ms":{train_ms:.3},"encode_ms":{encode_ms:.3},"sentences":{},"vocabulary":{},"model_bytes":{}}}"#,
                    model.sentence_count(),
                    model.vocabulary_size(),
                    encoded.len()
                );
            }
            Ok(())
        }
        Command::Generate {
            model,
            mix,
            count,
            seed,
            order,
            tries,
            max_chars,
            min_chars,
            min_words,
            max_words,
            start,
            strict,
            max_overlap_ratio,
            max_overlap_total,
            no_test_output,
            dictionary,
            timings,
        } => {
            let started = Instant::now();
            let mut models = Vec::new();
            for (path, weight) in model.map(|path| (path, 1.0)).into_iter().chain(mix) {
                let mut model = read_model(&path)?;
                if let Some(order) = order {
                    model = model.with_order(order)?;
                }
                models.push((model, weight));
            }
            let load_ms = ms(started);
            let (model_count, models_bytes) =
                (models.len(), models.iter().map(|(m, _)| m.memory_bytes()).sum::<usize>());
            // Several models: their blend, which keeps none of them.
            let started = Instant::now();
            let blend = if models.len() > 1 { Some(Blend::new(std::mem::take(&mut models))?) } else { None };
            let blend_ms = ms(started);
            let defaults = GenerateOptions::default();
            let start = match start {
                Some(words) => Some(StartWords::new(&dictionary.tokenizer()?, &words, strict)?),
                None => None,
            };
            let options = GenerateOptions {
                tries: tries.unwrap_or(defaults.tries),
                max_chars: max_chars.or(defaults.max_chars),
                min_chars,
                min_words,
                max_words,
                test_output: !no_test_output,
                max_overlap_ratio: max_overlap_ratio.unwrap_or(defaults.max_overlap_ratio),
                max_overlap_total: max_overlap_total.unwrap_or(defaults.max_overlap_total),
                start,
            };
            let mut rng = StdRng::seed_from_u64(seed);
            let mut out = BufWriter::new(std::io::stdout().lock());
            let started = Instant::now();
            let mut failed = 0;
            for _ in 0..count {
                let generated = match (&blend, &models[..]) {
                    (Some(blend), _) => blend.generate(&options, &mut rng),
                    (None, [(model, _)]) => model.generate(&options, &mut rng),
                    (None, _) => unreachable!("one model or a blend"),
                };
                match generated {
                    Ok(text) => writeln!(out, "{text}")?,
                    Err(tweetgen_markov::Error::GenerationFailed(_)) => failed += 1,
                    Err(error) => bail!(error),
                }
            }
            let generate_ms = ms(started);
            out.flush()?;
            if timings {
                eprintln!(
                    r#"{{"load_ms":{load_ms:.3},"blend_ms":{blend_ms:.3},"blend_bytes":{},"models":{},"models_bytes":{models_bytes},"generate_ms":{generate_ms:.3},"count":{count},"failed":{failed}}}"#,
                    blend.as_ref().map_or(0, Blend::memory_bytes),
                    model_count
                );
            }
            if failed == count {
                bail!("no sentence could be generated within the constraints ({failed} of {count} failed)");
            }
            Ok(())
        }
        Command::Segment { words_only, dictionary } => {
            let tokenizer = dictionary.tokenizer()?;
            let mut session = tokenizer.session();
            let mut out = BufWriter::new(std::io::stdout().lock());
            for line in std::io::stdin().lock().lines() {
                let line = line.context("stdin is not UTF-8 text")?;
                let words: Vec<&str> = if words_only {
                    tokenizer.segment_words(&line)
                } else {
                    session.tokenize(&line).into_iter().map(|t| t.text).collect()
                };
                writeln!(out, "{}", words.join(" "))?;
            }
            out.flush()?;
            Ok(())
        }
        Command::Info { model } => {
            let bytes = std::fs::read(&model).with_context(|| format!("reading {}", model.display()))?;
            let mut load_ms: Vec<f64> = (0..100)
                .map(|_| {
                    let started = Instant::now();
                    std::hint::black_box(Model::decode(&bytes)).map(|_| ms(started))
                })
                .collect::<Result<_, _>>()?;
            load_ms.sort_by(f64::total_cmp);
            let decoded = Model::decode(&bytes)?;
            println!(
                r#"{{"bytes":{},"order":{},"sentences":{},"vocabulary":{},"memory_bytes":{},"load_ms_median":{:.4},"load_ms_max":{:.4}}}"#,
                bytes.len(),
                decoded.order(),
                decoded.sentence_count(),
                decoded.vocabulary_size(),
                decoded.memory_bytes(),
                load_ms[50],
                load_ms[99]
            );
            Ok(())
        }
    }
}

fn dictionary(ipadic: &Path, out: &Path) -> anyhow::Result<()> {
    let read = |name: &str| {
        std::fs::read(ipadic.join(name)).with_context(|| format!("reading {name} in {}", ipadic.display()))
    };
    let mut csv_paths: Vec<PathBuf> = std::fs::read_dir(ipadic)
        .with_context(|| format!("listing {} (apt install mecab-ipadic)", ipadic.display()))?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    csv_paths.retain(|p| p.extension().is_some_and(|e| e == "csv"));
    csv_paths.sort();
    if csv_paths.is_empty() {
        bail!("no lexicon .csv files in {}", ipadic.display());
    }
    let lexicon_csvs = csv_paths.iter().map(std::fs::read).collect::<Result<_, _>>()?;
    let sources = IpadicSources {
        lexicon_csvs,
        matrix_def: read("matrix.def")?,
        char_def: read("char.def")?,
        unk_def: read("unk.def")?,
    };
    // Write beside the target and rename, so an interrupted build leaves nothing half-written.
    let partial = out.with_extension("partial");
    let file = File::create(&partial).with_context(|| format!("creating {}", partial.display()))?;
    let mut writer = BufWriter::new(file);
    build_dictionary(&sources, &mut writer)?;
    writer.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    std::fs::rename(&partial, out)?;
    Ok(())
}

fn read_model(path: &Path) -> anyhow::Result<Model> {
    let mut bytes = Vec::new();
    File::open(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .with_context(|| format!("reading {}", path.display()))?;
    Model::decode(&bytes).with_context(|| format!("decoding {}", path.display()))
}

/// `--mix PATH:WEIGHT`, split at the last colon (a path may hold one).
fn parse_mix(arg: &str) -> Result<(PathBuf, f64), String> {
    let (path, weight) = arg.rsplit_once(':').ok_or("expected PATH:WEIGHT")?;
    let weight: f64 = weight.parse().map_err(|_| format!("{weight:?} is not a weight"))?;
    if path.is_empty() || !(weight.is_finite() && weight > 0.0) {
        return Err("expected PATH:WEIGHT with a positive weight".into());
    }
    Ok((PathBuf::from(path), weight))
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1e3
}
