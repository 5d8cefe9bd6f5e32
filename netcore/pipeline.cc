#include "connfail/netcore/pipeline.h"

#include <stdexcept>

#include "connfail/netcore/channel.h"
#include "connfail/netcore/fault_injector.h"

namespace netcore {

const char* to_string(PipelineEvent e) {
  switch (e) {
    case PipelineEvent::Active: return "active";
    case PipelineEvent::Read: return "read";
    case PipelineEvent::ReadComplete: return "read-complete";
    case PipelineEvent::UserEvent: return "user-event";
    case PipelineEvent::Exception: return "exception";
    case PipelineEvent::Inactive: return "inactive";
    case PipelineEvent::Write: return "write";
    case PipelineEvent::Flush: return "flush";
    case PipelineEvent::ReadRequest: return "read-request";
    case PipelineEvent::Close: return "close";
  }
  return "?";
}

// The head turns outbound operations into socket operations.
class HeadHandler final : public Handler {
 public:
  explicit HeadHandler(Channel* ch) : ch_(ch) {}
  void write(Context&, std::any msg, WriteCallback done) override {
    ch_->head_write(std::move(msg), std::move(done));
  }
  void flush(Context&) override { ch_->head_flush(); }
  void read(Context&) override { ch_->head_read(); }
  void close(Context&, CloseReason reason) override { ch_->head_close(reason); }

 private:
  Channel* ch_;
};

// The tail ends inbound events: messages nobody consumed are dropped, an
// exception nobody handled is recorded and closes the channel.
class TailHandler final : public Handler {
 public:
  explicit TailHandler(Channel* ch) : ch_(ch) {}
  void channel_active(Context&) override {}
  void channel_read(Context&, std::any) override {}
  void channel_read_complete(Context&) override {}
  void user_event(Context&, std::any) override {}
  void exception_caught(Context&, std::exception_ptr error) override {
    ch_->tail_exception(std::move(error));
  }
  void channel_inactive(Context&) override {}

