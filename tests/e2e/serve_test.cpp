// End to end: `semfield serve` on a small trained run with an instance-label field, driven over HTTP: the page and
// its API, a click that selects the right object and follows it into another view, lift and mesh/mask export, and
// robustness — malformed, oversized and mistyped requests, traversal paths, a burst of concurrent requests from two
// sessions that must not mix, a client that disconnects mid-render, and a clean stop on Ctrl-C.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <thread>

#include <ATen/ATen.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "semfield/data/scene.h"
#include "semfield/io/image.h"
#include "semfield/pipeline/view_renderer.h"
#include "semfield/render/image_metrics.h"
#include "semfield/segment/click_benchmark.h"
#include "semfield/segment/mask_metrics.h"
#include "semfield/serve/http.h"
#include "support/test_support.h"
#include "support/trained_scene.h"

namespace fs = std::filesystem;
using semfield::test::quoted;
using semfield::test::read_json;
using semfield::test::run_cli;
using ::testing::HasSubstr;
using ::testing::Not;

namespace {

std::vector<uint8_t> base64_decode(const std::string& text) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  std::vector<uint8_t> out;
  uint32_t bits = 0;
  int n = 0;
  for (const char c : text) {
    const int v = value(c);
    if (v < 0) continue;
    bits = (bits << 6) | static_cast<uint32_t>(v);
    n += 6;
    if (n >= 8) {
      n -= 8;
      out.push_back(static_cast<uint8_t>((bits >> n) & 0xff));
    }
  }
  return out;
}

// A data:image/png;base64 URL -> image.
semfield::Image decode_data_url(const std::string& url) {
  const std::string prefix = "data:image/png;base64,";
  EXPECT_EQ(url.rfind(prefix, 0), 0u);
  const std::vector<uint8_t> bytes = base64_decode(url.substr(prefix.size()));
  return semfield::decode_image(bytes.data(), bytes.size(), "reply");
}

// The overlay's alpha channel as a bool mask [H,W].
at::Tensor overlay_mask(const std::string& url) {
  const semfield::Image image = decode_data_url(url);
  EXPECT_EQ(image.channels, 4);
  at::Tensor mask = at::zeros({image.height, image.width}, at::kBool);
  for (int y = 0; y < image.height; ++y)
    for (int x = 0; x < image.width; ++x) mask[y][x] = image.at(x, y, 3) > 0.1f;
  return mask;
}

// Sends raw bytes to the server and returns whatever comes back before it closes (or a timeout); without
// `wait_for_reply`, hangs up right after sending.
std::string raw_request(int port, const std::string& bytes, bool wait_for_reply = true) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  ::inet_pton(AF_INET, "127.0.0.1", &address.sin_addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    ::close(fd);
    return "";
  }
  ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
  std::string reply;
  if (wait_for_reply) {
    // No half-close: the server takes a peer that shut its side down for gone and skips the reply.
    char buffer[4096];
    pollfd p{fd, POLLIN, 0};
    while (::poll(&p, 1, 5000) > 0) {
      const ssize_t n = ::recv(fd, buffer, sizeof(buffer), 0);
      if (n <= 0) break;
      reply.append(buffer, static_cast<size_t>(n));
    }
  }
  ::close(fd);
  return reply;
}

