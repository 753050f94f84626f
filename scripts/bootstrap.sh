#!/usr/bin/env bash
# Installs everything PdCR needs on a fresh Debian machine with Node 20: the system packages the
# GPU and browser tests use, pnpm at the version package.json pins, and the workspace packages.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian's Chromium runs the browser tier and ships SwiftShader, the software Vulkan driver that
# gives Dawn (the `webgpu` package) an adapter on a machine without a GPU; libvulkan1 is the
# loader Dawn opens.
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ -e /usr/lib/x86_64-linux-gnu/libvulkan.so.1 ] || [ -e /usr/lib/aarch64-linux-gnu/libvulkan.so.1 ] ||
  missing+=(libvulkan1)
if [ ${#missing[@]} -gt 0 ]; then
  echo "bootstrap: installing ${missing[*]} with apt-get" >&2
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
fi

pnpm_version=$(node -p "require('./package.json').packageManager.split('@')[1]")
if [ "$(pnpm --version 2>/dev/null || true)" != "$pnpm_version" ]; then
  echo "bootstrap: installing pnpm $pnpm_version with npm" >&2
  npm install --global --silent "pnpm@$pnpm_version"
fi

export TURBO_TELEMETRY_DISABLED=1
pnpm install --frozen-lockfile --reporter=append-only 2>&1 | tail -n 3 >&2
