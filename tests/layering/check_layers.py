#!/usr/bin/env python3
"""check_layers.py - checks core/'s layering against the build's layer manifest.

The manifest (build/core/layers.txt, written by core/CMakeLists.txt) has one line per layer:
    name | what it may include (folders "model/", files "track/query.hpp", public headers) | owned public headers

  sources   every #include in core/src/<layer> and in the public headers a layer owns names only
            what that layer may see; no include climbs out with "..".
  build     with a layer's include root, an include of every layer it may not see fails to compile
            ("No such file"), and one header of each it may see compiles.
"""
import os
import re
import subprocess
import sys
import tempfile

INCLUDE = re.compile(r'^\s*#\s*include\s*[<"]([^>"]+)[>"]', re.M)


def load(manifest):
    layers = {}
    for line in open(manifest):
        if not line.strip():
            continue
        name, sees, owns = (part.split() for part in line.split("|"))
        layers[name[0]] = {"sees": sees, "owns": owns}
    return layers


def allowed(sees, inc):
    return any(inc == s or (s.endswith("/") and inc.startswith(s)) for s in sees)


def check_sources(core, layers):
    errors = []
    folders = set(layers)
    public = {h for l in layers.values() for h in l["owns"]}
    all_public = set()
    for root, _, files in os.walk(os.path.join(core, "include")):
        for f in files:
            all_public.add(os.path.relpath(os.path.join(root, f), os.path.join(core, "include")))
    for h in sorted(all_public - public):
        errors.append(f"include/{h}: a public header no layer owns (add it to a layer's HEADERS)")

    def scan(path, layer, label):
        text = open(path, errors="replace").read()
        for inc in INCLUDE.findall(text):
            if ".." in inc.split("/"):
                errors.append(f"{label}: #include \"{inc}\" climbs out of its folder")
                continue
            top = inc.split("/")[0]
            if (top in folders and "/" in inc) or inc in all_public:
                if not allowed(layers[layer]["sees"], inc):
                    errors.append(f"{label}: layer '{layer}' includes {inc}, which it may not see")

    src = os.path.join(core, "src")
    for layer in layers:
        d = os.path.join(src, layer)
        if not os.path.isdir(d):
            errors.append(f"src/{layer}: the layer's folder is missing")
            continue
        for f in sorted(os.listdir(d)):
            if f.endswith((".cpp", ".hpp", ".h")):
                scan(os.path.join(d, f), layer, f"src/{layer}/{f}")
        for h in layers[layer]["owns"]:
            scan(os.path.join(core, "include", h), layer, f"include/{h}")
    for entry in sorted(os.listdir(src)):
        if os.path.isdir(os.path.join(src, entry)) and entry not in layers:
            errors.append(f"src/{entry}: a folder that is no layer (declare it with nm_layer)")
    return errors


def compile_probe(compiler, root, inc):
    with tempfile.NamedTemporaryFile("w", suffix=".cpp", delete=False) as f:
        f.write(f'#include "{inc}"\nint main() {{ return 0; }}\n')
        probe = f.name
    try:
        r = subprocess.run([compiler, "-std=c++20", "-fsyntax-only", "-I", root, probe],
                           capture_output=True, text=True)
        return r.returncode, r.stderr
    finally:
        os.unlink(probe)


def first_header(core, folder):
    d = os.path.join(core, "src", folder)
    hs = sorted(f for f in os.listdir(d) if f.endswith(".hpp"))
    return f"{folder}/{hs[0]}" if hs else None


def check_build(core, layers, layer_root, compiler):
    errors = []
    for name, l in layers.items():
        root = os.path.join(layer_root, name)
        for other in layers:
            if other == name:
                continue
            probe = first_header(core, other)
            if probe is None:
                continue
            if allowed(l["sees"], probe):
                rc, err = compile_probe(compiler, root, probe)
                if rc != 0:
                    errors.append(f"layer '{name}' may include {probe} but it does not compile:\n{err}")
            else:
                rc, err = compile_probe(compiler, root, probe)
                if rc == 0 or "No such file" not in err:
                    errors.append(f"layer '{name}' must not see {probe}, yet the compiler "
                                  f"{'accepted it' if rc == 0 else 'failed otherwise:' + err}")
        for s in l["sees"]:
            if not s.endswith("/") and "/" in s and s.split("/")[0] in layers:
                rc, err = compile_probe(compiler, root, s)
                if rc != 0:
                    errors.append(f"layer '{name}': interface {s} does not compile on its own:\n{err}")
    return errors


def main():
    if len(sys.argv) < 4 or sys.argv[1] not in ("sources", "build"):
        print("usage: check_layers.py sources|build MANIFEST CORE_DIR [LAYER_ROOT COMPILER]", file=sys.stderr)
        return 2
    mode, manifest, core = sys.argv[1:4]
    layers = load(manifest)
    if mode == "sources":
        errors = check_sources(core, layers)
    else:
        errors = check_build(core, layers, sys.argv[4], sys.argv[5])
    for e in errors:
        print(e)
    print(f"{mode}: {len(layers)} layers, {len(errors)} problem(s)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
