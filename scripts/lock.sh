#!/usr/bin/env bash
# Refreshes the lock files in requirements/ (`make lock`, which first installs the pinned uv into .tools/):
# every package at the newest version pyproject.toml allows, with the SHA-256 hash of each of its files on PyPI.
# Commit the result; installs (make setup / demo / test, README "Install") take a lock as it is
# (`pip install --no-deps --require-hashes -r FILE`) and never resolve.
#
#   requirements/default.txt         the default install (`pip install .`) + setuptools, the build back-end
#   requirements/test.txt            default + the test and dev extras: what make setup installs
#   requirements/extra-NAME.txt      default + extra NAME, one per other extra in pyproject.toml
#   requirements/tools.txt           uv itself, at the version requirements/tools.in names
#
# Target: CPython 3.11 on Linux x86_64 with glibc >= 2.28 (manylinux_2_28), whatever machine runs this. The hashes
# cover every file of each pinned version, but another Python or platform may need other packages (markers).
# test.txt is resolved under default.txt's pins and each extra under test.txt's, so a package has one version in
# every file. Tool: uv (Astral), not pip-tools: it resolves for a named Python and platform without building or
# installing anything, in seconds, so the result does not depend on the machine that locks; its output is pip's
# requirements format with --hash lines, installed by plain `pip install --require-hashes`.
set -euo pipefail
shopt -s nullglob
cd "$(dirname "$0")/.."
uv=.tools/bin/uv
out=requirements

compile() {  # compile OUTPUT [uv pip compile options...]; an unchanged file keeps its time (no reinstall)
    local output=$1
    shift
    "$uv" pip compile --quiet --upgrade --generate-hashes --python-version 3.11 \
        --python-platform x86_64-manylinux_2_28 --custom-compile-command "make lock" -o "$output.new" "$@"
    if cmp -s "$output.new" "$output"; then rm "$output.new"; else mv "$output.new" "$output"; fi
}

# The build back-end, so that `pip install --no-deps --no-build-isolation -e .` downloads nothing.
build_requires=$(.tools/bin/python -c \
    'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["build-system"]["requires"]))')
compile "$out/default.txt" pyproject.toml - <<<"$build_requires"
compile "$out/test.txt" pyproject.toml --extra test --extra dev -c "$out/default.txt" - <<<"$build_requires"
extras=$(.tools/bin/python -c \
    'import tomllib; print(*tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"])')
for file in "$out"/extra-*.txt; do  # an extra that pyproject.toml no longer has
    [[ " $extras " == *" $(basename "$file" .txt | sed 's/^extra-//') "* ]] || rm "$file"
done
for extra in $extras; do
    [[ $extra == test || $extra == dev ]] && continue
    # OpenCV is opencv-python-headless: the GUI build that ultralytics asks for would install a second cv2 module
    # over it (and need libGL). onnxruntime-gpu likewise installs the `onnxruntime` module in place of onnxruntime;
    # its CUDA wheels take the versions PyTorch pins in the yolo extra (locked before it), so the two install together.
    replaced=(--no-emit-package opencv-python)
    [[ $extra == gpu ]] && replaced+=(--no-emit-package onnxruntime -c "$out/extra-yolo.txt")
    compile "$out/extra-$extra.txt" pyproject.toml --extra "$extra" -c "$out/test.txt" "${replaced[@]}" - \
        <<<"$build_requires"
done
compile "$out/tools.txt" "$out/tools.in"
# One version per package across the files, so that several can be installed together (-r A -r B).
conflicts=$(grep -h '^[a-z0-9]' "$out"/*.txt | sed 's/ .*//' | sort -u | sed 's/==.*//' | uniq -d)
[[ -z $conflicts ]] || { echo "lock: pinned at different versions in different files:" $conflicts >&2; exit 1; }
for file in "$out"/*.txt; do
    echo "$file: $(grep -c '^[a-z0-9]' "$file") packages"
done
