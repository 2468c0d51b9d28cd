// buffered_test.cpp: the buffered reader and writer's algorithms over
// in-memory streams (memory_stream.hpp), on a plain thread: chunk
// boundaries, limits, end of stream and errors mid-way, and that no byte
// already read or taken is lost. The socket scenarios, on both drivers and
// both models, are in buffered_io_test.cpp.
#include <catch2/catch.hpp>
#include <cstring>
#include <duet/duet.hpp>
#include <duet/io.hpp>
#include <string>

#include "memory_stream.hpp"

using duet::io::BufReader;
using duet::io::BufWriter;
using duet::io::StreamErrc;
using duet::nettest::bytes_of;
using duet::nettest::ChunkStream;
using duet::nettest::SinkStream;

static_assert(duet::io::ReadStream<duet::net::TcpStream>);
static_assert(duet::io::WriteStream<duet::net::TcpStream>);
static_assert(duet::io::ReadStream<duet::net::OwnedReadHalf>);
static_assert(duet::io::WriteStream<duet::net::OwnedWriteHalf>);
static_assert(duet::io::ReadStream<BufReader<duet::net::TcpStream>>);
static_assert(duet::io::ReadStream<ChunkStream>);
static_assert(!duet::io::WriteStream<ChunkStream>);

namespace {
const std::error_code kReset = std::make_error_code(std::errc::connection_reset);
}

TEST_CASE("read_line: lines split across reads, a last line without newline, then 0",
          "[buffered]") {
  BufReader rd(ChunkStream({"al", "pha\nbe", "ta\n\ngam", "ma"}), 4);
  std::string out;
  CHECK(*duet::wait(rd.read_line(out)) == 6);
  CHECK(out == "alpha\n");
  out.clear();
  CHECK(*duet::wait(rd.read_line(out)) == 5);
  CHECK(out == "beta\n");
  out.clear();
  CHECK(*duet::wait(rd.read_line(out)) == 1);
  CHECK(out == "\n");
  out.clear();
  CHECK(*duet::wait(rd.read_line(out)) == 5);
  CHECK(out == "gamma");
  out.clear();
  CHECK(*duet::wait(rd.read_line(out)) == 0);
  CHECK(out.empty());
}

TEST_CASE("read_line on a buffered line makes no read of the stream", "[buffered]") {
  BufReader rd(ChunkStream({"one\ntwo\nthree\n"}));
  std::string out;
  CHECK(*duet::wait(rd.read_line(out)) == 4);
  const int reads = rd.get_ref().reads;
  CHECK(*duet::wait(rd.read_line(out)) == 4);
  CHECK(*duet::wait(rd.read_line(out)) == 6);
  CHECK(rd.get_ref().reads == reads);
  CHECK(out == "one\ntwo\nthree\n");  // read_line appends
}

TEST_CASE("read_until over its limit: limit_exceeded, the bytes in out, the rest readable",
          "[buffered]") {
  BufReader rd(ChunkStream({"0123", "456789\nnext\n"}), 4);
  std::string out;
  auto r = duet::wait(rd.read_until('\n', out, 6));
  REQUIRE(!r);
  CHECK(r.error() == StreamErrc::limit_exceeded);
  CHECK(r.error().message() == "no delimiter within the size limit");
  CHECK(out == "012345");
  out.clear();
  CHECK(*duet::wait(rd.read_until('\n', out, 6)) == 5);
  CHECK(out == "6789\n");
  out.clear();
  // A line of exactly the limit, delimiter included, fits.
  CHECK(*duet::wait(rd.read_until('\n', out, 5)) == 5);
  CHECK(out == "next\n");
}

TEST_CASE("read_until: a stream error mid-line keeps the bytes read in out", "[buffered]") {
  BufReader rd(ChunkStream({"partial", kReset, "rest\n"}), 4);
  std::string out;
  auto r = duet::wait(rd.read_line(out));
  REQUIRE(!r);
  CHECK(r.error() == std::errc::connection_reset);
  CHECK(out == "partial");
  CHECK(*duet::wait(rd.read_line(out)) == 5);  // the reader goes on after the error
  CHECK(out == "partialrest\n");
}

TEST_CASE("read_exact: whole, across reads, and end of stream mid-way reports the bytes",
          "[buffered]") {
  BufReader rd(ChunkStream({"ab", "cdefgh", "ijklmnopqrstuvwxyz", "12"}), 4);
  std::byte b[5];
  auto t = duet::wait(rd.read_exact(b));
  CHECK(t.ok());
  CHECK(t.bytes == 5);
  CHECK(std::memcmp(b, "abcde", 5) == 0);
  // Larger than the buffer: straight into the caller's buffer.
  std::byte big[18];
  t = duet::wait(rd.read_exact(big));
  CHECK(t.ok());
  CHECK(std::memcmp(big, "fghijklmnopqrstuvw", 18) == 0);
  std::byte rest[10];
  t = duet::wait(rd.read_exact(rest));
  CHECK(!t);
  CHECK(t.error() == StreamErrc::unexpected_eof);
  CHECK(t.error().message() == "unexpected end of stream");
  REQUIRE(t.bytes == 5);
  CHECK(std::memcmp(rest, "xyz12", 5) == 0);
}

