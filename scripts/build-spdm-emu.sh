#!/usr/bin/env bash
# Builds DMTF's spdm_responder_emu and spdm_requester_emu (the SPDM reference emulators) and
# spdm_device_validator_sample (DMTF's SPDM-Responder-Validator) from a local source snapshot that
# is never committed, for the interoperability test (test/integration/spdm-emu-interop.test.ts).
# docs/spdm.md describes the steps.
#
# Sources, first match wins:
#   SPDM_EMU_SRC   a spdm-emu source tree with its submodules in place: libspdm/,
#                  libspdm/os_stub/mbedtlslib/mbedtls/ and SPDM-Responder-Validator/
#                  (e.g. a recursive clone). Default: ${XDG_CACHE_HOME:-~/.cache}/provisioningd/spdm-emu/src (outside the checkout, so a fresh clone on the same machine finds it).
#   SPDM_EMU_GIT, LIBSPDM_GIT, MBEDTLS_GIT, SPDM_VALIDATOR_GIT
#                  git directories (bare is fine) of DMTF/spdm-emu, DMTF/libspdm, Mbed-TLS/mbedtls
#                  and DMTF/SPDM-Responder-Validator. When SPDM_EMU_SRC does not exist yet, the
#                  tree is assembled there with `git archive` at SPDM_EMU_REV (default HEAD) and
#                  the submodule commits that revision pins.
# The validator sample knows no TCP transport: scripts/spdm-validator-tcp.patch registers it (as
# spdm_requester_emu does). It is applied to the source tree once (a tree that already has it is
# left alone); a tree it does not apply to is an error (65).
# Output: SPDM_EMU_BUILD (default ${XDG_CACHE_HOME:-~/.cache}/provisioningd/spdm-emu/build); the binaries and DMTF's sample
# keys land in $SPDM_EMU_BUILD/bin, whose path is the last line printed on stdout.
# A build is skipped when that directory already holds the three binaries built from the same
# sources and patch.
#
# Exit status: 0 built or already up to date; 66 sources absent (nothing to build, not an error
# of this project); 65 sources present but incomplete; 1 the build failed.
set -euo pipefail
# (git archive may print "invalid object" for blobs a snapshot lacks outside the listed paths; harmless)

readonly EX_DATAERR=65 EX_NOINPUT=66
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
validator_patch=$repo/scripts/spdm-validator-tcp.patch
cache=${XDG_CACHE_HOME:-$HOME/.cache}/provisioningd/spdm-emu
src=${SPDM_EMU_SRC:-$cache/src}
build=${SPDM_EMU_BUILD:-$cache/build}
jobs=${SPDM_EMU_JOBS:-2}

say() { echo "build-spdm-emu: $*" >&2; }

# Extracts `git archive <rev> [paths]` of git dir $1 into directory $2.
archive() {
  local gitdir=$1 dest=$2 rev=$3
  shift 3
  if ! git --git-dir="$gitdir" cat-file -e "$rev^{commit}" 2>/dev/null; then
    say "commit $rev is not in $gitdir: fetch a newer snapshot of that repository"
    exit "$EX_DATAERR"
  fi
  mkdir -p "$dest"
  git --git-dir="$gitdir" archive "$rev" "$@" | tar -x -C "$dest"
}

# Prints the commit a tree pins for submodule path $3 (git dir $1, revision $2).
pinned() {
  git --git-dir="$1" ls-tree "$2" "$3" | awk '$2 == "commit" { print $3 }'
}

