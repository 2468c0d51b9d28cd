#!/bin/sh
# Builds the channel fuzz target with clang-14 (libFuzzer + ASan + UBSan)
# and runs it for a bounded time (default 30 s: fits CI's minute).
#   tests/fuzz/run_fuzz.sh [seconds] [build dir]
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
secs=${1:-30}
out=${2:-$root/build-fuzz}
mkdir -p "$out/corpus"
clang++-14 -std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -I "$root/common/include" "$root/tests/fuzz/channel_fuzz.cpp" \
  "$root/common/src/sched/random.cpp" -o "$out/channel_fuzz"
# A few seeds so the run starts from interesting sequences.
printf '\000\001\000\002\004\010\007\001\002\002\004\005\011' > "$out/corpus/seed1"
printf '\001\000\002\002\002\000\000\010\004\004\004' > "$out/corpus/seed2"
printf '\003\003\011\011\001\002\005\005\031\010\007\007' > "$out/corpus/seed3"
"$out/channel_fuzz" -max_total_time="$secs" -max_len=512 -print_final_stats=1 "$out/corpus"
