#!/bin/sh
# Builds the Boost.Fiber peer of the stackful experiments (Debian's
# libboost-fiber-dev) next to this script.
set -e
here=$(cd "$(dirname "$0")" && pwd)
g++ -std=c++20 -O2 -o "$here/stackful_peer" "$here/stackful_peer.cpp" -lboost_fiber -lboost_context -pthread
