#!/usr/bin/env bash
# The installed size of the serving image's Python environment, measured without a container
# engine: the same locked requirements (`uv export` as in serving_image/Dockerfile), installed
# the same way (a copied, byte-compiled venv) into a temporary folder, then `du`. It measures the
# venv and the project's sources only, not the Python base image under them.
#   scripts/serving-env-size.sh            # the default flavour (no torch)
#   scripts/serving-env-size.sh torch      # the torch flavour
set -euo pipefail
cd "$(dirname "$0")/.."
extras=(--extra serving)
if [[ "${1:-}" == torch ]]; then
    extras+=(--extra serving-torch)
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
uv export --frozen --no-hashes --no-header --no-annotate --no-emit-project --no-dev \
    "${extras[@]}" -o "$work/requirements.txt" >/dev/null
uv venv --quiet --python "${PYTHON:-3.11}" "$work/venv"
UV_LINK_MODE=copy UV_COMPILE_BYTECODE=1 \
    uv pip install --quiet ${UV_FLAGS:-} --python "$work/venv/bin/python" -r "$work/requirements.txt"
venv_mib="$(du -sm "$work/venv" | cut -f1)"
sources_mib="$(du -smc core/mlops_core serving_image/mlops_serving | tail -1 | cut -f1)"
echo "requirements: $(grep -c '==' "$work/requirements.txt") packages (${extras[*]})"
echo "largest installed packages (MiB):"
du -sm "$work"/venv/lib/python*/site-packages/* | sort -rn | head -8
echo "venv ${venv_mib} MiB, project sources ${sources_mib} MiB (the Python base image not included)"
