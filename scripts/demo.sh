#!/usr/bin/env bash
# `make demo`: the main job on the built-in sample photos (csm demo): every
# face's CIS for gender, expression and age, each task's CMS, the CMS
# reprojected onto every photo, and the HTML report in demo-out/.
set -euo pipefail
build=${1:-build}
CSM_PROGRESS=${CSM_PROGRESS:-1} "$build/csm" demo -o demo-out
echo "open demo-out/report.html (the tasks' CMS side by side: demo-out/cms.png)"
