// Handler: a stage of a channel's pipeline, with Netty 4 event semantics.
//
// Inbound events travel head -> tail: active, read, read-complete, user
// event, exception, inactive. Outbound operations travel tail -> head:
// write, flush, read (request more input when auto-read is off), close.
// Every default implementation forwards to the next stage, so a handler
// overrides only what it cares about.
#pragma once

#include <any>
#include <exception>

#include "connfail/netcore/connection_ledger.h"
#include "connfail/netcore/transport.h"

namespace netcore {

class Context;

class Handler {
 public:
  virtual ~Handler() = default;

  /// Called once when the handler joins a pipeline / leaves it (after the
  /// channel's inactive event, or on remove()).
  virtual void handler_added(Context&) {}
  virtual void handler_removed(Context&) {}

  // Inbound.
  virtual void channel_active(Context& ctx);
  virtual void channel_read(Context& ctx, std::any msg);
  virtual void channel_read_complete(Context& ctx);
  virtual void user_event(Context& ctx, std::any event);
  virtual void exception_caught(Context& ctx, std::exception_ptr error);
  virtual void channel_inactive(Context& ctx);

  // Outbound.
  virtual void write(Context& ctx, std::any msg, WriteCallback done);
  virtual void flush(Context& ctx);
  virtual void read(Context& ctx);
  virtual void close(Context& ctx, CloseReason reason);
};

/// User event fired when the peer's FIN arrives on a channel that allows
/// half-closure (ChannelOptions::allow_half_closure), like Netty's
/// ChannelInputShutdownEvent.
struct InputShutdownEvent {};

}  // namespace netcore
