// Length-prefixed frames over a byte stream: FrameEncoder (outbound Frame ->
// Bytes) and FrameDecoder (inbound Bytes -> Frame), like Netty's
// LengthFieldPrepender / LengthFieldBasedFrameDecoder pair.
#pragma once

#include <any>
#include <cstddef>
#include <cstdint>
#include <stdexcept>

#include "connfail/netcore/handler.h"
#include "connfail/netcore/pipeline.h"
#include "connfail/netcore/transport.h"

namespace netcore {

enum class FrameKind : std::uint8_t { Data = 0, Ping = 1, Pong = 2 };
const char* to_string(FrameKind k);

struct Frame {
  FrameKind kind = FrameKind::Data;
  Bytes payload;
  bool operator==(const Frame& o) const;
};

/// Wire format: 4-byte big-endian length L (of what follows: 1 kind byte +
/// payload), then the kind byte, then the payload. L >= 1.
inline constexpr std::size_t kFrameHeaderSize = 4;

class FrameError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Encodes one frame. Throws FrameError if the payload does not fit the
/// 32-bit length field.
Bytes encode_frame(const Frame& f);

/// Outbound: Frame -> Bytes, passing the WriteCallback through. Other message
/// types pass through unchanged.
class FrameEncoder : public Handler {
 public:
  void write(Context& ctx, std::any msg, WriteCallback done) override;
};

/// Inbound: Bytes -> Frame, one channel_read per complete frame (frames may be
/// split across reads or several may share one read). Other message types
/// pass through.
///
/// A length L > max_frame_length (L counts the kind byte and the payload, so
/// L == max_frame_length is accepted), L == 0 or an unknown kind byte throws
/// FrameError; the decoder then discards all further input (the stream is no
/// longer in sync). Frames decoded before the bad one are still delivered.
class FrameDecoder : public Handler {
 public:
  explicit FrameDecoder(std::size_t max_frame_length = 1 << 20);

  void channel_read(Context& ctx, std::any msg) override;
  /// Hands undecoded bytes on (as Netty does) when removed from a live channel.
  void handler_removed(Context& ctx) override;

  std::size_t max_frame_length() const { return max_frame_length_; }
  /// True once a FrameError was thrown.
  bool failed() const { return failed_; }
  /// Bytes received but not yet part of a complete frame.
  std::size_t buffered_bytes() const { return buffer_.size() - pos_; }

 private:
  void decode(Context& ctx);

  std::size_t max_frame_length_;
  Bytes buffer_;
  std::size_t pos_ = 0;  // start of the undecoded part of buffer_
  bool failed_ = false;
};

}  // namespace netcore
