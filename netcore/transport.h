// The transport seam: the only interface netcore uses to reach a network.
//
// Two implementations exist: netcore/asio/ (real sockets on Boost.Asio) and
// sim/ (simulated TCP on ns-3). Everything above this header is written once.
//
// Contract shared by every implementation:
//  * A socket, a listener and a channel belong to one loop: every call on
//    them is made on that loop's thread and every callback is delivered
//    from it; nothing blocks. The sim has one loop. The Asio transport can
//    run worker loops, each on its own thread (Netty's EventLoopGroup):
//    EventLoop::post() and in_loop() may be called from any thread, and
//    Channel's outbound operations called from another thread are posted
//    to the channel's loop (Netty does the same).
//  * A callback is never invoked re-entrantly from inside the call that caused
//    it (e.g. write() never completes synchronously); it is queued to the loop.
//  * After close() or abort() a Socket delivers no further events to its
//    handler. The object itself stays valid while anyone holds the shared_ptr.
//  * Time is the loop's time (simulated on ns-3, steady clock on Asio):
//    code above the seam never reads a wall clock.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace netcore {

using Duration = std::chrono::nanoseconds;
/// Loop time: a duration since the loop's epoch (its creation).
using TimePoint = std::chrono::nanoseconds;
using Bytes = std::vector<std::uint8_t>;

using namespace std::chrono_literals;

/// Identifies a scheduled timer. 0 is never a valid id.
using TimerId = std::uint64_t;

class EventLoop {
 public:
  virtual ~EventLoop() = default;
  virtual TimePoint now() const = 0;
  /// Runs `fn` on the loop after `delay` (>= 0). Timers with equal deadlines
  /// run in scheduling order.
  virtual TimerId schedule(Duration delay, std::function<void()> fn) = 0;
  /// Cancels a pending timer. Returns false if it already ran or was cancelled.
  virtual bool cancel(TimerId id) = 0;
  /// Runs `fn` on the loop as soon as possible, after the current callback.
  virtual void post(std::function<void()> fn) = 0;
  /// Timers scheduled and neither run nor cancelled (leak checks read this;
  /// any thread).
  virtual std::size_t pending_timers() const = 0;
  /// True on the thread that runs this loop (any thread may ask). A loop
  /// driven by run_until() belongs to the thread that created it.
  virtual bool in_loop() const { return true; }
  /// Runs `fn` now when called on the loop's thread, else posts it
  /// (Netty's EventLoop.execute, as Channel uses it for calls from outside).
  void execute(std::function<void()> fn) {
    if (in_loop()) fn();
    else post(std::move(fn));
  }

  /// Harness only (tests, runner), never handlers: drives the loop until
  /// `done()` is true or `limit` of loop time passed. Returns done().
  virtual bool run_until(const std::function<bool()>& done, Duration limit) = 0;
  /// Harness only: drives the loop for `d` of loop time.
  void run_for(Duration d) {
    run_until([] { return false; }, d);
  }
};

/// TCP states as both Linux and ns-3 name them.
enum class TcpState {
  Closed,
  Listen,
  SynSent,
  SynRcvd,
  Established,
  CloseWait,
  LastAck,
  FinWait1,
  FinWait2,
  Closing,
  TimeWait,
};
const char* to_string(TcpState s);
/// States in which the socket is on its way out by itself (no owner needed).
bool is_closing_state(TcpState s);

struct Address {
  std::string host;
  std::uint16_t port = 0;
  std::string to_string() const;
  bool operator==(const Address& o) const { return host == o.host && port == o.port; }
};

/// True if `a` and `b` name the same endpoint: the same port, and the same
/// host where an IPv4 address and its IPv4-mapped IPv6 form (::ffff:a.b.c.d,
/// as a dual-stack socket reports an IPv4 peer) are one. An empty host is
/// unknown and matches any. Ports alone are not enough: two source addresses
/// can be given the same ephemeral port.
bool same_endpoint(const Address& a, const Address& b);

enum class SocketError {
  None,
  Reset,      // the peer (or a middlebox) sent RST
  Refused,    // connect: RST in answer to SYN
  TimedOut,   // connect: no answer within the timeout; or the stack gave up
  Unreachable,
  Other,
  Cancelled,  // connect: ended by its ConnectCanceller before it completed
  KeepaliveTimedOut,  // SO_KEEPALIVE: the probes went unanswered (Linux: ETIMEDOUT)
  UserTimedOut,       // TCP_USER_TIMEOUT: data stayed unacknowledged too long (ETIMEDOUT)
};
const char* to_string(SocketError e);

