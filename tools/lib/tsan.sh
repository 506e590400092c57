# shellcheck shell=bash
# ThreadSanitizer's own copies of three dependencies, for `test --sanitize=thread`.
#
# TSan sees only the synchronisation of code it instruments. Three of
# Debian's prebuilt libraries hide theirs from it:
#   - Abseil: absl::Mutex tells TSan it is a lock only when Abseil itself is
#     built with -fsanitize=thread. Otherwise two accesses under the same
#     absl::Mutex are reported as a race. gRPC's locks are absl::Mutex too.
#   - librdkafka: it starts its threads with C11 thrd_create, which gcc 12's
#     libtsan does not intercept; every process with a Kafka client crashes
#     in TSan's allocator on the first broker thread. Built with
#     --disable-c11threads it uses pthreads (its tinycthread layer).
#   - gRPC: it hands connections and buffers between its threads through
#     its own lock-free queues and atomics; uninstrumented, every service
#     reports races inside gRPC (a TCP endpoint's mutex, a connect's
#     address) at its first call.
# deps_tsan builds all three, at the versions installed from Debian, from Debian's
# own sources and patches (deb.debian.org's pool), with -fsanitize=thread,
# into $CACHE/tsan/<the three versions> (outside the clone; built once, in
# about 10 minutes on 2 cores, then reused). gRPC's headers and code
# generator stay Debian's (same version); only its libraries are replaced.
# CMake links the build-tsan binaries with an RPATH to the prefix
# (MERIDIAN_TSAN_PREFIX), so every library, Debian's or not, loads these.

TSAN_DEBIAN_POOL="${MERIDIAN_DEBIAN_POOL:-http://deb.debian.org/debian/pool/main}"

# tsan_source_version PACKAGE: the Debian source version of an installed
# binary package (e.g. 20220623.1-1+deb12u2).
tsan_source_version() {
  dpkg-query -W -f='${source:Version}' "$1" 2>/dev/null ||
    die "$1 is not installed: run tools/meridian deps"
}

