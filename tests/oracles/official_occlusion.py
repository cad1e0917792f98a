#!/usr/bin/env python3
"""The reference implementation's occlusion map, transcribed, run in PyTorch.

The official code of Canonical Saliency Maps (John, Balasubramanian, Jawahar;
github.com/ThrupthiAnn/Canonical-Salient-Maps, code/CalculateCIS.py and the
notebook demo1_maps.ipynb that calls it) computes a face's map as below; this
file restates that algorithm step for step (nothing of csm is used) so that
csm's reference mode (`csm cis --align prnet`) can be checked against it:

  1. the photo is opened with PIL, resized with Image.resize((224, 224))
     (Pillow's default filter: bicubic), scaled to [0, 1] and normalized with
     the model's mean and std, in float32;
  2. the confidence is the model's raw output at the class it predicts on
     the unoccluded photo;
  3. for every vertex k of the photo's PRNet mesh (vertices[::20] when the
     mesh is PRNet's full 43867), scaled from the photo's pixels to 224, the
     normalized input is set to 0 on rows/columns
     x1 = max(0, floor(x - 15/2)), x2 = min(x1 + 15, 224) (the same in y),
     and the drop d_k = f(I) - f(I occluded) is recorded;
  4. d_k is added, with a count of 1, to the square of side
     s = 15 * frontal_height / 224 around vertex k of the frontal mesh
     (frontal_mesh.mat `vertices`[::20], in frontal.jpg's pixels):
     x1 = max(0, floor(x - s/2)), x2 = min(floor(x1 + s), frontal_height);
  5. the map is the sum over the count where the count is > 0, 0 elsewhere.

The official loader shuffles the vertices (DataLoader(shuffle=True)); only
the order of the float additions depends on that, so here they go in order.

  official_occlusion.py model OUT.onnx [MODEL]
      a seeded model exported to ONNX, dynamic batch. MODEL: cnn (default; a
      small CNN, torch.manual_seed(0)) or resnet18 (torchvision's
      resnet18(num_classes=10) after torch.manual_seed(0), as in issue 14)
  official_occlusion.py map MODEL IMAGE MESH.mat FRONTAL_MESH.mat FRONTAL.jpg OUT.npy
      the official map of IMAGE (the model rebuilt from the same seed)
  official_occlusion.py compare OFFICIAL.npy CSM.npy MIN_R MAX_REL_ERR
      Pearson r and the max abs error (relative to the official map's range)
      on the pixels the official map covers; exit 1 when out of bounds
"""
import math
import os
import sys

import numpy as np

MEAN = [0.485, 0.456, 0.406]
STD = [0.229, 0.224, 0.225]
SIZE = 15


def seeded_model(name):
    import torch

    if name == "resnet18":
        import torchvision

        torch.manual_seed(0)
        return torchvision.models.resnet18(num_classes=10).eval()
    if name != "cnn":
        raise SystemExit(f"unknown model {name}: cnn or resnet18")
    return seeded_cnn(0)


def seeded_cnn(seed):
    """A small CNN with random weights from a fixed seed: convolutions,
    batch norm and pooling down to a 7 x 7 grid that a linear head reads
    whole (not a global average, which would hide where the occlusion is),
    so that every part of the face moves the logits; fast enough for 2194
    occlusions in a test."""
    import torch

    torch.manual_seed(seed)
    nn = torch.nn
    model = nn.Sequential(
        nn.Conv2d(3, 16, 5, stride=2, padding=2), nn.BatchNorm2d(16), nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
        nn.Conv2d(32, 16, 3, stride=2, padding=1), nn.ReLU(),
        nn.AvgPool2d(2), nn.Flatten(), nn.Linear(16 * 7 * 7, 10))
    # Batch-norm statistics away from the identity, so that the layers
    # matter (a fresh BatchNorm2d is mean 0, variance 1).
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.1, 0.1)
    return model.eval()


def export(out, name="cnn"):
    import torch

    model = seeded_model(name)
    x = torch.zeros(1, 3, 224, 224)
    torch.onnx.export(model, x, out, input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
                      opset_version=13)


def load_mat(path):
    from scipy.io import loadmat

    return loadmat(path)["vertices"]


def get_image(filename):
    """The official get_image + preprocess_image (thumbnail((512, 512)) is a
    no-op at 224)."""
    import torch
    from PIL import Image

    img = Image.open(filename)
    orig_size = img.size
    img = img.resize((224, 224))
    arr = np.float32(img).transpose(2, 0, 1)
    for c in range(3):
        arr[c] /= 255
        arr[c] -= MEAN[c]
        arr[c] /= STD[c]
    return torch.from_numpy(arr).float().unsqueeze(0), orig_size


