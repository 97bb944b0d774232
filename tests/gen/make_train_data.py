#!/usr/bin/env python3
"""Tiny SYNTHETIC training datasets in the public on-disk formats, for the Rust data readers.

Deletes and rewrites tests/fixtures/train/data/:
  coco/annotations/{instances,captions}_{train,val}2014.json   COCO 2014 format (80 real categories)
  coco/train2014/COCO_train2014_%012d.jpg (5 listed, 1 absent, 1 corrupt), coco/val2014/... (2)
  coco_masks.json        golden masks: every instance annotation id -> {height, width, rle, area}
  ytvis/train/train.json YouTube-VIS 2019 format (40 real categories), uncompressed-RLE masks
  ytvis/train/JPEGImages/<10-hex video>/<5-digit frame>.jpg (3 videos, one frame file absent)
  ytvis_masks.json       golden masks of video 1: "<ann_id>/<frame_index>" -> {height, width, rle, area}
  folder/metadata.jsonl, folder/images/*.jpg, folder/masks/*.png   a plain folder format

Every image is a smooth colour gradient with flat-coloured shapes; each shape's pixels are exactly
its instance mask (masks are rasterised first, with pycocotools, then painted), and no two masks of
one image overlap. Golden "rle" = run lengths over mask.T.flatten() (column-major), starting with a
run of zeros (possibly 0): the uncompressed counts of pycocotools' mask.encode.

Golden masks of polygons are decoded as the official EZIGen COCO reader does,
mask.decode(mask.merge(mask.frPyObjects(seg, h, w))). That expression RAISES for RLE segmentations
(uncompressed: TypeError in merge; compressed: ValueError in frPyObjects), so the official reader
skips those instances (its bare `except: continue`). Their golden entry holds the mask as
pycocotools' COCO.annToMask decodes it, plus "official_decode_error" (the exception's class name).

Run from the repository root (numpy, pillow, pycocotools):
    /work/venv-fixtures/bin/python tests/gen/make_train_data.py
Re-runs are byte-identical (fixed seeds, sorted compact JSON, PIL JPEG quality 90 without
metadata, PIL default PNG).
"""
import json
import math
import os
import shutil
import sys

import numpy as np
from PIL import Image
from pycocotools import mask as mask_util

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402  (tree_files)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "tests", "fixtures", "train", "data")

# --------------------------------------------------------------------------------------------
# category tables

COCO_CATEGORIES = [  # (id, name, supercategory): the 80 categories of instances_*2014.json
    (1, "person", "person"), (2, "bicycle", "vehicle"), (3, "car", "vehicle"),
    (4, "motorcycle", "vehicle"), (5, "airplane", "vehicle"), (6, "bus", "vehicle"),
    (7, "train", "vehicle"), (8, "truck", "vehicle"), (9, "boat", "vehicle"),
    (10, "traffic light", "outdoor"), (11, "fire hydrant", "outdoor"), (13, "stop sign", "outdoor"),
    (14, "parking meter", "outdoor"), (15, "bench", "outdoor"), (16, "bird", "animal"),
    (17, "cat", "animal"), (18, "dog", "animal"), (19, "horse", "animal"), (20, "sheep", "animal"),
    (21, "cow", "animal"), (22, "elephant", "animal"), (23, "bear", "animal"),
    (24, "zebra", "animal"), (25, "giraffe", "animal"), (27, "backpack", "accessory"),
    (28, "umbrella", "accessory"), (31, "handbag", "accessory"), (32, "tie", "accessory"),
    (33, "suitcase", "accessory"), (34, "frisbee", "sports"), (35, "skis", "sports"),
    (36, "snowboard", "sports"), (37, "sports ball", "sports"), (38, "kite", "sports"),
    (39, "baseball bat", "sports"), (40, "baseball glove", "sports"), (41, "skateboard", "sports"),
    (42, "surfboard", "sports"), (43, "tennis racket", "sports"), (44, "bottle", "kitchen"),
    (46, "wine glass", "kitchen"), (47, "cup", "kitchen"), (48, "fork", "kitchen"),
    (49, "knife", "kitchen"), (50, "spoon", "kitchen"), (51, "bowl", "kitchen"),
    (52, "banana", "food"), (53, "apple", "food"), (54, "sandwich", "food"), (55, "orange", "food"),
    (56, "broccoli", "food"), (57, "carrot", "food"), (58, "hot dog", "food"), (59, "pizza", "food"),
    (60, "donut", "food"), (61, "cake", "food"), (62, "chair", "furniture"),
    (63, "couch", "furniture"), (64, "potted plant", "furniture"), (65, "bed", "furniture"),
    (67, "dining table", "furniture"), (70, "toilet", "furniture"), (72, "tv", "electronic"),
    (73, "laptop", "electronic"), (74, "mouse", "electronic"), (75, "remote", "electronic"),
    (76, "keyboard", "electronic"), (77, "cell phone", "electronic"),
    (78, "microwave", "appliance"), (79, "oven", "appliance"), (80, "toaster", "appliance"),
    (81, "sink", "appliance"), (82, "refrigerator", "appliance"), (84, "book", "indoor"),
    (85, "clock", "indoor"), (86, "vase", "indoor"), (87, "scissors", "indoor"),
    (88, "teddy bear", "indoor"), (89, "hair drier", "indoor"), (90, "toothbrush", "indoor"),
]

