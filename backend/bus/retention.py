"""How long Redis keeps a channel's messages: the Lua scripts of `RedisBus`'s retention.

A durable channel (a room) is *held* by the nodes that load it (`holders:{channel}`, a set of
node ids); each holder *marks* (`marks:{channel}`, a hash) the last id it has read once everything
it applied is persisted. The stream is trimmed up to the lowest mark and deleted when the last
holder releases it. Both steps are scripts, so a node that starts holding the channel between a
read and a write is never missed.
"""

from __future__ import annotations

# KEYS: holders set, stream, marks; ARGV: node id. The last holder out deletes the stream
# (atomically: a node that holds it meanwhile keeps it).
RELEASE = """
redis.call('SREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('DEL', KEYS[2], KEYS[3])
  return 1
end
return 0
"""
# KEYS: holders set, marks hash, stream. Each holder's mark is the last id it has read with all it
# published up to there persisted; the stream is trimmed up to the lowest mark, and not at all
# while a holder has none (it is loading, or it died holding the room: MAXLEN bounds it then).
TRIM = """
local holders = redis.call('SMEMBERS', KEYS[1])
if #holders == 0 then return 0 end
local marks = redis.call('HMGET', KEYS[2], unpack(holders))
local low_ms, low_seq = nil, nil
for _, mark in ipairs(marks) do
  if not mark then return 0 end
  local dash = string.find(mark, '-', 1, true)
  local ms, seq = tonumber(string.sub(mark, 1, dash - 1)), tonumber(string.sub(mark, dash + 1))
  if low_ms == nil or ms < low_ms or (ms == low_ms and seq < low_seq) then
    low_ms, low_seq = ms, seq
  end
end
return redis.call('XTRIM', KEYS[3], 'MINID', string.format('%d-%d', low_ms, low_seq + 1))
"""


def after(stream_id: bytes | str) -> str:
    """The smallest id above `stream_id` (`XTRIM MINID` keeps ids from it: all up to `stream_id` go)."""
    text = stream_id.decode() if isinstance(stream_id, bytes) else stream_id
    ms, _, seq = text.partition("-")
    return f"{int(ms)}-{int(seq or 0) + 1}"
