// `semfield serve`'s HTTP server: the embedded viewer page plus a JSON API over a ViewerScene. Routes, limits
// and error replies live here; everything about models lives in ViewerScene.
//
// API (all JSON bodies; replies JSON unless noted; docs/viewer.md has examples):
//   GET  /, /viewer.js, /viewer.css     the page (embedded; any other path is 404)
//   GET  /api/info                      run, dataset cameras, orbit centre/up, available modes
//   POST /api/frame    {session, seq, mode, camera, text?, overlay?, quality?} -> {image, mask?, ms, ...}
//   POST /api/prepare  {session, camera}                   render the view for clicks ahead of time
//   POST /api/click    {session, camera, positive, negative, box?} -> {mask, pixels, ms}
//   POST /api/lift     {session}                           keep the selection in 3D
//   POST /api/reset    {session}
//   POST /api/query    {session, camera, text}             -> {image (relevancy), mask, pixels, ms}
//   GET  /api/export/mask?session=ID                       current mask, PNG attachment
//   GET  /api/export/mesh?session=ID&format=ply|glb|obj    selected object's mesh, attachment
// Images travel base64-encoded PNGs; masks as RGBA PNG overlays (the export is the plain 0/255 mask).
// Errors: 400 {"error": "<endpoint>: <field>: <problem>"} for bad requests and for what the run cannot do,
// 404 for unknown paths and sessions, 409 for a frame superseded by a newer one, 413 for bodies over the
// limit, 500 for an internal failure (logged; the server keeps serving).
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "semfield/serve/viewer_scene.h"

namespace semfield {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 7007;                       ///< 0 = any free port (see ViewerServer::port)
  size_t max_body_bytes = 1 << 20;       ///< larger request bodies get 413
  /// Connection threads. Browsers keep up to 6 idle keep-alive connections per tab, each holding a thread,
  /// so there are many; requests queue for the model lock anyway.
  int threads = 32;
};

class ViewerServer {
 public:
  /// Loads the scene (ViewerScene's errors) and binds the socket; UsageError when the address cannot be bound.
  ViewerServer(const ViewerOptions& viewer, const ServerOptions& server);
  ~ViewerServer();
  ViewerServer(const ViewerServer&) = delete;
  ViewerServer& operator=(const ViewerServer&) = delete;

  /// The bound port (the real one when port 0 was asked for).
  int port() const { return m_port; }
  /// Serves until stop() is called (from another thread or a signal watcher).
  void run();
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> m_impl;
  int m_port = 0;
};

}  // namespace semfield
