#!/usr/bin/env bash
# `csm models --model bad.onnx` on malformed ONNX files: one line on stderr
# naming the file, nothing on stdout, exit code 2 (bad input), no crash.
# The files are protobuf encoded here by hand (field tags and lengths), so
# the test needs nothing but bash and the csm binary.
set -u
: "${CSM_BIN:?CSM_BIN must name the csm binary}"
dir="${CSM_TEST_TMP:-/tmp}/onnx_errors"
mkdir -p "$dir"
fails=0

# Hex helpers: hx STRING -> its bytes as hex; fld TAG HEX -> a length-
# delimited field (lengths < 128); emit HEX FILE writes the bytes.
hx() { printf '%s' "$1" | od -An -tx1 -v | tr -d ' \n'; }
fld() { printf '%s%02x%s' "$1" $((${#2} / 2)) "$2"; }
emit() { printf "$(printf '%s' "$1" | sed 's/../\\x&/g')" >"$2"; }

# ModelProto: ir_version (08), graph (3a), opset_import (42) {version (10)}.
model() { # GRAPH_HEX OPSET
  printf '0808%s%s' "$(fld 3a "$1")" "$(fld 42 "10$(printf '%02x' "$2")")"
}
out_y="$(fld 62 "$(fld 0a "$(hx y)")")" # graph output 'y' (ValueInfoProto)

# NodeProto: input (0a), output (12), name (1a), op_type (22).
node_foo="$(fld 0a "$(fld 0a "$(hx x)")$(fld 12 "$(hx y)")$(fld 1a "$(hx n1)")$(fld 22 "$(hx Foo)")")"
node_relu="$(fld 0a "$(fld 0a "$(hx w)")$(fld 12 "$(hx y)")$(fld 1a "$(hx r1)")$(fld 22 "$(hx Relu)")")"
# Graph input 'x': ValueInfoProto {name, type {tensor_type {elem_type 1,
# shape {dim {dim_value 1}, dim {dim_value 3}}}}}.
vin() { # NAME D0 D1: a float graph input of shape [D0, D1] (< 128)
  local dims
  dims="$(fld 0a "08$(printf '%02x' "$2")")$(fld 0a "08$(printf '%02x' "$3")")"
  fld 5a "$(fld 0a "$(hx "$1")")$(fld 12 "$(fld 0a "0801$(fld 12 "$dims")")")"
}
in_x="$(vin x 1 3)"
# An initializer 'w' (TensorProto: dims 08, data_type 10, name 42,
# external_data 6a {key 0a, value 12}, data_location 70 = EXTERNAL).
ext_w() {
  fld 2a "08011001$(fld 42 "$(hx w)")$(fld 6a "$(fld 0a "$(hx location)")$(fld 12 "$(hx "$1")")")7001"
}
out_w="$(fld 62 "$(fld 0a "$(hx w)")")"

emit "ffffffffffff" "$dir/junk.onnx"
: >"$dir/empty.onnx"
emit "08083a200a03" "$dir/truncated.onnx"
emit "$(model "" 10)" "$dir/opset10.onnx"
emit "$(model "" 18)" "$dir/opset18.onnx"
emit "0808$(fld 42 100d)" "$dir/nograph.onnx"
emit "$(model "$in_x$node_foo$out_y" 13)" "$dir/unsupported.onnx"
emit "$(model "$in_x$node_relu$out_y" 13)" "$dir/missing_init.onnx"
emit "$(model "$in_x$out_y" 13)" "$dir/missing_output.onnx"
emit "$(model "$in_x$(ext_w ../outside.bin)$out_w" 13)" "$dir/outside.onnx"
emit "$(model "$in_x$(ext_w /etc/passwd)$out_w" 13)" "$dir/absolute.onnx"
printf 'abc' >"$dir/short.bin"
node_add="$(fld 0a "$(fld 0a "$(hx a)")$(fld 0a "$(hx b)")$(fld 12 "$(hx y)")$(fld 1a "$(hx bad_add)")$(fld 22 "$(hx Add)")")"
emit "$(model "$(vin a 1 3)$(vin b 1 4)$node_add$out_y" 13)" "$dir/shapes.onnx"
emit "$(model "$in_x$(ext_w short.bin)$out_w" 13)" "$dir/short_external.onnx"

check() { # FILE MESSAGE_PART
  local f="$dir/$1" want="$2" out err rc
  out="$("$CSM_BIN" models --model "$f" 2>"$dir/stderr")"
  rc=$?
  err="$(cat "$dir/stderr")"
  local lines
  lines=$(printf '%s\n' "$err" | wc -l)
  if [ "$rc" -ne 2 ] || [ -n "$out" ] || [ "$lines" -ne 1 ] || [[ "$err" != *"$f"* ]] ||
    [[ "$err" != *"$want"* ]]; then
    echo "FAIL $1: exit $rc (want 2), stdout '$out', stderr ($lines lines):" >&2
    printf '%s\n' "$err" >&2
    fails=$((fails + 1))
  else
    echo "ok   $1: $err"
  fi
}

check junk.onnx "not an ONNX model (protobuf parse failed)"
check empty.onnx "not an ONNX model (empty file)"
check truncated.onnx "not an ONNX model"
check nograph.onnx "not an ONNX model (no graph)"
check opset10.onnx "opset 10"
check opset18.onnx "opset 18"
check unsupported.onnx "node 'n1' (Foo): unsupported operator"
check missing_init.onnx "node 'r1' (Relu): input 'w' is not produced by any node or initializer"
check missing_output.onnx "graph output 'y' is not produced"
check outside.onnx "leaves the model's folder"
check absolute.onnx "absolute path"
check short_external.onnx "reach past its end"
check does-not-exist.onnx "cannot open"
# Inconsistent shapes fail at load, in the planner, naming the node.
check shapes.onnx "node 'y' (Add)"

if [ "$fails" -ne 0 ]; then
  echo "$fails case(s) failed" >&2
  exit 1
fi
echo "all ONNX error cases: one line, exit 2"
