# shellcheck shell=bash
# tools/meridian deps and build: Debian packages, the Kafka broker jars, the
# CMake/Ninja build.

# Debian 12 packages the project needs (build, tests, local platform).
DEB_PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config git
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev libprotoc-dev protobuf-compiler
  libpqxx-dev librdkafka-dev libre2-dev libssl-dev libabsl-dev libcpp-httplib-dev
  libgtest-dev libgmock-dev libbenchmark-dev prometheus-cpp-dev nlohmann-json3-dev
  libgoogle-perftools-dev clang-14 libclang-rt-14-dev
  postgresql-15 postgresql-client-15
  openjdk-17-jre-headless maven
  openssl ca-certificates procps iproute2 nftables python3 grpc-proto unicode-data
  chromium
  unzip curl debootstrap
)

KAFKA_POM="$ROOT/deploy/kafka/pom.xml"

# kafka_version: the kafka.version property of deploy/kafka/pom.xml.
kafka_version() {
  local version
  version=$(sed -n 's:.*<kafka\.version>[[:space:]]*\([^<[:space:]]*\)[[:space:]]*</kafka\.version>.*:\1:p' "$KAFKA_POM" | head -n 1)
  [[ -n $version ]] || die "no <kafka.version> in $KAFKA_POM"
  printf '%s\n' "$version"
}

# kafka_home: cache directory of the broker jars ($CACHE/kafka-<version>).
kafka_home() { printf '%s/kafka-%s' "$CACHE" "$(kafka_version)"; }

# deps_debian: apt-get install the packages of DEB_PACKAGES that are missing;
# apt-get update runs only when something is missing.
deps_debian() {
  local missing=() pkg sudo=()
  for pkg in "${DEB_PACKAGES[@]}"; do
    if [[ $(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null) != "install ok installed" ]]; then
      missing+=("$pkg")
    fi
  done
  if ((${#missing[@]} == 0)); then
    log "debian packages: all ${#DEB_PACKAGES[@]} installed"
    return 0
  fi
  if ! is_root; then
    have sudo || die "missing packages (${missing[*]}) and not root: install them as root"
    sudo=(sudo)
  fi
  log "installing debian packages: ${missing[*]}"
  "${sudo[@]}" apt-get update -q
  # Slim images drop man directories; openjdk's postinst needs this one.
  "${sudo[@]}" mkdir -p /usr/share/man/man1
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -q --no-install-recommends "${missing[@]}"
}

# deps_node: Node.js and npm for the dashboard's bundle and browser test.
# Debian's nodejs and npm when there is no node at all; a node installed
# otherwise (e.g. NodeSource's, which bundles npm) is kept as it is.
deps_node() {
  local sudo=()
  have node && have npm && return 0
  if ! is_root; then
    have sudo || die "node or npm missing and not root: install nodejs and npm as root"
    sudo=(sudo)
  fi
  log "installing node.js and npm from debian"
  "${sudo[@]}" apt-get update -q
  if have node; then
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q npm
  else
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q nodejs npm
  fi
}

# deps_kafka: fetch the Kafka broker and its runtime jars with Maven into
# $CACHE/kafka-<version>/libs. A stamp file holding the pom's checksum marks a
# complete download, so this is skipped when nothing changed.
deps_kafka() {
  local version home stamp want
  version=$(kafka_version)
  home="$CACHE/kafka-$version"
  stamp="$home/.complete"
  want=$(sha256sum <"$KAFKA_POM" | cut -d' ' -f1)
  if [[ -f $stamp && $(<"$stamp") == "$want" && -d $home/libs ]]; then
    log "kafka $version: present in $home"
    return 0
  fi
  have mvn || die "mvn not found (the maven package is missing)"
  log "fetching kafka $version with maven into $home/libs"
  mkdir -p "$home"
  rm -rf "$home/libs.tmp"
  quiet mvn -q -B -f "$KAFKA_POM" dependency:copy-dependencies \
    -DoutputDirectory="$home/libs.tmp" -DincludeScope=runtime
  [[ -f $home/libs.tmp/kafka_2.13-$version.jar ]] ||
    die "maven did not produce kafka_2.13-$version.jar"
  rm -rf "$home/libs"
  mv "$home/libs.tmp" "$home/libs"
  printf '%s\n' "$want" >"$stamp"
}

# Toxiproxy (Shopify's TCP proxy that injects latency and other faults): the
# fault suite's latency fault, since this kernel has no netem. Built with Go
# from the module proxy into $CACHE/bin.
TOXIPROXY_MODULE=github.com/Shopify/toxiproxy/v2
TOXIPROXY_VERSION=v2.5.0
toxiproxy_bin() { printf '%s/bin/toxiproxy-server-%s' "$CACHE" "$TOXIPROXY_VERSION"; }

# deps_toxiproxy: build toxiproxy's server once (about 30 s).
deps_toxiproxy() {
  local bin go work
  local -a goenv
  bin=$(toxiproxy_bin)
  if [[ -x $bin ]]; then
    log "toxiproxy $TOXIPROXY_VERSION: present in $bin"
    return 0
  fi
  go=$(k8s_go)
  log "toxiproxy $TOXIPROXY_VERSION: building with go"
  mapfile -t goenv < <(k8s_go_env "$go")
  work=$(mktemp -d)
  env "${goenv[@]}" GOBIN="$work" "$go" install -trimpath \
    "$TOXIPROXY_MODULE/cmd/server@$TOXIPROXY_VERSION" || die "toxiproxy: go install failed"
  mkdir -p "$(dirname "$bin")"
  mv "$work/server" "$bin"
  rm -rf "$work"
}

# cmd_deps: install everything the project needs (idempotent, fast when done).
cmd_deps() {
  deps_debian
  deps_node
  deps_kafka
  deps_k8s
  deps_toxiproxy
}

# cmd_build [TARGET...]: configure (only when $BUILD_DIR/build.ninja is
# missing; CC and CXX, if set, pick the compilers then) and build everything,
# or only TARGETs, with CMake + Ninja, compiler calls going through ccache
# ($CACHE/ccache, 5G).
cmd_build() {
  local jobs=${MERIDIAN_JOBS:-2}
  local -a targets=()
  (($#)) && targets=(--target "$@")
  have cmake || die "cmake not found: run tools/meridian deps"
  have ninja || die "ninja not found: run tools/meridian deps"
  export CCACHE_DIR="$CACHE/ccache"
  # CI builds each time in a fresh clone elsewhere: hash paths relative to
  # the clone (and not the working directory) so the cache still hits.
  export CCACHE_BASEDIR="$ROOT"
  export CCACHE_NOHASHDIR=true
  mkdir -p "$CCACHE_DIR"
  if have ccache; then
    ccache --max-size=5G >/dev/null
  fi
  local -a tsan=()
  if [[ $SANITIZE == thread ]]; then
    deps_tsan
    tsan=(-DMERIDIAN_TSAN_PREFIX="$(tsan_prefix)")
  fi
  if [[ ! -f $BUILD_DIR/build.ninja ]]; then
    log "configuring $BUILD_DIR${SANITIZE:+ (sanitizer: $SANITIZE)}"
    cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja \
      -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DCMAKE_CXX_COMPILER_LAUNCHER=ccache \
      -DMERIDIAN_SANITIZE="$SANITIZE" "${tsan[@]}"
  fi
  log "building $BUILD_DIR with $jobs jobs${1:+ (targets: $*)}"
  cmake --build "$BUILD_DIR" -j "$jobs" "${targets[@]}"
}
