// Reading YAML that may come from anyone (a pull request), without ever
// hanging or eating the machine.
//
// yaml-cpp 0.7.0, the version Debian 12 packages, has inputs it never
// returns from: LoadAll loops allocating on some malformed documents
// (tests/fixtures/scenarios/bad/yaml-reader-hang.yaml is one). Its error
// positions are the ones connfail's messages have always carried, so it
// stays -- but it runs in a forked child process that the caller bounds:
//   * the child is killed (SIGKILL) when it has used `max_time` of CPU time
//     before sending its answer (not wall time: a loaded machine must not
//     make a valid file fail; not its exit, whose cost grows with the
//     caller's memory, not with the document),
//     or run for `max_wall` of wall time (a backstop), or grown by
//     `max_memory` bytes of resident memory (polled every few
//     milliseconds), or when it writes more than `max_output` bytes;
//   * the child only parses and writes the tree it built to a pipe, as a
//     compact binary form; the parent rebuilds it, bounded by that size.
// Whatever yaml-cpp does -- loop, recurse until the stack overflows, abort
// -- the caller gets an answer within max_wall plus a few milliseconds, and
// its own memory grows by at most the tree it reads back.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace connfail::scenarios {

/// One YAML node, as yaml-cpp saw it, with its position (1-based; 0 when
/// yaml-cpp gave none).
struct YamlNode {
  enum class Kind : std::uint8_t { Null, Scalar, Sequence, Map };
  Kind kind = Kind::Null;
  int line = 0;
  int column = 0;
  std::string scalar;                                 // Scalar: its text
  std::vector<YamlNode> items;                        // Sequence
  std::vector<std::pair<YamlNode, YamlNode>> entries;  // Map: (key, value), in file order

  bool IsNull() const { return kind == Kind::Null; }
  bool IsScalar() const { return kind == Kind::Scalar; }
  bool IsSequence() const { return kind == Kind::Sequence; }
  bool IsMap() const { return kind == Kind::Map; }
  const std::string& Scalar() const { return scalar; }
};

struct YamlLimits {
  /// Documents nested deeper than this (maps and lists in maps and lists)
  /// are an error at the first node past it.
  int max_depth = 64;
  std::size_t max_nodes = 1000000;
  std::chrono::milliseconds max_time{1000};   // CPU time of the child
  std::chrono::milliseconds max_wall{10000};  // wall time, a backstop (keep it above max_time)
  std::size_t max_memory = 256u << 20;  // growth of the child's resident memory
  std::size_t max_output = 64u << 20;   // the tree, serialized
  /// Called in the child after it has sent its answer, just before it
  /// exits; nothing else sets it. Tests use it to make leaving expensive,
  /// as leaving an address space forked from a large program is.
  void (*child_before_exit)() = nullptr;
};

struct YamlLoad {
  std::vector<YamlNode> documents;
  /// Set when the text is not valid YAML (yaml-cpp's message and position),
  /// nests too deeply, or the reader was stopped (time, memory, a crash):
  /// then `documents` is empty.
  struct Error {
    int line = 0, column = 0;  // 0: no position
    std::string message;
    bool syntax = false;  // a YAML syntax error, as opposed to a limit or a crash
  };
  std::optional<Error> error;
};

/// Parses every document of `text`, in a bounded child process.
YamlLoad load_yaml(const std::string& text, const YamlLimits& limits = {});

/// The same, in this process and without bounds: for the child itself and
/// for measuring. Never call it on untrusted text.
YamlLoad load_yaml_unguarded(const std::string& text, const YamlLimits& limits = {});

}  // namespace connfail::scenarios
