#include "engine/io/redis_async.h"

#include <fmt/format.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <sys/epoll.h>

namespace flowbatch {

struct RedisAsync::Pending {
  RedisAsync* owner;
  Done done;
};

namespace {

RedisValue copy_reply(const redisReply& r) {
  RedisValue v;
  switch (r.type) {
    case REDIS_REPLY_INTEGER:
      v.kind = RedisValue::Kind::integer;
      v.integer = r.integer;
      break;
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS: v.kind = RedisValue::Kind::text; break;
    case REDIS_REPLY_ERROR: v.kind = RedisValue::Kind::error; break;
    case REDIS_REPLY_ARRAY:
      v.kind = RedisValue::Kind::array;
      for (std::size_t i = 0; i < r.elements; ++i) v.elements.push_back(copy_reply(*r.element[i]));
      break;
    default: break;
  }
  if (r.str) v.text.assign(r.str, r.len);
  return v;
}

RedisAsync* owner_of(const redisAsyncContext* context) { return static_cast<RedisAsync*>(context->data); }

}  // namespace

RedisAsync::RedisAsync(EventLoop& loop, RedisAddress address, std::chrono::milliseconds timeout)
    : loop_(loop), address_(std::move(address)), timeout_(timeout) {}

RedisAsync::~RedisAsync() {
  closing_ = true;
  if (context_) redisAsyncFree(context_);  // answers what is pending (dropped: closing_)
}

void RedisAsync::command(const std::vector<std::string>& args, Done done) {
  std::string why;
  if (!ensure_connected(why)) {
    ++sent_;
    ++answered_;
    done(RedisValue::failure(fmt::format("{}: {}", address_.describe(), why)));
    return;
  }
  send(args, std::move(done));
}

bool RedisAsync::ensure_connected(std::string& why) {
  if (context_) return true;
  if (!pacing_.may_try()) {
    why = "not connected (reconnecting)";
    return false;
  }
  context_ = redisAsyncConnect(address_.host.c_str(), address_.port);
  if (!context_ || context_->err) {
    why = fmt::format("cannot connect: {}", context_ ? context_->errstr : "out of memory");
    if (context_) redisAsyncFree(context_);
    context_ = nullptr;
    pacing_.failed();
    return false;
  }
  attach();
  // Queued before any command: hiredis sends them in order once connected.
  if (!address_.password.empty() || !address_.user.empty()) {
    std::vector<std::string> auth = {"AUTH"};
    if (!address_.user.empty()) auth.push_back(address_.user);
    auth.push_back(address_.password);
    send(auth, [](const RedisValue&) {});  // a refusal shows in the next command's NOAUTH reply
  }
  if (address_.db != 0) send({"SELECT", std::to_string(address_.db)}, [](const RedisValue&) {});
  return true;
}

void RedisAsync::attach() {
  redisAsyncContext* c = context_;
  c->data = this;
  fd_ = c->c.fd;
  reading_ = writing_ = false;
  c->ev.data = this;
  c->ev.addRead = [](void* self) {
    static_cast<RedisAsync*>(self)->reading_ = true;
    static_cast<RedisAsync*>(self)->update_interest();
  };
  c->ev.delRead = [](void* self) {
    static_cast<RedisAsync*>(self)->reading_ = false;
    static_cast<RedisAsync*>(self)->update_interest();
  };
  c->ev.addWrite = [](void* self) {
    static_cast<RedisAsync*>(self)->writing_ = true;
    static_cast<RedisAsync*>(self)->update_interest();
  };
  c->ev.delWrite = [](void* self) {
    static_cast<RedisAsync*>(self)->writing_ = false;
    static_cast<RedisAsync*>(self)->update_interest();
  };
  c->ev.cleanup = [](void* self) {
    auto* me = static_cast<RedisAsync*>(self);
    if (me->fd_ >= 0) me->loop_.unwatch(me->fd_);
    me->fd_ = -1;
  };
  redisAsyncSetConnectCallback(c, &RedisAsync::on_connected);
  redisAsyncSetDisconnectCallback(c, &RedisAsync::on_disconnected);
  loop_.watch_socket(fd_, false, false, [this, c](std::uint32_t events) {
    if (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) redisAsyncHandleRead(c);
    if (context_ == c && (events & EPOLLOUT)) redisAsyncHandleWrite(c);  // still the same connection
  });
}

void RedisAsync::update_interest() {
  if (fd_ >= 0) loop_.set_interest(fd_, reading_, writing_);
}

void RedisAsync::on_connected(const redisAsyncContext* context, int status) {
  RedisAsync* self = owner_of(context);
  if (status == REDIS_OK) return self->pacing_.connected();
  self->pacing_.failed();
  self->context_ = nullptr;  // hiredis frees it when this returns
}

void RedisAsync::on_disconnected(const redisAsyncContext* context, int status) {
  RedisAsync* self = owner_of(context);
  if (status != REDIS_OK) self->pacing_.failed();
  self->context_ = nullptr;
}

void RedisAsync::send(const std::vector<std::string>& args, Done done) {
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  for (const auto& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  auto* pending = new Pending{this, std::move(done)};
  const std::uint64_t sequence = ++sent_;
  if (redisAsyncCommandArgv(context_, &RedisAsync::on_reply, pending, static_cast<int>(argv.size()), argv.data(),
                            lens.data()) != REDIS_OK) {
    std::unique_ptr<Pending> owned(pending);
    ++answered_;
    owned->done(RedisValue::failure(fmt::format("{}: cannot send: {}", address_.describe(),
                                                context_->errstr[0] ? context_->errstr : "disconnected")));
    return;
  }
  arm_deadline(sequence);
}

void RedisAsync::on_reply(redisAsyncContext*, void* reply, void* pending_data) {
  std::unique_ptr<Pending> pending(static_cast<Pending*>(pending_data));
  RedisAsync* self = pending->owner;
  ++self->answered_;
  if (self->closing_) return;
  if (!reply) {
    pending->done(RedisValue::failure(fmt::format("{}: connection lost", self->address_.describe())));
    return;
  }
  pending->done(copy_reply(*static_cast<redisReply*>(reply)));
}

void RedisAsync::arm_deadline(std::uint64_t sequence) {
  // Replies come in order, so command `sequence` is answered once `answered_` reaches it.
  loop_.after(timeout_, [this, sequence, connection = context_] {
    if (answered_ >= sequence || context_ != connection || !context_) return;
    drop();  // no reply within the time-out: the server or the network is gone
  });
}

void RedisAsync::drop() {
  redisAsyncContext* c = context_;
  context_ = nullptr;
  pacing_.failed();
  redisAsyncFree(c);  // every pending command is answered "connection lost"
}

}  // namespace flowbatch
