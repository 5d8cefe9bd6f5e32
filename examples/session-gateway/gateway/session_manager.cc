#include "gateway/session_manager.h"

namespace gateway {

using namespace netcore;

SessionManager::SessionManager(EventLoop& loop, Duration timeout, Duration reap_every, bool relogin_bug)
    : loop_(loop), timeout_(timeout), reap_every_(reap_every), relogin_bug_(relogin_bug) {
  reaper_ = loop_.schedule(reap_every_, [this] { reap(); });
}

SessionManager::~SessionManager() { stop(); }

void SessionManager::stop() {
  if (reaper_ != 0) loop_.cancel(reaper_);
  reaper_ = 0;
}

// [snippet:login]
void SessionManager::login(const std::string& id, const std::shared_ptr<Channel>& ch) {
  auto it = sessions_.find(id);
  if (it == sessions_.end()) {
    sessions_[id] = Session{ch, loop_.now()};
    return;
  }
  Session& s = it->second;
  ++taken_over_;
  if (relogin_bug_) {
    // BUG: "the session's channel went away: bind it to the current one,
    // then destroy the old session" -- which closes the channel the session
    // now holds: the client's new connection.
    if (!s.channel.lock()) s.channel = ch;
    if (auto held = s.channel.lock()) held->close();
    s = Session{ch, loop_.now()};
    return;
  }
  // Take the session over: bind it to the new channel first, then close the
  // old one if it is still open.
  const std::shared_ptr<Channel> old = s.channel.lock();
  s = Session{ch, loop_.now()};
  if (old && old != ch) old->close();
}
// [end-snippet]

void SessionManager::touch(const std::string& id) {
  auto it = sessions_.find(id);
  if (it != sessions_.end()) it->second.last_access = loop_.now();
}

void SessionManager::reap() {
  reaper_ = 0;
  const TimePoint now = loop_.now();
  for (auto it = sessions_.begin(); it != sessions_.end();) {
    if (now - it->second.last_access >= timeout_) {
      if (auto ch = it->second.channel.lock()) ch->close(CloseReason::Idle);
      it = sessions_.erase(it);
      ++reaped_;
    } else {
      ++it;
    }
  }
  reaper_ = loop_.schedule(reap_every_, [this] { reap(); });
}

}  // namespace gateway
