#include "connfail/netcore/asio/kernel_tcp_table.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/ip/address.hpp>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string_view>
#include <tuple>

namespace netcore::asio {

namespace ba = boost::asio;

namespace {

TcpState linux_state(unsigned st) {
  switch (st) {
    case 0x01: return TcpState::Established;
    case 0x02: return TcpState::SynSent;
    case 0x03: return TcpState::SynRcvd;
    case 0x04: return TcpState::FinWait1;
    case 0x05: return TcpState::FinWait2;
    case 0x06: return TcpState::TimeWait;
    case 0x07: return TcpState::Closed;
    case 0x08: return TcpState::CloseWait;
    case 0x09: return TcpState::LastAck;
    case 0x0A: return TcpState::Listen;
    case 0x0B: return TcpState::Closing;
    default: return TcpState::Closed;
  }
}

// Hex digits to a number; false on anything else or an empty field.
template <typename T>
bool parse_hex(std::string_view s, T& out) {
  if (s.empty() || s.size() > 2 * sizeof(T)) return false;
  T v = 0;
  for (char c : s) {
    unsigned d;
    if (c >= '0' && c <= '9') d = static_cast<unsigned>(c - '0');
    else if (c >= 'A' && c <= 'F') d = static_cast<unsigned>(c - 'A' + 10);
    else if (c >= 'a' && c <= 'f') d = static_cast<unsigned>(c - 'a' + 10);
    else return false;
    v = static_cast<T>((v << 4) | d);
  }
  out = v;
  return true;
}

// An address as the kernel stores it (network byte order, 4 or 16 bytes).
std::string host_of(const void* raw, bool ipv6) {
  if (!ipv6) {
    ba::ip::address_v4::bytes_type b{};
    std::memcpy(b.data(), raw, b.size());
    return ba::ip::address_v4(b).to_string();
  }
  ba::ip::address_v6::bytes_type b{};
  std::memcpy(b.data(), raw, b.size());
  return ba::ip::address_v6(b).to_string();
}

// The address half of "0100007F:1F90" (IPv4) or of 32 hex digits (IPv6):
// /proc prints the raw bytes as host-order 32-bit words.
bool parse_hex_host(std::string_view ip, bool ipv6, std::string& host) {
  const std::size_t words = ipv6 ? 4 : 1;
  if (ip.size() != words * 8) return false;
  unsigned char raw[16];
  for (std::size_t w = 0; w < words; ++w) {
    std::uint32_t v = 0;
    if (!parse_hex(ip.substr(w * 8, 8), v)) return false;
    for (std::size_t k = 0; k < 4; ++k) raw[w * 4 + k] = static_cast<unsigned char>((v >> (8 * k)) & 0xff);
  }
  host = host_of(raw, ipv6);
  return true;
}

// "ADDR:PORT" split in two, the port parsed.
bool split_hex_endpoint(std::string_view s, std::string_view& ip, std::uint16_t& port) {
  const auto colon = s.find(':');
  if (colon == std::string_view::npos || !parse_hex(s.substr(colon + 1), port)) return false;
  ip = s.substr(0, colon);
  return true;
}

// The whole file. The kernel writes a /proc table one page per read().
std::string read_whole(const char* path) {
  std::string out;
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return out;
  char buf[65536];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return out;
}

}  // namespace

std::vector<KernelTcpEntry> parse_proc_net_tcp(const std::string& text, bool ipv6, const RowKeep& keep) {
  // Plain string_view scanning: the table can hold thousands of rows and is
  // read on every inventory, also under the sanitizers. Ports and inode come
  // first, so that rows `keep` turns down cost no strings.
  std::vector<KernelTcpEntry> out;
  std::string_view rest(text);
  bool header = true;
  while (!rest.empty()) {
    const auto nl = rest.find('\n');
    const std::string_view line = rest.substr(0, nl);
    rest = nl == std::string_view::npos ? std::string_view{} : rest.substr(nl + 1);
    if (header) {
      header = false;
      continue;
    }
    // Fields: sl local rem st queues timer retr uid timeout inode ...
    std::string_view field[10];
    std::size_t n = 0, i = 0;
    while (n < 10) {
      while (i < line.size() && line[i] == ' ') ++i;
      if (i >= line.size()) break;
      const std::size_t start = i;
      while (i < line.size() && line[i] != ' ') ++i;
      field[n++] = line.substr(start, i - start);
    }
    if (n < 10) continue;
    unsigned long inode = 0;
    bool digits = !field[9].empty();
    for (char c : field[9]) {
      if (c < '0' || c > '9') {
        digits = false;
        break;
      }
      inode = inode * 10 + static_cast<unsigned long>(c - '0');
    }
    if (!digits) continue;
    KernelTcpEntry e;
    std::string_view lip, rip;
    if (!split_hex_endpoint(field[1], lip, e.local.port) || !split_hex_endpoint(field[2], rip, e.remote.port))
      continue;
    if (keep && !keep(e.local.port, e.remote.port, inode)) continue;
    unsigned st = 0;
    if (!parse_hex_host(lip, ipv6, e.local.host) || !parse_hex_host(rip, ipv6, e.remote.host) ||
        !parse_hex(field[3], st))
      continue;
    e.state = linux_state(st);
    e.inode = inode;
    out.push_back(std::move(e));
  }
  return out;
}

std::vector<KernelTcpEntry> dedupe_kernel_rows(const std::vector<KernelTcpEntry>& rows) {
  using Key = std::tuple<std::string, std::uint16_t, std::string, std::uint16_t, unsigned long>;
  std::map<Key, std::size_t> last;  // key -> index of its last copy
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const auto& r = rows[i];
    last[Key{r.local.host, r.local.port, r.remote.host, r.remote.port, r.inode}] = i;
  }
  std::vector<KernelTcpEntry> out;
  out.reserve(last.size());
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const auto& r = rows[i];
    if (last.at(Key{r.local.host, r.local.port, r.remote.host, r.remote.port, r.inode}) == i) out.push_back(r);
  }
  return out;
}

