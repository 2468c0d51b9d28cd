// memory_stream.hpp: in-memory streams for the buffered reader and writer
// tests: a ChunkStream that hands out a script of chunks (some of them
// errors) one read at a time, and a SinkStream that accepts up to a set
// number of bytes per write and can fail after a set total. Both are ready
// at once: the algorithms' edge cases are tested without sockets, on a
// plain thread (duet::wait).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <duet/io.hpp>
#include <span>
#include <string>
#include <system_error>
#include <variant>
#include <vector>

namespace duet::nettest {

/// A future that is ready at its first poll.
template <class T>
class [[nodiscard]] ReadyFuture {
 public:
  explicit ReadyFuture(T v) : v_(std::move(v)) {}
  Poll<T> poll(Context& /*cx*/) { return std::move(v_); }

 private:
  T v_;
};

/// Reads return the script's chunks in order (a chunk longer than the
/// caller's buffer is split), an error entry returns that error once, and
/// past the end every read returns 0.
class ChunkStream {
 public:
  using Entry = std::variant<std::string, std::error_code>;
  explicit ChunkStream(std::vector<Entry> script) : script_(std::move(script)) {}
  ReadyFuture<duet::Result<std::size_t>> read(std::span<std::byte> buf) {
    ++reads;
    if (next_ == script_.size()) return ReadyFuture<duet::Result<std::size_t>>(std::size_t{0});
    if (auto* e = std::get_if<std::error_code>(&script_[next_])) {
      ++next_;
      return ReadyFuture<duet::Result<std::size_t>>(*e);
    }
    auto& s = std::get<std::string>(script_[next_]);
    const std::size_t n = std::min(buf.size(), s.size() - off_);
    std::memcpy(buf.data(), s.data() + off_, n);
    off_ += n;
    if (off_ == s.size()) {
      ++next_;
      off_ = 0;
    }
    return ReadyFuture<duet::Result<std::size_t>>(n);
  }
  int reads = 0;  // read() calls so far

 private:
  std::vector<Entry> script_;
  std::size_t next_ = 0;
  std::size_t off_ = 0;
};

/// Accepts at most `per_write` bytes a write; once `fail_after` bytes are
/// in, every write fails with `error`.
class SinkStream {
 public:
  SinkStream(std::size_t per_write, std::size_t fail_after, std::error_code error)
      : per_write_(per_write), fail_after_(fail_after), error_(error) {}
  ReadyFuture<duet::Result<std::size_t>> write(std::span<const std::byte> data) {
    ++writes;
    if (got.size() >= fail_after_) return ReadyFuture<duet::Result<std::size_t>>(error_);
    const std::size_t n = std::min({data.size(), per_write_, fail_after_ - got.size()});
    got.append(reinterpret_cast<const char*>(data.data()), n);
    return ReadyFuture<duet::Result<std::size_t>>(n);
  }
  std::string got;  // every byte written so far
  int writes = 0;   // write() calls so far

 private:
  std::size_t per_write_;
  std::size_t fail_after_;
  std::error_code error_;
};

inline std::span<const std::byte> bytes_of(const std::string& s) {
  return std::as_bytes(std::span(s.data(), s.size()));
}

}  // namespace duet::nettest
