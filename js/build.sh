#!/usr/bin/env bash
# Rebuilds static/vendor/blindrsa.js (+ its license file) from the pinned
# npm packages in package-lock.json. Needs Node >= 20 and npm; only whoever
# updates the bundle runs this, the app itself never needs Node.
#
#   cd js && ./build.sh
set -euo pipefail

cd "$(dirname "$0")"
OUT=../static/vendor

# Exact versions from package-lock.json. Install scripts are skipped: esbuild
# runs fine from its platform package (@esbuild/<os>-<arch>) without them.
npm ci --ignore-scripts --no-audit --no-fund

mkdir -p "$OUT"
VERSION=$(node -p "require('./node_modules/@cloudflare/blindrsa-ts/package.json').version")

./node_modules/.bin/esbuild src/blindrsa-entry.js \
  --bundle \
  --format=iife \
  --platform=browser \
  --target=es2020 \
  --minify \
  --legal-comments=none \
  --define:define=undefined \
  --banner:js="/*! OrgBlindRSA: @cloudflare/blindrsa-ts ${VERSION} (Apache-2.0, includes SJCL: BSD-2-Clause OR GPL-2.0). Licenses: blindrsa.LICENSE.txt. Built from js/ by js/build.sh. */" \
  --outfile="$OUT/blindrsa.js"

# Licenses of everything that ends up in the bundle: blindrsa-ts itself and
# SJCL (the library ships a generated copy of SJCL in lib/src/sjcl/; the npm
# package `sjcl` is its declared dependency and carries the license text).
{
  echo "static/vendor/blindrsa.js bundles the following third-party code."
  echo
  echo "======================================================================"
  echo "@cloudflare/blindrsa-ts ${VERSION} (Apache-2.0)"
  echo "https://github.com/cloudflare/blindrsa-ts"
  echo "======================================================================"
  echo
  cat node_modules/@cloudflare/blindrsa-ts/LICENSE.txt
  echo
  echo
  echo "======================================================================"
  echo "SJCL $(node -p "require('./node_modules/sjcl/package.json').version") - Stanford Javascript Crypto Library (BSD-2-Clause OR GPL-2.0)"
  echo "https://github.com/bitwiseshiftleft/sjcl"
  echo "(bundled via @cloudflare/blindrsa-ts/lib/src/sjcl)"
  echo "======================================================================"
  echo
  cat node_modules/sjcl/LICENSE.txt
  echo
} > "$OUT/blindrsa.LICENSE.txt"

ls -l "$OUT/blindrsa.js" "$OUT/blindrsa.LICENSE.txt"
