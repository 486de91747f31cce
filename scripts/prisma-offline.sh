#!/usr/bin/env bash
# Runs the Prisma CLI without its native engines, which it would otherwise try to download.
# prisma.config.ts selects the WebAssembly schema engine (engine: "js"), and the client is
# generated with engineType = "client", so neither native binary is ever executed.
set -euo pipefail
cd "$(dirname "$0")/.."
export PRISMA_SCHEMA_ENGINE_BINARY="${PRISMA_SCHEMA_ENGINE_BINARY:-/bin/false}"
export PRISMA_QUERY_ENGINE_LIBRARY="${PRISMA_QUERY_ENGINE_LIBRARY:-/bin/false}"
export PRISMA_HIDE_UPDATE_MESSAGE=1
exec node_modules/.bin/prisma "$@"