/// Receives a socket's events. Implemented by netcore's Channel.
class SocketHandler {
 public:
  virtual ~SocketHandler() = default;
  /// Bytes arrived (only while reading is enabled).
  virtual void on_data(Bytes data) = 0;
  /// The peer sent FIN and every byte before it was delivered (end of stream).
  virtual void on_peer_fin() = 0;
  /// The connection failed (reset, timeout). No more events follow.
  virtual void on_error(SocketError e) = 0;
};

using WriteCallback = std::function<void(SocketError)>;

/// Per-connection TCP options, as Netty sets them with
/// ChannelOption.SO_KEEPALIVE and EpollChannelOption.TCP_KEEPIDLE,
/// TCP_KEEPINTVL, TCP_KEEPCNT and TCP_USER_TIMEOUT. Asio sets them with
/// setsockopt; the sim's TCP implements them (sim/cf_tcp_socket.h). A
/// connection they end fails with SocketError::KeepaliveTimedOut or
/// UserTimedOut, closing its channel with reason `keepalive` or
/// `user-timeout`.
struct TcpOptions {
  bool keepalive = false;                 // SO_KEEPALIVE
  std::optional<Duration> keep_idle;      // TCP_KEEPIDLE; unset: net.ipv4.tcp_keepalive_time
  std::optional<Duration> keep_interval;  // TCP_KEEPINTVL; unset: net.ipv4.tcp_keepalive_intvl
  std::optional<int> keep_count;          // TCP_KEEPCNT; unset: net.ipv4.tcp_keepalive_probes
  Duration user_timeout{};                // TCP_USER_TIMEOUT; zero: off
  /// Anything to set at all?
  bool any() const { return keepalive || user_timeout.count() > 0; }
};
/// Why Linux's setsockopt would refuse `o` (EINVAL): keepalive idle and
/// interval in whole seconds from 1 to 32767, count 1 to 127, the user
/// timeout in whole milliseconds, not negative. Empty: acceptable.
std::string tcp_options_error(const TcpOptions& o);

/// One TCP connection as the transport sees it.
class Socket {
 public:
  virtual ~Socket() = default;
  virtual std::uint64_t id() const = 0;
  virtual void set_handler(SocketHandler* h) = 0;
  /// Back-pressure: while reading is off no on_data/on_peer_fin is delivered
  /// and the kernel's (or ns-3's) receive window fills up.
  virtual void set_reading(bool on) = 0;
  /// Queues `data`. `done` runs on the loop once all of it has been handed to
  /// the TCP stack (SocketError::None), or the write failed.
  virtual void write(Bytes data, WriteCallback done) = 0;
  /// Bytes accepted by write() and not yet handed to the TCP stack.
  virtual std::size_t pending_outbound() const = 0;
  /// FIN after everything queued has been handed to the stack.
  virtual void shutdown_output() = 0;
  /// Orderly close: drops queued writes (their callbacks report Other),
  /// releases the socket; the stack sends FIN (or RST if unread data remains,
  /// as Linux does).
  virtual void close() = 0;
  /// Abortive close: RST on the wire, like SO_LINGER {1, 0} then close.
  virtual void abort() = 0;
  virtual bool is_open() const = 0;
  virtual Address local_address() const = 0;
  virtual Address remote_address() const = 0;
  /// Sets keepalive and the user timeout (see TcpOptions). Throws
  /// std::system_error when the stack refuses a value.
  virtual void set_tcp_options(const TcpOptions& options) = 0;
};

class Listener {
 public:
  virtual ~Listener() = default;
  /// Runs on the loop the accepted socket belongs to (Transport::loop_of).
  using AcceptFn = std::function<void(std::shared_ptr<Socket>)>;
  virtual Address local_address() const = 0;
  /// Stops taking connections from the accept queue. The stack keeps
  /// completing handshakes into the queue up to the backlog (as Linux does).
  virtual void pause() = 0;
  virtual void resume() = 0;
  virtual bool paused() const = 0;
  virtual void close() = 0;
};

