// Replays a fuzz target without libFuzzer (any compiler): every file of a corpus folder, then a fixed
// number of deterministic random mutations of them. Used as a ctest smoke test in every normal build; a
// crash, an abort or an escaping non-semfield exception fails the test.
//
// Usage: <target> <corpus_dir> [n_mutations=2000] [seed=1]
// On a crash the failing input is written to ./replay-crash-input for reproduction with libFuzzer.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

namespace fs = std::filesystem;
using Bytes = std::vector<uint8_t>;

// The input being run, for the crash handler (plain globals: a signal handler may read them).
const uint8_t* g_input = nullptr;
size_t g_input_size = 0;

// Saves the current input with async-signal-safe calls only, then lets the default action happen.
void save_input_and_die(int signal_number) {
  static const char kMessage[] = "replay: crash; input saved to ./replay-crash-input\n";
  const int fd = ::open("replay-crash-input", O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd >= 0) {
    [[maybe_unused]] const ssize_t written = ::write(fd, g_input, g_input_size);
    ::close(fd);
  }
  [[maybe_unused]] const ssize_t told = ::write(2, kMessage, sizeof kMessage - 1);
  std::signal(signal_number, SIG_DFL);
  std::raise(signal_number);
}

void run_one(const Bytes& input) {
  g_input = input.data();
  g_input_size = input.size();
  LLVMFuzzerTestOneInput(input.data(), input.size());
}

std::vector<Bytes> load_corpus(const fs::path& dir) {
  std::vector<fs::path> paths;
  for (const auto& entry : fs::directory_iterator(dir))
    if (entry.is_regular_file()) paths.push_back(entry.path());
  std::sort(paths.begin(), paths.end());  // directory order is not deterministic
  std::vector<Bytes> corpus;
  for (const auto& p : paths) {
    std::ifstream in(p, std::ios::binary);
    corpus.emplace_back(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  return corpus;
}

// Values that tend to sit on boundaries of length and offset checks.
const uint8_t kInteresting[] = {0x00, 0x01, 0x02, 0x07, 0x08, 0x10, 0x20, 0x2c, 0x30, 0x39, 0x3a,
                                0x40, 0x5b, 0x5d, 0x7b, 0x7d, 0x7f, 0x80, 0xfe, 0xff, '-', '"', '\''};

// Applies one to four random edits: bit flips, byte sets, inserts, erases, duplicated or spliced runs,
// truncation, and overwriting an 8-byte little-endian integer (length fields).
Bytes mutate(const std::vector<Bytes>& corpus, std::mt19937_64& rng) {
  Bytes b = corpus.empty() ? Bytes{} : corpus[rng() % corpus.size()];
  const int n_edits = 1 + static_cast<int>(rng() % 4);
  for (int e = 0; e < n_edits; ++e) {
    const size_t n = b.size();
    switch (rng() % 9) {
      case 0:
        if (n) b[rng() % n] ^= static_cast<uint8_t>(1u << (rng() % 8));
        break;
      case 1:
        if (n) b[rng() % n] = kInteresting[rng() % sizeof kInteresting];
        break;
      case 2:
        b.insert(b.begin() + static_cast<std::ptrdiff_t>(n ? rng() % (n + 1) : 0), static_cast<uint8_t>(rng()));
        break;
      case 3:
        if (n) {
          const size_t at = rng() % n;
          const size_t len = 1 + rng() % std::min<size_t>(n - at, 16);
          b.erase(b.begin() + static_cast<std::ptrdiff_t>(at), b.begin() + static_cast<std::ptrdiff_t>(at + len));
        }
        break;
      case 4:
        if (n) b.resize(rng() % n);
        break;
      case 5:
        if (n) {
          const size_t at = rng() % n;
          const size_t len = 1 + rng() % std::min<size_t>(n - at, 32);
          const Bytes run(b.begin() + static_cast<std::ptrdiff_t>(at),
                          b.begin() + static_cast<std::ptrdiff_t>(at + len));
          b.insert(b.begin() + static_cast<std::ptrdiff_t>(rng() % (n + 1)), run.begin(), run.end());
        }
        break;
      case 6:
        if (!corpus.empty()) {
          const Bytes& other = corpus[rng() % corpus.size()];
          if (!other.empty()) {
            const size_t from = rng() % other.size();
            b.resize(n ? rng() % n : 0);
            b.insert(b.end(), other.begin() + static_cast<std::ptrdiff_t>(from), other.end());
          }
        }
        break;
      case 7:
        if (n >= 8) {
          const size_t at = rng() % (n - 7);
          const uint64_t values[] = {0, 1, 7, 8, 255, 65535, uint64_t{1} << 31, uint64_t{1} << 32,
                                     ~uint64_t{0}, ~uint64_t{0} >> 1, static_cast<uint64_t>(n), rng()};
          const uint64_t v = values[rng() % std::size(values)];
          for (int i = 0; i < 8; ++i) b[at + static_cast<size_t>(i)] = static_cast<uint8_t>(v >> (8 * i));
        }
        break;
      default:
        if (n) {
          // A decimal digit: grows, shrinks or corrupts numbers in text headers.
          const size_t at = rng() % n;
          b[at] = static_cast<uint8_t>('0' + rng() % 10);
        }
        break;
    }
  }
  return b;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s <corpus_dir> [n_mutations] [seed]\n", argv[0]);
    return 2;
  }
  const fs::path dir = argv[1];
  const long n_mutations = argc > 2 ? std::strtol(argv[2], nullptr, 10) : 2000;
  const unsigned long seed = argc > 3 ? std::strtoul(argv[3], nullptr, 10) : 1;
  if (!fs::is_directory(dir)) {
    std::fprintf(stderr, "%s: corpus folder %s does not exist\n", argv[0], dir.string().c_str());
    return 2;
  }
  // An escaping exception ends in std::terminate -> abort, so SIGABRT covers it too.
  for (const int s : {SIGSEGV, SIGABRT, SIGBUS, SIGFPE, SIGILL}) std::signal(s, save_input_and_die);
  const std::vector<Bytes> corpus = load_corpus(dir);
  for (const Bytes& input : corpus) run_one(input);
  std::mt19937_64 rng(seed);
  for (long i = 0; i < n_mutations; ++i) run_one(mutate(corpus, rng));
  std::printf("replayed %zu corpus files and %ld mutations\n", corpus.size(), n_mutations);
  return 0;
}