// `semfield serve` as a child process on a free port.
class ServerProcess {
 public:
  explicit ServerProcess(const std::vector<std::string>& args) {
    int out[2];
    if (::pipe(out) != 0) throw std::runtime_error("pipe failed");
    m_pid = ::fork();
    if (m_pid == 0) {
      ::dup2(out[1], STDOUT_FILENO);
      ::close(out[0]);
      ::close(out[1]);
      std::vector<char*> argv;
      std::vector<std::string> all = {SEMFIELD_CLI_PATH};
      all.insert(all.end(), args.begin(), args.end());
      for (std::string& a : all) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(SEMFIELD_CLI_PATH, argv.data());
      ::_exit(127);
    }
    ::close(out[1]);
    m_stdout = out[0];
    // Wait for "serving RUN at http://127.0.0.1:PORT/ ...".
    std::string text;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    while (text.find('\n') == std::string::npos && std::chrono::steady_clock::now() < deadline) {
      pollfd p{m_stdout, POLLIN, 0};
      if (::poll(&p, 1, 1000) <= 0) continue;
      char buffer[512];
      const ssize_t n = ::read(m_stdout, buffer, sizeof(buffer));
      if (n <= 0) break;
      text.append(buffer, static_cast<size_t>(n));
    }
    m_banner = text;
    const size_t colon = text.find("127.0.0.1:");
    if (colon != std::string::npos) m_port = std::stoi(text.substr(colon + 10));
  }
  ~ServerProcess() {
    if (m_pid > 0 && !m_exited) {
      ::kill(m_pid, SIGKILL);
      ::waitpid(m_pid, nullptr, 0);
    }
    if (m_stdout >= 0) ::close(m_stdout);
  }
  int port() const { return m_port; }
  const std::string& banner() const { return m_banner; }
  bool alive() { return !m_exited && ::waitpid(m_pid, nullptr, WNOHANG) == 0; }
  // Sends SIGINT and waits; the exit code, or -1 if it did not exit within `seconds`.
  int interrupt(int seconds) {
    ::kill(m_pid, SIGINT);
    for (int i = 0; i < seconds * 10; ++i) {
      int status = 0;
      if (::waitpid(m_pid, &status, WNOHANG) == m_pid) {
        m_exited = true;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return -1;
  }

 private:
  pid_t m_pid = -1;
  int m_stdout = -1;
  int m_port = 0;
  bool m_exited = false;
  std::string m_banner;
};

// The server under test and what it serves (set up by the one TEST below, which runs the checks in order: ctest
// runs each TEST as its own process, and the trained run is the expensive part).
semfield::test::TempDir* s_dir = nullptr;
semfield::Scene* s_scene = nullptr;
ServerProcess* s_server = nullptr;

httplib::Client client() {
  httplib::Client c("127.0.0.1", s_server->port());
  c.set_read_timeout(60, 0);
  return c;
}
nlohmann::json info() {
  auto res = client().Get("/api/info");
  EXPECT_TRUE(res);
  return res ? nlohmann::json::parse(res->body) : nlohmann::json::object();
}
// The run's record of a dataset camera, as the page would send it.
nlohmann::json dataset_camera(const std::string& name) {
  const nlohmann::json i = info();
  for (const auto& c : i["cameras"])
    if (c["name"] == name) return c["camera"];
  ADD_FAILURE() << "no camera " << name;
  return {};
}
httplib::Result post(const std::string& path, const nlohmann::json& body) {
  return client().Post(path.c_str(), body.dump(), "application/json");
}

void page_info_and_static_paths() {
  EXPECT_THAT(s_server->banner(), HasSubstr("serving"));
  auto c = client();
  auto page = c.Get("/");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  EXPECT_THAT(page->body, HasSubstr("viewer.js"));
  EXPECT_THAT(page->get_header_value("Content-Type"), HasSubstr("text/html"));
  auto js = c.Get("/viewer.js");
  ASSERT_TRUE(js);
  EXPECT_EQ(js->status, 200);
  const nlohmann::json i = info();
  EXPECT_EQ(i["cameras"].size(),
            s_scene->split(semfield::Split::Train).size() + s_scene->split(semfield::Split::Test).size());
  EXPECT_EQ(i["segment_field"], "labels-instance");
  EXPECT_TRUE(i["modes"]["labels"]["available"].get<bool>());
  EXPECT_FALSE(i["text_query"]["available"].get<bool>());
  EXPECT_THAT(i["text_query"]["reason"].get<std::string>(), HasSubstr("CLIP"));
  EXPECT_TRUE(i["preview"]["available"].get<bool>()) << i["preview"].dump();
  EXPECT_GT(i["preview"]["faces"].get<int64_t>(), 1000);
  EXPECT_GT(i["preview"]["coarse_faces"].get<int64_t>(), 100);
  EXPECT_LT(i["preview"]["coarse_faces"].get<int64_t>(), i["preview"]["faces"].get<int64_t>());

  for (const char* path : {"/nope", "/../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/..%2f..%2fetc%2fpasswd",
                           "/web/index.html", "/index.html/..", "/api/../../etc/passwd", "/%00"}) {
    auto res = c.Get(path);
    ASSERT_TRUE(res) << path;
    EXPECT_EQ(res->status, 404) << path;
    EXPECT_THAT(res->body, Not(HasSubstr("root:"))) << path;
  }
  // The same over a raw socket, where no client library can tidy the path.
  for (const char* path : {"/../../../../etc/passwd", "/%2e%2e/%2e%2e/%2e%2e/etc/passwd", "/..\\..\\etc\\passwd"}) {
    const std::string reply = raw_request(s_server->port(), std::string("GET ") + path + " HTTP/1.1\r\nHost: x\r\n"
                                                            "Connection: close\r\n\r\n");
    EXPECT_THAT(reply, HasSubstr(" 404 ")) << path;
    EXPECT_THAT(reply, Not(HasSubstr("root:"))) << path;
  }
}

// Preview frames (rendered against the scene mesh) look like the exact render and the ground truth; modes
// that cannot be previewed are rendered exactly, and the reply says which it was.
void preview_frames() {
  for (const semfield::View* test : s_scene->split(semfield::Split::Test)) {
    const nlohmann::json camera = dataset_camera(test->name);
    std::map<std::string, semfield::Image> images;
    for (const char* render : {"exact", "preview"}) {
      auto res = post("/api/frame", {{"session", "previewer"}, {"mode", "rgb"}, {"camera", camera}, {"render", render}});
      ASSERT_EQ(res->status, 200) << res->body;
      const nlohmann::json reply = nlohmann::json::parse(res->body);
      EXPECT_EQ(reply["render"], render);
      images[render] = decode_data_url(reply["image"]);
    }
    const semfield::Image& preview = images["preview"];
    ASSERT_EQ(preview.width, 64);
    // The exact render measured 28-29 dB against the ground truth; the preview ~3 dB below it. The bounds
    // leave room for training's run-to-run variation.
    // The run renders over its default white background.
    const semfield::Image truth = semfield::composite_over(test->rgb, Eigen::Vector3f(1, 1, 1));
    const double vs_exact = semfield::psnr(preview, images["exact"]), vs_truth = semfield::psnr(preview, truth);
    std::printf("preview frame %s: %.1f dB vs the exact render, %.1f dB vs the ground truth\n", test->name.c_str(),
                vs_exact, vs_truth);
    EXPECT_GT(vs_exact, 20.0) << test->name;
    EXPECT_GT(vs_truth, 20.0) << test->name;
  }
  auto res = post("/api/frame", {{"session", "previewer"}, {"mode", "labels"}, {"camera", dataset_camera("r_0")},
                                 {"render", "preview"}});
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(nlohmann::json::parse(res->body)["render"], "exact");
  res = post("/api/frame", {{"session", "previewer"}, {"mode", "rgb"}, {"camera", dataset_camera("r_0")},
                            {"render", "fast"}});
  EXPECT_EQ(res->status, 400);
  EXPECT_THAT(nlohmann::json::parse(res->body)["error"].get<std::string>(),
              HasSubstr("render: expected \"exact\" or \"preview\""));
}

void bad_requests_are_answered_not_fatal() {
  auto c = client();
  auto res = c.Post("/api/frame", "{\"session\": ", "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400);
  EXPECT_THAT(nlohmann::json::parse(res->body)["error"].get<std::string>(), HasSubstr("malformed JSON"));

  const nlohmann::json camera = dataset_camera("r_0");
  nlohmann::json body = {{"session", "t1"}, {"mode", "rgb"}, {"camera", camera}};
  body["camera"]["width"] = "wide";
  res = post("/api/frame", body);
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400);
  EXPECT_THAT(res->body, HasSubstr("camera.width: expected a number"));
  body["camera"]["width"] = 100000;
  res = post("/api/frame", body);
  EXPECT_THAT(res->body, HasSubstr("camera.width: must be between 8 and 1024"));
  body["camera"] = camera;
  body["mode"] = "xray";
  res = post("/api/frame", body);
  EXPECT_EQ(res->status, 400);
  EXPECT_THAT(res->body, HasSubstr("mode: unknown render mode"));
  body["mode"] = "relevancy";
  res = post("/api/frame", body);
  EXPECT_EQ(res->status, 400);
  EXPECT_THAT(res->body, HasSubstr("type a text query first"));
  res = post("/api/query", {{"session", "t1"}, {"camera", camera}, {"text", "a red ball"}});
  EXPECT_EQ(res->status, 400);
  EXPECT_THAT(res->body, HasSubstr("CLIP"));
  body = {{"session", "t1"}, {"camera", camera}, {"positive", {{1000, 5}}}};
  res = post("/api/click", body);
  EXPECT_EQ(res->status, 400);
  EXPECT_THAT(res->body, HasSubstr("positive[0]: click 1000,5 lies outside"));
  res = post("/api/click", {{"session", "../x"}, {"camera", camera}, {"positive", {{1, 5}}}});
  EXPECT_EQ(res->status, 400);
  EXPECT_THAT(res->body, HasSubstr("session: must be"));
  res = post("/api/lift", {{"session", "never-clicked"}});
  EXPECT_EQ(res->status, 400);
  EXPECT_THAT(res->body, HasSubstr("nothing to lift"));
  res = c.Get("/api/export/mesh?session=never-clicked-2");
  EXPECT_EQ(res->status, 404);
  res = c.Get("/api/export/mesh?session=t1&format=stl");
  EXPECT_EQ(res->status, 400);
  EXPECT_THAT(res->body, HasSubstr("format: expected ply, glb or obj"));

  // Oversized bodies: refused before parsing.
  res = c.Post("/api/frame", std::string(3 << 20, '['), "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 413);
  // Unknown routes and methods.
  res = c.Post("/api/nothing", "{}", "application/json");
  EXPECT_EQ(res->status, 404);
  res = c.Delete("/api/frame");
  ASSERT_TRUE(res);
  EXPECT_GE(res->status, 400);
  // Garbage instead of HTTP.
  raw_request(s_server->port(), std::string("\x01\x02\x03") + " garbage\r\n\r\n");
  raw_request(s_server->port(), "POST /api/frame HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n{}");
  EXPECT_TRUE(s_server->alive());
  EXPECT_EQ(c.Get("/api/info")->status, 200);
}

void click_follow_lift_export() {
  const std::vector<int64_t> objects = semfield::object_instances(*s_scene);
  ASSERT_GE(objects.size(), 2u);
  const auto [view, click] = semfield::object_click(*s_scene, objects[0]);
  const nlohmann::json camera = dataset_camera(view->name);
  auto res = post("/api/prepare", {{"session", "clicker"}, {"camera", camera}});
  ASSERT_EQ(res->status, 200) << res->body;
  const auto start = std::chrono::steady_clock::now();
  res = post("/api/click", {{"session", "clicker"}, {"camera", camera}, {"positive", {{click.x(), click.y()}}}});
  const double round_trip =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  ASSERT_EQ(res->status, 200) << res->body;
  std::printf("click -> mask round trip on a prepared 64x64 view: %.0f ms\n", round_trip);
  const nlohmann::json reply = nlohmann::json::parse(res->body);
  const at::Tensor mask = overlay_mask(reply["mask"]);
  const double iou = semfield::mask_iou(mask, semfield::instance_mask(*view, objects[0]));
  EXPECT_GT(iou, 0.7) << view->name;

  // The mask follows into a test view where the object is visible.
  for (const semfield::View* test : s_scene->split(semfield::Split::Test)) {
    const at::Tensor truth = semfield::instance_mask(*test, objects[0]);
    if (truth.sum().item<int64_t>() < 30) continue;
    res = post("/api/frame", {{"session", "clicker"}, {"mode", "rgb"}, {"camera", dataset_camera(test->name)}});
    ASSERT_EQ(res->status, 200) << res->body;
    const nlohmann::json frame = nlohmann::json::parse(res->body);
    ASSERT_TRUE(frame.contains("mask"));
    EXPECT_GT(semfield::mask_iou(overlay_mask(frame["mask"]), truth), 0.5) << test->name;
    const semfield::Image image = decode_data_url(frame["image"]);
    EXPECT_EQ(image.width, 64);
    EXPECT_EQ(image.channels, 3);
    break;
  }

  res = post("/api/lift", {{"session", "clicker"}});
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_GT(nlohmann::json::parse(res->body)["voxels"].get<int64_t>(), 0);
  auto c = client();
  auto mesh = c.Get("/api/export/mesh?session=clicker&format=ply");
  ASSERT_TRUE(mesh);
  ASSERT_EQ(mesh->status, 200) << mesh->body;
  EXPECT_EQ(mesh->body.rfind("ply\n", 0), 0u);
  const size_t faces = mesh->body.find("element face ");
  ASSERT_NE(faces, std::string::npos);
  EXPECT_GT(std::stoll(mesh->body.substr(faces + 13)), 10);
  EXPECT_THAT(mesh->get_header_value("Content-Disposition"), HasSubstr("attachment"));
  auto glb = c.Get("/api/export/mesh?session=clicker&format=glb");
  ASSERT_EQ(glb->status, 200);
  EXPECT_EQ(glb->body.substr(0, 4), "glTF");
  auto png = c.Get("/api/export/mask?session=clicker");
  ASSERT_EQ(png->status, 200);
  const semfield::Image exported =
      semfield::decode_image(reinterpret_cast<const uint8_t*>(png->body.data()), png->body.size(), "mask");
  EXPECT_EQ(exported.channels, 1);
  res = post("/api/reset", {{"session", "clicker"}});
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(c.Get("/api/export/mesh?session=clicker")->status, 400);
}

void concurrent_sessions_do_not_mix() {
  const std::vector<int64_t> objects = semfield::object_instances(*s_scene);
  ASSERT_GE(objects.size(), 2u);
  // Two tabs select different objects on the same view.
  const semfield::View& view = *s_scene->split(semfield::Split::Train)[0];
  const nlohmann::json camera = dataset_camera(view.name);
  std::vector<int64_t> ids;
  for (const int64_t id : objects)
    if (semfield::instance_mask(view, id).sum().item<int64_t>() > 40) ids.push_back(id);
  ASSERT_GE(ids.size(), 2u) << "need two objects visible in " << view.name;
  for (int k = 0; k < 2; ++k) {
    const Eigen::Vector2d p = *semfield::interior_point(semfield::instance_mask(view, ids[k]));
    auto res = post("/api/click", {{"session", "tab" + std::to_string(k)}, {"camera", camera},
                                   {"positive", {{p.x(), p.y()}}}});
    ASSERT_EQ(res->status, 200) << res->body;
  }

  // A burst: 6 threads, each a stream of small frames for one of the tabs plus junk, all at once.
  std::atomic<int> ok{0}, superseded{0}, bad{0}, failed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t)
    threads.emplace_back([&, t] {
      httplib::Client c("127.0.0.1", s_server->port());
      c.set_read_timeout(60, 0);
      for (int i = 0; i < 8; ++i) {
        nlohmann::json cam = camera;
        cam["width"] = cam["height"] = 32;
        const nlohmann::json body = {{"session", "tab" + std::to_string(t % 2)}, {"seq", i}, {"mode", t % 3 ? "rgb" : "labels"},
                                     {"camera", cam}, {"overlay", true}};
        auto res = c.Post("/api/frame", i % 4 == 3 ? std::string("{junk") : body.dump(), "application/json");
        if (!res) ++failed;
        else if (res->status == 200) ++ok;
        else if (res->status == 409) ++superseded;
        else if (res->status == 400) ++bad;
        else ++failed;
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(bad.load(), 12);
  EXPECT_GT(ok.load(), 0);
  EXPECT_EQ(ok + superseded + bad, 48);

  // Each tab still shows its own object.
  for (int k = 0; k < 2; ++k) {
    auto res = post("/api/frame", {{"session", "tab" + std::to_string(k)}, {"seq", 1000}, {"mode", "rgb"},
                                   {"camera", camera}});
    ASSERT_EQ(res->status, 200) << res->body;
    const at::Tensor mask = overlay_mask(nlohmann::json::parse(res->body)["mask"]);
    EXPECT_GT(semfield::mask_iou(mask, semfield::instance_mask(view, ids[k])), 0.6) << "tab" << k;
    EXPECT_LT(semfield::mask_iou(mask, semfield::instance_mask(view, ids[1 - k])), 0.1) << "tab" << k;
  }
  // An older frame of a tab that has seen a newer one is dropped unrendered.
  auto res = post("/api/frame", {{"session", "tab0"}, {"seq", 5}, {"mode", "rgb"}, {"camera", camera}});
  EXPECT_EQ(res->status, 409);
}

void disconnect_mid_render_and_many_tabs() {
  nlohmann::json camera = dataset_camera("r_1");
  camera["width"] = camera["height"] = 512;
  const std::string body = nlohmann::json{{"session", "leaver"}, {"mode", "rgb"}, {"camera", camera}}.dump();
  const std::string request = "POST /api/frame HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                              "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  for (int i = 0; i < 3; ++i) raw_request(s_server->port(), request, false);  // send and hang up at once
  raw_request(s_server->port(), request.substr(0, request.size() / 2), false);  // hang up mid-body
  // More tabs than the server keeps: the oldest are evicted, none fails.
  for (int k = 0; k < 7; ++k) {
    nlohmann::json small = camera;
    small["width"] = small["height"] = 16;
    auto res = post("/api/frame", {{"session", "many" + std::to_string(k)}, {"mode", "depth"}, {"camera", small}});
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200) << res->body;
  }
  EXPECT_TRUE(s_server->alive());
  auto res = client().Get("/api/info");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
}

void command_line_errors() {
  auto r = run_cli("serve --run " + quoted(*s_dir / "no-such-run") + " --port 0");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_THAT(r.output, HasSubstr("error:"));
  // The port the running server holds.
  r = run_cli("serve --run " + quoted(*s_dir / "run") + " --port " + std::to_string(s_server->port()));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_THAT(r.output, HasSubstr("cannot listen on 127.0.0.1:" + std::to_string(s_server->port())));
  r = run_cli("serve --run " + quoted(*s_dir / "run") + " --field nope --port 0");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_THAT(r.output, HasSubstr("nope"));
}

}  // namespace

TEST(TrainedSceneServe, ViewerOverHttp) {
  semfield::test::TempDir dir;
  s_dir = &dir;
  const semfield::test::TrainedScene trained = semfield::test::trained_scene(dir);
  const fs::path scene = trained.scene, run = trained.run;
  semfield::Scene loaded = semfield::load_scene(scene);
  s_scene = &loaded;
  ServerProcess server({"serve", "--run", run.string(), "--port", "0", "--sessions", "4"});
  s_server = &server;
  ASSERT_GT(server.port(), 0) << server.banner();

  const std::pair<const char*, void (*)()> checks[] = {
      {"page, info and static paths", page_info_and_static_paths},
      {"bad requests", bad_requests_are_answered_not_fatal},
      {"preview frames", preview_frames},
      {"click, follow, lift, export", click_follow_lift_export},
      {"two sessions under a burst", concurrent_sessions_do_not_mix},
      {"disconnects and many tabs", disconnect_mid_render_and_many_tabs},
      {"command-line errors", command_line_errors}};
  for (const auto& [name, check] : checks) {
    SCOPED_TRACE(name);
    check();
    ASSERT_TRUE(server.alive()) << "the server died during: " << name;
  }
  // Ctrl-C stops it cleanly.
  EXPECT_EQ(server.interrupt(20), 0);
}
