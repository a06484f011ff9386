#!/usr/bin/env python3
"""A nightly batch script in Python, using the same gRPC API as the CLI.

It streams a CSV file (UTF-8, headers in Chinese as `ladder generate` writes
them, or in English: credit_code, display_name, industry_code, …) into ladder
with SyncService.SyncEnterprises and prints what happened to every row.

    pip install grpcio grpcio-tools
    python3 scripts/sync_example.py firms.csv --source market-registry
    python3 scripts/sync_example.py firms.csv --source market-registry --dry-run

The stubs are generated from proto/ at start-up (grpcio-tools), so the script
always matches the server it ships with. Set LADDER_TOKEN when the server
requires tokens (role `sync`).
"""

import argparse
import codecs
import csv
import os
import pathlib
import sys
import tempfile

import grpc
from grpc_tools import protoc

ROOT = pathlib.Path(__file__).resolve().parent.parent
PROTOS = ROOT / "proto"
# Columns the script maps onto ladder.v1.Enterprise fields; `tags` is a list.
COLUMNS = ["display_name", "industry_code", "region_code", "founding_date", "address",
           "legal_representative", "promotion_zone", "service_commissioner", "tags", "website", "notes"]
CHINESE = {"统一社会信用代码": "credit_code", "企业名称": "display_name", "行业代码": "industry_code",
           "注册地": "region_code", "成立日期": "founding_date", "注册地址": "address",
           "法定代表人": "legal_representative", "片区": "promotion_zone", "服务专员": "service_commissioner",
           "标签": "tags", "网站": "website", "备注": "notes"}


def load_stubs():
    """Compiles the ladder protos into a temporary package and imports it."""
    out = pathlib.Path(tempfile.mkdtemp(prefix="ladder-stubs-"))
    include = pathlib.Path(protoc.__file__).parent / "_proto"
    files = [str(p.relative_to(PROTOS)) for p in sorted((PROTOS / "ladder" / "v1").glob("*.proto"))]
    code = protoc.main(["protoc", f"-I{PROTOS}", f"-I{include}", f"--python_out={out}",
                        f"--grpc_python_out={out}", *files])
    if code != 0:
        sys.exit(f"error: cannot compile the protos in {PROTOS}")
    sys.path.insert(0, str(out))
    from ladder.v1 import enterprise_pb2, sync_pb2, sync_pb2_grpc  # noqa: E402  (generated above)
    return enterprise_pb2, sync_pb2, sync_pb2_grpc


def detect_encoding(path):
    """UTF-8 (with or without BOM) or GBK/GB18030, as Excel on a Chinese
    Windows saves CSV; checked over the whole file in chunks (bounded memory)
    before anything is sent, so a bad file fails here with a clear message."""
    for encoding in ("utf-8-sig", "gb18030"):
        decoder = codecs.getincrementaldecoder(encoding)()
        try:
            with open(path, "rb") as f:
                while chunk := f.read(1 << 20):
                    decoder.decode(chunk)
                decoder.decode(b"", final=True)
            return encoding
        except UnicodeDecodeError:
            continue
    sys.exit(f"error: {path} is neither UTF-8 nor GBK text; save it as CSV UTF-8 from Excel")


def read_header(path, encoding):
    """The file's columns (Chinese names mapped to field names), checked."""
    with open(path, newline="", encoding=encoding) as f:
        header = [CHINESE.get(h.strip(), h.strip()) for h in next(csv.reader(f), [])]
    unknown = set(header) - set(COLUMNS) - {"credit_code"}
    if unknown:
        sys.exit(f"error: unknown columns {sorted(unknown)}; known: credit_code, {', '.join(COLUMNS)}")
    repeated = sorted({h for h in header if header.count(h) > 1})
    if repeated:
        sys.exit(f"error: columns given twice: {repeated}")
    if "credit_code" not in header:
        sys.exit("error: the file has no credit_code (统一社会信用代码) column")
    return header


def requests(ent, pb, path, encoding, header, source, dry_run):
    """The header, then one row per CSV line, read lazily (bounded memory)."""
    yield pb.SyncEnterprisesRequest(header=pb.SyncHeader(
        source=source, mode=pb.SYNC_MODE_UPSERT, dry_run=dry_run))
    with open(path, newline="", encoding=encoding) as f:
        reader = csv.reader(f)
        next(reader, None)
        for line, cells in enumerate(reader, start=2):
            record = dict(zip(header, cells))
            sent = [c for c in COLUMNS if c in record]
            values = {c: record[c] for c in sent if c != "tags"}
            firm = ent.Enterprise(credit_code=record.get("credit_code", ""), **values)
            if "tags" in sent:
                firm.tags.extend(t for t in record["tags"].replace("；", ";").split(";") if t)
            yield pb.SyncEnterprisesRequest(row=pb.SyncRow(row_number=line, enterprise=firm, fields=sent))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file")
    parser.add_argument("--source", required=True, help="the system the rows come from")
    parser.add_argument("--dry-run", action="store_true", help="report what would happen, write nothing")
    parser.add_argument("--server", default=os.environ.get("LADDER_SERVER", "127.0.0.1:50051").removeprefix("http://"))
    args = parser.parse_args()

    encoding = detect_encoding(args.file)
    header = read_header(args.file, encoding)
    ent, pb, rpc = load_stubs()
    metadata = [("x-ladder-origin", args.source)]
    if os.environ.get("LADDER_TOKEN"):
        metadata.append(("authorization", "Bearer " + os.environ["LADDER_TOKEN"]))
    with grpc.insecure_channel(args.server) as channel:
        stub = rpc.SyncServiceStub(channel)
        try:
            rows = requests(ent, pb, args.file, encoding, header, args.source, args.dry_run)
            run = stub.SyncEnterprises(rows, metadata=metadata)
        except grpc.RpcError as e:
            sys.exit(f"error: {e.code().name}: {e.details()}")
    print(f"{run.name}: {run.rows} rows, {run.created} created, {run.updated} updated, "
          f"{run.unchanged} unchanged, {run.failed} failed" + (" (dry run)" if run.dry_run else ""))
    for f in run.failures[:20]:
        print(f"  row {f.row_number} {f.credit_code}: {f.field} {f.reason}: {f.description}")
    return 1 if run.failed else 0


if __name__ == "__main__":
    sys.exit(main())
