#!/usr/bin/env bash
# Usage: scripts/need_system_tool.sh PROGRAM APT_PACKAGE WHAT_FOR
# Exit 0 when PROGRAM (a command name or a path) is there. Otherwise install APT_PACKAGE with
# apt-get on Debian/Ubuntu (as root, or through sudo), or say what to install and exit 1.
# make book needs npm (scripts/fetch_book_js.sh); make test needs Chromium (tests/test_browser.py).
set -euo pipefail
program=$1 package=$2 purpose=$3

command -v "$program" >/dev/null && exit 0
if command -v apt-get >/dev/null; then
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
    echo "Installing $package with apt-get ($program is needed for $purpose)."
    if $sudo apt-get update -qq &&
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$package" >/dev/null &&
        command -v "$program" >/dev/null; then
        exit 0
    fi
fi
echo "$program is needed for $purpose, and it is not installed." >&2
echo "Install the package that provides it ($package on Debian) with your system's package" >&2
echo "manager (macOS: brew install --cask chromium, or brew install node for npm)." >&2
if [ "$package" = chromium ]; then
    echo "Where Chromium lives elsewhere, point the tests at it: make test CHROMIUM=/path." >&2
fi
exit 1
