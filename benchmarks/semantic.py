"""Vector search: top-10 over 100,000 stored 768-dimension vectors, beside numpy brute force.

1. In the service: ``SemanticService.search(vector=...)`` (chromadb's HNSW index, embedded in the
   data dir, called in a thread as the app does), p50/p99 over ``--queries`` queries.
2. Through the API: ``POST /api/v1/semantic/search`` with a vector query, on a real loopback socket
   (aiohttp client in the same process), p50/p99 over the same queries.
3. The reference, same run, same vectors and queries: numpy brute force (one matrix-vector product
   over the unit-length vectors + argpartition), p50/p99; and the HNSW results' recall@10 against it.

Budgets (issue 11): p99 < 10 ms in the service, < 15 ms through the API.

Usage: python -m benchmarks.semantic [--vectors 100000] [--dim 768] [--queries 500]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import API_KEY, free_port, machine, summary_ms

TOP_K = 10
JSON = {"Content-Type": "application/json"}
BATCH = 5000


def make_vectors(count: int, dim: int, seed: int):  # type: ignore[no-untyped-def]
    """Unit-length float32 vectors shaped like text embeddings: topics (200 clusters) in a 64-dimension
    space, spread into ``dim`` dimensions with a little noise (embeddings have a low intrinsic
    dimension; isotropic noise in 768 dimensions would make every point about equally far from every
    other, and nearest neighbours meaningless). Same ``seed``, same space: queries use another seed
    for the points but the same topics and projection."""
    import numpy as np

    space = np.random.default_rng(0)
    centres = space.standard_normal((200, 64)).astype(np.float32)
    projection = space.standard_normal((64, dim)).astype(np.float32) / 8
    rng = np.random.default_rng(seed)
    latent = centres[rng.integers(0, 200, count)] + 0.5 * rng.standard_normal((count, 64)).astype(np.float32)
    vectors = latent @ projection + 0.05 * rng.standard_normal((count, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


async def fill(backend, vectors) -> float:  # type: ignore[no-untyped-def]
    """Store the vectors as items v0..vN through the service's store; seconds taken."""
    store = await backend.semantic._ready()
    started = time.perf_counter()
    await asyncio.to_thread(store.check_dimension, vectors.shape[1], "benchmark", store=True)
    for start in range(0, len(vectors), BATCH):
        ids = [f"v{n}" for n in range(start, min(start + BATCH, len(vectors)))]
        await asyncio.to_thread(
            store.replace,
            [],
            ids,
            vectors[start : start + BATCH].tolist(),
            [""] * len(ids),
            [{"item_id": id_} for id_ in ids],
        )
    return time.perf_counter() - started


async def run(args: argparse.Namespace) -> None:
    import aiohttp
    import numpy as np
    import orjson
    from aiohttp import web

    from server.api.app import create_app
    from server.backend import Backend
    from server.config import Settings
    from server.services import semantic_math

    vectors = make_vectors(args.vectors, args.dim, seed=1)
    queries = make_vectors(args.queries, args.dim, seed=2)

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            data_dir=Path(tmp) / "data",
            port=0,
            api_key=API_KEY,
            admin_password="benchmark-password",
            ollama_host="http://127.0.0.1:9",  # not needed: every query is a vector
            log_level="WARNING",
        )
        backend = Backend(settings)
        await backend.start()
        runner: web.AppRunner | None = None
        try:
            fill_seconds = await fill(backend, vectors)
            service = backend.semantic
            for query in queries[:20]:  # warm up
                await service.search(vector=query.tolist(), top_k=TOP_K)
            service_times, hnsw_ids = [], []
            for query in queries:
                as_list = query.tolist()
                started = time.perf_counter()
                found = await service.search(vector=as_list, top_k=TOP_K)
                service_times.append(time.perf_counter() - started)
                hnsw_ids.append([hit.item_id for hit in found.results])

            runner = web.AppRunner(create_app(backend), access_log=None)
            await runner.setup()
            port = free_port()
            await web.TCPSite(runner, "127.0.0.1", port).start()
            url = f"http://127.0.0.1:{port}/api/v1/semantic/search"
            api_times = []
            headers = {"Authorization": f"Bearer {API_KEY}"}
            async with aiohttp.ClientSession(headers=headers) as session:
                for query in queries[:20]:
                    body = orjson.dumps({"vector": query.tolist(), "top_k": TOP_K})
                    async with session.post(url, data=body, headers=JSON) as resp:
                        assert resp.status == 200, await resp.text()
                        await resp.read()
                for query in queries:
                    started = time.perf_counter()
                    body = orjson.dumps({"vector": query.tolist(), "top_k": TOP_K})
                    async with session.post(url, data=body, headers=JSON) as resp:
                        await resp.read()
                    api_times.append(time.perf_counter() - started)
                    assert resp.status == 200
        finally:
            if runner is not None:
                await runner.cleanup()
            await backend.stop()

    brute_times, brute_ids = [], []
    for query in queries:
        started = time.perf_counter()
        best, _ = semantic_math.top_k(vectors, query, TOP_K)
        brute_times.append(time.perf_counter() - started)
        brute_ids.append([f"v{n}" for n in best])
    recall = float(np.mean([len(set(a) & set(b)) / TOP_K for a, b in zip(hnsw_ids, brute_ids, strict=True)]))

    service_ms, api_ms, brute_ms = summary_ms(service_times), summary_ms(api_times), summary_ms(brute_times)
    print(f"# semantic  {datetime.now(UTC):%Y-%m-%d %H:%M} UTC  {machine()}")
    print(
        f"stored {args.vectors:,} x {args.dim} vectors in chromadb (embedded, cosine HNSW)"
        f" in {fill_seconds:.1f} s;"
        f" {args.queries} top-{TOP_K} queries each"
    )
    print(f"numpy brute force (reference): p50 {brute_ms['p50_ms']:.2f} ms, p99 {brute_ms['p99_ms']:.2f} ms")
    print(
        f"service search:  p50 {service_ms['p50_ms']:.2f} ms, p99 {service_ms['p99_ms']:.2f} ms"
        f"  = {service_ms['p99_ms'] / brute_ms['p99_ms']:.2f} x brute-force p99   (budget p99 < 10 ms)"
    )
    print(
        f"POST /api/v1/semantic/search: p50 {api_ms['p50_ms']:.2f} ms, p99 {api_ms['p99_ms']:.2f} ms"
        f"  = {api_ms['p99_ms'] / brute_ms['p99_ms']:.2f} x brute-force p99   (budget p99 < 15 ms)"
    )
    print(f"HNSW recall@{TOP_K} against brute force: {recall:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vectors", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=768)
    parser.add_argument("--queries", type=int, default=500)
    args = parser.parse_args()
    from server.runtime import tune_interpreter

    tune_interpreter()
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
