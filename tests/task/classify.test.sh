#!/usr/bin/env bash
# csm classify / csm tasks: the CLI contract, and accuracy on the labelled
# faces of tests/data/faceapi: gender on 40 crops of eight people (three
# women, five men), expression on seven photos named by their expression.
# Skips (77) without the models; the faces are in the repository.
set -uo pipefail
csm=${CSM_BIN:?}
models=${CSM_MODELS_DIR:?}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
faces=${CSM_TEST_DATA:-$root/tests/data}/faceapi
MIN_GENDER=${CSM_CLASSIFY_MIN_GENDER:-36}         # of 40
MIN_EXPRESSION=${CSM_CLASSIFY_MIN_EXPRESSION:-4} # of 7
MIN_AGREE=${CSM_CLASSIFY_MIN_AGREE:-6}            # of 7, with human 3.3.6's labels

for f in faceres emotion blazeface-back blazeface-front; do
  [ -f "$models/$f.json" ] || { echo "model $f not installed: skipped"; exit 77; }
done
[ -d "$faces/amy" ] || { echo "FAIL $faces missing (tests/data is in the repository)"; exit 1; }
command -v python3 >/dev/null || { echo "python3 not found: skipped"; exit 77; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/csm-classify.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
export CSM_MODELS_DIR=$models
fails=0
fail() { echo "FAIL $*"; fails=$((fails + 1)); }

# ---- CLI contract ---------------------------------------------------------
"$csm" classify --help | grep -q "usage: csm classify" || fail "--help"
"$csm" classify "$faces/happy.jpg" >/dev/null 2>&1; [ $? = 1 ] || fail "no --task: want exit 1"
"$csm" classify --task "$faces/happy.jpg" >/dev/null 2>&1; [ $? = 1 ] || fail "no images: want exit 1"
"$csm" classify --task nope "$faces/happy.jpg" >"$tmp/out" 2>"$tmp/err"
[ $? = 1 ] || fail "unknown task: want exit 1"
[ "$(wc -l <"$tmp/err")" = 1 ] || fail "unknown task: want a one-line error"
"$csm" classify --task gender "$faces/happy.jpg" "$tmp/missing.jpg" >"$tmp/out" 2>"$tmp/err"
rc=$?
[ $rc = 2 ] || fail "missing image: want exit 2, got $rc"
[ -s "$tmp/out" ] && fail "missing image: want no partial output"
[ "$(wc -l <"$tmp/err")" = 1 ] || fail "missing image: want a one-line error"
"$csm" tasks --json | python3 -c '
import json, sys
t = {x["name"]: x for x in json.load(sys.stdin)["tasks"]}
for n in ("gender", "gender-64", "gender-ssrnet", "expression", "age", "race"):
    assert n in t, n
assert t["expression"]["classes"][3] == "happy" and t["gender"]["input"] == [224, 224, 3]
' || fail "csm tasks --json"

# ---- gender: 40 labelled crops ---------------------------------------------
imgs=()
for p in amy bernadette penny howard leonard raj sheldon stuart; do
  for k in 1 2 3 4 5; do imgs+=("$faces/$p/$p$k.png"); done
done
for task in gender gender-64 gender-ssrnet; do
  "$csm" classify --task $task --json "${imgs[@]}" >"$tmp/$task.json" || { fail "classify $task"; continue; }
  read -r right detail < <(python3 - "$tmp/$task.json" <<'PY'
import json, os, sys
women = {"amy", "bernadette", "penny"}
right, wrong = 0, []
for im in json.load(open(sys.argv[1]))["images"]:
    person = os.path.basename(os.path.dirname(im["path"]))
    want = "female" if person in women else "male"
    got = im["faces"][0]["label"] if im["faces"] else "no face"
    if got == want: right += 1
    else: wrong.append(os.path.basename(im["path"]) + ":" + got)
print(right, "wrong:", " ".join(wrong) or "none")
PY
  )
  echo "gender ($task): $right/40 right; $detail"
  [ "$task" = gender ] && [ "$right" -lt "$MIN_GENDER" ] && fail "gender: $right/40 < $MIN_GENDER"
done

# ---- expression: seven photos ----------------------------------------------
ex=()
for e in angry disgusted fearful happy neutral sad surprised; do ex+=("$faces/$e.jpg"); done
"$csm" classify --task expression --json "${ex[@]}" >"$tmp/expr.json" || fail "classify expression"
read -r right detail < <(python3 - "$tmp/expr.json" <<'PY'
import json, os, sys
want = {"angry": "angry", "disgusted": "disgust", "fearful": "fear", "happy": "happy",
        "neutral": "neutral", "sad": "sad", "surprised": "surprise"}
right, out = 0, []
for im in json.load(open(sys.argv[1]))["images"]:
    name = os.path.splitext(os.path.basename(im["path"]))[0]
    f = im["faces"][0] if im["faces"] else {"label": "no face", "confidence": 0}
    right += f["label"] == want[name]
    out.append("%s->%s(%.2f)" % (name, f["label"], f["confidence"]))
print(right, " ".join(out))
PY
)
echo "expression: $right/7 right: $detail"
[ "$right" -ge "$MIN_EXPRESSION" ] || fail "expression: $right/7 < $MIN_EXPRESSION"

# ---- expression: agreement with human 3.3.6's own labels --------------------
npm=${CSM_NPM_DIR:-$root/deps/npm/node_modules}
if ! command -v node >/dev/null; then
  echo "expression vs human: node not found: skipped"
elif [ ! -d "$npm/@vladmandic/human" ]; then
  echo "expression vs human: no npm tree at $npm: skipped"
elif ! node "${CSM_SOURCE_DIR:-$root}/tests/oracles/human_faces.mjs" --detector back --min-score 0.2 \
  --emotion "${ex[@]}" >"$tmp/human.json" 2>"$tmp/human.err"; then
  fail "human oracle: $(tail -1 "$tmp/human.err")"
else
  read -r agree detail < <(python3 - "$tmp/expr.json" "$tmp/human.json" <<'PY'
import json, os, sys
csm = {os.path.basename(im["path"]): (im["faces"][0]["label"] if im["faces"] else "none")
       for im in json.load(open(sys.argv[1]))["images"]}
hum = {}
for im in json.load(open(sys.argv[2]))["images"]:
    # human labels only faces its mesh keeps: the largest of those.
    fs = [f for f in im["faces"] if f.get("emotion")]
    f = max(fs, key=lambda f: f["box"][2] * f["box"][3]) if fs else {"emotion": "none"}
    hum[os.path.basename(im["path"])] = f["emotion"]
names = sorted(hum)
agree = sum(csm.get(n) == hum[n] for n in names)
print(agree, "human:", ",".join(hum[n] for n in names), "csm:", ",".join(csm.get(n, "none") for n in names))
PY
  )
  echo "expression vs human: $agree/7 agree; $detail"
  [ "$agree" -ge "$MIN_AGREE" ] || fail "expression vs human: $agree/7 < $MIN_AGREE"
fi

# ---- pose: labels agree with csm detect's head pose ---------------------------
# The pose task's bins against the yaw and pitch of the detector's own
# (refined) FaceMesh fit, face by face (matched by box); axes within 3
# degrees of a bin edge (+-10) are not compared. A frontal face (both angles
# under 5 degrees) must be "frontal", a face turned by more than 20 degrees
# left or right by its sign.
samples=${CSM_SAMPLES_DIR:-$root/data/samples}
if [ -f "$models/facemesh.json" ] && [ -f "$samples/sample1.jpg" ]; then
  "$csm" classify --task pose --json "$samples"/sample*.jpg >"$tmp/pose.json" || fail "classify pose"
  "$csm" detect --json "$samples"/sample*.jpg >"$tmp/detect.json" || fail "detect samples"
  python3 - "$tmp/pose.json" "$tmp/detect.json" <<'PY' || fail "pose vs detect"
import json, sys
pose = json.load(open(sys.argv[1]))["images"]
det = {im["path"]: im["faces"] for im in json.load(open(sys.argv[2]))["images"]}
cols = {"left": 0, "right": 2}
rows = {"top": 0, "bottom": 2}
def col(label): return next((v for k, v in cols.items() if label.endswith(k)), 1)
def row(label): return next((v for k, v in rows.items() if label.startswith(k)), 1)
def iou(a, b):
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[0] + a[2], b[0] + b[2]), min(a[1] + a[3], b[1] + b[3])
    i = max(0, x1 - x0) * max(0, y1 - y0)
    return i / (a[2] * a[3] + b[2] * b[3] - i)
