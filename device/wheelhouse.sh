#!/usr/bin/env bash
# Builds .whl/: the Python 3.12 wheels the lent GPU machine lacks (device/requirements.txt),
# for `python -m tickets.devicerun`. pyautoattack's wheel carries a 44 MB example model that
# the project never loads, so only its Python sources are kept, unpacked under .whl/site/.
set -euo pipefail
cd "$(dirname "$0")/.."
out=.whl
rm -rf "$out" && mkdir -p "$out/site"
platforms=(--platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64
           --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64)
grep -v -E '^(#|$)|^pyautoattack==' device/requirements.txt > "$out/wheels.txt"
python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 \
  --implementation cp "${platforms[@]}" -d "$out" -r "$out/wheels.txt"
tmp=$(mktemp -d)
python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 \
  -d "$tmp" "$(grep '^pyautoattack==' device/requirements.txt)"
python3 -m zipfile -e "$tmp"/pyautoattack-*.whl "$tmp/x"
mkdir -p "$out/site/pyautoattack"
cp "$tmp"/x/pyautoattack/*.py "$out/site/pyautoattack/"
rm -rf "$tmp" "$out/wheels.txt"
echo "wheelhouse: $(ls "$out"/*.whl | wc -l) wheels and pyautoattack's sources, $(du -sh "$out" | cut -f1) in $out/"
