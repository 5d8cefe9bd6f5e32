// EmbeddedChannel: a channel with no network and a manual clock, like
// Netty's EmbeddedChannel. Handler unit tests push inbound messages in, read
// what reached the tail or the head, move time, and stall or complete writes.
#pragma once

#include <any>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "connfail/netcore/channel.h"
#include "connfail/netcore/testing/manual_loop.h"

namespace netcore::testing {

class EmbeddedChannel {
 public:
  using NamedHandler = std::pair<std::string, std::shared_ptr<Handler>>;

  /// Builds the pipeline from `handlers` (in order), then activates the channel.
  explicit EmbeddedChannel(std::vector<NamedHandler> handlers = {}, ChannelOptions options = {},
                           Side side = Side::Server);
  ~EmbeddedChannel();
  EmbeddedChannel(const EmbeddedChannel&) = delete;
  EmbeddedChannel& operator=(const EmbeddedChannel&) = delete;

  Channel& channel() { return *channel_; }
  std::shared_ptr<Channel> channel_ptr() { return channel_; }
  Pipeline& pipeline() { return channel_->pipeline(); }
  ManualLoop& loop() { return loop_; }
  ConnectionLedger& ledger() { return ledger_; }
  bool is_active() const { return channel_->is_active(); }

  /// Fires read + read-complete with `msg`, then runs pending tasks.
  void write_inbound(std::any msg);
  /// Writes and flushes from the tail, then runs pending tasks.
  void write_outbound(std::any msg, WriteCallback done = {});

  /// Oldest message that reached the end of the pipeline, if it is a T.
  template <class T>
  std::optional<T> read_inbound() {
    return pop<T>(inbound_);
  }
  /// Oldest message that reached the head (would have gone to the socket).
  template <class T>
  std::optional<T> read_outbound() {
    return pop<T>(outbound_);
  }
  std::size_t inbound_count() const { return inbound_.size(); }
  std::size_t outbound_count() const { return outbound_.size(); }
  /// User events that reached the end of the pipeline.
  const std::vector<std::any>& user_events() const { return user_events_; }

  /// Writes complete at once (default) or stay pending until completed.
  void set_auto_complete_writes(bool on) { auto_complete_ = on; }
  /// Completes the oldest `n` stalled writes (all if n == 0).
  void complete_writes(std::size_t n = 0, SocketError result = SocketError::None);
  std::size_t stalled_writes() const { return stalled_.size(); }

  /// Transport events as the socket would deliver them.
  void peer_fin();
  void socket_error(SocketError e);

  void run_pending() { loop_.run_pending(); }
  void advance_time(Duration d) { loop_.advance(d); }

  /// Closes the channel, runs what is pending and reports whether messages
  /// were left unread in either direction.
  bool finish();
  /// Rethrows the first exception that reached the tail unhandled.
  void check_exception() const;

 private:
  template <class T>
  static std::optional<T> pop(std::deque<std::any>& q) {
    if (q.empty()) return std::nullopt;
    T* v = std::any_cast<T>(&q.front());
    if (!v) return std::nullopt;
    T out = std::move(*v);
    q.pop_front();
    return out;
  }

  ManualLoop loop_;
  ConnectionLedger ledger_;
  std::deque<std::any> inbound_;
  std::deque<std::any> outbound_;
  std::vector<std::any> user_events_;
  bool auto_complete_ = true;
  struct Stalled {
    std::size_t bytes;
    WriteCallback done;
  };
  std::deque<Stalled> stalled_;
  std::size_t stalled_bytes_ = 0;
  std::shared_ptr<class EmbeddedSocket> socket_;
  std::shared_ptr<Channel> channel_;
  friend class EmbeddedSocket;
  friend class CaptureHandler;
};

}  // namespace netcore::testing
