// The transport seam on Boost.Asio: real TCP sockets, one io_context per loop
// thread (one loop for now). The inventory is read from the OS: the process's
// socket fds joined with the kernel's TCP table (/proc/net/tcp and tcp6), so
// CLOSE_WAIT and orphaned sockets are seen by the kernel's own account.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <bitset>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "connfail/netcore/transport.h"

namespace netcore::asio {

class AsioLoop final : public EventLoop {
 public:
  AsioLoop();
  ~AsioLoop() override;
  TimePoint now() const override;
  TimerId schedule(Duration delay, std::function<void()> fn) override;
  bool cancel(TimerId id) override;
  void post(std::function<void()> fn) override;
  std::size_t pending_timers() const override { return queue_.size(); }
  /// `limit` is wall-clock time here.
  bool run_until(const std::function<bool()>& done, Duration limit) override;

  boost::asio::io_context& io() { return io_; }
  /// now() counts from here again. For a run whose start took wall time
  /// before anything was timed (a server process getting ready); pending
  /// timers keep their deadlines.
  void restart_clock() { epoch_ = std::chrono::steady_clock::now(); }

 private:
  using Clock = std::chrono::steady_clock;
  void arm();
  void run_due(std::uint64_t generation);

  boost::asio::io_context io_;
  Clock::time_point epoch_;
  TimerId next_id_ = 1;
  // Every timer of the loop in one queue, ordered by (deadline, id), behind
  // one Asio timer set to the earliest deadline (as Netty's event loop keeps
  // one scheduled-task queue): a timer costs a queue node and an index
  // entry, not an Asio timer and its wait operation (0.36 KiB less per idle
  // server connection with a heartbeat pipeline; bench/asio_idle_bench).
  std::map<std::pair<Clock::time_point, TimerId>, std::function<void()>> queue_;
  std::unordered_map<TimerId, Clock::time_point> deadline_of_;
  boost::asio::steady_timer wakeup_{io_};
  std::optional<Clock::time_point> armed_for_;  // what wakeup_ waits for
  std::uint64_t generation_ = 0;                // of wakeup_'s current wait
};

class AsioSocket;
class AsioListener;

/// A set of (local port, remote port) pairs, one bit each: a bitmap of the
/// 65536 local ports per remote port seen (8 KiB each). The transport keeps
/// the pairs of its connections in one, for as long as the kernel shows a
/// row for them (TIME_WAIT included): up to the kernel's cap on TIME_WAIT
/// sockets (net.ipv4.tcp_max_tw_buckets), which a std::set would hold at
/// 48 bytes a pair.
class PortPairSet {
 public:
  /// False when the pair was already there.
  bool insert(std::uint16_t local, std::uint16_t remote);
  bool contains(std::uint16_t local, std::uint16_t remote) const;
  std::size_t size() const { return size_; }
  void swap(PortPairSet& o) noexcept {
    by_remote_.swap(o.by_remote_);
    std::swap(size_, o.size_);
  }

 private:
  std::map<std::uint16_t, std::unique_ptr<std::bitset<65536>>> by_remote_;
  std::size_t size_ = 0;
};

class AsioTransport final : public Transport {
 public:
  AsioTransport();
  ~AsioTransport() override;
  EventLoop& loop() override { return loop_; }
  AsioLoop& asio_loop() { return loop_; }
  std::string name() const override { return "asio"; }
  std::shared_ptr<Listener> listen(const ListenOptions& opts, Listener::AcceptFn on_accept) override;
  void connect(const Address& to, Duration timeout, ConnectFn done) override;
  void connect_from(const std::string& source_host, const Address& to, Duration timeout, ConnectFn done,
                    std::shared_ptr<ConnectCanceller> cancel = nullptr) override;
  std::vector<SocketInfo> inventory() const override;

  /// accept() failures (EMFILE, ENFILE, ...): each one backs off 100 ms.
  std::uint64_t accept_errors() const { return accept_errors_; }
  void count_accept_error() { ++accept_errors_; }

