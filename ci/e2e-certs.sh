#!/usr/bin/env bash
# Makes a private CA and a server certificate it signs, the way a GitHub Enterprise Server behind
# a corporate CA is set up, so the kind job (ci/kind-e2e.sh) runs the chart's github.caConfigMap
# path for real: the generator trusts ca.crt through NODE_EXTRA_CA_CERTS, gh through SSL_CERT_DIR.
# A self-signed leaf would not do: Go's verifier (gh) wants a CA certificate and a leaf with the
# server name in subjectAltName.
#
# Writes into OUT_DIR: ca.crt (give it to clients), tls.crt and tls.key (the server's). The CA's key
# is thrown away once the leaf is signed. Idempotent: existing files are kept while the leaf covers
# every HOST and stays valid for another day.
#
# Usage: bash ci/e2e-certs.sh OUT_DIR HOST [HOST...]   (the first HOST is also the subject CN)
set -euo pipefail
if (($# < 2)); then
  echo "usage: bash ci/e2e-certs.sh OUT_DIR HOST [HOST...]" >&2
  exit 2
fi
out=$1
shift
command -v openssl >/dev/null || { echo "ci/e2e-certs.sh: openssl is required (Debian package openssl)" >&2; exit 1; }
mkdir -p "$out"

current() {
  [[ -s $out/ca.crt && -s $out/tls.crt && -s $out/tls.key ]] || return 1
  openssl x509 -in "$out/tls.crt" -noout -checkend 86400 >/dev/null || return 1
  openssl verify -CAfile "$out/ca.crt" "$out/tls.crt" >/dev/null 2>&1 || return 1
  local host check
  for host in "$@"; do
    if [[ $host =~ ^[0-9.]+$ ]]; then check=-checkip; else check=-checkhost; fi
    openssl x509 -in "$out/tls.crt" -noout "$check" "$host" | grep -q "does match" || return 1
  done
}
if current "$@"; then
  echo "certificates in $out: up to date ($*)"
  exit 0
fi

san=""
for host in "$@"; do
  if [[ $host =~ ^[0-9.]+$ ]]; then san+="${san:+,}IP:$host"; else san+="${san:+,}DNS:$host"; fi
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(
  umask 077
  openssl req -x509 -newkey rsa:2048 -nodes -days 7 -sha256 \
    -keyout "$work/ca.key" -out "$work/ca.crt" -subj "/CN=ghapp-tokens e2e CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -sha256 -keyout "$work/tls.key" -out "$work/tls.csr" -subj "/CN=$1" 2>/dev/null
  printf '%s\n' "subjectAltName=$san" "basicConstraints=critical,CA:FALSE" \
    "keyUsage=critical,digitalSignature,keyEncipherment" "extendedKeyUsage=serverAuth" > "$work/leaf.ext"
  openssl x509 -req -in "$work/tls.csr" -CA "$work/ca.crt" -CAkey "$work/ca.key" \
    -set_serial "0x$(openssl rand -hex 16)" -days 7 -sha256 -extfile "$work/leaf.ext" -out "$work/tls.crt" 2>/dev/null
)
install -m 0644 "$work/ca.crt" "$out/ca.crt"
install -m 0644 "$work/tls.crt" "$out/tls.crt"
install -m 0600 "$work/tls.key" "$out/tls.key"
echo "certificates in $out: made a CA and a leaf for $*"
