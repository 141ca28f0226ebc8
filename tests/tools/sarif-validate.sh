#!/usr/bin/env bash
# sarif-validate.sh - validates SARIF files with Microsoft's SARIF multitool, installing it first.
#
# usage: sarif-validate.sh [--tool-dir DIR] [--strict] [--install-only] FILE...
#
# The multitool comes from the npm registry: @microsoft/sarif-multitool is a small wrapper whose
# optional dependency @microsoft/sarif-multitool-linux ships Sarif.Multitool, a self-contained
# .NET single-file executable for linux-x64 (no .NET install needed). `npx sarif-multitool` runs
# the same binary through a `shell: true` wrapper; it is called directly here so paths with spaces
# work. `validate` exits 0 even when the file is invalid, so the verdict is read from the SARIF
# log it writes with -o: any result of level "error" (JSON schema violations JSON1xxx, SARIF1xxx
# rules) fails; warnings (SARIF2xxx best practices) fail only with --strict.
#
# Exit status: 0 valid, 1 invalid, 2 usage, 77 the tool cannot be installed or run here (the reason
# is printed; CTest/GoogleTest callers report it as a skip).
set -u

PKG_VERSION=5.7.0
tool_dir="${NMLEAK_SARIF_TOOL_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/nmleak/sarif-multitool}"
strict=0
install_only=0
files=()
while [ $# -gt 0 ]; do
    case "$1" in
    --tool-dir) tool_dir="$2"; shift 2 ;;
    --strict) strict=1; shift ;;
    --install-only) install_only=1; shift ;;
    -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "sarif-validate: unknown option $1" >&2; exit 2 ;;
    *) files+=("$1"); shift ;;
    esac
done
if [ $install_only = 0 ] && [ ${#files[@]} = 0 ]; then
    echo "usage: sarif-validate.sh [--tool-dir DIR] [--strict] [--install-only] FILE..." >&2
    exit 2
fi

unavailable() {
    echo "SARIF multitool unavailable: $*" >&2
    exit 77
}

[ "$(uname -s)" = Linux ] || unavailable "only the linux-x64 build is used here, this is $(uname -s)"
[ "$(uname -m)" = x86_64 ] ||
    unavailable "@microsoft/sarif-multitool-linux ships an x86-64 binary only, this machine is $(uname -m)"
command -v node >/dev/null 2>&1 || unavailable "node is not installed (needed to read the results)"

tool="$tool_dir/node_modules/@microsoft/sarif-multitool-linux/Sarif.Multitool"
if [ ! -e "$tool" ]; then
    command -v npm >/dev/null 2>&1 || unavailable "npm is not installed (apt-get install npm)"
    mkdir -p "$tool_dir" || unavailable "cannot create $tool_dir"
    echo "installing @microsoft/sarif-multitool@$PKG_VERSION into $tool_dir ..." >&2
    log="$tool_dir/npm-install.log"
    if ! timeout 600 npm install --prefix "$tool_dir" --no-audit --no-fund --loglevel=error \
        "@microsoft/sarif-multitool@$PKG_VERSION" >"$log" 2>&1; then
        unavailable "'npm install @microsoft/sarif-multitool@$PKG_VERSION' failed (no access to the npm registry?): $(tail -n 5 "$log" | tr '\n' ' ')"
    fi
    [ -e "$tool" ] ||
        unavailable "npm installed the wrapper but not @microsoft/sarif-multitool-linux (optional dependencies disabled?)"
fi
# The package's postinstall only does this chmod; npm may be configured not to run scripts.
[ -x "$tool" ] || chmod u+x "$tool" 2>/dev/null || unavailable "$tool is not executable"
[ $install_only = 1 ] && exit 0

# .NET would otherwise need libicu and a writable $HOME for its single-file extraction.
export DOTNET_SYSTEM_GLOBALIZATION_INVARIANT=1
export DOTNET_BUNDLE_EXTRACT_BASE_DIR="$tool_dir/.dotnet-extract"
export DOTNET_CLI_TELEMETRY_OPTOUT=1

status=0
for f in "${files[@]}"; do
    [ -r "$f" ] || { echo "sarif-validate: cannot read $f" >&2; status=1; continue; }
    work="$(mktemp -d "${TMPDIR:-/tmp}/sarif-validate.XXXXXX")"
    # The multitool silently skips files not named *.sarif ("invalid target"), and refuses to
    # overwrite an existing output log.
    cp "$f" "$work/input.sarif"
    out="$work/validation.sarif"
    if ! timeout 300 "$tool" validate --level "Error;Warning;Note" -o "$out" "$work/input.sarif" \
        >"$work/console" 2>&1 || [ ! -s "$out" ]; then
        cat "$work/console" >&2
        rm -rf "$work"
        unavailable "Sarif.Multitool did not run (see its output above)"
    fi
    if grep -q "skipped entirely" "$work/console"; then
        cat "$work/console" >&2
        echo "$f: Sarif.Multitool skipped the file" >&2
        status=1
    fi
    node - "$out" "$f" "$strict" <<'EOF' || status=1
const [log, file, strict] = process.argv.slice(2);
const runs = JSON.parse(require('fs').readFileSync(log, 'utf8')).runs || [];
let errors = 0, warnings = 0, notes = 0;
for (const run of runs) {
    const rules = new Map((run.tool?.driver?.rules || []).map(r => [r.id, r]));
    for (const r of run.results || []) {
        const rule = rules.get(r.ruleId);
        const level = r.level || rule?.defaultConfiguration?.level || 'warning';
        if (level === 'error') errors++;
        else if (level === 'warning') warnings++;
        else { notes++; continue; } // best-practice hints (SARIF2002, ...): counted, not printed
        // Messages are templates in the rule ("{0}: The required property ...") plus arguments.
        let text = r.message?.text ?? rule?.messageStrings?.[r.message?.id]?.text ?? '';
        (r.message?.arguments || []).forEach((a, i) => { text = text.split(`{${i}}`).join(a); });
        const where = r.locations?.[0]?.physicalLocation?.region;
        const at = where ? `(${where.startLine},${where.startColumn})` : '';
        console.log(`${file}${at}: ${level} ${r.ruleId}: ${text}`);
    }
}
console.log(`${file}: ${errors} error(s), ${warnings} warning(s), ${notes} note(s) from Sarif.Multitool validate`);
process.exit(errors > 0 || (strict === '1' && warnings > 0) ? 1 : 0);
EOF
    rm -rf "$work"
done
exit $status
