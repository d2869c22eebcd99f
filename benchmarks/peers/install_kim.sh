#!/bin/sh
# The KIM side of benchmarks/peers/compiled_fitters.py, from package registries only: the KIM API
# and the OpenKIM models (Debian/Ubuntu packages, as root), and kimpy for the Python given as $1
# (default python3; use a scratch venv to keep it out of gafit's environment).
set -e
PYTHON="${1:-python3}"
apt-get install -y libkim-api-dev openkim-models
"$PYTHON" -m pip install kimpy