YTVIS_2019_CATEGORIES = [  # id order of the YouTube-VIS 2019 train.json
    "person", "giant_panda", "lizard", "parrot", "skateboard", "sedan", "ape", "dog", "snake",
    "monkey", "hand", "rabbit", "duck", "cat", "cow", "fish", "train", "horse", "turtle", "bear",
    "motorbike", "giraffe", "leopard", "fox", "deer", "owl", "surfboard", "airplane", "truck",
    "zebra", "tiger", "elephant", "snowboard", "boat", "shark", "mouse", "frog", "eagle",
    "earless_seal", "tennis_racket",
]
YTVIS_ID = {name: i + 1 for i, name in enumerate(YTVIS_2019_CATEGORIES)}

# --------------------------------------------------------------------------------------------
# writing


def write_bytes(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def dumps(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def write_json(path, obj):
    write_bytes(path, dumps(obj).encode("ascii"))


def save_jpeg(path, img):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3
    Image.fromarray(img, "RGB").save(path, format="JPEG", quality=90)


def save_png_mask(path, mask):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray((mask.astype(np.uint8) * 255), "L").save(path, format="PNG")


# --------------------------------------------------------------------------------------------
# geometry, masks, drawing


def r2(v):
    """COCO-style coordinate: a float with at most 2 decimals."""
    return round(float(v), 2)


def ellipse_poly(cx, cy, rx, ry, n=24, rot=0.0, phase=0.0):
    pts = []
    c, s = math.cos(rot), math.sin(rot)
    for k in range(n):
        t = 2.0 * math.pi * k / n + phase
        x, y = rx * math.cos(t), ry * math.sin(t)
        pts += [r2(cx + c * x - s * y), r2(cy + s * x + c * y)]
    return pts


def rect_poly(x0, y0, x1, y1):
    return [r2(x0), r2(y0), r2(x1), r2(y0), r2(x1), r2(y1), r2(x0), r2(y1)]


def poly_mask(polys, h, w):
    """The official decode of a polygon segmentation (a list of coordinate lists)."""
    return mask_util.decode(mask_util.merge(mask_util.frPyObjects(polys, h, w))).astype(np.uint8)


def runs(mask):
    """Uncompressed COCO RLE counts: run lengths over mask.T.flatten(), first run = zeros."""
    flat = np.asarray(mask, dtype=np.uint8).T.flatten()
    out, cur, n = [], 0, 0
    for v in flat.tolist():
        if v != cur:
            out.append(n)
            cur, n = v, 0
        n += 1
    out.append(n)
    return out


def check_runs(counts, mask):
    h, w = mask.shape
    assert sum(counts) == h * w
    back = mask_util.decode(mask_util.frPyObjects({"counts": counts, "size": [h, w]}, h, w))
    assert np.array_equal(back, mask)
    enc = mask_util.encode(np.asfortranarray(mask.astype(np.uint8)))
    assert np.array_equal(mask_util.decode(enc), mask)


def golden_entry(mask):
    counts = runs(mask)
    check_runs(counts, mask)
    return {"height": int(mask.shape[0]), "width": int(mask.shape[1]), "rle": counts,
            "area": int(mask.sum())}


def gradient(h, w, rng, corners=None):
    """Smooth background: bilinear blend of 4 corner colours (random unless given)."""
    c = (rng.integers(30, 226, size=(4, 3)) if corners is None else corners).astype(np.float64)
    y = np.linspace(0.0, 1.0, h)[:, None, None]
    x = np.linspace(0.0, 1.0, w)[None, :, None]
    img = (c[0] * (1 - y) * (1 - x) + c[1] * (1 - y) * x + c[2] * y * (1 - x) + c[3] * y * x)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


PALETTE = [(220, 40, 40), (40, 160, 60), (40, 70, 210), (240, 200, 30), (170, 40, 200),
           (30, 200, 210), (250, 130, 20), (20, 20, 20), (245, 245, 245), (120, 80, 40)]


def paint(img, mask, colour):
    """Flat colour with a mild vertical shading, exactly on the mask."""
    h = img.shape[0]
    shade = (0.85 + 0.15 * np.linspace(1.0, 0.0, h))[:, None, None]
    layer = np.clip(np.rint(np.array(colour, np.float64)[None, None, :] * shade), 0, 255)
    layer = np.broadcast_to(layer, img.shape).astype(np.uint8)
    img[mask.astype(bool)] = layer[mask.astype(bool)]


def bbox_area(rle):
    return [float(v) for v in mask_util.toBbox(rle).tolist()], float(mask_util.area(rle))


# --------------------------------------------------------------------------------------------
# COCO 2014

COCO_INFO = {"description": "EZIGen-web synthetic COCO 2014 fixture", "url": "", "version": "1.0",
             "year": 2014, "contributor": "tests/gen/make_train_data.py",
             "date_created": "2015-01-27 09:11:52.357475"}
COCO_LICENSES = [{"url": "http://creativecommons.org/licenses/by/2.0/", "id": 4,
                  "name": "Attribution License"}]

# Each image: (case, split, image id, width, height, on-disk state, instances, captions).
# An instance: (category id, kind, geometry, iscrowd) with kind "poly" (geometry = list of
# polygons), "rle" (uncompressed RLE of the rasterised geometry polygons) or "rle_c" (compressed).
COCO_IMAGES = [
    ("a", "train", 139, 128, 96, "ok", [
        (88, "poly", [ellipse_poly(34.3, 50.6, 26.4, 23.1, n=28, rot=0.2)], 0),
        (18, "poly", [[70.5, 20.25, 112.0, 26.75, 116.4, 70.1, 88.2, 88.6, 72.15, 61.3]], 0),
        (44, "poly", [rect_poly(114.0, 0.0, 128.0, 22.0)], 0),  # small, touches the top/right edges
    ], ["a teddy bear", "a teddy bear and a dog next to a bottle",
        "a brown teddy bear sits beside a small dog"]),
    ("b", "train", 285, 96, 128, "ok", [
        (63, "poly", [[2.5, 2.5, 46.0, 3.2, 45.3, 40.1, 3.1, 39.4]], 0),
        (1, "rle", [ellipse_poly(24.0, 64.0, 21.5, 19.0, n=32),
                    ellipse_poly(38.0, 56.0, 8.0, 8.0, n=16)], 1),  # crowd blob (union)
        (62, "poly", [rect_poly(50.0, 2.0, 70.0, 40.0), rect_poly(73.0, 3.0, 94.0, 39.0)], 0),
        (17, "poly", [ellipse_poly(72.0, 64.0, 21.0, 19.5, n=30)], 0),
        (3, "poly", [[30.0, 88.0, 40.0, 104.0, 36.0, 124.0, 12.0, 125.0, 4.0, 106.0, 13.0, 89.0]], 0),
        (44, "poly", [rect_poly(64.0, 96.0, 80.0, 117.0)], 0),
    ], ["people on a couch", "a cat, a car and a chair in a room",
        "several people sitting on a couch near a cat, two chairs and a toy car",
        "a room"]),
    ("c", "train", 632, 128, 96, "ok", [
        (16, "poly", [ellipse_poly(30.0, 30.0, 15.0, 12.0, n=20)], 0),
        (47, "poly", [rect_poly(80.0, 50.0, 101.0, 72.0)], 0),
        (53, "poly", [ellipse_poly(60.0, 75.0, 8.5, 8.5, n=16)], 0),
    ], ["a bird, a cup and an apple", "small things on a table"]),
    ("d", "train", 724, 120, 90, "missing", [
        (18, "poly", [ellipse_poly(60.0, 45.0, 30.0, 22.0, n=24)], 0),
    ], ["a dog", "a dog in the snow", "a large dog standing in the snow", "dog"]),
    ("e", "train", 776, 128, 96, "corrupt", [
        (17, "poly", [[20.0, 20.0, 90.0, 25.0, 80.0, 70.0, 25.0, 75.0]], 0),
    ], ["a cat on a sofa", "an orange cat lying on a grey sofa in the sun", "cat",
        "a cat sleeping", "the cat is asleep on the sofa"]),
    ("f", "val", 42, 96, 128, "ok", [
        (18, "rle_c", [ellipse_poly(48.0, 40.0, 30.0, 26.0, n=32, rot=0.3)], 0),
        (1, "poly", [[20.0, 80.0, 76.0, 78.0, 80.0, 122.0, 16.0, 124.0]], 0),
    ], ["a dog above a person", "a dog jumping over a person lying on the grass"]),
    ("g", "val", 73, 128, 100, "ok", [
        (3, "poly", [[16.0, 40.0, 40.0, 22.0, 92.0, 22.0, 114.0, 44.0, 112.0, 78.0, 18.0, 80.0]], 0),
    ], ["a red car parked on the street", "a car", "a small red car"]),
]


def build_coco():
    rng = np.random.default_rng(2014)
    coco_dir = os.path.join(OUT, "coco")
    golden = {}
    splits = {}
    ann_id = 1
    cap_id = 1001
    for case, split, img_id, w, h, state, insts, caps in COCO_IMAGES:
        img = gradient(h, w, rng)
        file_name = "COCO_%s2014_%012d.jpg" % (split, img_id)
        d = splits.setdefault(split, {"images": [], "instances": [], "captions": []})
        d["images"].append({"id": img_id, "file_name": file_name, "width": w, "height": h,
                            "license": 4, "date_captured": "2013-11-14 16:28:13",
                            "coco_url": "", "flickr_url": ""})
        union = np.zeros((h, w), np.uint8)
        areas = []
        for k, (cat, kind, geom, crowd) in enumerate(insts):
            shape_mask = poly_mask(geom, h, w)
            assert shape_mask.any()
            assert not (union & shape_mask).any(), (case, k, "masks overlap")
            union |= shape_mask
            entry = golden_entry(shape_mask)
            if kind == "poly":
                seg = geom
                rle = mask_util.merge(mask_util.frPyObjects(seg, h, w))
            elif kind == "rle":
                seg = {"counts": runs(shape_mask), "size": [h, w]}
                rle = mask_util.frPyObjects(seg, h, w)
                assert np.array_equal(mask_util.decode(rle), shape_mask)
            elif kind == "rle_c":
                enc = mask_util.encode(np.asfortranarray(shape_mask))
                seg = {"counts": enc["counts"].decode("ascii"), "size": [h, w]}
                rle = {"counts": seg["counts"].encode("ascii"), "size": [h, w]}
                assert np.array_equal(mask_util.decode(rle), shape_mask)
            else:
                raise ValueError(kind)
            # the official reader's expression
            try:
                official = mask_util.decode(mask_util.merge(mask_util.frPyObjects(seg, h, w)))
                assert np.array_equal(official, shape_mask)
            except Exception as e:  # noqa: BLE001 (recorded: the official reader skips these)
                assert kind != "poly"
                entry["official_decode_error"] = type(e).__name__
            bbox, area = bbox_area(rle)
            assert area == entry["area"]
            areas.append(area)
            golden[str(ann_id)] = entry
            d["instances"].append({"id": ann_id, "image_id": img_id, "category_id": cat,
                                   "segmentation": seg, "area": area, "bbox": bbox,
                                   "iscrowd": crowd})
            paint(img, shape_mask, PALETTE[(ann_id * 3) % len(PALETTE)])
            ann_id += 1
        check_coco_case(case, areas)
        lens = [len(c) for c in caps]
        assert 2 <= len(caps) <= 5 and len(set(lens)) == len(lens), (case, "caption lengths")
        for c in caps:
            d["captions"].append({"id": cap_id, "image_id": img_id, "caption": c})
            cap_id += 1
        path = os.path.join(coco_dir, "%s2014" % split, file_name)
        if state == "ok":
            save_jpeg(path, img)
        elif state == "corrupt":
            write_bytes(path, rng.bytes(200))
        else:
            assert state == "missing"
            os.makedirs(os.path.dirname(path), exist_ok=True)

    categories = [{"id": i, "name": n, "supercategory": s} for i, n, s in COCO_CATEGORIES]
    for split, d in splits.items():
        write_json(os.path.join(coco_dir, "annotations", "instances_%s2014.json" % split),
                   {"info": COCO_INFO, "licenses": COCO_LICENSES, "images": d["images"],
                    "annotations": d["instances"], "categories": categories})
        write_json(os.path.join(coco_dir, "annotations", "captions_%s2014.json" % split),
                   {"info": COCO_INFO, "licenses": COCO_LICENSES, "images": d["images"],
                    "annotations": d["captions"]})
    write_json(os.path.join(OUT, "coco_masks.json"), golden)


def check_coco_case(case, areas):
    """Assert that each image exercises the official selection rule it is meant to."""
    top_half = sorted(areas)[-int(len(areas) // 2):]
    kept = [a for a in areas if not ((len(areas) > 4 and a not in top_half) or a < 1000)]
    assert len(set(areas)) == len(areas), (case, "areas must be distinct", areas)
    if case == "a":
        assert sorted(a >= 1000 for a in areas) == [False, True, True], areas
    elif case == "b":
        assert len(areas) == 6 and all(a >= 1000 for a in sorted(areas)[1:]), areas
        assert areas[1] in top_half and areas[2] in top_half and len(kept) == 3, areas
    elif case == "c":
        assert all(a < 1000 for a in areas) and not kept, areas
    else:
        assert len(kept) == len(areas), (case, areas)


# --------------------------------------------------------------------------------------------
# YouTube-VIS 2019

YT_W, YT_H = 128, 72


def yt_objects(video):
    """Per frame, the polygons of each object (None = absent), for the three videos."""
    if video == "a":
        return {"dog": [[ellipse_poly(28.0 + 8.0 * f, 34.0 + 1.5 * math.sin(f), 19.0, 14.5,
                                      n=28, rot=0.05 * f)] for f in range(10)]}
    if video == "b":
        cat = [[[10.0 + 6 * f, 22.0, 46.0 + 6 * f, 18.0, 50.0 + 6 * f, 52.0, 12.0 + 6 * f, 56.0]]
               for f in range(8)]
        tiny = [None, None] + [[ellipse_poly(108.0 - 2 * f, 12.0 + f, 4.0, 3.0, n=12)]
                               for f in range(2, 8)]
        return {"cat": cat, "parrot": tiny}
    assert video == "c"
    return {"dog": [[ellipse_poly(30.0 + f, 36.0, 13.0, 11.0, n=24),
                     ellipse_poly(96.0 - f, 36.0 + 0.5 * f, 12.5, 11.5, n=24)] for f in range(8)]}


YT_VIDEOS = [  # (case, video id, folder, frames, missing frame indices)
    ("a", 1, "3e7d2b0f1a", 10, []),
    ("b", 2, "9c41e5a8d2", 8, []),
    ("c", 3, "f0b6c2e947", 8, [3]),
]


def build_ytvis():
    rng = np.random.default_rng(2019)
    root = os.path.join(OUT, "ytvis", "train")
    videos, anns, golden = [], [], {}
    ann_id = 1
    frame_area = float(YT_W * YT_H)
    for case, vid, folder, n, missing in YT_VIDEOS:
        file_names = ["%s/%05d.jpg" % (folder, 5 * f) for f in range(n)]
        videos.append({"id": vid, "width": YT_W, "height": YT_H, "length": n,
                       "file_names": file_names, "license": 1, "flickr_url": "", "coco_url": "",
                       "date_captured": "2019-04-11 00:55:41.903902"})
        objs = yt_objects(case)
        c0 = rng.integers(40, 216, size=(4, 3))
        drift = rng.integers(-3, 4, size=(4, 3))
        masks = {}
        for name, frames in objs.items():
            masks[name] = [None if p is None else poly_mask(p, YT_H, YT_W) for p in frames]
        for f in range(n):
            # the same background corners drift slowly over the video
            img = gradient(YT_H, YT_W, None, corners=c0 + drift * f)
            union = np.zeros((YT_H, YT_W), np.uint8)
            for k, name in enumerate(objs):
                m = masks[name][f]
                if m is None:
                    continue
                assert m.any() and not (union & m).any(), (case, name, f)
                union |= m
                paint(img, m, PALETTE[(vid * 2 + k * 5) % len(PALETTE)])
            if f not in missing:
                save_jpeg(os.path.join(root, "JPEGImages", file_names[f]), img)
        for name, frames in objs.items():
            segs, areas, bboxes = [], [], []
            for f in range(n):
                m = masks[name][f]
                if m is None:
                    segs.append(None)
                    areas.append(None)
                    bboxes.append(None)
                    continue
                seg = {"counts": runs(m), "size": [YT_H, YT_W]}
                check_runs(seg["counts"], m)
                bbox, area = bbox_area(mask_util.frPyObjects(seg, YT_H, YT_W))
                segs.append(seg)
                areas.append(area)
                bboxes.append(bbox)
                ratio = area / frame_area
                if case == "a":
                    assert 0.05 < ratio < 0.30, ratio
                    golden["%d/%d" % (ann_id, f)] = golden_entry(m)
                elif name == "parrot":
                    assert ratio < 0.1 * 0.1, ratio
                else:
                    assert 0.02 < ratio < 0.30, ratio
                if case == "c":  # two separate blobs of similar size
                    cols = np.nonzero(m.any(axis=0))[0]
                    gaps = np.nonzero(np.diff(cols) > 1)[0]
                    assert len(gaps) == 1, gaps
                    split = cols[gaps[0]] + 1
                    left, right = int(m[:, :split].sum()), int(m[:, split:].sum())
                    assert 0.8 < left / right < 1.25, (left, right)
            anns.append({"id": ann_id, "video_id": vid, "category_id": YTVIS_ID[name],
                         "segmentations": segs, "areas": areas, "bboxes": bboxes, "iscrowd": 0,
                         "width": YT_W, "height": YT_H, "length": n})
            ann_id += 1
    categories = [{"id": i + 1, "name": nm, "supercategory": "object"}
                  for i, nm in enumerate(YTVIS_2019_CATEGORIES)]
    write_json(os.path.join(root, "train.json"),
               {"info": {"description": "EZIGen-web synthetic YouTube-VIS 2019 fixture",
                         "url": "", "version": "1.0", "year": 2019,
                         "contributor": "tests/gen/make_train_data.py",
                         "date_created": "2019-04-11 00:55:41.903902"},
                "licenses": [{"id": 1, "name": "Synthetic", "url": ""}],
                "videos": videos, "annotations": anns, "categories": categories})
    write_json(os.path.join(OUT, "ytvis_masks.json"), golden)


# --------------------------------------------------------------------------------------------
# plain folder format


def folder_image(rng, w, h, polys, colour):
    img = gradient(h, w, rng)
    m = poly_mask(polys, h, w)
    assert m.any()
    paint(img, m, colour)
    return img, m


def build_folder():
    rng = np.random.default_rng(96)
    root = os.path.join(OUT, "folder")
    lines = []

    def subject(name, w, h, polys, colour, with_mask):
        img, m = folder_image(rng, w, h, polys, colour)
        save_jpeg(os.path.join(root, "images", name + ".jpg"), img)
        if with_mask:
            save_png_mask(os.path.join(root, "masks", name + ".png"), m)
            return "images/%s.jpg" % name, "masks/%s.png" % name
        return "images/%s.jpg" % name, None

    def target(name, objects):
        img = gradient(96, 96, rng)
        for polys, colour in objects:
            paint(img, poly_mask(polys, 96, 96), colour)
        save_jpeg(os.path.join(root, "images", name + ".jpg"), img)
        return "images/%s.jpg" % name

    # 1: one subject with a mask
    s, m = subject("s0_0", 96, 96, [ellipse_poly(48.0, 50.0, 30.0, 24.0)], PALETTE[6], True)
    t = target("t0", [([ellipse_poly(30.0, 60.0, 18.0, 14.0)], PALETTE[6])])
    lines.append({"target": t, "caption": "a dog running on the beach", "subjects": [s],
                  "masks": [m], "category": "dog"})
    # 2: two subjects, no masks key
    s1, _ = subject("s1_0", 96, 96, [rect_poly(20.0, 24.0, 76.0, 80.0)], PALETTE[2], False)
    s2, _ = subject("s1_1", 80, 104, [ellipse_poly(40.0, 52.0, 28.0, 40.0, n=20)], PALETTE[2],
                    False)
    t = target("t1", [([rect_poly(50.0, 10.0, 86.0, 46.0)], PALETTE[2])])
    lines.append({"target": t, "caption": "a blue backpack on a wooden bench",
                  "subjects": [s1, s2], "category": "backpack"})
    # 3: four subjects, the third without a mask (null)
    subs, masks = [], []
    for k in range(4):
        poly = [[20.0 + 3 * k, 70.0, 48.0, 14.0 + 4 * k, 76.0 - 2 * k, 72.0]]
        s, m = subject("s2_%d" % k, 96, 96, poly, PALETTE[0], k != 2)
        subs.append(s)
        masks.append(m)
    t = target("t2", [([[10.0, 80.0, 34.0, 30.0, 58.0, 82.0]], PALETTE[0])])
    lines.append({"target": t, "caption": "a red toy in the snow", "subjects": subs,
                  "masks": masks, "category": "toy"})
    # 4: unreadable sample, the target file does not exist
    lines.append({"target": "images/missing_target.jpg", "caption": "a cat on a chair",
                  "subjects": ["images/s0_0.jpg"], "masks": [None], "category": "cat"})
    write_bytes(os.path.join(root, "metadata.jsonl"),
                "".join(dumps(o) + "\n" for o in lines).encode("ascii"))


def main():
    if os.path.exists(OUT):
        shutil.rmtree(OUT)
    os.makedirs(OUT)
    build_coco()
    build_ytvis()
    build_folder()
    total = sum(os.path.getsize(p) for p in common.tree_files(OUT))
    assert total < 1_500_000, total
    print("wrote %s (%d bytes)" % (os.path.relpath(OUT, ROOT), total))


if __name__ == "__main__":
    main()
