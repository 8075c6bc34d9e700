#!/usr/bin/env bash
# Build the local control plane (etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler, kubectl, kwok, helm, and the LeaderWorkerSet controller with its CRD in
# ../lws/) from the Go module proxy and cache the binaries
# outside the repository, keyed by versions. A second run with the same versions is a no-op.
#
# Usage: hack/control-plane/build.sh            # prints the bin directory on the last line
# Env:   CCC_CACHE_DIR (default ~/.cache/ccc)
#
# Binaries are built into a staging directory and renamed into bin/ only when complete, and a lock
# serialises concurrent runs, so an interrupted or parallel build never leaves a broken cache.
# Bump BUILD_RECIPE in versions.env when a change here must invalidate existing caches.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck disable=SC1091
source "$here/versions.env"
export GOTOOLCHAIN=local CGO_ENABLED=0
if ! command -v go >/dev/null && [ -x /usr/local/go/bin/go ]; then export PATH="/usr/local/go/bin:$PATH"; fi
cache_root="${CCC_CACHE_DIR:-$HOME/.cache/ccc}"
key="k8s-${KUBERNETES_VERSION}_etcd-${ETCD_VERSION}_kwok-${KWOK_VERSION}_helm-${HELM_VERSION}_lws-${LWS_VERSION}_r${BUILD_RECIPE}"
out="$cache_root/control-plane/$key"
bin="$out/bin"
want=(etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kwok helm lws-controller)
lws_crd="$out/lws/leaderworkersets.yaml"

all_present() { for b in "${want[@]}"; do [ -x "$bin/$b" ] || return 1; done; [ -f "$lws_crd" ]; }
if all_present; then echo "$bin"; exit 0; fi

command -v go >/dev/null || { echo "build.sh: Go >= 1.24 is needed on PATH to build the control plane" >&2; exit 1; }
mkdir -p "$bin" "$out/src"
exec 9>"$out/.lock"
flock 9
if all_present; then echo "$bin"; exit 0; fi   # a concurrent run finished it meanwhile
stage="$out/stage"
rm -rf "$stage"; mkdir -p "$stage"
publish() { for b in "$@"; do mv -f "$stage/$b" "$bin/$b"; done; }
# Each line carries the CPU seconds (user + system) the build's commands have used so far, so a
# step's cost can be read off a loaded machine, where wall time says little.
# (`times` runs in this shell: in a $(...) subshell it would only see the subshell.)
log() {
  times > "$out/.times"
  local cpu
  cpu="$(awk 'NR==2 { split($1, u, "m"); split($2, s, "m"); printf "%d", u[1]*60 + u[2] + s[1]*60 + s[2] }' "$out/.times")"
  echo "[control-plane build $(date -u +%H:%M:%S) cpu ${cpu}s] $*" >&2
}
build_date="$(date -u +%Y-%m-%dT%H:%M:%SZ)"

build_kube() {
  [ -x "$bin/kube-apiserver" ] && [ -x "$bin/kube-controller-manager" ] && [ -x "$bin/kube-scheduler" ] && [ -x "$bin/kubectl" ] && return 0
  local v="$KUBERNETES_VERSION" minor major=1 sv
  minor="$(echo "$v" | cut -d. -f2)"
  sv="v0.${v#v1.}"
  local d="$out/src/kube"; mkdir -p "$d"
  {
    echo "module local/k8sbins"; echo; echo "go 1.24.0"; echo; echo "godebug default=go1.24"; echo
    echo "require k8s.io/kubernetes $v"; echo; echo "replace ("
    for m in api apiextensions-apiserver apimachinery apiserver cli-runtime client-go cloud-provider \
      cluster-bootstrap code-generator component-base component-helpers controller-manager cri-api \
      cri-client csi-translation-lib dynamic-resource-allocation endpointslice externaljwt kms \
      kube-aggregator kube-controller-manager kube-proxy kube-scheduler kubectl kubelet metrics \
      mount-utils pod-security-admission sample-apiserver sample-cli-plugin sample-controller; do
      echo "	k8s.io/$m => k8s.io/$m $sv"
    done
    echo ")"; echo
    # Go >= 1.24 "tool" directive: keeps the main packages' imports in go.mod under `go mod tidy`
    # (a main package cannot be blank-imported from a tools.go file).
    echo "tool ("
    for c in kube-apiserver kube-controller-manager kube-scheduler kubectl; do echo "	k8s.io/kubernetes/cmd/$c"; done
    echo ")"
  } > "$d/go.mod"
  local ldf="-s -w"
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldf="$ldf -X $p.gitVersion=$v -X $p.gitMajor=$major -X $p.gitMinor=$minor -X $p.gitTreeState=clean -X $p.gitCommit=0000000000000000000000000000000000000000 -X $p.buildDate=$build_date"
  done
  log "resolving k8s.io/kubernetes $v"
  (cd "$d" && go mod tidy)
  log "building kube binaries (slow on a cold cache)"
  (cd "$d" && go build -trimpath -p 2 -ldflags "$ldf" -o "$stage/" \
     k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
     k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl)
  publish kube-apiserver kube-controller-manager kube-scheduler kubectl
}

