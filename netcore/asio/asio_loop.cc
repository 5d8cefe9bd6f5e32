#include "connfail/netcore/asio/asio_loop.h"

#include <boost/asio/post.hpp>
#include <algorithm>
#include <future>

namespace netcore::asio {

namespace ba = boost::asio;
using boost::system::error_code;

namespace {
thread_local AsioLoop* current_loop = nullptr;
// The longest run_until() waits for its own loop's work before it looks at
// done() again.
constexpr std::chrono::milliseconds kMaxWait{10};

// Sets the thread's current loop for a scope (run_until nests in tests).
class CurrentLoop {
 public:
  explicit CurrentLoop(AsioLoop* l) : saved_(current_loop) { current_loop = l; }
  ~CurrentLoop() { current_loop = saved_; }
  CurrentLoop(const CurrentLoop&) = delete;
  CurrentLoop& operator=(const CurrentLoop&) = delete;

 private:
  AsioLoop* saved_;
};
}  // namespace

// Asio creates its reactor (epoll fd, eventfd, timerfd) lazily, with the
// first timer or socket; wakeup_ (constructed with the loop) creates them
// now, so that the process's fd count taken after constructing a loop does
// not grow by those three later and the fd-delta leak check counts only
// sockets.
AsioLoop::AsioLoop()
    : epoch_(std::make_shared<std::atomic<Clock::rep>>(Clock::now().time_since_epoch().count())),
      owner_(std::this_thread::get_id()) {}

AsioLoop::AsioLoop(AsioLoop& clock_of) : epoch_(clock_of.epoch_), owner_(std::this_thread::get_id()) {}

AsioLoop::~AsioLoop() { stop_thread(); }

AsioLoop* AsioLoop::current() { return current_loop; }

bool AsioLoop::in_loop() const { return std::this_thread::get_id() == owner_.load(std::memory_order_acquire); }

TimePoint AsioLoop::now() const {
  const Clock::time_point epoch{Clock::duration(epoch_->load(std::memory_order_acquire))};
  return std::chrono::duration_cast<Duration>(Clock::now() - epoch);
}

TimerId AsioLoop::schedule(Duration delay, std::function<void()> fn) {
  const Clock::time_point at = Clock::now() + (delay < Duration::zero() ? Duration::zero() : delay);
  TimerId id;
  {
    std::lock_guard<std::mutex> lock(mu_);
    id = next_id_++;
    queue_.emplace(std::make_pair(at, id), std::move(fn));
    deadline_of_.emplace(id, at);
    pending_.fetch_add(1, std::memory_order_acq_rel);
  }
  if (in_loop()) {
    if (!armed_for_ || at < *armed_for_) arm();
  } else {
    // wakeup_ is the loop thread's: it re-arms itself there.
    ba::post(io_, [this, at] {
      if (!armed_for_ || at < *armed_for_) arm();
    });
  }
  return id;
}

bool AsioLoop::cancel(TimerId id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = deadline_of_.find(id);
  if (it == deadline_of_.end()) return false;
  queue_.erase({it->second, id});
  deadline_of_.erase(it);
  pending_.fetch_sub(1, std::memory_order_acq_rel);
  // wakeup_ stays set: if it was for this timer, it finds nothing due and
  // sets itself for the next one.
  return true;
}

void AsioLoop::arm() {
  std::optional<Clock::time_point> first;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!queue_.empty()) first = queue_.begin()->first.first;
  }
  if (!first) {
    armed_for_.reset();
    return;
  }
  armed_for_ = *first;
  const std::uint64_t gen = ++generation_;
  // Cancels the wait before (its handler runs aborted; one already queued
  // as expired runs, and is ignored by its generation).
  wakeup_.expires_at(*first);
  wakeup_.async_wait([this, gen](const error_code& ec) {
    if (ec) return;
    run_due(gen);
  });
}

