// HTTP routes of the viewer: request parsing, the model lock, stale-frame dropping, image encoding and error
// replies around ViewerScene.
#include "semfield/serve/viewer_server.h"

#include <chrono>
#include <mutex>

#include <sys/socket.h>

#include <ATen/ATen.h>

#include "semfield/core/error.h"
#include "semfield/core/log.h"
#include "semfield/io/image_torch.h"
#include "semfield/render/colormap.h"
#include "semfield/serve/base64.h"
#include "semfield/serve/http.h"
#include "semfield/serve/render_cache.h"
#include "semfield/serve/static_files.h"

namespace semfield {

namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

void reply_json(httplib::Response& res, const nlohmann::json& body, int status = 200) {
  res.status = status;
  res.set_header("Cache-Control", "no-store");
  res.set_content(body.dump(), "application/json");
}

void reply_error(httplib::Response& res, int status, const std::string& message) {
  reply_json(res, {{"error", message}}, status);
}

// Every handler runs inside this: a request can fail, the server cannot.
template <typename Handler>
httplib::Server::Handler guarded(Handler handler) {
  return [handler](const httplib::Request& req, httplib::Response& res) {
    try {
      handler(req, res);
    } catch (const Error& e) {
      reply_error(res, 400, e.what());
    } catch (const std::exception& e) {
      log::error("serve: {} {}: {}", req.method, req.path, e.what());
      reply_error(res, 500, std::string("internal error: ") + e.what());
    } catch (...) {
      log::error("serve: {} {}: unknown exception", req.method, req.path);
      reply_error(res, 500, "internal error");
    }
  };
}

// The mask as the page draws it: a translucent magenta where set, transparent elsewhere.
std::vector<uint8_t> overlay_png(const at::Tensor& mask) {
  const at::Tensor m = mask.to(at::kBool).contiguous();
  const int h = static_cast<int>(m.size(0)), w = static_cast<int>(m.size(1));
  Image image(w, h, 4);
  const bool* set = m.data_ptr<bool>();
  for (size_t i = 0; i < static_cast<size_t>(w) * h; ++i) {
    if (!set[i]) continue;
    float* p = &image.pixels[i * 4];
    p[0] = 1.0f, p[1] = 0.2f, p[2] = 0.8f, p[3] = 0.55f;
  }
  return encode_png(image, 8, ImageRange::Unit, "mask overlay");
}

std::vector<uint8_t> mask_png(const at::Tensor& mask) {
  return encode_png(tensor_to_image(mask), 8, ImageRange::Unit, "mask");
}

std::string data_url(const std::vector<uint8_t>& png) { return "data:image/png;base64," + base64_encode(png); }

}  // namespace

struct ViewerServer::Impl {
  ViewerScene scene;
  SessionStore sessions;
  RenderCache cache;
  httplib::Server http;
  std::mutex model;  // one render at a time: model calls are not thread-safe, and each uses every core

  Impl(const ViewerOptions& viewer) : scene(viewer), sessions(viewer.max_sessions), cache(viewer.cached_frames) {}

  void routes(const ServerOptions& options);
  void frame(const httplib::Request& req, httplib::Response& res);
  void click(const httplib::Request& req, httplib::Response& res);
  void query(const httplib::Request& req, httplib::Response& res);
  void export_mesh(const httplib::Request& req, httplib::Response& res);
  void export_mask(const httplib::Request& req, httplib::Response& res);
  std::shared_ptr<ViewerSession> known_session(const std::string& id);
};

std::shared_ptr<ViewerSession> ViewerServer::Impl::known_session(const std::string& id) {
  if (!valid_session_id(id)) fail_usage("session: must be 1 to 64 characters of letters, digits, '-' or '_'");
  return sessions.get(id);
}