def official_map(model, image, vertices, orig_img_size, frontal_img_shape, frontal_vertices):
    import torch

    with torch.no_grad():
        out = model(image)
    class_index = int(torch.argmax(out))
    original = out[:, class_index]
    img_row, img_col = image.shape[2], image.shape[3]
    vertices = vertices.copy()
    vertices[:, 0] = vertices[:, 0] * img_row / orig_img_size[0]
    vertices[:, 1] = vertices[:, 1] * img_col / orig_img_size[1]
    f_row, f_col = frontal_img_shape[0], frontal_img_shape[1]
    frontsqsz = SIZE * f_row / image.size()[3]
    heatmap = torch.zeros((f_row, f_col))
    count = torch.zeros((f_row, f_col))
    batch = 16
    for b0 in range(0, len(vertices), batch):
        idx = range(b0, min(b0 + batch, len(vertices)))
        occluded = []
        for k in idx:
            x1 = max(0, math.floor(vertices[k, 0] - SIZE / 2))
            x2 = min(x1 + SIZE, img_row)
            y1 = max(0, math.floor(vertices[k, 1] - SIZE / 2))
            y2 = min(y1 + SIZE, img_col)
            p = image.clone()
            p[:, :, y1:y2, x1:x2] = 0
            occluded.append(p[0])
        with torch.no_grad():
            output = model(torch.stack(occluded))[:, class_index]
        diff = original - output
        for jj, k in enumerate(idx):
            x1 = max(0, math.floor(frontal_vertices[k, 0] - frontsqsz / 2))
            x2 = min(math.floor(x1 + frontsqsz), f_row)
            y1 = max(0, math.floor(frontal_vertices[k, 1] - frontsqsz / 2))
            y2 = min(math.floor(y1 + frontsqsz), f_col)
            heatmap[y1:y2, x1:x2] += diff[jj]
            count[y1:y2, x1:x2] += 1
    heatmap[count == 0] = 0
    covered = count > 0
    count[count == 0] = 1
    return (heatmap / count).numpy(), covered.numpy(), class_index


def run_map(name, image, mesh, frontal_mesh, frontal_jpg, out):
    from PIL import Image

    import torch

    torch.set_num_threads(int(os.environ.get("CSM_THREADS", "2")))
    model = seeded_model(name)
    img, sz = get_image(image)
    vertices = load_mat(mesh)
    if len(vertices) > 2194:
        vertices = vertices[::20, :]
    frontal_vertices = load_mat(frontal_mesh)[::20, :]
    frontal = np.asarray(Image.open(frontal_jpg))
    heat, covered, cls = official_map(model, img, vertices, sz, frontal.shape, frontal_vertices)
    np.save(out, heat.astype(np.float32))
    np.save(out.replace(".npy", "_covered.npy"), covered)
    print(f"official map: class {cls}, {int(covered.sum())} covered pixels, "
          f"range [{heat.min():.4g}, {heat.max():.4g}]")


def compare(official, got, min_r, max_rel):
    want = np.load(official).astype(np.float64)
    covered = np.load(official.replace(".npy", "_covered.npy"))
    have = np.load(got).astype(np.float64)
    if want.shape != have.shape:
        print(f"FAIL shapes: official {want.shape}, csm {have.shape}")
        return 1
    a, b = want[covered], have[covered]
    r = np.corrcoef(a, b)[0, 1]
    span = a.max() - a.min()
    err = np.abs(a - b).max() / span
    off = np.abs(have[~covered]).max() if (~covered).any() else 0.0
    print(f"pixels {covered.sum()}: r = {r:.6f}, max abs error = {err:.3g} of the range "
          f"{span:.4g}; largest csm value off the covered pixels {off:.3g}")
    ok = r >= float(min_r) and err <= float(max_rel) and off == 0
    print("ok" if ok else f"FAIL: want r >= {min_r}, error <= {max_rel}, 0 off the covered pixels")
    return 0 if ok else 1


def main(argv):
    if len(argv) in (3, 4) and argv[1] == "model":
        export(*argv[2:])
        return 0
    if len(argv) == 8 and argv[1] == "map":
        run_map(*argv[2:])
        return 0
    if len(argv) == 6 and argv[1] == "compare":
        return compare(*argv[2:])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
