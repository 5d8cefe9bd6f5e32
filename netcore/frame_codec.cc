#include "connfail/netcore/frame_codec.h"

#include <limits>
#include <string>
#include <utility>

#include "connfail/netcore/channel.h"

namespace netcore {

const char* to_string(FrameKind k) {
  switch (k) {
    case FrameKind::Data: return "data";
    case FrameKind::Ping: return "ping";
    case FrameKind::Pong: return "pong";
  }
  return "?";
}

bool Frame::operator==(const Frame& o) const { return kind == o.kind && payload == o.payload; }

namespace {

bool valid_kind(std::uint8_t k) { return k <= static_cast<std::uint8_t>(FrameKind::Pong); }

std::uint32_t read_be32(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
         std::uint32_t{p[3]};
}

}  // namespace

Bytes encode_frame(const Frame& f) {
  if (f.payload.size() >= std::numeric_limits<std::uint32_t>::max())
    throw FrameError("frame payload of " + std::to_string(f.payload.size()) +
                     " bytes does not fit the 32-bit length field");
  const auto len = static_cast<std::uint32_t>(f.payload.size() + 1);
  Bytes out;
  out.reserve(kFrameHeaderSize + len);
  out.push_back(static_cast<std::uint8_t>(len >> 24));
  out.push_back(static_cast<std::uint8_t>(len >> 16));
  out.push_back(static_cast<std::uint8_t>(len >> 8));
  out.push_back(static_cast<std::uint8_t>(len));
  out.push_back(static_cast<std::uint8_t>(f.kind));
  out.insert(out.end(), f.payload.begin(), f.payload.end());
  return out;
}

void FrameEncoder::write(Context& ctx, std::any msg, WriteCallback done) {
  if (const Frame* f = std::any_cast<Frame>(&msg)) {
    ctx.write(encode_frame(*f), std::move(done));
    return;
  }
  ctx.write(std::move(msg), std::move(done));
}

FrameDecoder::FrameDecoder(std::size_t max_frame_length) : max_frame_length_(max_frame_length) {}

void FrameDecoder::channel_read(Context& ctx, std::any msg) {
  Bytes* in = std::any_cast<Bytes>(&msg);
  if (!in) {
    ctx.fire_channel_read(std::move(msg));
    return;
  }
  if (failed_) return;  // out of sync for good: nothing after a bad header can be trusted
  if (pos_ == buffer_.size()) {
    buffer_ = std::move(*in);  // common case: nothing buffered, no copy
    pos_ = 0;
  } else {
    buffer_.insert(buffer_.end(), in->begin(), in->end());
  }
  decode(ctx);
}

void FrameDecoder::decode(Context& ctx) {
  while (buffer_.size() - pos_ >= kFrameHeaderSize) {
    const std::uint8_t* p = buffer_.data() + pos_;
    const std::uint32_t len = read_be32(p);
    // Validate as soon as the header (and kind byte) is here, before waiting
    // for a body that may never fit in memory.
    if (len == 0) {
      failed_ = true;
      buffer_.clear();
      pos_ = 0;
      throw FrameError("frame length 0 is invalid: the length must count at least the kind byte");
    }
    if (len > max_frame_length_) {
      failed_ = true;
      buffer_.clear();
      pos_ = 0;
      throw FrameError("frame length " + std::to_string(len) + " exceeds max_frame_length " +
                       std::to_string(max_frame_length_));
    }
    const std::size_t avail = buffer_.size() - pos_ - kFrameHeaderSize;
    if (avail < 1) break;
    const std::uint8_t kind = p[kFrameHeaderSize];
    if (!valid_kind(kind)) {
      failed_ = true;
      buffer_.clear();
      pos_ = 0;
      throw FrameError("unknown frame kind byte " + std::to_string(kind) +
                       " (expected 0=data, 1=ping, 2=pong)");
    }
    if (avail < len) break;
    Frame f;
    f.kind = static_cast<FrameKind>(kind);
    const auto body = buffer_.begin() + static_cast<std::ptrdiff_t>(pos_ + kFrameHeaderSize + 1);
    f.payload.assign(body, body + static_cast<std::ptrdiff_t>(len - 1));
    // Advance before firing: a downstream handler may remove us re-entrantly.
    pos_ += kFrameHeaderSize + len;
    ctx.fire_channel_read(std::move(f));
    if (ctx.removed()) return;  // handler_removed already handed the rest on
  }
  if (pos_ == buffer_.size()) {
    buffer_.clear();
    pos_ = 0;
  } else if (pos_ > 0) {
    buffer_.erase(buffer_.begin(), buffer_.begin() + static_cast<std::ptrdiff_t>(pos_));
    pos_ = 0;
  }
}

void FrameDecoder::handler_removed(Context& ctx) {
  Bytes rest(buffer_.begin() + static_cast<std::ptrdiff_t>(pos_), buffer_.end());
  buffer_.clear();
  pos_ = 0;
  if (!rest.empty() && !failed_ && ctx.channel().is_active()) ctx.fire_channel_read(std::move(rest));
}

}  // namespace netcore
