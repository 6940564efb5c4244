"""What CEL validation rules (``x-kubernetes-validations``) cost a write of a custom object, in
process: the validation of one object of a CRD written the way Gateway API's are (rules on the
spec, on every list item, uniqueness across a list), on create and on an update that changes one
item, beside the schema validation every object pays; then how long refusing a rule too costly for
its value takes. Usage::

    .venv/bin/python bench/crd_rules.py [--items 64] [--runs 2000]
"""

from __future__ import annotations

import argparse
import copy
import time
from typing import Any

from timing import median_us

from minikube_py.model import crdrules, crdschema

Obj = dict[str, Any]

ITEM_RULES = [
    {"rule": "self.port > 0 && self.port < 65536", "message": "port out of range"},
    {"rule": "self.name.matches('^[a-z0-9-]+$')", "message": "name must be a DNS label"},
    {"rule": "!has(self.hostname) || self.hostname.size() <= 253"},
    {"rule": "self.protocol in ['HTTP', 'HTTPS', 'TCP']"},
]
SPEC_RULES = [
    {"rule": "self.listeners.all(l1, self.listeners.exists_one(l2, l1.name == l2.name))", "message": "names unique"},
    {"rule": "self.listeners.size() > 0"},
    {"rule": "self.className == oldSelf.className", "message": "className is immutable"},
]
SCHEMA: Obj = {
    "type": "object",
    "properties": {
        "spec": {
            "type": "object",
            "x-kubernetes-validations": SPEC_RULES,
            "properties": {
                "className": {"type": "string"},
                "listeners": {
                    "type": "array",
                    "maxItems": 64,
                    "x-kubernetes-list-type": "map",
                    "x-kubernetes-list-map-keys": ["name"],
                    "items": {
                        "type": "object",
                        "x-kubernetes-validations": ITEM_RULES,
                        "properties": {
                            "name": {"type": "string"},
                            "port": {"type": "integer"},
                            "hostname": {"type": "string"},
                            "protocol": {"type": "string"},
                        },
                    },
                },
            },
        }
    },
}


def gateway(items: int) -> Obj:
    listeners = [
        {"name": f"l{i}", "port": 8000 + i, "hostname": f"h{i}.example.com", "protocol": "HTTP"} for i in range(items)
    ]
    return {
        "apiVersion": "x/v1",
        "kind": "G",
        "metadata": {"name": "g"},
        "spec": {"className": "c", "listeners": listeners},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=64, help="listeners per object")
    parser.add_argument("--runs", type=int, default=2000)
    args = parser.parse_args()
    obj = gateway(args.items)
    changed = copy.deepcopy(obj)
    changed["spec"]["listeners"][0]["port"] = 9999
    rules = 1 + len(SPEC_RULES) + args.items * len(ITEM_RULES)
    assert crdrules.validate(SCHEMA, obj, None) == [] and crdrules.validate(SCHEMA, changed, obj) == []
    crdrules.validate(SCHEMA, obj, None)  # compile once, as a served CRD has
    schema_us = median_us(args.runs, lambda: crdschema.validate(SCHEMA, obj))
    create_us = median_us(args.runs, lambda: crdrules.validate(SCHEMA, obj, None))
    update_us = median_us(args.runs, lambda: crdrules.validate(SCHEMA, changed, obj))
    print(f"object: {args.items} listeners, {rules - 1} rule evaluations on create")
    print(f"schema validation (every object)        {schema_us:9.1f} us")
    print(f"CEL rules, create                       {create_us:9.1f} us  ({create_us / (rules - 1):.1f} us a rule)")
    print(f"CEL rules, update of one listener       {update_us:9.1f} us  (unchanged listeners ratcheted)")
    huge = gateway(5000)
    start = time.perf_counter()
    refused = crdrules.validate(SCHEMA, huge, None)
    print(
        f"5000 listeners, quadratic rule refused   {(time.perf_counter() - start) * 1e3:9.1f} ms "
        f"({len(refused)} problem: {refused[0].message[:60]}...)"
    )


if __name__ == "__main__":
    main()
