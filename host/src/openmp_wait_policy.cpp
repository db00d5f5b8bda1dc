// radpipe runs LibTorch's OpenMP threads beside its own decode workers. libgomp's default lets
// each idle OpenMP thread spin for about 300,000 iterations after every parallel region, on the
// very cores the workers need: a pipeline whose model is small against its decoding (the demo CNN
// at 128, 2 workers, 2 threads) ran 25-35% slower than with OMP_WAIT_POLICY=passive. libgomp
// reads the variable once, in its own initialiser, before main and before any of radpipe's code
// could set it. So the commands that score images (predict, evaluate, explain) re-execute the
// program with the variable set, from the executable's pre-initialisation hook: it runs after the dynamic
// loader has mapped and relocated the libraries but before any of their initialisers (LibTorch's take most of
// a second). The second start costs about a quarter of a second, which is why the quick commands (check,
// inspect, plugins, ...) do not pay it. Training keeps libgomp's default: its backward pass runs many short
// parallel regions back to back, and one epoch of the demo CNN ran 179-205 img/s passive against 206-208
// spinning. A user's own OMP_WAIT_POLICY or GOMP_SPINCOUNT is left alone and wins.
//
// This file must be linked into the executable itself: .preinit_array is honoured only there.
#include <unistd.h>

#include <cstddef>
#include <cstring>
#include <initializer_list>

namespace {

bool names_variable(const char* entry, const char* name) {
  const std::size_t length = std::strlen(name);
  return std::strncmp(entry, name, length) == 0 && entry[length] == '=';
}

// Started through the dynamic loader (`ld-linux.so radpipe ...`), /proc/self/exe is the loader,
// which would read argv[1] as the program: then the process just starts without the default.
bool started_through_the_dynamic_loader() {
  char target[4096];
  const ssize_t length = readlink("/proc/self/exe", target, sizeof target - 1);
  if (length <= 0) return true;
  target[length] = '\0';
  return std::strstr(target, "/ld-linux") != nullptr || std::strstr(target, "/ld.so") != nullptr;
}

// Any argument naming such a command counts (an option's value may too: then the run merely
// starts a quarter of a second later).
bool scores_images(char** argv) {
  for (char** argument = argv + 1; *argument != nullptr; ++argument)
    for (const char* command : {"predict", "evaluate", "explain"})
      if (std::strcmp(*argument, command) == 0) return true;
  return false;
}

// No allocation here: the C library has not run its own initialisers yet.
void re_execute_with_passive_openmp_waits(int /*argc*/, char** argv, char** envp) {
  if (argv == nullptr || argv[0] == nullptr || !scores_images(argv)) return;
  constexpr std::size_t capacity = 8192;
  static const char* environment[capacity];
  std::size_t count = 0;
  for (char** entry = envp; *entry != nullptr; ++entry) {
    if (names_variable(*entry, "OMP_WAIT_POLICY") || names_variable(*entry, "GOMP_SPINCOUNT")) return;
    if (count + 2 >= capacity) return;
    environment[count++] = *entry;
  }
  if (started_through_the_dynamic_loader()) return;
  environment[count++] = "OMP_WAIT_POLICY=passive";
  environment[count] = nullptr;
  // On failure (no /proc, say) the process simply goes on with libgomp's default.
  execve("/proc/self/exe", argv, const_cast<char* const*>(environment));
}

} // namespace

[[gnu::section(".preinit_array"),
  gnu::used]] static void (*const passive_openmp_waits_before_libraries_start)(int, char**, char**) =
    re_execute_with_passive_openmp_waits;
