#!/usr/bin/env python3
"""Writes s3.json and sqs.json next to this script: the parts of botocore's
service models (its data/<service>/<version>/service-2.json.gz) that the
emulator's shape tests check answers against. For each operation the
emulator serves: its HTTP binding, its output shape and its errors, and
every shape reachable from them, without the documentation text.

    pip install botocore==1.43.11      # the version the files came from
    python3 emulator/tests/botocore/trim.py

The tests (emulator/tests/it/s3_shapes.rs, sqs_shapes.rs) read the JSON
files; they do not need Python or botocore.
"""
import gzip
import json
import pathlib

import botocore

HERE = pathlib.Path(__file__).resolve().parent
DATA = pathlib.Path(botocore.__file__).resolve().parent / "data"

SERVICES = {
    "s3": (
        "s3/2006-03-01",
        [
            "AbortMultipartUpload", "CompleteMultipartUpload", "CopyObject",
            "CreateBucket", "CreateMultipartUpload", "DeleteBucket",
            "DeleteObject", "DeleteObjects", "GetBucketLocation", "GetObject",
            "HeadBucket", "HeadObject", "ListBuckets", "ListObjects",
            "ListObjectsV2", "ListParts", "PutObject", "UploadPart",
            "UploadPartCopy",
        ],
    ),
    "sqs": (
        "sqs/2012-11-05",
        [
            "CreateQueue", "DeleteMessage", "GetQueueAttributes",
            "GetQueueUrl", "ListQueues", "PurgeQueue", "ReceiveMessage",
            "SendMessage",
        ],
    ),
}

# The keys of a shape or member that describe the wire form.
KEEP = {
    "type", "members", "required", "member", "key", "value", "enum",
    "payload", "flattened", "location", "locationName", "shape",
    "exception", "error", "timestampFormat", "xmlNamespace", "streaming",
}


def strip(node):
    """A shape or member reference with only the KEEP keys."""
    out = {}
    for k, v in node.items():
        if k not in KEEP:
            continue
        if k == "members":
            v = {name: strip(m) for name, m in v.items()}
        elif isinstance(v, dict):
            v = strip(v)
        out[k] = v
    return out


def reachable(shapes, roots):
    seen, todo = set(), list(roots)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        shape = shapes[name]
        refs = list(shape.get("members", {}).values())
        refs += [shape[k] for k in ("member", "key", "value") if k in shape]
        todo += [r["shape"] for r in refs]
    return seen


def main():
    for service, (path, operations) in SERVICES.items():
        with gzip.open(DATA / path / "service-2.json.gz") as f:
            model = json.load(f)
        ops, roots = {}, []
        for name in operations:
            op = model["operations"][name]
            entry = {"http": op["http"]}
            if "output" in op:
                entry["output"] = op["output"]["shape"]
                roots.append(entry["output"])
            entry["errors"] = [e["shape"] for e in op.get("errors", [])]
            roots += entry["errors"]
            ops[name] = entry
        shapes = model["shapes"]
        out = {
            "botocore_version": botocore.__version__,
            "source": f"botocore/data/{path}/service-2.json.gz",
            "metadata": {
                k: model["metadata"][k]
                for k in ("apiVersion", "protocol", "jsonVersion", "targetPrefix", "awsQueryCompatible")
                if k in model["metadata"]
            },
            "operations": ops,
            "shapes": {n: strip(shapes[n]) for n in sorted(reachable(shapes, roots))},
        }
        target = HERE / f"{service}.json"
        target.write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")
        print(f"{target.name}: {len(ops)} operations, {len(out['shapes'])} shapes")


if __name__ == "__main__":
    main()