enum class SocketRole { Listener, Accepted, Connected, KernelOnly };
const char* to_string(SocketRole r);

/// One socket the transport (or the kernel on its behalf) still holds.
struct SocketInfo {
  std::uint64_t socket_id = 0;  // 0 for sockets no Socket object owns
  SocketRole role = SocketRole::KernelOnly;
  TcpState state = TcpState::Closed;
  Address local;
  Address remote;
  bool held_by_app = false;  // an open Socket/Listener object owns it
  std::optional<Duration> in_state_for;  // known on sim, not on Asio
  std::string node;  // sim: the node name; Asio: "local"
};

/// Sockets the leak check cares about: everything but listeners and sockets
/// that will go away by themselves (TIME_WAIT).
std::vector<SocketInfo> live_connections(const std::vector<SocketInfo>& inventory);

struct ListenOptions {
  Address address;  // port 0: any free port
  int backlog = 128;
  /// Accepted sockets go to the transport's worker loops, when it has them
  /// (AsioTransportOptions::worker_loops). False: they stay on the
  /// transport's own loop (a harness's listener such as the FaultProxy).
  bool use_worker_loops = true;
};

/// Ends connects still in progress, as closing a Netty channel whose
/// connect is pending does. One canceller may serve many connects: cancel()
/// ends every one still pending, and every later one at once. A cancelled
/// connect's socket is closed at once (the application closing a SYN_SENT
/// socket sends nothing), its timer is cancelled, and its `done` runs on
/// the loop, later, with SocketError::Cancelled. Any thread: a transport
/// runs each attempt's cancel on the attempt's own loop.
class ConnectCanceller {
 public:
  void cancel();
  bool cancelled() const;
  /// Connects registered and not yet finished.
  std::size_t pending() const;
  /// For transports: what cancel() does to one pending attempt. Runs `fn`
  /// at once (and returns 0) if cancel() was already called. remove() the
  /// id once the attempt finished on its own.
  std::uint64_t add(std::function<void()> fn);
  void remove(std::uint64_t id);

 private:
  mutable std::mutex mu_;
  bool cancelled_ = false;
  std::uint64_t next_ = 1;
  std::map<std::uint64_t, std::function<void()>> pending_;
};

class Transport {
 public:
  virtual ~Transport() = default;
  /// The transport's own loop: where listeners accept, where connects made
  /// from outside any loop run, and what the harness drives (the boss loop
  /// of an EventLoopGroup).
  virtual EventLoop& loop() = 0;
  /// The loop `socket` belongs to (an accepted child's worker loop; a
  /// connect's, the loop it was made on). Default: loop().
  virtual EventLoop& loop_of(const Socket& socket) {
    (void)socket;
    return loop();
  }
  /// Timers pending on every loop of the transport (loop() and workers).
  virtual std::size_t pending_timers() { return loop().pending_timers(); }
  /// Name of the implementation ("asio", "sim").
  virtual std::string name() const = 0;
  using ConnectFn = std::function<void(std::shared_ptr<Socket>, SocketError)>;
  /// Throws std::system_error (or std::runtime_error) if the address cannot
  /// be bound (e.g. port in use).
  virtual std::shared_ptr<Listener> listen(const ListenOptions& opts,
                                           Listener::AcceptFn on_accept) = 0;
  /// `done` runs on the loop exactly once: with a socket, or with an error.
  virtual void connect(const Address& to, Duration timeout, ConnectFn done) = 0;
  /// As connect(), with the local end bound to `source_host` (any port)
  /// first, so that packets can be told apart by source address. ""
  /// means connect(); a transport without source addresses (the sim)
  /// ignores it.
  /// `cancel` (optional): see ConnectCanceller. The default implementation
  /// runs connect() and, if cancelled first, reports Cancelled at once and
  /// aborts the socket when the underlying connect completes; the Asio and
  /// sim transports close the connecting socket at once.
  virtual void connect_from(const std::string& source_host, const Address& to, Duration timeout, ConnectFn done,
                            std::shared_ptr<ConnectCanceller> cancel = nullptr);
  /// Every TCP socket this transport holds, listeners included, plus
  /// kernel-held sockets on its ports (TIME_WAIT, orphaned FIN_WAIT).
  virtual std::vector<SocketInfo> inventory() const = 0;
};

}  // namespace netcore
