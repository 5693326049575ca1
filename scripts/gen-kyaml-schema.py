#!/usr/bin/env python3
"""Regenerates crates/kustomize/src/kyaml_schema_v1_21_2.txt: the merge declarations
kustomize's strategic merge reads from the Kubernetes v1.21.2 OpenAPI document built
into kyaml (kyaml v0.18.1, the one kustomize v5.5 and kubectl 1.32 use).

Usage: gen-kyaml-schema.py SWAGGER_PB OUT
  SWAGGER_PB: kyaml/openapi/kubernetesapi/v1_21_2/swagger.pb from a kustomize checkout
  at tag kyaml/v0.18.1 (gnostic OpenAPI v2 protobuf).

Only what a merge asks survives: for each kind, the fields leading to lists declared
`x-kubernetes-patch-strategy: merge`, with their keys (`x-kubernetes-list-map-keys`
when declared, else `x-kubernetes-patch-merge-key`; none for lists merged as sets).
"""
import sys

# Field numbers of gnostic's openapi_v2.proto.
DOCUMENT_DEFINITIONS = 9
NAMED_NAME, NAMED_VALUE = 1, 2
SCHEMA_REF, SCHEMA_ADDITIONAL, SCHEMA_TYPE, SCHEMA_ITEMS = 1, 21, 22, 23
SCHEMA_PROPERTIES, SCHEMA_EXTENSIONS = 25, 31
ANY_YAML = 2


def varint(data, i):
    result = shift = 0
    while True:
        byte = data[i]
        i += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return result, i


def fields(data):
    """The (field number, payload) pairs of one protobuf message."""
    i, out = 0, []
    while i < len(data):
        key, i = varint(data, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = varint(data, i)
        elif wire == 2:
            length, i = varint(data, i)
            value, i = data[i:i + length], i + length
        elif wire == 5:
            value, i = data[i:i + 4], i + 4
        elif wire == 1:
            value, i = data[i:i + 8], i + 8
        else:
            raise ValueError(f"unexpected wire type {wire}")
        out.append((number, value))
    return out


def get(message, number):
    return [v for n, v in message if n == number]


def named(message):
    """(name, value) of a gnostic Named* message."""
    parts = fields(message)
    return get(parts, NAMED_NAME)[0].decode(), get(parts, NAMED_VALUE)[0]


def schema(data):
    parts = fields(data)
    out = {}
    ref = get(parts, SCHEMA_REF)
    if ref:
        out["ref"] = ref[0].decode().split("/")[-1]
    types = get(parts, SCHEMA_TYPE)
    if types:
        out["type"] = [t.decode() for t in get(fields(types[0]), 1)]
    items = get(parts, SCHEMA_ITEMS)
    if items:
        first = get(fields(items[0]), 1)
        if first:
            out["items"] = schema(first[0])
    props = get(parts, SCHEMA_PROPERTIES)
    if props:
        out["properties"] = {}
        for entry in get(fields(props[0]), 1):
            name, value = named(entry)
            out["properties"][name] = schema(value)
    additional = get(parts, SCHEMA_ADDITIONAL)
    if additional:
        inner = get(fields(additional[0]), 1)
        if inner:
            out["additional"] = schema(inner[0])
    extensions = {}
    for entry in get(parts, SCHEMA_EXTENSIONS):
        name, value = named(entry)
        text = get(fields(value), ANY_YAML)
        extensions[name] = text[0].decode().strip() if text else ""
    out["ext"] = extensions
    return out


def yaml_list(text):
    return [line[2:].strip() for line in text.splitlines() if line.startswith("- ")]


def gvks(text):
    """The entries of an x-kubernetes-group-version-kind YAML list."""
    entries, current = [], None
    for line in text.splitlines():
        if line.startswith("- "):
            current = {}
            entries.append(current)
            line = line[2:]
        key, _, value = line.strip().partition(":")
        if current is not None and key:
            current[key.strip()] = value.strip().strip('"')
    return entries


def field_target(prop):
    """(definition the field leads to, merge keys or None)."""
    if "ref" in prop:
        return prop["ref"], None
    if prop.get("type") == ["array"]:
        ext = prop["ext"]
        keys = None
        strategy = ext.get("x-kubernetes-patch-strategy", "")
        if "merge" in strategy.split(","):
            if "x-kubernetes-list-map-keys" in ext:
                keys = yaml_list(ext["x-kubernetes-list-map-keys"])
            elif "x-kubernetes-patch-merge-key" in ext:
                keys = [ext["x-kubernetes-patch-merge-key"]]
            else:
                keys = []
        return prop.get("items", {}).get("ref"), keys
    return None, None


def short(name):
    for long, abbrev in [
        ("io.k8s.api.", ""),
        ("io.k8s.apimachinery.pkg.apis.meta.", "meta."),
        ("io.k8s.kube-aggregator.pkg.apis.", "aggregator."),
        ("io.k8s.apiextensions-apiserver.pkg.apis.", "apiextensions."),
    ]:
        name = name.replace(long, abbrev)
    return name


def main(source, target):
    document = fields(open(source, "rb").read())
    definitions = {}
    for entry in get(fields(get(document, DOCUMENT_DEFINITIONS)[0]), 1):
        name, value = named(entry)
        definitions[name] = schema(value)

    def props(definition):
        items = list(definitions.get(definition, {}).get("properties", {}).items())
        if "additional" in definitions.get(definition, {}):
            items.append(("*", definitions[definition]["additional"]))
        return items

    # Which definitions lead to a merged list (a fixed point, for recursive types).
    matters = {name: False for name in definitions}
    changed = True
    while changed:
        changed = False
        for name in definitions:
            if matters[name]:
                continue
            for _, prop in props(name):
                ref, keys = field_target(prop)
                if keys is not None or (ref and matters.get(ref)):
                    matters[name] = changed = True
                    break

    kinds, lines, seen = [], [], set()
    pending = []
    for name, definition in definitions.items():
        for gvk in gvks(definition["ext"].get("x-kubernetes-group-version-kind", "")):
            api = (gvk["group"] + "/" if gvk.get("group") else "") + gvk["version"]
            if matters[name]:
                kinds.append(f"kind {api} {gvk['kind']} {short(name)}")
                pending.append(name)
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        for field, prop in props(name):
            ref, keys = field_target(prop)
            ref = ref if ref and matters.get(ref) else None
            if keys is None and ref is None:
                continue
            keys_text = "-" if keys is None else (",".join(keys) if keys else "[]")
            lines.append(f"{short(name)} {field} {short(ref) if ref else '-'} {keys_text}")
            if ref:
                pending.append(ref)
    with open(target, "w") as out:
        out.write(HEADER)
        out.write("\n".join(sorted(kinds) + sorted(lines)) + "\n")


HEADER = """\
# The merge declarations kustomize's strategic merge reads: kyaml v0.18.1's built-in
# Kubernetes v1.21.2 OpenAPI schema, reduced to what a merge asks. Generated by
# scripts/gen-kyaml-schema.py from kyaml/openapi/kubernetesapi/v1_21_2/swagger.pb.
#   kind API_VERSION KIND DEFINITION   (the definition of a kind's objects)
#   DEFINITION FIELD TARGET KEYS       (TARGET: the field's, or its items', definition,
#   or -; KEYS: the merge keys of a list merged by key, [] for a list merged as a set,
#   - for a field that is not such a list; FIELD * stands for any key of a map)
"""

if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
