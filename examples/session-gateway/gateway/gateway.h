// The session gateway, modelled on a production TCP gateway: length-prefixed
// frames (netcore's FrameDecoder/FrameEncoder), a login frame that names the
// session ("LOGIN:<id>"), PING answered with PONG, DATA frames echoed once
// logged in, and a SessionManager that reaps idle sessions.
//
// register_gateway() registers, into connfail's registry:
//   server kind  gateway                    (options: session_timeout, reap_every)
//   client       gateway-client             (logs in with a stable id, heartbeats, reconnects)
//   variant      gateway-relogin-kills-new  (the known bug, see SessionManager::login)
//   variant      gateway-sessions-after-ping (the session handler after the PING responder)
#pragma once

#include <memory>
#include <string>

#include "connfail/netcore/channel.h"
#include "gateway/session_manager.h"

namespace gateway {

/// The login frame's payload prefix: "LOGIN:<session id>".
inline const std::string kLogin = "LOGIN:";

// [snippet:session-handler-decl]
/// Server side, right after the frame codec: binds the channel to its
/// session on login, stamps the session's last access on every frame
/// (PINGs included, so it must sit before the PING responder, which
/// consumes them), and closes a connection that sends data before it
/// logged in.
class SessionHandler final : public netcore::Handler {
 public:
  explicit SessionHandler(std::shared_ptr<SessionManager> sessions) : sessions_(std::move(sessions)) {}
  void channel_read(netcore::Context& ctx, std::any msg) override;

 private:
  std::shared_ptr<SessionManager> sessions_;
  std::string id_;
};
// [end-snippet]

/// Client side: sends the login frame as soon as the connection is up.
class LoginSender final : public netcore::Handler {
 public:
  explicit LoginSender(std::string id) : id_(std::move(id)) {}
  void channel_active(netcore::Context& ctx) override;

 private:
  std::string id_;
};

/// Registers the gateway's server kind, client behaviour and known-bug
/// variant. Returns false if the registry refused one (its reason is in
/// connfail::registration_errors()).
bool register_gateway();

}  // namespace gateway
