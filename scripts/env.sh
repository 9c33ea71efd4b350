# Sourced by the other scripts: the tools they install, first on PATH.
repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export PATH="$repo_root/.tools/node_modules/.bin:$HOME/.cargo/bin:$PATH"
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
# Japanese segmentation dictionary (MeCab-identical), built by setup.sh.
export TWEETGEN_DICTIONARY="$repo_root/.tools/ipadic.vibrato"
