#!/usr/bin/env bash
# Runs only the named spec files (mocha's config would add every spec): scripts/spec.sh test/a.spec.ts [...]
# Extra mocha flags may follow the files (e.g. --grep 'prge').
cd "$(dirname "$0")/.."
# specs that spawn the `mobizo` command run dist/cli.js (bin/mobizo.js): rebuild it first (~1 s)
node scripts/build.mjs --cli >/dev/null || exit 1
exec node bin/with-gpu.js node_modules/.bin/mocha --no-config --node-option import=tsx --node-option import=./scripts/register-wgsl.mjs --timeout 300000 --reporter dot "$@"
