//! What every model that decodes must satisfy (shared by the decode targets).

use rand::rngs::StdRng;
use rand::SeedableRng;
use tweetgen_markov::{Error, GenerateOptions, Model};

/// Encoding it is lossless, and generating from it gives a sentence within the
/// limits or gives up, without panicking.
pub fn check(model: &Model) {
    let again = Model::decode(&model.encode()).expect("an encoded model decodes");
    // Not assert_eq!: a failure would print two whole models.
    assert!(again == *model, "encode then decode changed the model");
    let options = GenerateOptions { tries: 5, ..Default::default() };
    match model.generate(&options, &mut StdRng::seed_from_u64(0)) {
        Ok(text) => {
            let chars = text.chars().count();
            assert!(chars > 0 && options.max_chars.is_none_or(|max| chars <= max), "generated {text:?}");
        }
        Err(Error::GenerationFailed(_)) => {}
        Err(other) => panic!("generate without constraints failed with {other:?}"),
    }
}
