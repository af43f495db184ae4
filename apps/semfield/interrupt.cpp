// Ctrl-C handling shared by train and distill.
#include "interrupt.h"

#include <csignal>
#include <cstdlib>

namespace semfield::cli {

namespace {

std::atomic<bool> g_stop{false};

extern "C" void on_interrupt(int) {
  if (g_stop.exchange(true)) std::_Exit(130);
}

}  // namespace

InterruptScope::InterruptScope() {
  g_stop = false;
  std::signal(SIGINT, on_interrupt);
}

InterruptScope::~InterruptScope() { std::signal(SIGINT, SIG_DFL); }

const std::atomic<bool>* InterruptScope::flag() const { return &g_stop; }

}  // namespace semfield::cli