n = agree = frontal = turned = 0
bad = []
for im in pose:
    for f in im["faces"]:
        m = max(det[im["path"]], key=lambda d: iou(d["box"], f["box"]), default=None)
        if m is None or iou(m["box"], f["box"]) < 0.7: continue
        yaw, pitch, lab = m["pose"]["yaw"], m["pose"]["pitch"], f["label"]
        assert abs(sum(f["scores"].values()) - 1) < 1e-3
        if abs(abs(yaw) - 10) >= 3:
            want = 0 if yaw < -10 else 2 if yaw > 10 else 1
            n += 1; agree += col(lab) == want
            if col(lab) != want: bad.append("%s yaw %.1f" % (lab, yaw))
        if abs(abs(pitch) - 10) >= 3:
            want = 0 if pitch > 10 else 2 if pitch < -10 else 1
            n += 1; agree += row(lab) == want
            if row(lab) != want: bad.append("%s pitch %.1f" % (lab, pitch))
        if abs(yaw) < 5 and abs(pitch) < 5:
            frontal += 1
            assert lab == "frontal", (im["path"], lab, yaw, pitch)
        if abs(yaw) > 20:
            turned += 1
            assert col(lab) == (0 if yaw < 0 else 2), (im["path"], lab, yaw)
print("pose vs detect: %d/%d axis bins agree, %d frontal, %d turned faces; %s"
      % (agree, n, frontal, turned, " ".join(bad) or "no disagreement"))