  // Internal: sockets and listeners register here for the inventory.
  std::uint64_t next_socket_id() { return next_id_++; }
  void track(const std::shared_ptr<AsioSocket>& s);
  void track_listener(const std::shared_ptr<AsioListener>& l, std::uint16_t port);
  void note_client_pair(std::uint16_t local, std::uint16_t remote);

  /// Bookkeeping entries held (sockets, listeners, client port pairs): they
  /// are pruned as they grow, so a long run stays bounded (tests).
  std::size_t tracked_sockets() const { return sockets_.size(); }
  /// The one buffer every socket of this transport reads into (on the loop
  /// thread), then copies what it read out of: 64 KiB per transport, not per
  /// connection.
  std::vector<std::uint8_t>& read_buffer() { return read_buffer_; }
  std::size_t tracked_client_pairs() const { return client_pairs_.size(); }

 private:
  AsioLoop loop_;
  std::uint64_t next_id_ = 1;
  std::uint64_t accept_errors_ = 0;
  std::map<std::uint64_t, std::weak_ptr<AsioSocket>> sockets_;
  std::vector<std::weak_ptr<AsioListener>> listeners_;
  std::set<std::uint16_t> listener_ports_;  // every port we listened on
  PortPairSet client_pairs_;  // (local, remote) of our connects
  // Pruned when they reach these sizes (then twice what is left): an
  // expired weak_ptr still pins its make_shared block (the socket object),
  // and a pair is kept only while the kernel shows it.
  std::vector<std::uint8_t> read_buffer_ = std::vector<std::uint8_t>(64 * 1024);
  std::size_t prune_sockets_at_ = 1024;
  std::size_t prune_pairs_at_ = 4096;
};

/// One row of the kernel's TCP table.
struct KernelTcpEntry {
  Address local;
  Address remote;
  TcpState state = TcpState::Closed;
  unsigned long inode = 0;
};
/// Which rows of the kernel's table to keep, by local port, remote port and
/// inode (0: no fd, e.g. TIME_WAIT), asked before the row's addresses are
/// turned into strings. Empty: every row.
using RowKeep = std::function<bool(std::uint16_t local_port, std::uint16_t remote_port, unsigned long inode)>;
/// Parses /proc/net/tcp-format text (IPv4 or IPv6).
std::vector<KernelTcpEntry> parse_proc_net_tcp(const std::string& text, bool ipv6, const RowKeep& keep = {});
/// Drops the rows a read of the table repeats. Neither source is one atomic
/// snapshot: the /proc file comes a page (about 27 rows) per read(), a
/// sock_diag dump in batches, and each resumes by bucket and offset, so a
/// socket created or closed elsewhere in between makes rows near the
/// boundary come out twice. A row is one socket by (local, remote, inode);
/// the later copy, read later, wins.
std::vector<KernelTcpEntry> dedupe_kernel_rows(const std::vector<KernelTcpEntry>& rows);
/// Reads /proc/net/tcp and /proc/net/tcp6, without repeated rows.
std::vector<KernelTcpEntry> read_proc_tcp_table(const RowKeep& keep = {});
/// The same table from the kernel's sock_diag netlink interface (what ss(8)
/// uses): binary, about 300 rows per batch, no text; without repeated rows.
/// nullopt when the kernel does not answer (no sock_diag here).
std::optional<std::vector<KernelTcpEntry>> read_diag_tcp_table(const RowKeep& keep = {});
/// Where read_kernel_tcp_table (and so every inventory) reads from. Auto:
/// sock_diag when the kernel offers it, else the /proc files. Process-wide;
/// tests pin one source to cover both.
enum class KernelTableSource { Auto, SockDiag, ProcFiles };
void set_kernel_table_source(KernelTableSource s);
/// The table from the source set above, without repeated rows.
std::vector<KernelTcpEntry> read_kernel_tcp_table(const RowKeep& keep = {});
/// Socket inodes of this process's open fds (fd -> inode).
std::map<int, unsigned long> process_socket_inodes();
/// Number of open fds of this process.
std::size_t process_fd_count();

}  // namespace netcore::asio
