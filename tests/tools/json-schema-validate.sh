#!/usr/bin/env bash
# json-schema-validate.sh - checks JSON documents against a JSON Schema (draft 2020-12) with Ajv.
#
# usage: json-schema-validate.sh [--tool-dir DIR] [--def NAME] SCHEMA FILE...
#   --def NAME   validate against SCHEMA's $defs/NAME instead of the root (e.g. --def diff)
#
# Ajv (npm package "ajv", v8) is installed into DIR on first use (default:
# $NMLEAK_AJV_DIR or ~/.cache/nmleak/ajv). Exit status: 0 all valid, 1 a document is invalid,
# 2 usage, 77 Ajv cannot be installed or node is missing (the reason is printed).
set -u

AJV_VERSION=8.12.0
tool_dir="${NMLEAK_AJV_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/nmleak/ajv}"
def=""
args=()
while [ $# -gt 0 ]; do
    case "$1" in
    --tool-dir) tool_dir="$2"; shift 2 ;;
    --def) def="$2"; shift 2 ;;
    -*) echo "json-schema-validate: unknown option $1" >&2; exit 2 ;;
    *) args+=("$1"); shift ;;
    esac
done
if [ ${#args[@]} -lt 2 ]; then
    echo "usage: json-schema-validate.sh [--tool-dir DIR] [--def NAME] SCHEMA FILE..." >&2
    exit 2
fi

unavailable() {
    echo "Ajv unavailable: $*" >&2
    exit 77
}
command -v node >/dev/null 2>&1 || unavailable "node is not installed"
if [ ! -e "$tool_dir/node_modules/ajv/dist/2020.js" ]; then
    command -v npm >/dev/null 2>&1 || unavailable "npm is not installed (apt-get install npm)"
    mkdir -p "$tool_dir" || unavailable "cannot create $tool_dir"
    log="$tool_dir/npm-install.log"
    if ! timeout 300 npm install --prefix "$tool_dir" --no-audit --no-fund --loglevel=error \
        "ajv@$AJV_VERSION" >"$log" 2>&1; then
        unavailable "'npm install ajv@$AJV_VERSION' failed (no access to the npm registry?): $(tail -n 5 "$log" | tr '\n' ' ')"
    fi
fi

NODE_PATH="$tool_dir/node_modules" node - "$def" "${args[@]}" <<'JS'
const fs = require('fs');
const Ajv2020 = require('ajv/dist/2020');
const [def, schemaPath, ...files] = process.argv.slice(2);
const ajv = new Ajv2020({allErrors: true, strict: false});
const schema = JSON.parse(fs.readFileSync(schemaPath, 'utf8'));
ajv.addSchema(schema);
const validate = ajv.getSchema(def ? `${schema.$id}#/$defs/${def}` : schema.$id);
if (!validate) { console.error(`no schema ${def || schema.$id} in ${schemaPath}`); process.exit(2); }
let bad = 0;
for (const f of files) {
    let doc;
    try { doc = JSON.parse(fs.readFileSync(f, 'utf8')); }
    catch (e) { console.log(`${f}: not JSON: ${e.message}`); bad++; continue; }
    if (validate(doc)) { console.log(`${f}: valid against ${schemaPath}${def ? ' $defs/' + def : ''}`); continue; }
    bad++;
    for (const e of validate.errors.slice(0, 20))
        console.log(`${f}: ${e.instancePath || '/'} ${e.message} (${e.schemaPath})`);
}
process.exit(bad ? 1 : 0);
JS