void ViewerServer::Impl::frame(const httplib::Request& req, httplib::Response& res) {
  const JsonNode body = parse_request_body(req.body, "/api/frame");
  body.reject_unknown_keys({"session", "seq", "mode", "camera", "text", "overlay", "quality", "render"});
  const std::string id = parse_session_id(body);
  const int64_t seq = body.int_or("seq", 0);
  const RenderMode mode = parse_render_mode(body.at("mode"));
  const Camera camera = parse_view_camera(body.at("camera"));
  const std::optional<JsonNode> text_node = body.find("text");
  std::string text = text_node ? parse_query_text(*text_node) : "";
  const bool want_overlay = body.bool_or("overlay", true);
  const std::string quality = body.string_or("quality", "full");
  if (quality != "full" && quality != "coarse")
    body.at("quality").fail("expected \"full\" or \"coarse\", got \"" + quality.substr(0, 16) + "\"");
  // "preview" frames are rendered against the scene mesh where the mode allows (ViewerScene::previewable).
  const std::string render = body.string_or("render", "exact");
  if (render != "exact" && render != "preview")
    body.at("render").fail("expected \"exact\" or \"preview\", got \"" + render.substr(0, 16) + "\"");
  const bool preview = render == "preview" && scene.previewable(mode);
  // "coarse" frames (the camera is moving) and previews get the quick overlay: the refined one (the segmenter
  // following the object) renders the segmentation field, which would cost more than the preview saves.
  const bool coarse = quality == "coarse";
  const bool refined = !coarse && !preview;
  const std::shared_ptr<ViewerSession> session = sessions.get(id);
  // Newest wins: remember the highest sequence number; a frame that finds a newer one is dropped unrendered.
  int64_t latest = session->latest_frame.load();
  while (seq > latest && !session->latest_frame.compare_exchange_weak(latest, seq)) {
  }

  const auto start = Clock::now();
  std::optional<CachedFrame> frame;
  at::Tensor mask;
  bool cached = false;
  {
    std::lock_guard<std::mutex> lock(model);
    if (seq < session->latest_frame.load()) {
      reply_json(res, {{"error", "superseded by a newer frame"}, {"superseded", true}}, 409);
      return;
    }
    if (mode == RenderMode::Relevancy && text.empty()) text = session->text;
    const std::string key = fmt::format("{}|{}|{}|{}", render_mode_name(mode), camera_key(camera),
                                        mode == RenderMode::Relevancy ? text : "",
                                        preview ? (coarse ? "preview-coarse" : "preview") : "");
    frame = cache.find(key);
    cached = frame.has_value();
    if (!frame) {
      RenderedFrame rendered = scene.render(mode, camera, text, preview, coarse);
      // Coarse frames are replaced within a fraction of a second: encode them for speed, not size.
      frame = CachedFrame{encode_png(rendered.image, 8, ImageRange::Unit, "frame",
                                     coarse ? PngEncoding::Fast : PngEncoding::Small),
                          rendered.depth, rendered.opacity};
      cache.put(key, *frame);
    }
    if (want_overlay) {
      RenderedFrame surface;
      surface.depth = frame->depth;
      surface.opacity = frame->opacity;
      mask = scene.overlay(*session, camera, surface, refined);
    }
  }
  const std::vector<uint8_t>* png = &frame->png;
  nlohmann::json reply = {{"image", data_url(*png)},
                          {"width", camera.intrinsics.width},
                          {"height", camera.intrinsics.height},
                          {"mode", render_mode_name(mode)},
                          {"seq", seq},
                          {"cached", cached},
                          {"quality", quality},
                          {"render", preview ? "preview" : "exact"}};
  if (mask.defined()) {
    reply["mask"] = data_url(overlay_png(mask));
    reply["mask_pixels"] = mask.sum().item<int64_t>();
  }
  reply["ms"] = ms_since(start);
  reply_json(res, reply);
}

void ViewerServer::Impl::click(const httplib::Request& req, httplib::Response& res) {
  const JsonNode body = parse_request_body(req.body, "/api/click");
  body.reject_unknown_keys({"session", "camera", "positive", "negative", "box"});
  const std::string id = parse_session_id(body);
  const Camera camera = parse_view_camera(body.at("camera"));
  const Prompts prompts = parse_prompts(body, camera.intrinsics.width, camera.intrinsics.height);
  const std::shared_ptr<ViewerSession> session = sessions.get(id);
  const auto start = Clock::now();
  at::Tensor mask;
  {
    std::lock_guard<std::mutex> lock(model);
    mask = scene.click(*session, camera, prompts);
  }
  const std::string overlay = data_url(overlay_png(mask));
  reply_json(res, {{"mask", overlay}, {"pixels", mask.sum().item<int64_t>()}, {"ms", ms_since(start)}});
}

