// SessionManager: the gateway's sessions, keyed by the session id a client
// sends in its login frame. A session holds the channel it is bound to and
// the time of its last frame; a reaper closes sessions idle for longer than
// the timeout and removes them. A client that reconnects logs in again with
// the same id and takes its session over.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "connfail/netcore/channel.h"

namespace gateway {

struct Session {
  std::weak_ptr<netcore::Channel> channel;  // the connection it is bound to
  netcore::TimePoint last_access{};
};

class SessionManager {
 public:
  /// `relogin_bug`: the known bug (see login()).
  SessionManager(netcore::EventLoop& loop, netcore::Duration timeout, netcore::Duration reap_every,
                 bool relogin_bug);
  ~SessionManager();

  /// Binds session `id` to `ch`. A session already bound to another live
  /// channel is taken over: that channel is closed (the client came back on
  /// a new connection before the server noticed the old one was gone).
  ///
  /// With the relogin bug the old session is "destroyed" by closing the
  /// channel it holds -- after rebinding it to the new channel when the old
  /// one already went away, so the close kills the client's fresh
  /// connection. The client reconnects, logs in again, and is killed again.
  void login(const std::string& id, const std::shared_ptr<netcore::Channel>& ch);
  /// A frame arrived for `id`: its session is alive.
  void touch(const std::string& id);
  /// Stops the reaper (the server stops).
  void stop();

  std::size_t size() const { return sessions_.size(); }
  std::uint64_t reaped() const { return reaped_; }
  std::uint64_t taken_over() const { return taken_over_; }

 private:
  void reap();
  netcore::EventLoop& loop_;
  netcore::Duration timeout_, reap_every_;
  bool relogin_bug_;
  std::map<std::string, Session> sessions_;
  netcore::TimerId reaper_ = 0;
  std::uint64_t reaped_ = 0, taken_over_ = 0;
};

}  // namespace gateway