assert n >= 20 and agree == n and frontal >= 1 and turned >= 2
PY
else
  echo "pose: facemesh or data/samples absent: skipped"
fi

# ---- every task runs on a group photo and gives normalized scores -----------
# (embedding tasks give no scores: test_embedding covers them)
"$csm" tasks --json | python3 -c '
import json, sys
t = {x["name"]: x for x in json.load(sys.stdin)["tasks"]}
assert t["pose"]["kind"] == "pose" and t["pose"]["classes"][4] == "frontal"
assert t["embed-faceres"]["kind"] == "embedding" and t["embed-faceres"]["dim"] == 1024
assert t["embed-faceres"]["classes"] == []
' || fail "csm tasks --json: pose and embedding entries"
"$csm" tasks | grep -q "embed-faceres .*(embedding, dim 1024)" || fail "csm tasks: embedding dim"
"$csm" classify --task embed-faceres "$faces/happy.jpg" >"$tmp/out" 2>"$tmp/err"
[ $? = 1 ] && [ ! -s "$tmp/out" ] || fail "classify embedding task: want exit 1, no output"
for task in $("$csm" tasks --json | python3 -c "import json,sys; print(' '.join(t['name'] for t in json.load(sys.stdin)['tasks'] if t['kind'] != 'embedding'))"); do
  "$csm" classify --task "$task" --json "$faces/bbt1.jpg" >"$tmp/t.json" 2>"$tmp/err" ||
    { fail "classify $task: $(cat "$tmp/err")"; continue; }
  python3 - "$tmp/t.json" <<'PY' || fail "classify $task on bbt1.jpg: bad scores"
import json, sys
d = json.load(open(sys.argv[1]))
assert len(d["images"][0]["faces"]) >= 3
for f in d["images"][0]["faces"]:
    assert len(f["box"]) == 4
    if f["scores"]:
        assert abs(sum(f["scores"].values()) - 1) < 1e-3
        assert f["scores"][f["label"]] == f["confidence"] == max(f["scores"].values())
    else:
        assert 0 < f["value"] < 100
PY
done

[ $fails = 0 ] && echo "classify: all checks passed"
exit $((fails > 0))
