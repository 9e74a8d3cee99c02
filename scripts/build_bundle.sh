#!/usr/bin/env bash
# Build dist/agentic-desktop/: Agentic Desktop with its own Python, runnable without one installed.
#
#   scripts/build_bundle.sh            uses (or creates) .venv in the checkout
#   VENV=/path/to/venv scripts/build_bundle.sh
#
# The folder holds agentic-desktop (the window with the API inside), agentic-server (headless), and
# agentic-desktop.desktop + agentic-desktop.png for a desktop menu entry. See README, "Install
# without Python".
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${VENV:-.venv}"
PYTHON="${PYTHON:-python3}"
if [ ! -x "$VENV/bin/python" ]; then
  echo "Creating $VENV"
  "$PYTHON" -m venv "$VENV"
fi
# shellcheck disable=SC1091
. "$VENV/bin/activate"
python -m pip install --quiet --upgrade pip
python -m pip install --quiet -e '.[bundle]'

start=$(date +%s)
python -m PyInstaller --noconfirm --clean build.spec
seconds=$(($(date +%s) - start))

bundle="$(pwd)/dist/agentic-desktop"
echo
echo "Built $bundle in ${seconds}s: $(du -sh "$bundle" | cut -f1) unpacked"
echo "  window:   $bundle/agentic-desktop"
echo "  headless: $bundle/agentic-server --host 0.0.0.0 --port 8000"
echo
echo "Install for this user (the .desktop file expects the folder in /opt/agentic-desktop):"
echo "  sudo rm -rf /opt/agentic-desktop && sudo cp -a '$bundle' /opt/agentic-desktop"
echo "  install -Dm644 /opt/agentic-desktop/agentic-desktop.desktop ~/.local/share/applications/agentic-desktop.desktop"
echo "  install -Dm644 /opt/agentic-desktop/agentic-desktop.png ~/.local/share/icons/hicolor/256x256/apps/agentic-desktop.png"
