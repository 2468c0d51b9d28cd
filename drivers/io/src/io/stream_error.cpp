// stream_error.cpp: the error category of the stream algorithms
// (duet/io/stream.hpp).
#include <string>

#include "duet/io/stream.hpp"

namespace duet::io {
namespace {

class StreamCategory final : public std::error_category {
 public:
  [[nodiscard]] const char* name() const noexcept override { return "duet.io.stream"; }
  [[nodiscard]] std::string message(int e) const override {
    switch (static_cast<StreamErrc>(e)) {
      case StreamErrc::unexpected_eof:
        return "unexpected end of stream";
      case StreamErrc::limit_exceeded:
        return "no delimiter within the size limit";
      case StreamErrc::write_zero:
        return "the stream accepted no bytes";
    }
    return "unknown stream error";
  }
};

}  // namespace

const std::error_category& stream_category() noexcept {
  static const StreamCategory c;
  return c;
}

}  // namespace duet::io
