#!/usr/bin/env bash
# source-mirror.sh DIR — fill DIR with the upstream release tarballs the end-to-end tests build, named
# as upstream names them and checked against their pinned sha256:
#   hello-2.10.tar.gz          (GNU hello 2.10)
#   postgresql-15.18.tar.bz2   (PostgreSQL 15.18)
# They come from Debian's source archive, whose .orig tarballs are byte-identical to upstream's, at the
# Debian mirror this machine's apt configuration names (read now, never written into the repository):
# `apt-get source --download-only` against a temporary deb-src configuration built from the machine's
# `deb` entries (its own lists and cache directories, so the system's apt state is untouched), falling
# back to the .orig file's pool path on each configured mirror. Files already present with the right
# sha256 are kept; a download whose sha256 differs fails the script. Safe to run again.
set -euo pipefail

usage() { echo "usage: $0 DIR" >&2; exit 2; }
[ $# -eq 1 ] || usage
DIR=$1
say() { echo "source-mirror: $*" >&2; }
die() { say "ERROR: $*"; exit 1; }

# file name | Debian source package | upstream version | Debian .orig file | sha256
TARBALLS=(
  "hello-2.10.tar.gz|hello|2.10|hello_2.10.orig.tar.gz|31e066137a962676e89f69d1b65382de95a7ef7d914b8cb956f41ea72e0f516b"
  "postgresql-15.18.tar.bz2|postgresql-15|15.18|postgresql-15_15.18.orig.tar.bz2|11df0df97fe3ea4ba9a791faaf39cee1d2fe571e78885b5b55d8517d27c323b4"
)

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

mkdir -p "$DIR"
missing=()
for entry in "${TARBALLS[@]}"; do
  IFS='|' read -r name _ _ _ sha <<<"$entry"
  if [ -f "$DIR/$name" ]; then
    have=$(sha256_of "$DIR/$name")
    if [ "$have" = "$sha" ]; then
      say "$name: present, sha256 ok"
      continue
    fi
    say "$name: present but sha256 is $have, expected $sha; fetching it again"
  fi
  missing+=("$entry")
done
[ ${#missing[@]} -gt 0 ] || exit 0

WORK=$(mktemp -d "${TMPDIR:-/tmp}/baker-source-mirror.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/sources.list.d" "$WORK/lists/partial" "$WORK/cache/archives/partial" "$WORK/dl"

# The machine's `deb` entries as `deb-src` entries, and the mirror URIs they name.
uris=()
one_line_to_src() { sed -nE 's/^[[:space:]]*deb[[:space:]]+/deb-src /p' "$1"; }
one_line_uris() { sed -nE 's/^[[:space:]]*deb[[:space:]]+(\[[^]]*\][[:space:]]+)?([^[:space:]]+).*/\2/p' "$1"; }
: >"$WORK/sources.list"
if [ -f /etc/apt/sources.list ]; then
  one_line_to_src /etc/apt/sources.list >>"$WORK/sources.list"
  while read -r u; do uris+=("$u"); done < <(one_line_uris /etc/apt/sources.list)
fi
for f in /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
  [ -f "$f" ] || continue
  case "$f" in
    *.list)
      one_line_to_src "$f" >"$WORK/sources.list.d/$(basename "$f")"
      while read -r u; do uris+=("$u"); done < <(one_line_uris "$f")
      ;;
    *.sources)
      sed -E 's/^types:.*/Types: deb-src/I' "$f" >"$WORK/sources.list.d/$(basename "$f")"
      while read -r u; do uris+=("$u"); done < <(sed -nE 's/^uris:[[:space:]]*//Ip' "$f" | tr -s '[:space:]' '\n' | sed '/^$/d')
      ;;
  esac
done
[ ${#uris[@]} -gt 0 ] || die "no deb entries in /etc/apt/sources.list or /etc/apt/sources.list.d/: no Debian mirror to fetch from"

# A configuration of our own: the temporary sources, lists and cache; no update hooks.
cat >"$WORK/apt.conf" <<EOF
#clear APT::Update::Pre-Invoke;
#clear APT::Update::Post-Invoke;
#clear APT::Update::Post-Invoke-Success;
Dir::Etc::SourceList "$WORK/sources.list";
Dir::Etc::SourceParts "$WORK/sources.list.d";
Dir::State::Lists "$WORK/lists";
Dir::Cache "$WORK/cache";
APT::Sandbox::User "root";
EOF
apt_ok=1
if ! apt-get -c "$WORK/apt.conf" -q update >"$WORK/update.log" 2>&1; then
  say "apt-get update of the deb-src entries failed; trying the pool paths directly. Its output:"
  tail -n 20 "$WORK/update.log" >&2
  apt_ok=0
fi

fetch_url() { # URL DEST
  if command -v curl >/dev/null 2>&1; then
    curl -fsSL --retry 2 -o "$2" "$1"
  else
    python3 -c 'import sys, urllib.request; urllib.request.urlretrieve(sys.argv[1], sys.argv[2])' "$1" "$2"
  fi
}

for entry in "${missing[@]}"; do
  IFS='|' read -r name pkg upver orig sha <<<"$entry"
  got=""
  if [ "$apt_ok" = 1 ]; then
    # Every Debian revision of this upstream version, in any configured suite (a point release may sit
    # in bookworm while -security has moved on, or the other way round); they share one .orig file.
    version=$(apt-cache -c "$WORK/apt.conf" showsrc "$pkg" 2>/dev/null |
      sed -nE 's/^Version:[[:space:]]*//p' | grep -E "^([0-9]+:)?${upver//./\\.}-" | sort -Vr | head -n1 || true)
    if [ -n "$version" ]; then
      say "$name: apt-get source $pkg=$version"
      if (cd "$WORK/dl" && apt-get -c "$WORK/apt.conf" -q source --download-only "$pkg=$version") >"$WORK/source.log" 2>&1 &&
        [ -f "$WORK/dl/$orig" ]; then
        got="$WORK/dl/$orig"
      else
        say "$name: apt-get source failed:"; tail -n 10 "$WORK/source.log" >&2
      fi
    else
      say "$name: no $pkg $upver-* in the configured suites ($(apt-cache -c "$WORK/apt.conf" showsrc "$pkg" 2>/dev/null |
        sed -nE 's/^Version:[[:space:]]*//p' | sort -u | tr '\n' ' ')); trying the pool paths"
    fi
  fi
  if [ -z "$got" ]; then
    case "$pkg" in lib?*) letter=${pkg:0:4} ;; *) letter=${pkg:0:1} ;; esac
    tried=()
    for uri in $(printf '%s\n' "${uris[@]}" | awk '!seen[$0]++'); do
      case "$uri" in http://* | https://* | file:/*) ;; *) continue ;; esac
      for pool in pool/main pool/updates/main; do
        url="${uri%/}/$pool/$letter/$pkg/$orig"
        tried+=("$url")
        if fetch_url "$url" "$WORK/dl/$orig" 2>/dev/null; then got="$WORK/dl/$orig"; break 2; fi
      done
    done
    [ -n "$got" ] || die "$name: $orig is in none of the configured mirrors; tried: ${tried[*]}"
    say "$name: fetched $url"
  fi
  have=$(sha256_of "$got")
  [ "$have" = "$sha" ] || die "$name: sha256 mismatch: got $have, expected $sha (from Debian's $orig); not installed into $DIR"
  cp "$got" "$DIR/.$name.part"
  mv -f "$DIR/.$name.part" "$DIR/$name"
  say "$name: sha256 ok -> $DIR/$name"
done
