#include "engine/runtime/signals.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace flowbatch {
namespace {
std::atomic<int> g_write_fd{-1};  // a signal handler can reach nothing else
std::atomic<int> g_signals{0};
struct sigaction g_old_int, g_old_term;

void on_signal(int) {
  const int saved = errno;
  g_signals.fetch_add(1);
  const int fd = g_write_fd.load();
  if (fd >= 0) {
    const char byte = 1;
    [[maybe_unused]] auto n = ::write(fd, &byte, 1);
  }
  errno = saved;
}
}  // namespace

SignalPipe::SignalPipe() {
  if (::pipe2(fds_, O_CLOEXEC | O_NONBLOCK) != 0)
    throw std::runtime_error(std::string("cannot create the signal pipe: ") + std::strerror(errno));
  g_signals = 0;
  g_write_fd = fds_[1];
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  ::sigaction(SIGINT, &sa, &g_old_int);
  ::sigaction(SIGTERM, &sa, &g_old_term);
}

SignalPipe::~SignalPipe() {
  ::sigaction(SIGINT, &g_old_int, nullptr);
  ::sigaction(SIGTERM, &g_old_term, nullptr);
  g_write_fd = -1;
  ::close(fds_[0]);
  ::close(fds_[1]);
}

int SignalPipe::drain() {
  char buffer[64];
  while (::read(fds_[0], buffer, sizeof buffer) > 0) {}
  return g_signals.load();
}

}  // namespace flowbatch