assemble() {
  local emu_git=${SPDM_EMU_GIT:-} spdm_git=${LIBSPDM_GIT:-} tls_git=${MBEDTLS_GIT:-} val_git=${SPDM_VALIDATOR_GIT:-}
  if [[ -z $emu_git || -z $spdm_git || -z $tls_git || -z $val_git ]]; then
    say "DMTF spdm-emu sources not present: $src does not exist, and SPDM_EMU_GIT, LIBSPDM_GIT,"
    say "MBEDTLS_GIT and SPDM_VALIDATOR_GIT are not all set (see docs/spdm.md). Nothing built."
    exit "$EX_NOINPUT"
  fi
  local rev emu_rev spdm_rev tls_rev val_rev tmp
  rev=${SPDM_EMU_REV:-HEAD}
  emu_rev=$(git --git-dir="$emu_git" rev-parse "$rev^{commit}")
  spdm_rev=$(pinned "$emu_git" "$emu_rev" libspdm)
  val_rev=$(pinned "$emu_git" "$emu_rev" SPDM-Responder-Validator)
  tls_rev=$(pinned "$spdm_git" "$spdm_rev" os_stub/mbedtlslib/mbedtls)
  say "assembling $src: spdm-emu $emu_rev, libspdm $spdm_rev, mbedtls $tls_rev, validator $val_rev"
  tmp="$src.partial"
  rm -rf "$tmp"
  archive "$emu_git" "$tmp" "$emu_rev"
  archive "$spdm_git" "$tmp/libspdm" "$spdm_rev"
  # Only what the library build reads: a snapshot may lack blobs of mbedtls' test data.
  archive "$tls_git" "$tmp/libspdm/os_stub/mbedtlslib/mbedtls" "$tls_rev" \
    include library 3rdparty cmake scripts CMakeLists.txt LICENSE
  archive "$val_git" "$tmp/SPDM-Responder-Validator" "$val_rev"
  printf 'spdm-emu %s libspdm %s mbedtls %s validator %s\n' "$emu_rev" "$spdm_rev" "$tls_rev" "$val_rev" >"$tmp/.source-id"
  mv "$tmp" "$src"
}

# Identifies the sources: the assembled tree's record, git commits, or a listing fingerprint.
source_id() {
  if [[ -f $src/.source-id ]]; then
    cat "$src/.source-id"
  elif git -C "$src" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git -C "$src" rev-parse HEAD
    git -C "$src" submodule status --recursive
    git -C "$src" diff HEAD --submodule=diff | sha256sum
  else
    (cd "$src" && find . -type f -printf '%P %s %T@\n' | LC_ALL=C sort | sha256sum)
  fi
}

[[ -d $src ]] || assemble

for need in CMakeLists.txt spdm_emu/spdm_responder_emu libspdm/include \
  libspdm/os_stub/mbedtlslib/mbedtls/library SPDM-Responder-Validator/library; do
  if [[ ! -e $src/$need ]]; then
    say "$src is incomplete: $need is missing (libspdm, its mbedtls and SPDM-Responder-Validator must be in place)"
    exit "$EX_DATAERR"
  fi
done

mkdir -p "$build"
exec 9>"$build/.lock"
flock 9 # one build at a time; a second caller waits, then finds it up to date

# The TCP transport for the validator: applied once; already applied means patch -R would apply.
if ! patch -d "$src" -p1 -R --dry-run -s -f <"$validator_patch" >/dev/null 2>&1; then
  if ! patch -d "$src" -p1 --forward -s <"$validator_patch" >&2; then
    say "scripts/spdm-validator-tcp.patch does not apply to $src (a newer spdm-emu?): update the patch"
    exit "$EX_DATAERR"
  fi
  say "applied scripts/spdm-validator-tcp.patch"
fi

id="$(source_id) patch $(sha256sum <"$validator_patch" | cut -d' ' -f1)"
bin=$build/bin
targets=(spdm_responder_emu spdm_requester_emu spdm_device_validator_sample)
built=true
for t in "${targets[@]}"; do [[ -x $bin/$t ]] || built=false; done
if $built && [[ -f $build/.built-from ]] && [[ $(cat "$build/.built-from") == "$id" ]]; then
  say "up to date ($bin)"
  echo "$bin"
  exit 0
fi

case $(uname -m) in
  x86_64) arch=x64 ;;
  aarch64) arch=aarch64 ;;
  *) say "unsupported machine $(uname -m)"; exit 1 ;;
esac
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)

say "building in $build (Release, mbedtls, $jobs jobs)"
started=$(date +%s)
rm -f "$build/.built-from"
if ! {
  cmake "${generator[@]}" -S "$src" -B "$build" -DARCH="$arch" -DTOOLCHAIN=GCC -DTARGET=Release \
    -DCRYPTO=mbedtls -DGEN_FILES=OFF >"$build/configure.log" 2>&1 &&
    nice cmake --build "$build" -j "$jobs" --target "${targets[@]}" copy_sample_key \
      >"$build/build.log" 2>&1
}; then
  say "build failed; see $build/configure.log and $build/build.log:"
  tail -n 20 "$build/build.log" "$build/configure.log" >&2 2>/dev/null || true
  exit 1
fi
echo "$id" >"$build/.built-from"
say "built in $(($(date +%s) - started)) s"
echo "$bin"