void AsioLoop::run_due(std::uint64_t generation) {
  if (generation != generation_) return;
  armed_for_.reset();
  // The timers due now, in (deadline, id) order; one that a callback
  // schedules for now runs with the next wake-up, after the I/O ready by
  // then (a zero delay cannot starve the sockets).
  const Clock::time_point now = Clock::now();
  TimerId last;
  {
    std::lock_guard<std::mutex> lock(mu_);
    last = next_id_;
  }
  for (;;) {
    std::function<void()> fn;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (queue_.empty()) break;
      auto it = queue_.begin();
      if (it->first.first > now || it->first.second >= last) break;
      fn = std::move(it->second);
      deadline_of_.erase(it->first.second);
      queue_.erase(it);
      pending_.fetch_sub(1, std::memory_order_acq_rel);
    }
    fn();
  }
  if (!armed_for_) arm();
}

void AsioLoop::post(std::function<void()> fn) { ba::post(io_, std::move(fn)); }

bool AsioLoop::run_until(const std::function<bool()>& done, Duration limit) {
  CurrentLoop scope(this);
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) break;
    if (io_.stopped()) io_.restart();
    // With other loops at work, each wait is capped: done() may turn true
    // through their work (an EventLoopGroup's workers closing their
    // channels), which wakes nothing here.
    const auto wait_until =
        others_matter_ ? std::min<std::chrono::steady_clock::time_point>(deadline, now + kMaxWait) : deadline;
    if (io_.run_one_until(wait_until) > 0) {
      // Run what else is ready before looking at done() again: done() may
      // read the kernel's table (milliseconds), and a close that takes a
      // dozen handlers must not take a dozen table reads. Bounded, so a
      // handler that keeps posting work cannot starve the check.
      for (int more = 0; more < 64 && io_.poll_one() > 0; ++more) {
      }
    } else if (!io_.stopped()) {
      // The capped wait ran out with work still pending: look at done().
    } else {
      // Nothing ran: the loop has no work (or the deadline passed). done()
      // can still change without any work of ours: it may read the kernel's
      // view (the inventory: a FIN handshake finishing, a socket reaching
      // TIME_WAIT), another loop's work, or wall time. Look again shortly,
      // up to the deadline; run_for() must last its whole duration even
      // with nothing to do.
      const auto nap = std::min<std::chrono::steady_clock::duration>(deadline - std::chrono::steady_clock::now(),
                                                                      std::chrono::milliseconds(1));
      if (nap > std::chrono::steady_clock::duration::zero()) std::this_thread::sleep_for(nap);
    }
  }
  return done();
}

void AsioLoop::start_thread() {
  if (thread_.joinable()) return;
  work_.emplace(ba::make_work_guard(io_));
  if (io_.stopped()) io_.restart();
  std::promise<void> owned;
  std::future<void> ready = owned.get_future();
  thread_ = std::thread([this, &owned] {
    owner_.store(std::this_thread::get_id(), std::memory_order_release);
    owned.set_value();
    CurrentLoop scope(this);
    io_.run();
  });
  // From here on in_loop() is true on the new thread only.
  ready.wait();
}

void AsioLoop::stop_thread() {
  if (!thread_.joinable()) return;
  work_.reset();
  io_.stop();
  thread_.join();
  owner_.store(std::this_thread::get_id(), std::memory_order_release);
}

void AsioLoop::shutdown() {
  stop_thread();
  io_.shutdown();
  // And the timers, with whatever their callbacks hold (destroyed here,
  // outside the lock).
  std::map<std::pair<Clock::time_point, TimerId>, std::function<void()>> dead;
  {
    std::lock_guard<std::mutex> lock(mu_);
    dead.swap(queue_);
    deadline_of_.clear();
    pending_.store(0, std::memory_order_release);
  }
}

std::size_t AsioLoop::poll() {
  if (thread_.joinable()) return 0;
  CurrentLoop scope(this);
  if (io_.stopped()) io_.restart();
  return io_.poll();
}

}  // namespace netcore::asio
