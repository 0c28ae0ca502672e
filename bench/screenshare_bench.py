"""Screen-share relay benchmark: relay CPU per extra viewer and end-to-end latency, 720p15.

    python -m bench.screenshare_bench [--viewers 1,4,8,16] [--seconds 6]

One `tandem serve` (the relay inside it), an aiortc publisher sending 1280x720 at 15 fps with a
frame counter drawn in, one probe viewer that decodes (latency = decoded - sent, same clock) and
N-1 viewers that count encoded frames without decoding (so the bench machine measures the relay,
not 16 decoders). Relay CPU: the server process's utime+stime over the steady window.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import uuid
from contextlib import AsyncExitStack
from pathlib import Path

import anyio
from aiortc import RTCSessionDescription

from signaling.forward import tap_receiver
from tests.rtcpeers import CounterTrack, Publisher, Viewer, loopback_only, vp8_only
from tests.signalclient import SignalClient
from tests.support import running_server

CLK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK


class CountingViewer(Viewer):
    """Receives through the relay but never decodes: counts encoded frames."""

    frames = 0

    async def subscribe(self) -> None:
        self.started_at = time.monotonic()
        transceiver = self.pc.addTransceiver("video", direction="recvonly")
        vp8_only(self.pc)
        tap_receiver(transceiver.receiver, self._count)
        await self.pc.setLocalDescription(await self.pc.createOffer())
        sdp = self.pc.localDescription.sdp
        await self.client.send(type="offer", to="relay", stream=self.stream, sdp=sdp)
        answer = await self.client.expect("answer", lambda m: m["from"] == "relay")
        await self.pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))

    def _count(self, data: bytes, timestamp: int) -> None:
        self.frames += 1
        if not self.first_frame.is_set():
            self.first_frame.set()


async def run_point(url: str, pid: int, viewers: int, seconds: float) -> dict[str, float]:
    session = f"bench-{uuid.uuid4().hex[:6]}"
    async with AsyncExitStack() as stack:
        sharer = await stack.enter_async_context(SignalClient.connect(url, session))
        publisher = Publisher(sharer, CounterTrack(width=1280, height=720, fps=15))
        await publisher.publish()
        probe = Viewer(await stack.enter_async_context(SignalClient.connect(url, session)), sharer.id)
        others = [
            CountingViewer(await stack.enter_async_context(SignalClient.connect(url, session)), sharer.id)
            for _ in range(viewers - 1)
        ]
        async with anyio.create_task_group() as tg:
            await probe.subscribe()
            tg.start_soon(probe.consume)
            for v in others:
                await v.subscribe()
            with anyio.fail_after(15):
                for v in [probe, *others]:
                    await v.first_frame.wait()
            await anyio.sleep(1.0)  # settle
            first = publisher.track.count
            counts = [v.frames for v in others]
            cpu0, t0 = cpu_seconds(pid), time.monotonic()
            await anyio.sleep(seconds)
            cpu1, t1 = cpu_seconds(pid), time.monotonic()
            last = publisher.track.count - 3
            counts = [v.frames - c for v, c in zip(others, counts, strict=True)]
            tg.cancel_scope.cancel()
        latencies = sorted(
            (probe.received[n] - publisher.track.sent[n]) * 1000
            for n in range(first, last)
            if n in probe.received and n in publisher.track.sent
        )
        sent = publisher.track.count - first
        for v in [probe, *others]:
            await v.close()
        await publisher.close()
    q = statistics.quantiles(latencies, n=20) if len(latencies) >= 20 else [float("nan")] * 19
    delivered = min([len(latencies) / max(1, last - first)] + [c / max(1, sent) for c in counts])
    return {
        "cpu": 100 * (cpu1 - cpu0) / (t1 - t0),
        "p50": statistics.median(latencies) if latencies else float("nan"),
        "p95": q[18],
        "delivered": 100 * min(1.0, delivered),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--viewers", default="1,4,8,16")
    parser.add_argument("--seconds", type=float, default=6.0)
    args = parser.parse_args()
    points = [int(v) for v in args.viewers.split(",")]
    loopback_only()
    env = {
        "TANDEM_SANDBOX": "off",
        "TANDEM_SCREENSHARE_HOST_ADDRESSES": '["127.0.0.1"]',
        "TANDEM_LOG_LEVEL": "warning",
    }
    with tempfile.TemporaryDirectory() as tmp, running_server(Path(tmp), None, env=env) as server:
        assert server.proc is not None
        results = {}
        for n in points:
            results[n] = anyio.run(run_point, server.http_url, server.proc.pid, n, args.seconds)
    base = results[points[0]]
    print(
        f"relay (aiortc, encoded frames forwarded), 720p15, {args.seconds:g} s/point, {os.cpu_count()} cores"
    )
    print(
        f"{'viewers':>7} {'relay CPU%':>10} {'per extra%':>10} {'p50 ms':>7} {'p95 ms':>7} {'delivered%':>10}"
    )
    for n in points:
        r = results[n]
        extra = (r["cpu"] - base["cpu"]) / (n - points[0]) if n != points[0] else float("nan")
        print(
            f"{n:>7} {r['cpu']:>10.1f} {extra:>10.2f} {r['p50']:>7.0f} {r['p95']:>7.0f}"
            f" {r['delivered']:>10.0f}"
        )


if __name__ == "__main__":
    main()
