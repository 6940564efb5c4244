#!/usr/bin/env bash
# Re-fetches the dashboard's front-end dependencies from the npm registry at their pinned versions,
# checks each file's sha256 and copies it (with its licence) under minikube_py/api/dashboard/static/vendor.
# The files are committed: the server serves them from the package, so a node needs no internet and
# there is no build step. To move to a new version, change its line below, run this with
# VENDOR_UPDATE=1 (prints the new hashes instead of failing), review, and pin the printed hashes.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=minikube_py/api/dashboard/static/vendor
command -v npm >/dev/null 2>&1 || { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null; }

# package@version  file-in-the-tarball  vendored-name  sha256
pins=(
    "@xterm/xterm@6.0.0     lib/xterm.mjs      xterm.mjs              b336ec65a086c056d4804b3d4c2347da5663d3f23c3f25be866467bd8857ad59"
    "@xterm/xterm@6.0.0     css/xterm.css      xterm.css              854a7c0fb70e8b1a083c16797ab827299fb18744f5ad34f227b48337e33293c6"
    "@xterm/xterm@6.0.0     LICENSE            xterm.LICENSE          b569f629d00f2626a8100df2a1798210535621e42164dfd426a6fe5aac7b0ccd"
    "@xterm/addon-fit@0.11.0 lib/addon-fit.mjs addon-fit.mjs          2d87e1bddc73be9111de8beee5370c3bb7aac9c94e18e6f245f02ca741ef1769"
    "@xterm/addon-fit@0.11.0 LICENSE           addon-fit.LICENSE      e256f01188af527e4d06d21d06fbf785ae9c50d4b328bf03cbe0ba7f0aa4228f"
    "js-yaml@4.1.0          dist/js-yaml.mjs   js-yaml.mjs            16f210b939b359b6ec8dde581eb62c157185711dc7b719b33779c43db5c31a91"
    "js-yaml@4.1.0          LICENSE            js-yaml.LICENSE        a07bc24468b9654ce76a547d47a2db282d07733b715db4c73a98bd63961f9550"
)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$dest"
failed=0
for pin in "${pins[@]}"; do
    read -r spec file name sum <<<"$pin"
    unpacked="$work/$(echo "$spec" | tr '/@' '__')"
    if [ ! -d "$unpacked" ]; then
        tarball=$(cd "$work" && npm pack --silent "$spec" | tail -n 1)
        mkdir -p "$unpacked"
        tar xzf "$work/$tarball" -C "$unpacked"
    fi
    got=$(sha256sum "$unpacked/package/$file" | cut -d' ' -f1)
    if [ "$got" != "$sum" ]; then
        echo "$spec $file: sha256 $got, pinned $sum" >&2
        failed=1
        [ "${VENDOR_UPDATE:-0}" = 1 ] || continue
    fi
    cp "$unpacked/package/$file" "$dest/$name"
done
[ "$failed" = 0 ] || { echo "vendor-dashboard: hashes differ from the pins" >&2; exit 1; }
echo "vendored into $dest: $(ls "$dest" | tr '\n' ' ')"