build_etcd() {
  [ -x "$bin/etcd" ] && return 0
  local d="$out/src/etcd"; mkdir -p "$d"
  printf 'module local/etcdw\n\ngo 1.24.0\n\nrequire go.etcd.io/etcd/server/v3 %s\n' "$ETCD_VERSION" > "$d/go.mod"
  printf 'package main\n\nimport (\n\t"os"\n\n\t"go.etcd.io/etcd/server/v3/etcdmain"\n)\n\nfunc main() { etcdmain.Main(os.Args) }\n' > "$d/main.go"
  log "building etcd $ETCD_VERSION"
  (cd "$d" && go mod tidy && go build -trimpath -ldflags "-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=$ETCD_VERSION" -o "$stage/etcd" .)
  publish etcd
}

build_kwok() {
  [ -x "$bin/kwok" ] && return 0
  local d="$out/src/kwok"; mkdir -p "$d"
  rm -f "$d/tools.go"
  printf 'module local/kwokw\n\ngo 1.24.0\n\nrequire sigs.k8s.io/kwok %s\n\ntool sigs.k8s.io/kwok/cmd/kwok\n' "$KWOK_VERSION" > "$d/go.mod"
  log "building kwok $KWOK_VERSION"
  (cd "$d" && go mod tidy && go build -trimpath -ldflags "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=$KWOK_VERSION -X sigs.k8s.io/kwok/pkg/consts.KubeVersion=$KUBERNETES_VERSION" -o "$stage/kwok" sigs.k8s.io/kwok/cmd/kwok)
  publish kwok
}

build_helm() {
  [ -x "$bin/helm" ] && return 0
  local d="$out/src/helm"; mkdir -p "$d"
  rm -f "$d/tools.go"
  printf 'module local/helmw\n\ngo 1.24.0\n\nrequire helm.sh/helm/v3 %s\n\ntool helm.sh/helm/v3/cmd/helm\n' "$HELM_VERSION" > "$d/go.mod"
  log "building helm $HELM_VERSION"
  (cd "$d" && go mod tidy)
  # Like helm's Makefile: the default Kubernetes version of `helm template`/`helm lint` comes from
  # the client-go it was built with (v0.34.x -> 1.34); unstamped it is v1.20 and charts with a
  # `kubeVersion: >=1.34` constraint fail to render.
  local cgo major minor ldf
  cgo="$(cd "$d" && go list -m -f '{{.Version}}' k8s.io/client-go)"
  major=$(( $(echo "${cgo#v}" | cut -d. -f1) + 1 )); minor="$(echo "$cgo" | cut -d. -f2)"
  ldf="-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION -X helm.sh/helm/v3/internal/version.metadata= -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
  for p in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
    ldf="$ldf -X $p.k8sVersionMajor=$major -X $p.k8sVersionMinor=$minor"
  done
  (cd "$d" && go build -trimpath -ldflags "$ldf" -o "$stage/helm" helm.sh/helm/v3/cmd/helm)
  publish helm
}

build_lws() {
  [ -x "$bin/lws-controller" ] && [ -f "$lws_crd" ] && return 0
  local d="$out/src/lws" src
  mkdir -p "$d" "$out/lws"
  # LWS v0.8 declares go 1.25; the wrapper module must not declare less. Its k8s.io libraries
  # are raised to the control plane's own patch release, so that a cold build reuses the
  # packages just compiled for the kube binaries (same versions, same flags) instead of
  # compiling a second copy.
  local sv="v0.${KUBERNETES_VERSION#v1.}"
  {
    printf 'module local/lwsw\n\ngo 1.25.0\n\nrequire (\n\tsigs.k8s.io/lws %s\n' "$LWS_VERSION"
    for m in api apiextensions-apiserver apimachinery apiserver client-go component-base component-helpers; do
      printf '\tk8s.io/%s %s\n' "$m" "$sv"
    done
    printf ')\n\ntool sigs.k8s.io/lws/cmd\n'
  } > "$d/go.mod"
  log "building lws $LWS_VERSION"
  (cd "$d" && go mod tidy)
  (cd "$d" && go build -trimpath -p 2 -ldflags "-s -w -X sigs.k8s.io/lws/pkg/version.GitVersion=$LWS_VERSION -X sigs.k8s.io/lws/pkg/version.BuildDate=$build_date" -o "$stage/lws-controller" sigs.k8s.io/lws/cmd)
  # The CRD is part of the same module version (config/crd/bases), so it cannot drift from the binary.
  src="$(cd "$d" && go list -m -f '{{.Dir}}' sigs.k8s.io/lws)"
  cp "$src/config/crd/bases/leaderworkerset.x-k8s.io_leaderworkersets.yaml" "$stage/leaderworkersets.yaml"
  chmod 0644 "$stage/leaderworkersets.yaml"
  mv -f "$stage/leaderworkersets.yaml" "$lws_crd"
  publish lws-controller
}

start=$(date +%s)
build_etcd
build_kwok
build_helm
build_kube
build_lws
rm -rf "$stage"
all_present || { log "missing binaries in $bin"; exit 1; }
log "built in $(( $(date +%s) - start ))s"
echo "$bin"
