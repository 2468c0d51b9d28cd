// codec_feed.hpp: feeds a byte stream to a RequestDecoder in given pieces
// and records what comes out, so that a case can check that every way of
// cutting the same bytes gives the same requests and the same refusal.
#pragma once

#include <catch2/catch.hpp>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "duet/http/codec.hpp"

namespace http_codec_test {

using duet::http::Limits;
using duet::http::Request;
using duet::http::RequestDecoder;

/// What a stream decoded to.
struct Decoded {
  std::vector<Request> requests;
  int continues = 0;  // Event::continue_100 seen
  int error = 0;      // error_status() of an Event::error, 0 for none
};

/// Feeds `stream` cut at `cuts` (ascending offsets), answering each event
/// as a server would: takes requests, notes 100-continue, stops at an error.
inline Decoded decode_cut(std::string_view stream, const std::vector<std::size_t>& cuts,
                          const Limits& limits = {}) {
  RequestDecoder d(limits);
  Decoded out;
  std::size_t at = 0;
  std::vector<std::size_t> ends = cuts;
  ends.push_back(stream.size());
  for (const std::size_t end : ends) {
    std::string_view piece = stream.substr(at, end - at);
    at = end;
    for (;;) {
      const auto step = d.feed(piece);
      REQUIRE(step.consumed <= piece.size());
      piece.remove_prefix(step.consumed);
      if (step.event == RequestDecoder::Event::need_more) {
        REQUIRE(piece.empty());
        break;
      }
      if (step.event == RequestDecoder::Event::request) {
        out.requests.push_back(d.take());
      } else if (step.event == RequestDecoder::Event::continue_100) {
        ++out.continues;
      } else {
        out.error = d.error_status();
        return out;
      }
    }
  }
  return out;
}

inline Decoded decode_whole(std::string_view stream, const Limits& limits = {}) {
  return decode_cut(stream, {}, limits);
}

inline Decoded decode_bytes(std::string_view stream, const Limits& limits = {}) {
  std::vector<std::size_t> cuts;
  for (std::size_t i = 1; i < stream.size(); ++i) cuts.push_back(i);
  return decode_cut(stream, cuts, limits);
}

inline bool same_request(const Request& a, const Request& b) {
  if (a.method != b.method || a.method_name != b.method_name || a.target != b.target ||
      a.version != b.version || a.body != b.body || a.headers.size() != b.headers.size()) {
    return false;
  }
  auto ai = a.headers.begin();
  for (auto bi = b.headers.begin(); bi != b.headers.end(); ++ai, ++bi) {
    if (ai->name != bi->name || ai->value != bi->value) return false;
  }
  return true;
}

/// Decodes `stream` whole, byte by byte, and cut once at every offset;
/// checks that each gives what the whole feed gives (requests and error;
/// 100-continue depends on where the head ends, so it is not compared), and
/// returns the whole feed's result.
inline Decoded decode_every_split(std::string_view stream, const Limits& limits = {}) {
  Decoded whole = decode_whole(stream, limits);
  auto same = [&](const Decoded& other) {
    REQUIRE(other.error == whole.error);
    REQUIRE(other.requests.size() == whole.requests.size());
    for (std::size_t i = 0; i < whole.requests.size(); ++i) {
      REQUIRE(same_request(other.requests[i], whole.requests[i]));
    }
  };
  {
    INFO("byte by byte");
    same(decode_bytes(stream, limits));
  }
  for (std::size_t cut = 1; cut < stream.size(); ++cut) {
    INFO("cut at " << cut);
    same(decode_cut(stream, {cut}, limits));
  }
  return whole;
}

}  // namespace http_codec_test
