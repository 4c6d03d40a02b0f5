"""Concurrent questions are answered together: the server's engine thread takes every question waiting and the
answer LM decodes their replies in one batch (real SmolLM2 in fp32, demo corpus), and each still gets the answer
it gets alone. The server runs in this process (uvicorn on 127.0.0.1) over the demo store the other tests read."""

from __future__ import annotations

import asyncio
import threading

import httpx

from graphrag import Settings
from graphrag.engine import Engine
from graphrag.lm.packages import SMOLLM2_135M
from tests.servers import free_port

# Questions the demo graph does not answer, so the model reads each; and one the graph answers first.
READ = [
    "Where was Priya Natarajan born?",
    "Which company acquired Greenleaf Organics?",
    "Who is married to Jonas Weber?",
    "Who founded Cobalt Ridge Mining?",
    "What does Helix Dynamics make?",
]
GRAPH = "Who founded Bluefin Robotics?"


def test_concurrent_questions_are_decoded_in_one_batch(demo_engine, tmp_path):
    import uvicorn

    from server.app import create_app

    settings = Settings.load(data_dir=tmp_path / "data", answer_writer="lm", answer_model=SMOLLM2_135M.key)
    engine = Engine(
        settings, demo_engine.store, demo_engine.embedder, demo_engine.chunk_index, demo_engine.entity_index
    )
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings, engine=engine), "127.0.0.1", port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    questions = [*READ, GRAPH]

    async def ask_all() -> tuple[list[dict], list[dict]]:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=120) as client:
            for _ in range(240):
                if server.started:
                    break
                await asyncio.sleep(0.25)

            async def ask(question: str) -> dict:
                response = await client.post("/v1/query", json={"question": question})
                assert response.status_code == 200, response.text
                return response.json()

            alone = [await ask(q) for q in questions]
            together = await asyncio.gather(*(ask(q) for q in questions))
            return alone, list(together)

    try:
        alone, together = asyncio.run(ask_all())
    finally:
        server.should_exit = True
        thread.join(timeout=60)
        engine.planner.close()
    assert all("batch" not in a["timings_ms"] for a in alone)
    assert [a["answer"] for a in together] == [a["answer"] for a in alone]
    read = [a for a in together if "generate" in a["timings_ms"]]
    assert len(read) >= 3  # the model read most of them, and the graph answered its own question first
    assert "generate" not in together[-1]["timings_ms"]
    batched = [a["timings_ms"].get("batch", 1) for a in read]
    assert max(batched) >= 2, batched  # questions that waited together were decoded together
