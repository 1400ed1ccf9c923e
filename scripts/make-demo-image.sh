#!/usr/bin/env bash
# Builds the demo rootfs tarball: busybox (static, from Debian's busybox-static) serving a page
# with httpd. Usage: make-demo-image.sh OUT.tar
set -euo pipefail
out=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
mkdir -p "$dir"/{bin,etc,www,tmp,proc,dev,sys}
cp /bin/busybox "$dir/bin/busybox"
for a in sh ls cat echo sleep httpd hostname ps id env wget true false; do ln -s busybox "$dir/bin/$a"; done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$dir/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$dir/etc/group"
cat >"$dir/www/index.html" <<'HTML'
<!doctype html><title>Shoal</title><h1>Hello from Shoal</h1>
HTML
tar -C "$dir" --numeric-owner -cf "$out" .
