#!/usr/bin/env bash
# Builds the arm64 (Graviton) release artefact that the EC2 instances install:
#   target/release-artifacts/tweetgen-VERSION-linux-arm64.tar.gz
#     bin/tweetgen-server       cross-compiled for aarch64-unknown-linux-gnu
#     bin/hash.txt              the hashes in the site's file names (read beside the binary)
#     site/                     wasm, js and css served under /pkg (architecture-independent),
#                               named tweetgen.<hash>.<ext>, with .br and .gz beside each
#     share/ipadic.vibrato      the segmentation dictionary (architecture-independent)
#     share/fonts/              Noto Sans CJK (SIL OFL) for the share card images:
#                               Amazon Linux has no fonts-noto-cjk
#     deploy/                   the systemd units and the RDS credentials helper
# and refuses a binary that needs a newer glibc than Amazon Linux 2023's.
#   scripts/package-arm64.sh [VERSION]     default: the git commit (plus -dirty)
# Prints the tarball's path on standard output.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

TARGET=aarch64-unknown-linux-gnu
# Amazon Linux 2023 ships glibc 2.34; Debian 12, where this links, has 2.36.
MAX_GLIBC=2.34
version=${1:-$(git describe --tags --always --dirty)}
target_dir=${CARGO_TARGET_DIR:-target}
name="tweetgen-$version-linux-arm64"

log() { printf '\033[1mpackage-arm64:\033[0m %s\n' "$*" >&2; }

rustup target list --installed | grep -qx "$TARGET" || rustup target add "$TARGET"

log "building the server for $TARGET and the site (cargo leptos build --release --precompress)"
# cargo-leptos builds the server for this triple and the wasm site in one go.
LEPTOS_BIN_TARGET_TRIPLE=$TARGET cargo leptos build --release --precompress >&2
binary="$target_dir/$TARGET/release/tweetgen-server"

needed_glibc=$(aarch64-linux-gnu-objdump -T "$binary" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -n1)
log "the binary needs glibc $needed_glibc (Amazon Linux 2023 has $MAX_GLIBC)"
if [ "$(printf '%s\n%s\n' "$needed_glibc" "$MAX_GLIBC" | sort -V | tail -n1)" != "$MAX_GLIBC" ]; then
  log "refusing: glibc $needed_glibc symbols would not load on Amazon Linux 2023"
  exit 1
fi

staging="$target_dir/release-artifacts/$name"
rm -rf "$staging"
mkdir -p "$staging/bin" "$staging/share/fonts" "$staging/deploy"
cp "$binary" "$(dirname "$binary")/hash.txt" "$staging/bin/"
cp -r "${LEPTOS_SITE_ROOT:-target/site}" "$staging/site"
cp "$TWEETGEN_DICTIONARY" "$staging/share/ipadic.vibrato"
cp /usr/share/fonts/opentype/noto/NotoSansCJK-{Regular,Bold}.ttc "$staging/share/fonts/"
# The RDS CA bundle (https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem,
# downloaded by whoever builds the release: this machine cannot reach it). With it
# the servers check RDS's certificate and name (deploy/with-rds-credentials).
if [ -n "${RDS_CA_BUNDLE:-}" ]; then
  grep -q 'BEGIN CERTIFICATE' "$RDS_CA_BUNDLE" || { log "RDS_CA_BUNDLE=$RDS_CA_BUNDLE holds no certificate"; exit 1; }
  cp "$RDS_CA_BUNDLE" "$staging/share/rds-ca.pem"
else
  log "no RDS_CA_BUNDLE: this release's servers will encrypt to RDS without checking its certificate"
fi
cp deploy/tweetgen.service deploy/tweetgen-rotation.service deploy/tweetgen-rotation.timer \
  deploy/with-rds-credentials "$staging/deploy/"
echo "$version" >"$staging/VERSION"
tarball="$target_dir/release-artifacts/$name.tar.gz"
tar -C "$target_dir/release-artifacts" -czf "$tarball" "$name"
rm -rf "$staging"
log "$(du -h "$tarball" | cut -f1) $tarball"
echo "$tarball"
