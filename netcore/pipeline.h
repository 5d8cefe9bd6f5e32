// Pipeline and Context: the ordered chain of handlers of one channel.
#pragma once

#include <any>
#include <exception>
#include <functional>
#include <list>
#include <memory>
#include <string>
#include <vector>

#include "connfail/netcore/handler.h"

namespace netcore {

class Channel;
class Pipeline;
class FaultInjector;

/// What a handler sees of its position in the pipeline (Netty's
/// ChannelHandlerContext). Valid for the life of the channel.
class Context {
 public:
  Channel& channel() { return *channel_; }
  EventLoop& loop();
  Pipeline& pipeline();
  const std::string& name() const { return name_; }
  Handler& handler() { return *handler_; }
  bool removed() const { return removed_; }

  // Pass an inbound event to the next handler towards the tail.
  void fire_channel_active();
  void fire_channel_read(std::any msg);
  void fire_channel_read_complete();
  void fire_user_event(std::any event);
  void fire_exception_caught(std::exception_ptr error);
  void fire_channel_inactive();

  // Pass an outbound operation to the previous handler towards the head.
  void write(std::any msg, WriteCallback done = {});
  void flush();
  void write_and_flush(std::any msg, WriteCallback done = {});
  void read();
  void close(CloseReason reason = CloseReason::Normal);

 private:
  friend class Pipeline;
  Context(Pipeline* p, Channel* ch, std::string name, std::shared_ptr<Handler> h)
      : pipeline_(p), channel_(ch), name_(std::move(name)), handler_(std::move(h)) {}

  // Each invoke_* calls this context's handler, catching what it throws.
  void invoke_active();
  void invoke_read(std::any msg);
  void invoke_read_complete();
  void invoke_user_event(std::any event);
  void invoke_exception(std::exception_ptr error);
  void invoke_inactive();
  void invoke_write(std::any msg, WriteCallback done);
  void invoke_flush();
  void invoke_read_request();
  void invoke_close(CloseReason reason);
  void handle_throw(std::exception_ptr error);
  template <class F>
  void guarded(F&& f);

  Pipeline* pipeline_;
  Channel* channel_;
  std::string name_;
  std::shared_ptr<Handler> handler_;
  Context* prev_ = nullptr;
  Context* next_ = nullptr;
  bool removed_ = false;
};

/// Named events, for fault injection and diagnostics.
enum class PipelineEvent {
  Active, Read, ReadComplete, UserEvent, Exception, Inactive, Write, Flush, ReadRequest, Close,
};
const char* to_string(PipelineEvent e);

class Pipeline {
 public:
  explicit Pipeline(Channel* channel);
  ~Pipeline();
  Pipeline(const Pipeline&) = delete;
  Pipeline& operator=(const Pipeline&) = delete;

  /// Adds a handler. Names must be unique within the pipeline (throws
  /// std::invalid_argument otherwise).
  Pipeline& add_last(std::string name, std::shared_ptr<Handler> h);
  Pipeline& add_first(std::string name, std::shared_ptr<Handler> h);
  Pipeline& add_before(const std::string& base, std::string name, std::shared_ptr<Handler> h);
  Pipeline& add_after(const std::string& base, std::string name, std::shared_ptr<Handler> h);
  /// Removes a handler; handler_removed is called. Returns false if absent.
  bool remove(const std::string& name);
  /// Removes a handler and returns it (null if absent), as Netty's
  /// pipeline.remove(name) does: it can be added again elsewhere (a handler
  /// that allows being added twice).
  std::shared_ptr<Handler> take(const std::string& name);
  Handler* get(const std::string& name) const;
  template <class T>
  T* get_as(const std::string& name) const {
    return dynamic_cast<T*>(get(name));
  }
  Context* context(const std::string& name) const;
  std::vector<std::string> names() const;

  // Entry points used by the channel: inbound from the head, outbound from the tail.
  void fire_channel_active();
  void fire_channel_read(std::any msg);
  void fire_channel_read_complete();
  void fire_user_event(std::any event);
  void fire_exception_caught(std::exception_ptr error);
  void fire_channel_inactive();
  void write(std::any msg, WriteCallback done = {});
  void flush();
  void read();
  void close(CloseReason reason);

  /// Calls handler_removed on every handler (channel teardown).
  void remove_all();

  void set_fault_injector(FaultInjector* fi) { faults_ = fi; }
  FaultInjector* fault_injector() const { return faults_; }

 private:
  friend class Context;
  Context* insert(Context* after, std::string name, std::shared_ptr<Handler> h);
  Context* find(const std::string& name) const;

  Channel* channel_;
  std::list<std::unique_ptr<Context>> contexts_;  // owns every context, removed ones too
  Context* head_;
  Context* tail_;
  FaultInjector* faults_ = nullptr;
};

}  // namespace netcore
