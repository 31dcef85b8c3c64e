#!/usr/bin/env bash
# Build the small local images the container tests use, without any registry:
#   localhost/simba-test/busybox:1  a root file system of Debian's busybox-static
#   localhost/simba-test/python:1   the same plus this host's python3 and its libraries
# Usage: images.sh [ENGINE]   (podman, the default, or docker); images present are kept.
set -euo pipefail
engine="${1:-podman}"
busybox=$(command -v busybox)
python=$(readlink -f /usr/bin/python3)  # Debian's, whose standard library is under /usr/lib
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

exists() { "$engine" image inspect "$1" >/dev/null 2>&1; }

base() {  # a busybox root file system in $1
    mkdir -p "$1/bin" "$1/tmp" "$1/etc"
    cp "$busybox" "$1/bin/busybox"
    for applet in sh cat echo ls id sleep true false env printf mkdir rm touch stat sed grep awk head tail wc cp mv kill date; do
        ln -sf busybox "$1/bin/$applet"
    done
    chmod 1777 "$1/tmp"
    echo "root:x:0:0:root:/:/bin/sh" >"$1/etc/passwd"
}

if ! exists localhost/simba-test/busybox:1; then
    base "$tmp/busybox"
    tar -C "$tmp/busybox" -c . | "$engine" import - localhost/simba-test/busybox:1 >/dev/null
fi

if ! exists localhost/simba-test/python:1; then
    root="$tmp/python"
    base "$root"
    version=$("$python" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
    mkdir -p "$root/usr/bin" "$root/usr/lib"
    cp "$python" "$root/usr/bin/python$version"
    ln -sf "python$version" "$root/usr/bin/python3"
    # the interpreter's shared libraries, at their own paths
    for lib in $(ldd "$python" | grep -o '/[^ ]*'); do
        mkdir -p "$root$(dirname "$lib")"
        cp -L "$lib" "$root$lib"
    done
    # the standard library, without its tests and without installed packages
    tar -C / --exclude='test' --exclude='__pycache__' --exclude='dist-packages' \
        --exclude='site-packages' --exclude='idlelib' --exclude='tkinter' \
        -c "usr/lib/python$version" | tar -C "$root" -x
    for lib in $(find "$root/usr/lib/python$version/lib-dynload" -name '*.so' \
            -exec ldd {} \; 2>/dev/null | grep -o '/[^ ]*' | sort -u); do
        [[ -e $root$lib ]] && continue
        mkdir -p "$root$(dirname "$lib")"
        cp -L "$lib" "$root$lib"
    done
    tar -C "$root" -c . | "$engine" import - localhost/simba-test/python:1 >/dev/null
fi