void ViewerServer::Impl::query(const httplib::Request& req, httplib::Response& res) {
  const JsonNode body = parse_request_body(req.body, "/api/query");
  body.reject_unknown_keys({"session", "camera", "text"});
  const std::string id = parse_session_id(body);
  const Camera camera = parse_view_camera(body.at("camera"));
  const std::string text = parse_query_text(body.at("text"));
  const std::shared_ptr<ViewerSession> session = sessions.get(id);
  const auto start = Clock::now();
  at::Tensor relevancy;
  {
    std::lock_guard<std::mutex> lock(model);
    relevancy = scene.relevancy(camera, text);
    session->text = text;
  }
  const Image image = tensor_to_image(relevancy.reshape({camera.intrinsics.height, camera.intrinsics.width}));
  const at::Tensor hits = relevancy > 0.5f;
  reply_json(res, {{"image", data_url(encode_png(apply_turbo(image, 0.0f, 1.0f, false), 8, ImageRange::Unit,
                                                 "relevancy"))},
                   {"mask", data_url(overlay_png(hits))},
                   {"pixels", hits.sum().item<int64_t>()},
                   {"text", text},
                   {"ms", ms_since(start)}});
}

void ViewerServer::Impl::export_mask(const httplib::Request& req, httplib::Response& res) {
  const std::string id = req.get_param_value("session");
  if (!valid_session_id(id)) fail_usage("/api/export/mask: session: give ?session=<the tab's id>");
  const std::shared_ptr<ViewerSession> session = sessions.find(id);
  if (!session) return reply_error(res, 404, "/api/export/mask: unknown session " + id);
  at::Tensor mask;
  {
    std::lock_guard<std::mutex> lock(model);
    mask = session->mask;
  }
  if (!mask.defined()) fail_usage("/api/export/mask: no mask yet (click an object first)");
  const std::vector<uint8_t> png = mask_png(mask);
  res.set_header("Content-Disposition", "attachment; filename=\"mask.png\"");
  res.set_content(reinterpret_cast<const char*>(png.data()), png.size(), "image/png");
}

void ViewerServer::Impl::export_mesh(const httplib::Request& req, httplib::Response& res) {
  const std::string id = req.get_param_value("session");
  if (!valid_session_id(id)) fail_usage("/api/export/mesh: session: give ?session=<the tab's id>");
  const std::string format = req.has_param("format") ? req.get_param_value("format") : "ply";
  if (format != "ply" && format != "glb" && format != "obj")
    fail_usage("/api/export/mesh: format: expected ply, glb or obj, got \"{}\"", format.substr(0, 16));
  const std::shared_ptr<ViewerSession> session = sessions.find(id);
  if (!session) return reply_error(res, 404, "/api/export/mesh: unknown session " + id);
  std::vector<uint8_t> bytes;
  {
    std::lock_guard<std::mutex> lock(model);
    bytes = scene.object_mesh(*session, mesh_format_from_path("object." + format));
  }
  res.set_header("Content-Disposition", "attachment; filename=\"object." + format + "\"");
  res.set_content(reinterpret_cast<const char*>(bytes.data()), bytes.size(),
                  format == "glb" ? "model/gltf-binary" : "application/octet-stream");
}

