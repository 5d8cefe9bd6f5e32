#include "connfail/netcore/handler.h"

#include "connfail/netcore/pipeline.h"

namespace netcore {

void Handler::channel_active(Context& ctx) { ctx.fire_channel_active(); }
void Handler::channel_read(Context& ctx, std::any msg) { ctx.fire_channel_read(std::move(msg)); }
void Handler::channel_read_complete(Context& ctx) { ctx.fire_channel_read_complete(); }
void Handler::user_event(Context& ctx, std::any event) { ctx.fire_user_event(std::move(event)); }
void Handler::exception_caught(Context& ctx, std::exception_ptr error) {
  ctx.fire_exception_caught(std::move(error));
}
void Handler::channel_inactive(Context& ctx) { ctx.fire_channel_inactive(); }
void Handler::write(Context& ctx, std::any msg, WriteCallback done) {
  ctx.write(std::move(msg), std::move(done));
}
void Handler::flush(Context& ctx) { ctx.flush(); }
void Handler::read(Context& ctx) { ctx.read(); }
void Handler::close(Context& ctx, CloseReason reason) { ctx.close(reason); }

}  // namespace netcore
