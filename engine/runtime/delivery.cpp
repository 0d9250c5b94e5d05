#include "engine/runtime/delivery.h"

#include <fmt/format.h>

#include "engine/core/backoff.h"
#include "flowbatch/subprocess.h"

namespace flowbatch {
namespace {

/// Short waits between attempts: a receiver that is down for longer is not worth holding the
/// end of a run for (the notification is logged as given up instead).
constexpr Backoff kBackoff{std::chrono::milliseconds(500), std::chrono::milliseconds(5000), 2.0, Jitter::equal};
constexpr std::size_t kMaxCommandOutput = std::size_t{64} * 1024;

/// Why a command's attempt failed, or "" when it succeeded.
std::string command_problem(const SubprocessResult& r) {
  if (!r.spawn_error.empty()) return r.spawn_error;
  if (r.timed_out) return "timed out";
  if (r.signal != 0) return fmt::format("ended by signal {}", r.signal);
  if (r.exit_code != 0) return fmt::format("exited with {}", r.exit_code);
  return "";
}

}  // namespace

Delivery::Delivery(HttpClient& http, EventLoop& loop, Console& console) : http_(http), loop_(loop), console_(console) {}

Delivery::~Delivery() { commands_.stop(); }

void Delivery::send(const DeliveryTarget& target, std::string json, bool replaceable) {
  {
    std::lock_guard lock(mutex_);
    ++pending_;
  }
  auto job = std::make_shared<Job>(Job{&target, std::move(json), replaceable});
  loop_.post([this, job] { enqueue(job); }, [this] { done(); });
}

void Delivery::enqueue(std::shared_ptr<Job> job) {
  {
    std::lock_guard lock(lines_mutex_);
    Line& line = lines_[job->target];
    if (line.busy) {
      if (job->replaceable && !line.waiting.empty() && line.waiting.back()->replaceable) {
        line.waiting.back() = std::move(job);  // the older one will never be sent
        done();
      } else {
        line.waiting.push_back(std::move(job));
      }
      return;
    }
    line.busy = true;
  }
  start(job);
}

void Delivery::finished(const DeliveryTarget* target) {
  std::shared_ptr<Job> next;
  {
    std::lock_guard lock(lines_mutex_);
    Line& line = lines_[target];
    if (line.waiting.empty()) {
      line.busy = false;
    } else {
      next = std::move(line.waiting.front());
      line.waiting.pop_front();
    }
  }
  done();
  if (next) start(next);
}

void Delivery::start(const std::shared_ptr<Job>& job) {
  const DeliveryTarget& t = *job->target;
  if (!t.url.empty()) {
    HttpRequest request{"POST", t.url, t.headers, job->body};
    request.headers.push_back({"Content-Type", "application/json"});
    TransferOptions options;
    options.timeout = t.timeout;
    options.connect_timeout = std::min(t.timeout, std::chrono::milliseconds(10000));
    http_.send(std::move(request), options, [this, job](HttpResponse r) {
      std::string why;
      if (r.transport_error) why = r.transport_error->message;
      else if (r.status < 200 || r.status > 299) why = fmt::format("HTTP {}", r.status);
      ended(job, why);
    });
    return;
  }
  commands_.post([this, job] {
    const DeliveryTarget& c = *job->target;
    const SubprocessResult r =
        run_process(c.command, c.workdir, minimal_environment({}), job->body + '\n', c.timeout, kMaxCommandOutput);
    std::string why = command_problem(r);
    loop_.post([this, job, why] { ended(job, why); }, [this, job] { cancelled(job->target); });
  });
}

void Delivery::ended(const std::shared_ptr<Job>& job, const std::string& why) {
  const DeliveryTarget& t = *job->target;
  if (why.empty()) {
    finished(&t);
    return;
  }
  if (job->attempt >= t.max_attempts) {
    console_.log(LogLevel::warn, "", fmt::format("{}: given up after {} attempts: {}", t.name, job->attempt, why));
    finished(&t);
    return;
  }
  console_.log(LogLevel::debug, "", fmt::format("{}: attempt {} failed ({}); trying again", t.name, job->attempt, why));
  const auto delay = kBackoff.delay(static_cast<std::uint32_t>(job->attempt), rng_);
  ++job->attempt;
  loop_.after(
      delay, [this, job] { start(job); }, [this, job] { cancelled(job->target); });
}

void Delivery::cancelled(const DeliveryTarget* target) {
  int over = 1;  // a hard stop: nothing more of this target goes out
  {
    std::lock_guard lock(lines_mutex_);
    Line& line = lines_[target];
    over += static_cast<int>(line.waiting.size());
    line.waiting.clear();
    line.busy = false;
  }
  done(over);
}

void Delivery::done(int messages) {
  std::lock_guard lock(mutex_);
  pending_ -= messages;
  if (pending_ == 0) idle_.notify_all();
}

void Delivery::wait_idle() {
  std::unique_lock lock(mutex_);
  idle_.wait(lock, [this] { return pending_ == 0; });
}

}  // namespace flowbatch
