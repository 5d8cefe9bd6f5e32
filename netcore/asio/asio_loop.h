// AsioLoop: one event loop on Boost.Asio, one io_context. The transport's
// own loop (the boss) is driven by whoever calls run_until(), on the thread
// that created it; a worker loop of an EventLoopGroup runs on a thread of
// its own (start_thread), as a Netty NioEventLoop does.
#pragma once

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "connfail/netcore/transport.h"

namespace netcore::asio {

class AsioLoop final : public EventLoop {
 public:
  AsioLoop();
  /// A loop whose now() is `clock_of`'s (the worker loops of a group share
  /// the boss loop's clock, restart_clock() included).
  explicit AsioLoop(AsioLoop& clock_of);
  /// Stops and joins the loop's thread, if it has one.
  ~AsioLoop() override;
  AsioLoop(const AsioLoop&) = delete;
  AsioLoop& operator=(const AsioLoop&) = delete;

  TimePoint now() const override;
  /// Any thread; from another thread the wake-up is re-armed on the loop.
  TimerId schedule(Duration delay, std::function<void()> fn) override;
  /// Any thread.
  bool cancel(TimerId id) override;
  void post(std::function<void()> fn) override;
  std::size_t pending_timers() const override { return pending_.load(std::memory_order_acquire); }
  bool in_loop() const override;
  /// `limit` is wall-clock time here. The thread that owns the loop only.
  bool run_until(const std::function<bool()>& done, Duration limit) override;

  /// Runs the loop on a thread of its own from now on (a worker loop); the
  /// loop belongs to that thread until stop_thread().
  void start_thread();
  /// Stops the loop's thread and joins it; the calling thread owns the
  /// loop from then on (handlers still queued run only if it drives it).
  /// Idempotent.
  void stop_thread();
  bool has_thread() const { return thread_.joinable(); }
  /// Without a thread of its own (stopped, or never started): runs what is
  /// ready now on the calling thread, which owns the loop. Returns how many
  /// handlers ran (0 with a thread).
  std::size_t poll();
  /// Stops the thread, then destroys every handler still queued or waiting
  /// (without running it), as destroying the io_context would. Sockets and
  /// timers hold their loop (shared_ptr) and the loop's io_context holds
  /// their pending handlers: this breaks that cycle when their transport
  /// goes. Nothing runs on the loop afterwards. Idempotent.
  void shutdown();

  /// Loops on other threads can change what run_until() waits for (an
  /// EventLoopGroup's workers closing channels): it then looks at its
  /// condition at least every 10 ms, not only when its own loop has work.
  /// Off by default (an idle loop then wakes for nothing).
  void set_other_threads_matter(bool on) { others_matter_ = on; }

  /// The AsioLoop this thread runs (its worker thread, or inside
  /// run_until()), or nullptr.
  static AsioLoop* current();

  boost::asio::io_context& io() { return io_; }
  /// now() counts from here again. For a run whose start took wall time
  /// before anything was timed (a server process getting ready); pending
  /// timers keep their deadlines. Before any worker thread runs.
  void restart_clock() { epoch_->store(Clock::now().time_since_epoch().count(), std::memory_order_release); }
  /// The one buffer every socket of this loop reads into (on the loop's
  /// thread), then copies what it read out of: 64 KiB per loop, not per
  /// connection.
  std::vector<std::uint8_t>& read_buffer() { return read_buffer_; }

 private:
  using Clock = std::chrono::steady_clock;
  void arm();  // loop thread
  void run_due(std::uint64_t generation);

  // io_context::shutdown() is protected in execution_context.
  class Io : public boost::asio::io_context {
   public:
    using boost::asio::execution_context::shutdown;
  };
  Io io_;
  // Steady-clock ticks at loop time 0, shared by the loops of one group.
  std::shared_ptr<std::atomic<Clock::rep>> epoch_;
  // Every timer of the loop in one queue, ordered by (deadline, id), behind
  // one Asio timer set to the earliest deadline (as Netty's event loop keeps
  // one scheduled-task queue): a timer costs a queue node and an index
  // entry, not an Asio timer and its wait operation (0.36 KiB less per idle
  // server connection with a heartbeat pipeline; bench/asio_idle_bench).
  // Locked: another loop may schedule or cancel (uncontended otherwise).
  mutable std::mutex mu_;
  TimerId next_id_ = 1;
  std::map<std::pair<Clock::time_point, TimerId>, std::function<void()>> queue_;
  std::unordered_map<TimerId, Clock::time_point> deadline_of_;
  std::atomic<std::size_t> pending_{0};
  // The loop thread's alone.
  boost::asio::steady_timer wakeup_{io_};
  std::optional<Clock::time_point> armed_for_;  // what wakeup_ waits for
  std::uint64_t generation_ = 0;                // of wakeup_'s current wait
  std::vector<std::uint8_t> read_buffer_ = std::vector<std::uint8_t>(64 * 1024);

  bool others_matter_ = false;
  std::atomic<std::thread::id> owner_;
  std::thread thread_;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_;
};

}  // namespace netcore::asio
