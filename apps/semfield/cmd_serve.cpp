// `semfield serve`: the interactive web viewer of a trained run (page and API from the binary itself).
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <thread>

#include "commands.h"
#include "interrupt.h"
#include "semfield/serve/viewer_server.h"

namespace semfield::cli {

namespace {

struct ServeArgs {
  ViewerOptions viewer;
  ServerOptions server;
  std::string run;
};

void run_serve(ServeArgs args) {
  args.viewer.run = args.run;
  // A browser that closes a connection mid-reply must not kill the server with SIGPIPE.
  std::signal(SIGPIPE, SIG_IGN);
  ViewerServer server(args.viewer, args.server);
  std::printf("serving %s at http://%s:%d/ (Ctrl-C stops)\n", args.run.c_str(), args.server.host.c_str(),
              server.port());
  if (args.server.host != "127.0.0.1" && args.server.host != "localhost")
    std::printf("warning: listening on %s: anyone who can reach this address can use the viewer\n",
                args.server.host.c_str());
  std::fflush(stdout);
  const InterruptScope interrupt;
  std::atomic<bool> done{false};
  std::thread watcher([&] {
    while (!done.load()) {
      if (interrupt.flag()->load()) {
        server.stop();
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  });
  server.run();  // returns once stop() was called
  done = true;
  watcher.join();
  std::printf("server stopped\n");
}

}  // namespace

void add_serve_command(CLI::App& app) {
  auto args = std::make_shared<ServeArgs>();
  CLI::App* cmd = app.add_subcommand("serve", "Interactive web viewer of a trained run: render modes, click to "
                                              "segment, text queries, mesh export");
  cmd->add_option("--run", args->run, "Run folder written by `semfield train` or `semfield apply`")->required();
  cmd->add_option("--port", args->server.port, "TCP port (0 = any free port)")
      ->check(CLI::Range(0, 65535))
      ->capture_default_str();
  cmd->add_option("--host", args->server.host,
                  "Address to listen on (default loopback only; forward it with ssh -L 7007:localhost:7007)")
      ->capture_default_str();
  cmd->add_option("--field", args->viewer.field,
                  "Distilled field to segment with, or `semantics` for the run model's own (default: as `semfield "
                  "segment`)");
  cmd->add_option("--method", args->viewer.method, "auto | similarity | class | instance (as `semfield segment`)");
  cmd->add_option("--sessions", args->viewer.max_sessions, "Browser tabs kept at once (least recently used dropped)")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  cmd->add_option("--mesh-resolution", args->viewer.mesh_resolution, "Density grid samples for mesh export")
      ->check(CLI::Range(16, 1024))
      ->capture_default_str();
  cmd->add_option("--preview-resolution", args->viewer.preview_resolution,
                  "Density grid samples of the mesh that quick frames are rendered against while the camera moves "
                  "(0 = volume render every frame)")
      ->check(CLI::Range(0, 1024))
      ->capture_default_str();
  cmd->callback([args] { run_serve(*args); });
}

}  // namespace semfield::cli
