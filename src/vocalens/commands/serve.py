"""A web page and a REST API for detection: upload a video, see where it is fake (docs/serve.md).

  vocalens serve                                   # http://127.0.0.1:8000, the shipped default model
  vocalens serve --checkpoint best.pth --workers 2
  vocalens serve --host 0.0.0.0 --token "$(openssl rand -hex 16)"   # off loopback a token is required

The model is loaded once per worker; jobs wait in a bounded queue. API docs at /docs.
"""

from __future__ import annotations

import argparse
import os


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", default=None, help="localizer checkpoint (default: the model shipped with vocalens)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1; any other needs --token)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--workers", type=int, default=1, help="detection worker processes, one model each (default 1)")
    p.add_argument("--queue_size", type=int, default=16, help="jobs that may wait; more get 503 (default 16)")
    p.add_argument(
        "--max_upload_mb", type=float, default=500.0, help="largest upload in MiB; more get 413 (default 500)"
    )
    p.add_argument(
        "--max_duration_s", type=float, default=None, help="longest video in seconds; more get 422 (default: none)"
    )
    p.add_argument(
        "--data_dir", default="vocalens_serve_data", help="where uploads and results go (default vocalens_serve_data)"
    )
    p.add_argument(
        "--job_ttl_s", type=float, default=3600.0, help="finished jobs and their files expire after this (default 3600)"
    )
    p.add_argument(
        "--token",
        default=os.environ.get("VOCALENS_TOKEN"),
        help="bearer token clients must send (default: $VOCALENS_TOKEN); required off loopback",
    )
    p.add_argument("--device", default="cpu", help="torch device (cpu, cuda, ...)")


def run(args) -> int:
    from vocalens.errors import UserError
    from vocalens.extras import require

    uvicorn = require("uvicorn", "vocalens serve")
    try:
        from vocalens.serve.app import Settings, create_app
    except ModuleNotFoundError as e:
        raise UserError(f"vocalens serve needs its extra: pip install 'vocalens[serve]' ({e})")
    settings = Settings(
        checkpoint=args.checkpoint,
        device=args.device,
        host=args.host,
        workers=args.workers,
        queue_size=args.queue_size,
        max_upload_mb=args.max_upload_mb,
        max_duration_s=args.max_duration_s,
        data_dir=args.data_dir,
        job_ttl_s=args.job_ttl_s,
        token=args.token,
    )
    app = create_app(settings)
    print(f"vocalens serve: http://{args.host}:{args.port}/  (API docs at /docs)", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="info")
    return 0
