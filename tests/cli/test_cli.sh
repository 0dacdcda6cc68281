#!/usr/bin/env bash
# End-to-end checks of the `quarry` command's shared behaviour: help, version,
# exit codes for unknown commands and flags, --json, and --help for every command.
set -u
q="${QUARRY_BIN:?QUARRY_BIN not set}"
fails=0
check() { # check NAME EXPECTED_RC CMD...
    local name="$1" want="$2"; shift 2
    "$@" > /tmp/qy-cli-out.$$ 2> /tmp/qy-cli-err.$$; local rc=$?
    if [ "$rc" != "$want" ]; then
        echo "FAIL $name: exit $rc, expected $want"; sed 's/^/  stderr: /' /tmp/qy-cli-err.$$ | head -5
        fails=$((fails + 1))
    else
        echo "ok   $name"
    fi
}
check "no arguments is a usage error" 2 "$q"
grep -q "usage: quarry COMMAND" /tmp/qy-cli-err.$$ || { echo "FAIL usage not printed"; fails=$((fails+1)); }
check "--help" 0 "$q" --help
grep -q "selfcheck" /tmp/qy-cli-out.$$ || { echo "FAIL --help lists no commands"; fails=$((fails+1)); }
check "--version" 0 "$q" --version
grep -q "^quarry [0-9]" /tmp/qy-cli-out.$$ || { echo "FAIL --version"; fails=$((fails+1)); }
check "unknown command" 2 "$q" frobnicate
grep -q "unknown command 'frobnicate'" /tmp/qy-cli-err.$$ || { echo "FAIL message"; fails=$((fails+1)); }
check "unknown flag" 2 "$q" selfcheck --frobnicate
grep -q "unknown option '--frobnicate'" /tmp/qy-cli-err.$$ || { echo "FAIL message"; fails=$((fails+1)); }
check "bad --threads value" 2 "$q" selfcheck --threads many
check "negative --threads" 2 "$q" selfcheck --threads -3
check "missing flag value" 2 "$q" selfcheck --seed
check "extra argument" 2 "$q" selfcheck extra
check "help COMMAND" 0 "$q" help selfcheck
check "help unknown" 2 "$q" help frobnicate
check "selfcheck" 0 "$q" selfcheck --threads 2
check "selfcheck --json" 0 "$q" selfcheck --json --quiet
if command -v python3 >/dev/null; then
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["ok"] is True' /tmp/qy-cli-out.$$ \
        || { echo "FAIL selfcheck --json is not valid JSON with ok=true"; fails=$((fails+1)); }
fi
# every command answers --help with exit 0 and a usage line
for cmd in $("$q" --help | awk '/^commands:/{f=1;next} /^$/{f=0} f{print $1}'); do
    check "$cmd --help" 0 "$q" "$cmd" --help
    grep -q "usage: quarry $cmd" /tmp/qy-cli-out.$$ || { echo "FAIL $cmd --help prints no usage"; fails=$((fails+1)); }
done
rm -f /tmp/qy-cli-out.$$ /tmp/qy-cli-err.$$
echo "cli: $fails failures"
[ $fails -eq 0 ]
