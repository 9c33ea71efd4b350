# Sourced by the other scripts: the tools they install, first on PATH.
repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# /usr/sbin: ip, tc, nft and haproxy for the tests' network namespaces (not on a user's PATH).
export PATH="$repo_root/.tools/node_modules/.bin:$HOME/.cargo/bin:$PATH:/usr/sbin:/sbin"
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
# Japanese segmentation dictionary (MeCab-identical), built by setup.sh.
export TWEETGEN_DICTIONARY="$repo_root/.tools/ipadic.vibrato"