# tsan_fetch_source SOURCE POOL_DIR VERSION DEST: Debian's orig tarball and
# debian/ tarball of SOURCE at VERSION, unpacked into DEST with the Debian
# patches applied (debian/patches/series, in order).
tsan_fetch_source() {
  local source=$1 pool=$2 version=$3 dest=$4
  local upstream=${version%-*} downloads="$CACHE/downloads"
  local orig="${source}_${upstream}.orig.tar.gz" debian="${source}_${version}.debian.tar.xz"
  mkdir -p "$downloads"
  local f
  for f in "$orig" "$debian"; do
    [[ -s $downloads/$f ]] && continue
    log "tsan: downloading $f"
    curl -fsSL --retry 3 -o "$downloads/$f.tmp" "$TSAN_DEBIAN_POOL/$pool/$source/$f" ||
      die "tsan: could not download $TSAN_DEBIAN_POOL/$pool/$source/$f"
    mv "$downloads/$f.tmp" "$downloads/$f"
  done
  rm -rf "$dest"
  mkdir -p "$dest"
  tar -xzf "$downloads/$orig" -C "$dest" --strip-components=1
  tar -xJf "$downloads/$debian" -C "$dest"
  local patch
  if [[ -f $dest/debian/patches/series ]]; then
    while read -r patch _; do
      [[ -z $patch || $patch == \#* ]] && continue
      patch -d "$dest" -p1 -s <"$dest/debian/patches/$patch" ||
        die "tsan: $source: debian patch $patch does not apply"
    done <"$dest/debian/patches/series"
  fi
}

# tsan_prefix: where deps_tsan installs (one directory per pair of versions).
tsan_prefix() {
  echo "$CACHE/tsan/absl-$(tsan_source_version libabsl-dev)_rdkafka-$(tsan_source_version \
    librdkafka-dev)_grpc-$(tsan_source_version libgrpc++-dev)"
}

# deps_tsan: build and install both into $(tsan_prefix), unless already done.
deps_tsan() {
  local prefix absl_version rdkafka_version grpc_version work jobs=${MERIDIAN_JOBS:-2}
  prefix=$(tsan_prefix)
  [[ -f $prefix/.complete ]] && return 0
  absl_version=$(tsan_source_version libabsl-dev)
  rdkafka_version=$(tsan_source_version librdkafka-dev)
  grpc_version=$(tsan_source_version libgrpc++-dev)
  work="$CACHE/tsan/work"
  rm -rf "$prefix" "$work"
  mkdir -p "$work"
  local flags="-fsanitize=thread -fno-omit-frame-pointer -g -O1"

  log "tsan: building Abseil $absl_version with ThreadSanitizer into $prefix"
  tsan_fetch_source abseil a "$absl_version" "$work/abseil"
  # As debian/rules builds it (C++17, shared), plus TSan.
  quiet cmake -S "$work/abseil" -B "$work/abseil-build" -G Ninja \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_STANDARD=17 -DBUILD_SHARED_LIBS=ON \
    -DBUILD_TESTING=OFF -DCMAKE_INSTALL_PREFIX="$prefix" -DCMAKE_INSTALL_LIBDIR=lib \
    -DCMAKE_CXX_COMPILER_LAUNCHER=ccache \
    -DCMAKE_CXX_FLAGS="$flags" -DCMAKE_SHARED_LINKER_FLAGS=-fsanitize=thread
  quiet cmake --build "$work/abseil-build" -j "$jobs" --target install

  log "tsan: building librdkafka $rdkafka_version with ThreadSanitizer (pthreads) into $prefix"
  tsan_fetch_source librdkafka libr "$rdkafka_version" "$work/librdkafka"
  (
    cd "$work/librdkafka"
    CFLAGS="$flags" CXXFLAGS="$flags" LDFLAGS=-fsanitize=thread \
      quiet ./configure --prefix="$prefix" --libdir="$prefix/lib" --disable-c11threads \
      --enable-ssl --disable-lz4-ext --disable-zstd --disable-gssapi --disable-curl
    quiet make -j "$jobs" libs
    quiet make install-subdirs
  )

  log "tsan: building gRPC $grpc_version's libraries with ThreadSanitizer into $prefix"
  tsan_fetch_source grpc g "$grpc_version" "$work/grpc"
  # As debian/rules configures it (every dependency from packages: Abseil
  # from $prefix), with only the C++ code generator (reflection's sources
  # are generated with it).
  quiet cmake -S "$work/grpc" -B "$work/grpc-build" -G Ninja \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUILD_SHARED_LIBS=ON -DCMAKE_CXX_STANDARD=17 \
    -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_C_COMPILER_LAUNCHER=ccache \
    -DCMAKE_CXX_COMPILER_LAUNCHER=ccache \
    -DCMAKE_C_FLAGS="$flags" -DCMAKE_CXX_FLAGS="$flags" \
    -DCMAKE_SHARED_LINKER_FLAGS="-fsanitize=thread -Wl,-rpath,$prefix/lib" \
    -DgRPC_ABSL_PROVIDER=package -DgRPC_CARES_PROVIDER=package \
    -DgRPC_PROTOBUF_PROVIDER=package -DgRPC_RE2_PROVIDER=package \
    -DgRPC_SSL_PROVIDER=package -DgRPC_ZLIB_PROVIDER=package \
    -DgRPC_BACKWARDS_COMPATIBILITY_MODE=OFF -DgRPC_BUILD_TESTS=OFF \
    -DgRPC_BUILD_CSHARP_EXT=OFF -DgRPC_BUILD_GRPC_CSHARP_PLUGIN=OFF \
    -DgRPC_BUILD_GRPC_NODE_PLUGIN=OFF -DgRPC_BUILD_GRPC_OBJECTIVE_C_PLUGIN=OFF \
    -DgRPC_BUILD_GRPC_PHP_PLUGIN=OFF -DgRPC_BUILD_GRPC_PYTHON_PLUGIN=OFF \
    -DgRPC_BUILD_GRPC_RUBY_PLUGIN=OFF
  quiet cmake --build "$work/grpc-build" -j "$jobs" --target grpc++ grpc++_reflection
  # The shared libraries only, under the sonames Debian's packages give them.
  find "$work/grpc-build" -maxdepth 1 -name 'lib*.so.*' -exec cp -P {} "$prefix/lib/" \;
  [[ -e $prefix/lib/libgrpc++.so.1.51 && -e $prefix/lib/libgrpc.so.29 ]] ||
    die "tsan: the gRPC build did not produce libgrpc++.so.1.51 and libgrpc.so.29"

  rm -rf "$work"
  touch "$prefix/.complete"
}
