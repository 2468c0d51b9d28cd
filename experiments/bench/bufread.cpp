// bench_bufread: the buffered reader's read_line against a plain read loop
// that finds the same lines itself (issue 35: read_line within 1.2x of the
// plain loop per byte, as a ratio in one run).
//
//   bufread/plain     read 8 KiB chunks with the stream's read, split them
//                     at '\n' with memchr and copy each line into a string
//                     (a line cut by a chunk's end is appended to)
//   bufread/read_line BufReader (8 KiB buffer) read_line into a string
//
// Both read the same text (lines of 20-139 bytes, 80 on average) from an
// in-memory ReadStream whose read is ready at once, through the same poll
// futures, so the difference is the buffered layer alone: no syscall, no
// scheduler. Reported per byte (bytes_per_second); for instructions, run it
// under callgrind with both loops collected (docs/io.md, "Buffered I/O").
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <duet/io.hpp>
#include <span>
#include <string>

namespace {

constexpr std::size_t kBytes = 1 << 20;  // per iteration

/// The text: 64 KiB of lines, read in a cycle forever.
const std::string& text() {
  static const std::string t = [] {
    std::string s;
    for (std::size_t i = 0; s.size() < (64 << 10); ++i) {
      std::size_t len = 20 + (i * 37) % 120;
      for (std::size_t k = 0; k + 1 < len; ++k) s.push_back(static_cast<char>('a' + (i + k) % 26));
      s.push_back('\n');
    }
    return s;
  }();
  return t;
}

template <class T>
class ReadyFuture {
 public:
  explicit ReadyFuture(T v) : v_(std::move(v)) {}
  duet::Poll<T> poll(duet::Context& /*cx*/) { return std::move(v_); }

 private:
  T v_;
};

/// An in-memory ReadStream over text(), in a cycle.
class TextStream {
 public:
  ReadyFuture<duet::Result<std::size_t>> read(std::span<std::byte> buf) {
    const std::string& t = text();
    const std::size_t n = std::min(buf.size(), t.size() - pos_);
    std::memcpy(buf.data(), t.data() + pos_, n);
    pos_ = (pos_ + n) % t.size();
    return ReadyFuture<duet::Result<std::size_t>>(n);
  }

 private:
  std::size_t pos_ = 0;
};

template <class F>
auto poll_ready(F&& f) {
  duet::Waker w;
  duet::Context cx(w);
  return std::move(f.poll(cx).value());
}

[[gnu::noinline]] std::size_t lines_plain(TextStream& s, std::size_t total) {
  std::byte buf[8192];
  std::string line;
  std::size_t lines = 0;
  for (std::size_t done = 0; done < total;) {
    const std::size_t n = *poll_ready(s.read(buf));
    done += n;
    const char* c = reinterpret_cast<const char*>(buf);
    const char* end = c + n;
    while (c < end) {
      const auto* nl = static_cast<const char*>(std::memchr(c, '\n', end - c));
      if (nl == nullptr) {
        line.append(c, static_cast<std::size_t>(end - c));
        break;
      }
      line.append(c, static_cast<std::size_t>(nl + 1 - c));
      benchmark::DoNotOptimize(line.data());
      ++lines;
      line.clear();
      c = nl + 1;
    }
  }
  return lines;
}

[[gnu::noinline]] std::size_t lines_buffered(duet::io::BufReader<TextStream>& rd,
                                             std::size_t total) {
  std::string line;
  std::size_t lines = 0;
  for (std::size_t done = 0; done < total;) {
    line.clear();
    done += *poll_ready(rd.read_line(line));
    benchmark::DoNotOptimize(line.data());
    ++lines;
  }
  return lines;
}

void BM_plain(benchmark::State& st) {
  benchmark::DoNotOptimize(text().size());  // built outside the measured loop
  TextStream s;
  for (auto _ : st) benchmark::DoNotOptimize(lines_plain(s, kBytes));
  st.SetBytesProcessed(static_cast<std::int64_t>(st.iterations() * kBytes));
}
BENCHMARK(BM_plain)->Name("bufread/plain");

void BM_read_line(benchmark::State& st) {
  benchmark::DoNotOptimize(text().size());
  duet::io::BufReader rd(TextStream{});
  for (auto _ : st) benchmark::DoNotOptimize(lines_buffered(rd, kBytes));
  st.SetBytesProcessed(static_cast<std::int64_t>(st.iterations() * kBytes));
}
BENCHMARK(BM_read_line)->Name("bufread/read_line");

}  // namespace

BENCHMARK_MAIN();
