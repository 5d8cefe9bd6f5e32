// The kernel's TCP table, read two ways: NETLINK_SOCK_DIAG (what ss(8)
// uses) and /proc/net/tcp{,6}; and this process's socket fds. The Asio
// transport's inventory joins the two, so CLOSE_WAIT and orphaned sockets
// are seen by the kernel's own account.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "connfail/netcore/transport.h"

namespace netcore::asio {

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