std::vector<KernelTcpEntry> read_proc_tcp_table(const RowKeep& keep) {
  auto v4 = parse_proc_net_tcp(read_whole("/proc/thread-self/net/tcp"), false, keep);
  auto v6 = parse_proc_net_tcp(read_whole("/proc/thread-self/net/tcp6"), true, keep);
  v4.insert(v4.end(), v6.begin(), v6.end());
  return dedupe_kernel_rows(v4);
}

namespace {

// One NETLINK_SOCK_DIAG dump of every TCP socket of one address family.
// false when the kernel does not answer (no sock_diag, or it is not allowed
// here).
bool diag_dump(int family, std::vector<KernelTcpEntry>& out, const RowKeep& keep) {
  const int fd = ::socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
  if (fd < 0) return false;
  struct Request {
    nlmsghdr nlh;
    inet_diag_req_v2 req;
  } rq{};
  rq.nlh.nlmsg_len = sizeof rq;
  rq.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  rq.nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  rq.nlh.nlmsg_seq = 1;
  rq.req.sdiag_family = static_cast<std::uint8_t>(family);
  rq.req.sdiag_protocol = IPPROTO_TCP;
  rq.req.idiag_states = ~0u;  // every state, TIME_WAIT and SYN_RECV included
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (::sendto(fd, &rq, sizeof rq, 0, reinterpret_cast<sockaddr*>(&kernel), sizeof kernel) !=
      static_cast<ssize_t>(sizeof rq)) {
    ::close(fd);
    return false;
  }
  // 32 KiB is the most the kernel puts in one batch of a dump.
  alignas(nlmsghdr) char buf[32768];
  bool ok = false, done = false;
  while (!done) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    auto len = static_cast<unsigned>(n);
    for (auto* h = reinterpret_cast<nlmsghdr*>(buf); NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
      if (h->nlmsg_type == NLMSG_DONE) {
        ok = done = true;
        break;
      }
      if (h->nlmsg_type == NLMSG_ERROR) {
        done = true;
        break;
      }
      if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY || h->nlmsg_len < NLMSG_LENGTH(sizeof(inet_diag_msg))) continue;
      const auto* m = static_cast<const inet_diag_msg*>(NLMSG_DATA(h));
      if (keep && !keep(ntohs(m->id.idiag_sport), ntohs(m->id.idiag_dport), m->idiag_inode)) continue;
      KernelTcpEntry e;
      const bool v6 = m->idiag_family == AF_INET6;
      auto endpoint = [&](const __be32* addr, __be16 port) { return Address{host_of(addr, v6), ntohs(port)}; };
      e.local = endpoint(m->id.idiag_src, m->id.idiag_sport);
      e.remote = endpoint(m->id.idiag_dst, m->id.idiag_dport);
      e.state = linux_state(m->idiag_state);
      e.inode = m->idiag_inode;
      out.push_back(std::move(e));
    }
  }
  ::close(fd);
  return ok;
}

}  // namespace

std::optional<std::vector<KernelTcpEntry>> read_diag_tcp_table(const RowKeep& keep) {
  std::vector<KernelTcpEntry> rows;
  if (!diag_dump(AF_INET, rows, keep) || !diag_dump(AF_INET6, rows, keep)) return std::nullopt;
  return dedupe_kernel_rows(rows);
}

namespace {
std::atomic<KernelTableSource> table_source{KernelTableSource::Auto};
std::atomic<bool> diag_refused{false};  // the kernel did not answer once: use /proc from then on
}  // namespace

void set_kernel_table_source(KernelTableSource s) { table_source = s; }

std::vector<KernelTcpEntry> read_kernel_tcp_table(const RowKeep& keep) {
  // sock_diag when the kernel offers it: binary, about 300 rows per batch
  // instead of 27 per page, no text to format or parse.
  const KernelTableSource source = table_source.load();
  if (source != KernelTableSource::ProcFiles && (source == KernelTableSource::SockDiag || !diag_refused)) {
    if (auto rows = read_diag_tcp_table(keep)) return std::move(*rows);
    diag_refused = true;
    if (source == KernelTableSource::SockDiag)
      throw std::runtime_error("inventory: the kernel does not answer NETLINK_SOCK_DIAG");
  }
  return read_proc_tcp_table(keep);
}

std::map<int, unsigned long> process_socket_inodes() {
  std::map<int, unsigned long> out;
  DIR* d = opendir("/proc/self/fd");
  if (!d) return out;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    const int fd = std::atoi(e->d_name);
    char path[64];
    std::snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    char target[128];
    const ssize_t n = readlink(path, target, sizeof target - 1);
    if (n <= 0) continue;
    target[n] = '\0';
    unsigned long inode = 0;
    if (std::sscanf(target, "socket:[%lu]", &inode) == 1) out[fd] = inode;
  }
  closedir(d);
  return out;
}

std::size_t process_fd_count() {
  std::size_t n = 0;
  DIR* d = opendir("/proc/self/fd");
  if (!d) return 0;
  while (dirent* e = readdir(d))
    if (e->d_name[0] != '.') ++n;
  closedir(d);
  return n > 0 ? n - 1 : 0;  // minus the fd opendir itself holds
}

}  // namespace netcore::asio
