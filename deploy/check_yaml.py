#!/usr/bin/env python3
"""Checks socbot's deployment YAML without a cluster: every file parses (yaml.safe_load), and
the pieces agree with each other and with the daemon (one replica, probe paths, the port
SOCBOT__HTTP__LISTEN names, volumes and Secret keys that exist, kustomize resources and
components that exist).

Usage: python3 deploy/check_yaml.py   (exit 1 on any problem; exit 0 with a note when PyYAML is
missing, so callers may skip).
       kubectl kustomize … | python3 deploy/check_yaml.py --rendered NAME
checks what kustomize made of it (a StatefulSet with or without a component, and the restore
pod): the same checks, every object in one namespace, and the restore pod on the StatefulSet's
image, store path and volume claim."""

import pathlib
import sys

try:
    import yaml
except ImportError:  # pragma: no cover
    print("skipped: PyYAML is not installed (apt-get install python3-yaml)")
    sys.exit(0)

DEPLOY = pathlib.Path(__file__).resolve().parent
problems = []


def problem(path, message):
    problems.append(f"{path.relative_to(DEPLOY.parent)}: {message}")


def load(path):
    with path.open(encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def check_compose(path):
    (doc,) = load(path)
    svc = doc["services"]["socbot"]
    if svc.get("build", {}).get("dockerfile") != "deploy/Dockerfile":
        problem(path, "socbot must build from deploy/Dockerfile")
    if "/data" not in " ".join(str(v) for v in svc.get("volumes", [])):
        problem(path, "the store volume must be mounted at /data")
    if not any(str(p).endswith(":9184") for p in svc.get("ports", [])):
        problem(path, "port 9184 (health and metrics) is not published")
    for env_file in svc.get("env_file", []):
        name = env_file["path"] if isinstance(env_file, dict) else env_file
        example = DEPLOY / (pathlib.Path(name).name + ".example")
        if not example.is_file():
            problem(path, f"no example for env file {name} ({example.name})")


def containers(pod_spec):
    return pod_spec.get("containers", []) + pod_spec.get("initContainers", [])


def check_pod(path, name, spec, claims=()):
    volumes = {v["name"] for v in spec.get("volumes", [])} | set(claims)
    for c in containers(spec):
        for m in c.get("volumeMounts", []):
            if m["name"] not in volumes:
                problem(path, f"{name}: mount {m['name']} has no volume")
        sc = c.get("securityContext", {})
        if sc.get("allowPrivilegeEscalation") is not False:
            problem(path, f"{name}: allowPrivilegeEscalation must be false")
        if sc.get("readOnlyRootFilesystem") is not True:
            problem(path, f"{name}: the root filesystem should be read-only")
    if spec.get("securityContext", {}).get("runAsNonRoot") is not True:
        problem(path, f"{name}: runAsNonRoot must be true")


def env_of(container):
    return {e["name"]: e for e in container.get("env", [])}


KUSTOMIZE_KINDS = ("Kustomization", "Component")


def check_kubernetes(directory):
    docs = {}
    for path in sorted(directory.rglob("*.yaml")):
        for doc in load(path):
            for key in ("apiVersion", "kind", "metadata"):
                if key not in doc and not (key == "metadata" and doc.get("kind") in KUSTOMIZE_KINDS):
                    problem(path, f"a document without {key}")
            docs.setdefault(doc.get("kind"), []).append((path, doc))
    for kind in KUSTOMIZE_KINDS:
        for path, k in docs.get(kind, []):
            if path.name != "kustomization.yaml":
                problem(path, f"a {kind} must be in a file named kustomization.yaml")
            for resource in k.get("resources", []):
                if not (path.parent / resource).is_file():
                    problem(path, f"resource {resource} does not exist")
            for component in k.get("components", []):
                if not (path.parent / component / "kustomization.yaml").is_file():
                    problem(path, f"component {component} has no kustomization.yaml")
    check_objects(docs, optional_config_maps={"socbot-playbooks"})


def check_objects(docs, optional_config_maps=()):
    """The checks on Kubernetes objects, by kind: `docs` maps kind to [(path, doc)]."""
    secret_keys = {
        key
        for _, s in docs.get("Secret", [])
        for key in list(s.get("stringData", {})) + list(s.get("data", {}))
    }
    config_maps = {c["metadata"]["name"] for _, c in docs.get("ConfigMap", [])}
    services = docs.get("Service", [])
    for path, sts in docs.get("StatefulSet", []):
        spec = sts["spec"]
        if spec.get("replicas") != 1:
            problem(path, "replicas must be 1: the sled store has one writer")
        if spec.get("serviceName") not in {s["metadata"]["name"] for _, s in services}:
            problem(path, "serviceName names no Service")
        pod = spec["template"]["spec"]
        labels = spec["template"]["metadata"].get("labels", {})
        if spec["selector"]["matchLabels"].items() - labels.items():
            problem(path, "the selector does not match the pod's labels")
        claims = [c["metadata"]["name"] for c in spec.get("volumeClaimTemplates", [])]
        if not claims:
            problem(path, "no volumeClaimTemplates: the store would not survive a restart")
        check_pod(path, "statefulset", pod, claims)
        for v in pod.get("volumes", []):
            cm = v.get("configMap", {}).get("name")
            if cm and cm not in config_maps and cm not in optional_config_maps:
                problem(path, f"volume {v['name']} uses ConfigMap {cm}, defined nowhere")
        socbots = [c for c in pod["containers"] if c["name"] == "socbot"]
        if len(socbots) != 1:
            problem(path, "the pod needs exactly one container named socbot")
            continue
        (c,) = socbots
        env = env_of(c)
        listen = env.get("SOCBOT__HTTP__LISTEN", {}).get("value", "")
        port = int(listen.rsplit(":", 1)[1]) if ":" in listen else None
        ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
        if port is None or ports.get("http") != port:
            problem(path, f"containerPort http {ports.get('http')} != SOCBOT__HTTP__LISTEN {listen!r}")
        for probe, want in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
            got = c.get(probe, {}).get("httpGet", {}).get("path")
            if got != want:
                problem(path, f"{probe} must GET {want}, not {got}")
        for e in env.values():
            ref = e.get("valueFrom", {}).get("secretKeyRef")
            if ref and not ref.get("optional") and ref["key"] not in secret_keys:
                problem(path, f"{e['name']} reads Secret key {ref['key']}, not in the example Secret")
        mounts = {m["mountPath"]: m for m in c.get("volumeMounts", [])}
        store = env.get("SOCBOT__STORE__PATH", {}).get("value", "")
        if not any(store.startswith(p + "/") and m["name"] in claims for p, m in mounts.items()):
            problem(path, f"store.path {store!r} is not on the volume claim")
        for _, svc in services:
            if svc["spec"]["selector"].items() - labels.items():
                problem(path, f"Service {svc['metadata']['name']} selects no pod")
    for path, pod in docs.get("Pod", []):
        check_pod(path, pod["metadata"]["name"], pod["spec"])


def check_rendered(name, text):
    """What `kubectl kustomize` made: the objects' checks, one namespace, and the restore pod
    (when there) on the StatefulSet's image, store path and claim."""
    path = DEPLOY / f"<{name}>"
    docs = {}
    for doc in yaml.safe_load_all(text):
        if doc is not None:
            docs.setdefault(doc.get("kind"), []).append((path, doc))
    if not docs.get("StatefulSet") and not docs.get("Pod"):
        problem(path, "kustomize made neither the StatefulSet nor the restore pod")
    namespaces = {
        d["metadata"].get("namespace") for kind in docs for _, d in docs[kind] if kind != "Namespace"
    }
    if len(namespaces) != 1 or None in namespaces:
        problem(path, f"objects are in namespaces {sorted(map(str, namespaces))}, not one")
    # The ConfigMap of playbooks and the Secret are created with kubectl, not by kustomize.
    for doc in load(DEPLOY / "kubernetes" / "secret.example.yaml"):
        docs.setdefault("Secret", []).append((path, doc))
    check_objects(docs, optional_config_maps={"socbot-playbooks"})
    for _, sts in docs.get("StatefulSet", []):
        spec = sts["spec"]
        (socbot,) = [c for c in spec["template"]["spec"]["containers"] if c["name"] == "socbot"]
        claim = f"{spec['volumeClaimTemplates'][0]['metadata']['name']}-{sts['metadata']['name']}-0"
        for _, pod in docs.get("Pod", []):
            pname = pod["metadata"]["name"]
            for c in pod["spec"]["containers"]:
                if c["image"] != socbot["image"]:
                    problem(path, f"{pname}: image {c['image']}, the StatefulSet runs {socbot['image']}")
                if env_of(c).get("SOCBOT__STORE__PATH") != env_of(socbot).get("SOCBOT__STORE__PATH"):
                    problem(path, f"{pname}: SOCBOT__STORE__PATH differs from the StatefulSet's")
            claims = [v.get("persistentVolumeClaim", {}).get("claimName") for v in pod["spec"].get("volumes", [])]
            if claim not in claims:
                problem(path, f"{pname}: does not mount the StatefulSet's claim {claim}")
            if pod["metadata"].get("labels", {}).get("app.kubernetes.io/name") == "socbot":
                problem(path, f"{pname}: labelled as socbot, the Service would send it traffic")


def main():
    if sys.argv[1:2] == ["--rendered"]:
        name = sys.argv[2] if len(sys.argv) > 2 else "stdin"
        check_rendered(name, sys.stdin.read())
        for p in problems:
            print(f"error: {p}")
        print(f"kustomize output {name}: {len(problems)} problem(s)")
        return 1 if problems else 0
    check_compose(DEPLOY / "compose.yaml")
    check_kubernetes(DEPLOY / "kubernetes")
    for p in problems:
        print(f"error: {p}")
    files = 1 + len(list((DEPLOY / "kubernetes").rglob("*.yaml")))
    print(f"{files} YAML files parsed, {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
