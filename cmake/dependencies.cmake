# Finds the Debian-packaged dependencies (installed by scripts/setup.sh).
find_package(Threads REQUIRED)
find_package(nlohmann_json 3.10 REQUIRED)
find_package(fmt REQUIRED)
find_package(spdlog REQUIRED)
find_package(CLI11 REQUIRED)
find_package(PNG REQUIRED)
find_package(ZLIB REQUIRED)
find_package(Eigen3 3.3 REQUIRED NO_MODULE)
find_package(embree 3 REQUIRED)
find_package(Torch REQUIRED)
find_package(OpenMP REQUIRED)
find_path(STB_INCLUDE_DIR stb_image.h PATH_SUFFIXES stb REQUIRED)
# Torch's exported flags include -D_GLIBCXX_USE_CXX11_ABI; keep them on the torch-facing targets only.