void ViewerServer::Impl::routes(const ServerOptions& options) {
  // httplib's default sets SO_REUSEPORT, which lets a second server bind the same port and silently take half of
  // the connections; SO_REUSEADDR alone still allows a quick restart (sockets in TIME_WAIT) and refuses that.
  http.set_socket_options([](int sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  http.set_payload_max_length(options.max_body_bytes);
  http.set_read_timeout(10, 0);
  http.set_write_timeout(10, 0);
  const size_t threads = static_cast<size_t>(std::max(2, options.threads));
  http.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  // Replies with an error status but no body (404 for an unknown route, 413, 400 from the parser) get a JSON one.
  http.set_error_handler(httplib::Server::HandlerWithResponse([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
    const std::string what = res.status == 404   ? "not found"
                             : res.status == 413 ? "request body too large"
                                                 : "bad request";
    reply_error(res, res.status, fmt::format("{} {}: {}", req.method, req.path.substr(0, 200), what));
    return httplib::Server::HandlerResponse::Handled;
  }));
  http.set_logger([](const httplib::Request& req, const httplib::Response& res) {
    log::debug("serve: {} {} -> {}", req.method, req.path.substr(0, 200), res.status);
  });

  http.Get("/api/info", guarded([this](const httplib::Request&, httplib::Response& res) {
    reply_json(res, scene.info());
  }));
  http.Post("/api/frame", guarded([this](const httplib::Request& req, httplib::Response& res) { frame(req, res); }));
  http.Post("/api/click", guarded([this](const httplib::Request& req, httplib::Response& res) { click(req, res); }));
  http.Post("/api/query", guarded([this](const httplib::Request& req, httplib::Response& res) { query(req, res); }));
  http.Post("/api/prepare", guarded([this](const httplib::Request& req, httplib::Response& res) {
    const JsonNode body = parse_request_body(req.body, "/api/prepare");
    body.reject_unknown_keys({"session", "camera"});
    const std::string id = parse_session_id(body);
    const Camera camera = parse_view_camera(body.at("camera"));
    const std::shared_ptr<ViewerSession> session = sessions.get(id);
    const auto start = Clock::now();
    {
      std::lock_guard<std::mutex> lock(model);
      scene.prepare(*session, camera);
    }
    reply_json(res, {{"ms", ms_since(start)}});
  }));
  http.Post("/api/lift", guarded([this](const httplib::Request& req, httplib::Response& res) {
    const JsonNode body = parse_request_body(req.body, "/api/lift");
    body.reject_unknown_keys({"session"});
    const std::shared_ptr<ViewerSession> session = known_session(parse_session_id(body));
    int64_t voxels = 0;
    {
      std::lock_guard<std::mutex> lock(model);
      voxels = scene.lift(*session);
    }
    reply_json(res, {{"voxels", voxels}});
  }));
  http.Post("/api/reset", guarded([this](const httplib::Request& req, httplib::Response& res) {
    const JsonNode body = parse_request_body(req.body, "/api/reset");
    body.reject_unknown_keys({"session"});
    const std::shared_ptr<ViewerSession> session = known_session(parse_session_id(body));
    {
      std::lock_guard<std::mutex> lock(model);
      scene.reset(*session);
    }
    reply_json(res, {{"ok", true}});
  }));
  http.Get("/api/export/mask",
           guarded([this](const httplib::Request& req, httplib::Response& res) { export_mask(req, res); }));
  http.Get("/api/export/mesh",
           guarded([this](const httplib::Request& req, httplib::Response& res) { export_mesh(req, res); }));
  http.Get(".*", guarded([](const httplib::Request& req, httplib::Response& res) {
    const std::optional<StaticFile> file = find_static_file(req.path);
    if (!file) return reply_error(res, 404, "not found: " + req.path.substr(0, 200));
    res.set_header("Cache-Control", "no-cache");
    res.set_content(file->content.data(), file->content.size(), file->content_type);
  }));
}

ViewerServer::ViewerServer(const ViewerOptions& viewer, const ServerOptions& server)
    : m_impl(std::make_unique<Impl>(viewer)) {
  m_impl->routes(server);
  if (server.port == 0) {
    m_port = m_impl->http.bind_to_any_port(server.host);
    if (m_port <= 0) fail_usage("serve: cannot listen on {} (no free port?)", server.host);
  } else {
    if (server.port < 0 || server.port > 65535) fail_usage("serve: --port must be in 0..65535, got {}", server.port);
    if (!m_impl->http.bind_to_port(server.host, server.port))
      fail_usage("serve: cannot listen on {}:{} (is the port in use, or the host not an address of this machine?)",
                 server.host, server.port);
    m_port = server.port;
  }
}

ViewerServer::~ViewerServer() { stop(); }

void ViewerServer::run() { m_impl->http.listen_after_bind(); }

void ViewerServer::stop() { m_impl->http.stop(); }

}  // namespace semfield
