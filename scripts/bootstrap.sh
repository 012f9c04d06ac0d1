#!/usr/bin/env bash
# One-time set-up on a fresh Debian 12 machine: system packages (as root), the pinned Node (from the
# npm registry), the pinned pnpm, and the project's dependencies. Safe to run again. Used by README
# and by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

mapfile -t packages < <(grep -v '^\s*#' .ci/apt-packages.txt | sed '/^\s*$/d')
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# npm fetches Node below; any npm will do (Debian's comes with its Node 18).
command -v npm >/dev/null || missing+=(nodejs npm)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "bootstrap: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Node: the exact version in .node-version. Debian's apt has only older ones, and nodejs.org is not
# always reachable, so it comes from the npm registry: the `node-linux-<arch>` package is the
# official binary with its headers (bin/node, include/node). It is unpacked into
# <root>/lib/provisioningd-node/v<version>/ and linked as <root>/bin/node and <root>/include/node,
# the layout of a Node installed into /usr/local: /usr/local/bin precedes /usr/bin in PATH, so
# `node`, pnpm, tsx and every child process run on it. PROVISIONINGD_NODE_ROOT (default /usr/local)
# installs elsewhere, e.g. to try it out before putting it into everybody's PATH.
NODE_VERSION="$(tr -d '[:space:]' < .node-version)"
NODE_ROOT="${PROVISIONINGD_NODE_ROOT:-/usr/local}"
if [ "$(node --version 2>/dev/null || true)" != "v$NODE_VERSION" ]; then
  case "$(uname -m)" in
    x86_64) node_arch=x64 ;;
    aarch64) node_arch=arm64 ;;
    *) echo "bootstrap: no node-linux package for $(uname -m); install Node $NODE_VERSION yourself" >&2; exit 1 ;;
  esac
  home="$NODE_ROOT/lib/provisioningd-node/v$NODE_VERSION"
  if [ "$("$home/bin/node" --version 2>/dev/null || true)" != "v$NODE_VERSION" ]; then
    echo "bootstrap: installing Node $NODE_VERSION (node-linux-$node_arch from the npm registry) into $home"
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' EXIT
    (cd "$tmp" && npm pack --silent "node-linux-$node_arch@$NODE_VERSION" >/dev/null)
    mkdir -p "$tmp/node"
    tar -xzf "$tmp/node-linux-$node_arch-$NODE_VERSION.tgz" -C "$tmp/node" --strip-components=1
    [ "$("$tmp/node/bin/node" --version)" = "v$NODE_VERSION" ]
    $SUDO mkdir -p "$(dirname "$home")"
    $SUDO rm -rf "$home"
    $SUDO mv "$tmp/node" "$home"
  fi
  $SUDO mkdir -p "$NODE_ROOT/bin" "$NODE_ROOT/include"
  $SUDO ln -sfn "$home/bin/node" "$NODE_ROOT/bin/node"
  $SUDO ln -sfn "$home/include/node" "$NODE_ROOT/include/node"
  hash -r
  if [ "$(node --version)" != "v$NODE_VERSION" ]; then
    echo "bootstrap: $NODE_ROOT/bin/node is Node $NODE_VERSION, but \`node\` here is $(command -v node) ($(node --version)): put $NODE_ROOT/bin before it in PATH" >&2
    exit 1
  fi
fi

PNPM_VERSION="$(node -p "require('./package.json').packageManager.split('@')[1]")"
if [ "$(pnpm --version 2>/dev/null || true)" != "$PNPM_VERSION" ]; then
  # npm's global prefix follows the real path of the node running it, which for the Node above is
  # its own folder (not in PATH): pnpm goes beside `node` in PATH instead.
  pnpm_root="$(dirname "$(dirname "$(command -v node)")")"
  echo "bootstrap: installing pnpm $PNPM_VERSION into $pnpm_root"
  $SUDO npm install -g --silent --prefix "$pnpm_root" "pnpm@$PNPM_VERSION"
  hash -r
  if [ "$(pnpm --version 2>/dev/null || true)" != "$PNPM_VERSION" ]; then
    echo "bootstrap: pnpm $PNPM_VERSION is in $pnpm_root/bin, but \`pnpm\` here is $(command -v pnpm || echo missing): put $pnpm_root/bin first in PATH" >&2
    exit 1
  fi
fi

# pkcs11js is a native addon (Node-API): it builds against the headers of the Node that runs it,
# found next to its binary (<prefix>/include/node), so node-gyp never downloads any.
NODE_DIR="$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")"
npm_config_nodedir="$NODE_DIR" pnpm install --frozen-lockfile --prefer-offline
echo "bootstrap: done (Node $(node --version), pnpm $(pnpm --version))"
