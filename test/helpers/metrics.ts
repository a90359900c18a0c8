/** The value of a sample line of Prometheus text (the first with all of `labels`), or 0. */
export function sample(text: string, name: string, labels: Record<string, string>): number {
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && want.every((w) => l.includes(w)));
  return line ? Number(line.split(' ').at(-1)) : 0;
}

/** A sample of the metrics served beside `url` (its origin's /metrics). */
export async function metricAt(url: string, name: string, labels: Record<string, string>): Promise<number> {
  return sample(await (await fetch(new URL('/metrics', url))).text(), name, labels);
}