 private:
  Channel* ch_;
};

EventLoop& Context::loop() { return channel_->loop(); }
Pipeline& Context::pipeline() { return *pipeline_; }

template <class F>
void Context::guarded(F&& f) {
  try {
    f();
  } catch (...) {
    handle_throw(std::current_exception());
  }
}

// An exception thrown by a handler goes to that handler's own
// exception_caught (as in Netty), whose default passes it towards the tail.
void Context::handle_throw(std::exception_ptr error) {
  try {
    handler_->exception_caught(*this, error);
  } catch (...) {
    // exception_caught itself threw: nothing downstream can be trusted with
    // it any more; record both and close.
    channel_->tail_exception(std::current_exception());
  }
}

#define NETCORE_FAULT(ev)                                                   \
  do {                                                                      \
    if (FaultInjector* fi = pipeline_->faults_; fi && handler_) {           \
      if (this != pipeline_->head_ && this != pipeline_->tail_)            \
        fi->before_handler(name_, ev);                                     \
    }                                                                       \
  } while (0)

void Context::invoke_active() {
  guarded([&] {
    NETCORE_FAULT(PipelineEvent::Active);
    handler_->channel_active(*this);
  });
}
void Context::invoke_read(std::any msg) {
  guarded([&] {
    NETCORE_FAULT(PipelineEvent::Read);
    handler_->channel_read(*this, std::move(msg));
  });
}
void Context::invoke_read_complete() {
  guarded([&] {
    NETCORE_FAULT(PipelineEvent::ReadComplete);
    handler_->channel_read_complete(*this);
  });
}
void Context::invoke_user_event(std::any event) {
  guarded([&] {
    NETCORE_FAULT(PipelineEvent::UserEvent);
    handler_->user_event(*this, std::move(event));
  });
}
void Context::invoke_exception(std::exception_ptr error) {
  try {
    NETCORE_FAULT(PipelineEvent::Exception);
    handler_->exception_caught(*this, error);
  } catch (...) {
    channel_->tail_exception(error);
    channel_->tail_exception(std::current_exception());
  }
}
void Context::invoke_inactive() {
  guarded([&] {
    NETCORE_FAULT(PipelineEvent::Inactive);
    handler_->channel_inactive(*this);
  });
}
void Context::invoke_write(std::any msg, WriteCallback done) {
  // The callback runs once: from the write's completion, or here with a
  // failure if the handler throws before handing the write on.
  auto once = std::make_shared<WriteCallback>(std::move(done));
  try {
    NETCORE_FAULT(PipelineEvent::Write);
    handler_->write(*this, std::move(msg), [once](SocketError e) {
      WriteCallback cb = std::move(*once);
      *once = nullptr;
      if (cb) cb(e);
    });
  } catch (...) {
    if (*once) {
      WriteCallback cb = std::move(*once);
      *once = nullptr;
      channel_->loop().post([cb] { cb(SocketError::Other); });
    }
    handle_throw(std::current_exception());
  }
}
void Context::invoke_flush() {
  guarded([&] {
    NETCORE_FAULT(PipelineEvent::Flush);
    handler_->flush(*this);
  });
}
void Context::invoke_read_request() {
  guarded([&] {
    NETCORE_FAULT(PipelineEvent::ReadRequest);
    handler_->read(*this);
  });
}
void Context::invoke_close(CloseReason reason) {
  try {
    NETCORE_FAULT(PipelineEvent::Close);
    handler_->close(*this, reason);
  } catch (...) {
    // A close must happen whatever a handler does: record the throw and close
    // at the head directly (going through the pipeline again could meet the
    // same throwing handler forever).
    channel_->record_unhandled(std::current_exception());
    channel_->head_close(reason);
  }
}
#undef NETCORE_FAULT

void Context::fire_channel_active() {
  if (next_) next_->invoke_active();
}
void Context::fire_channel_read(std::any msg) {
  if (next_) next_->invoke_read(std::move(msg));
}
void Context::fire_channel_read_complete() {
  if (next_) next_->invoke_read_complete();
}
void Context::fire_user_event(std::any event) {
  if (next_) next_->invoke_user_event(std::move(event));
}
void Context::fire_exception_caught(std::exception_ptr error) {
  if (next_) next_->invoke_exception(std::move(error));
}
void Context::fire_channel_inactive() {
  if (next_) next_->invoke_inactive();
}
void Context::write(std::any msg, WriteCallback done) {
  if (prev_) {
    prev_->invoke_write(std::move(msg), std::move(done));
  } else if (done) {
    channel_->loop().post([done] { done(SocketError::Other); });
  }
}
void Context::flush() {
  if (prev_) prev_->invoke_flush();
}
void Context::write_and_flush(std::any msg, WriteCallback done) {
  write(std::move(msg), std::move(done));
  flush();
}
void Context::read() {
  if (prev_) prev_->invoke_read_request();
}
void Context::close(CloseReason reason) {
  if (prev_) prev_->invoke_close(reason);
}

Pipeline::Pipeline(Channel* channel) : channel_(channel) {
  contexts_.push_back(std::unique_ptr<Context>(
      new Context(this, channel, "head", std::make_shared<HeadHandler>(channel))));
  head_ = contexts_.back().get();
  contexts_.push_back(std::unique_ptr<Context>(
      new Context(this, channel, "tail", std::make_shared<TailHandler>(channel))));
  tail_ = contexts_.back().get();
  head_->next_ = tail_;
  tail_->prev_ = head_;
}

Pipeline::~Pipeline() = default;

Context* Pipeline::find(const std::string& name) const {
  for (Context* c = head_->next_; c && c != tail_; c = c->next_)
    if (c->name_ == name) return c;
  return nullptr;
}

Context* Pipeline::insert(Context* after, std::string name, std::shared_ptr<Handler> h) {
  if (!h) throw std::invalid_argument("pipeline: null handler '" + name + "'");
  if (name == "head" || name == "tail" || find(name))
    throw std::invalid_argument("pipeline: duplicate handler name '" + name + "'");
  contexts_.push_back(std::unique_ptr<Context>(new Context(this, channel_, std::move(name), std::move(h))));
  Context* c = contexts_.back().get();
  c->prev_ = after;
  c->next_ = after->next_;
  after->next_->prev_ = c;
  after->next_ = c;
  try {
    c->handler_->handler_added(*c);
  } catch (...) {
    c->handle_throw(std::current_exception());
  }
  return c;
}

Pipeline& Pipeline::add_last(std::string name, std::shared_ptr<Handler> h) {
  insert(tail_->prev_, std::move(name), std::move(h));
  return *this;
}
Pipeline& Pipeline::add_first(std::string name, std::shared_ptr<Handler> h) {
  insert(head_, std::move(name), std::move(h));
  return *this;
}
Pipeline& Pipeline::add_before(const std::string& base, std::string name, std::shared_ptr<Handler> h) {
  Context* b = find(base);
  if (!b) throw std::invalid_argument("pipeline: no handler named '" + base + "'");
  insert(b->prev_, std::move(name), std::move(h));
  return *this;
}
Pipeline& Pipeline::add_after(const std::string& base, std::string name, std::shared_ptr<Handler> h) {
  Context* b = find(base);
  if (!b) throw std::invalid_argument("pipeline: no handler named '" + base + "'");
  insert(b, std::move(name), std::move(h));
  return *this;
}

bool Pipeline::remove(const std::string& name) {
  Context* c = find(name);
  if (!c) return false;
  // Unlink; the context keeps its own links so an event in flight through it
  // still reaches the rest of the pipeline.
  c->prev_->next_ = c->next_;
  c->next_->prev_ = c->prev_;
  c->removed_ = true;
  try {
    c->handler_->handler_removed(*c);
  } catch (...) {
    channel_->tail_exception(std::current_exception());
  }
  return true;
}

std::shared_ptr<Handler> Pipeline::take(const std::string& name) {
  Context* c = find(name);
  if (!c) return nullptr;
  std::shared_ptr<Handler> h = c->handler_;
  remove(name);
  return h;
}

void Pipeline::remove_all() {
  while (head_->next_ != tail_) remove(head_->next_->name_);
}

Handler* Pipeline::get(const std::string& name) const {
  Context* c = find(name);
  return c ? c->handler_.get() : nullptr;
}
Context* Pipeline::context(const std::string& name) const { return find(name); }

std::vector<std::string> Pipeline::names() const {
  std::vector<std::string> out;
  for (Context* c = head_->next_; c && c != tail_; c = c->next_) out.push_back(c->name_);
  return out;
}

void Pipeline::fire_channel_active() { head_->invoke_active(); }
void Pipeline::fire_channel_read(std::any msg) { head_->invoke_read(std::move(msg)); }
void Pipeline::fire_channel_read_complete() { head_->invoke_read_complete(); }
void Pipeline::fire_user_event(std::any event) { head_->invoke_user_event(std::move(event)); }
void Pipeline::fire_exception_caught(std::exception_ptr error) { head_->invoke_exception(std::move(error)); }
void Pipeline::fire_channel_inactive() { head_->invoke_inactive(); }
void Pipeline::write(std::any msg, WriteCallback done) { tail_->invoke_write(std::move(msg), std::move(done)); }
void Pipeline::flush() { tail_->invoke_flush(); }
void Pipeline::read() { tail_->invoke_read_request(); }
void Pipeline::close(CloseReason reason) { tail_->invoke_close(reason); }

}  // namespace netcore
