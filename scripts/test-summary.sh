#!/usr/bin/env bash
# Sums the "test result:" lines of cargo test's output (and pytest's summary)
# into one closing line, so that the last line CI reads counts every test.
set -euo pipefail
awk '
  /^test result:/ { for (i = 1; i <= NF; i++) { if ($(i) ~ /^passed;?$/) p += $(i-1); if ($(i) ~ /^failed;?$/) f += $(i-1); if ($(i) ~ /^ignored;?$/) ig += $(i-1) } }
  /^[0-9]+ passed/ { p += $1 }
  / [0-9]+ failed/ { for (i = 1; i <= NF; i++) if ($(i) ~ /^failed/ && $(i-1) ~ /^[0-9]+$/ && $0 !~ /^test result:/) f += $(i-1) }
  END {
    if (ig > 0) { print "ignored tests found: " ig > "/dev/stderr"; f += ig }
    printf "total: %d passed, %d failed\n", p, f
    exit (f > 0 || p == 0)
  }' "$@"
