// Small statistics helpers for latency samples (milliseconds).
const r2 = (x) => Math.round(x * 100) / 100

/** Nearest-rank percentile of an ascending-sorted array. */
export const percentile = (sorted, p) => {
  if (sorted.length === 0) return null
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return sorted[idx]
}

/** {n, p50, p90, p99, max, mean} of `samples` (any iterable of numbers), rounded to 0.01 ms. */
export const summary = (samples) => {
  const a = Float64Array.from(samples).sort()
  if (a.length === 0) return { n: 0, p50: null, p90: null, p99: null, max: null, mean: null }
  let sum = 0
  for (const x of a) sum += x
  return {
    n: a.length,
    p50: r2(percentile(a, 50)),
    p90: r2(percentile(a, 90)),
    p99: r2(percentile(a, 99)),
    max: r2(a[a.length - 1]),
    mean: r2(sum / a.length)
  }
}

/** Count occurrences of each string in `items`. */
export const tally = (items) => {
  const out = {}
  for (const x of items) out[x] = (out[x] || 0) + 1
  return out
}
