"""Read TensorBoard event files back the way TensorBoard shows them (tests only)."""

from __future__ import annotations

import struct
from pathlib import Path

from tensorboardX.proto.event_pb2 import Event, SessionLog


def read_tensorboard(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """Scalars of a TensorBoard run folder as TensorBoard shows them: {tag: [(step, value)]}
    in the order written, a SessionLog.START at step P dropping points at steps >= P."""
    scalars: dict[str, list[tuple[int, float]]] = {}
    for path in sorted(run_dir.glob("events.out.tfevents.*")):  # names start with the time
        data, i = path.read_bytes(), 0
        while i < len(data):  # TFRecord: length, its CRC, the event, the event's CRC
            (n,) = struct.unpack("<Q", data[i:i + 8])
            event = Event.FromString(data[i + 12:i + 12 + n])
            i += 16 + n
            if event.session_log.status == SessionLog.START:
                for points in scalars.values():
                    points[:] = [p for p in points if p[0] < event.step]
            for value in event.summary.value:
                scalars.setdefault(value.tag, []).append((event.step, value.simple_value))
    return scalars