TEST_CASE("read_exact: a stream error reports the bytes before it", "[buffered]") {
  BufReader rd(ChunkStream({"abc", kReset}), 2);
  std::byte b[8];
  auto t = duet::wait(rd.read_exact(b));
  CHECK(t.error() == std::errc::connection_reset);
  REQUIRE(t.bytes == 3);
  CHECK(std::memcmp(b, "abc", 3) == 0);
}

TEST_CASE("read, fill_buf and consume", "[buffered]") {
  BufReader rd(ChunkStream({"hello world", "!"}), 8);
  auto f = duet::wait(rd.fill_buf());
  REQUIRE(f);
  CHECK(f->size() == 8);
  rd.consume(6);
  std::byte b[3];
  CHECK(*duet::wait(rd.read(b)) == 2);  // what was buffered
  CHECK(std::memcmp(b, "wo", 2) == 0);
  CHECK(*duet::wait(rd.read(b)) == 3);
  CHECK(std::memcmp(b, "rld", 3) == 0);
  std::byte big[16];
  CHECK(*duet::wait(rd.read(big)) == 1);  // straight to the stream
  CHECK(*duet::wait(rd.read(big)) == 0);
  auto end = duet::wait(rd.fill_buf());
  REQUIRE(end);
  CHECK(end->empty());
}

TEST_CASE("BufReader: the buffer is taken at the first read and given back only when empty",
          "[buffered]") {
  BufReader rd(ChunkStream({"abcdef", "gh"}), 4);
  CHECK_FALSE(rd.holds_buffer());  // nothing read yet
  CHECK(rd.release_buffer());      // nothing to give back
  std::byte b[2];
  CHECK(*duet::wait(rd.read(b)) == 2);
  CHECK(rd.holds_buffer());
  CHECK_FALSE(rd.release_buffer());  // "cd" still buffered: kept
  CHECK(rd.holds_buffer());
  CHECK(rd.buffer().size() == 2);
  rd.consume(2);
  CHECK(rd.release_buffer());
  CHECK_FALSE(rd.holds_buffer());
  CHECK(rd.buffer().empty());
  // The next read takes a new buffer and loses nothing of the stream.
  std::string out;
  CHECK(*duet::wait(rd.read_until('h', out)) == 4);
  CHECK(out == "efgh");
  CHECK(rd.holds_buffer());
}

TEST_CASE("BufWriter: small writes are buffered, flush writes them, large ones go straight",
          "[buffered]") {
  BufWriter wr(SinkStream(3, 1 << 20, kReset), 8);
  CHECK(*duet::wait(wr.write(bytes_of("abc"))) == 3);
  CHECK(*duet::wait(wr.write(bytes_of("def"))) == 3);
  CHECK(wr.get_ref().writes == 0);
  CHECK(wr.buffer().size() == 6);
  CHECK(duet::wait(wr.flush()));
  CHECK(wr.get_ref().got == "abcdef");
  CHECK(wr.buffer().empty());
  auto t = duet::wait(wr.write_all(bytes_of("0123456789ABCDEF")));
  CHECK(t.ok());
  CHECK(t.bytes == 16);
  // Direct writes while the rest would fill the buffer; the last 7 buffered.
  CHECK(wr.get_ref().got == "abcdef012345678");
  CHECK(wr.buffer().size() == 7);
  t = duet::wait(wr.write_all(bytes_of("xy")));
  CHECK(t.bytes == 2);
  t = duet::wait(wr.write_all(bytes_of("0123456789")));  // fills, flushes, buffers the rest
  CHECK(t.bytes == 10);
  CHECK(duet::wait(wr.flush()));
  CHECK(wr.get_ref().got == "abcdef0123456789ABCDEFxy0123456789");
}

TEST_CASE("BufWriter: a failing flush keeps its unwritten bytes, write_all reports its count",
          "[buffered]") {
  BufWriter wr(SinkStream(4, 6, kReset), 8);
  CHECK(duet::wait(wr.write_all(bytes_of("abcdefgh"))).ok());
  auto f = duet::wait(wr.flush());
  REQUIRE(!f);
  CHECK(f.error() == std::errc::connection_reset);
  CHECK(wr.get_ref().got == "abcdef");
  auto left = wr.buffer();
  CHECK(std::string(reinterpret_cast<const char*>(left.data()), left.size()) == "gh");
  // write_all past the failure: the bytes it handed over count, then the
  // error (here all went straight to the stream: as large as the buffer).
  BufWriter wr2(SinkStream(4, 6, kReset), 4);
  auto t = duet::wait(wr2.write_all(bytes_of("0123456789")));
  CHECK(t.error() == std::errc::connection_reset);
  CHECK(t.bytes == 6);
  CHECK(wr2.get_ref().got == "012345");
}

TEST_CASE("BufWriter: a write of zero bytes from the stream is write_zero", "[buffered]") {
  BufWriter wr(SinkStream(0, 100, kReset), 4);
  CHECK(duet::wait(wr.write_all(bytes_of("ab"))).bytes == 2);
  auto t = duet::wait(wr.write_all(bytes_of("cdef")));  // buffers "cd", then flushes
  CHECK(t.error() == StreamErrc::write_zero);
  CHECK(t.bytes == 2);
  CHECK(wr.buffer().size() == 4);  // nothing lost
  auto d = duet::wait(wr.write_all(bytes_of("0123456789")));
  CHECK(d.error() == StreamErrc::write_zero);
}
