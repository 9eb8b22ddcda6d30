/**
 * A counter and a histogram for the per-request hot path, registered in a prom-client registry
 * as custom metrics. prom-client hashes the label set on every inc()/observe(), even through a
 * labels() child; these hand out a plain closure per label set instead. Exposition is
 * prom-client's own (registry.metrics()).
 */
import type { Registry } from 'prom-client';

type Labels = Readonly<Record<string, string>>;
interface Value { metricName?: string; labels: Record<string, string | number>; value: number }

abstract class Custom<S> {
  readonly aggregator = 'sum';
  protected readonly series = new Map<string, { labels: Labels; s: S }>();
  constructor(readonly name: string, readonly help: string, registry: Registry) {
    registry.registerMetric(this as never);
  }
  protected seriesFor(labels: Labels, make: () => S): S {
    const key = JSON.stringify(labels);
    let e = this.series.get(key);
    if (!e) this.series.set(key, (e = { labels, s: make() }));
    return e.s;
  }
  reset(): void {
    this.series.clear();
  }
  abstract get(): Promise<{ name: string; help: string; type: string; values: Value[]; aggregator: string }>;
}

export class FastCounter extends Custom<{ v: number }> {
  readonly type = 'counter';
  /** A function that adds one to the series with these labels. */
  child(labels: Labels): () => void {
    const s = this.seriesFor(labels, () => ({ v: 0 }));
    return () => void s.v++;
  }
  /** A function that adds `n` to the series with these labels. */
  adder(labels: Labels): (n: number) => void {
    const s = this.seriesFor(labels, () => ({ v: 0 }));
    return (n) => void (s.v += n);
  }
  async get() {
    const values = [...this.series.values()].map(({ labels, s }) => ({ labels: { ...labels }, value: s.v }));
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }
}

export class FastHistogram extends Custom<{ counts: number[]; sum: number; count: number }> {
  readonly type = 'histogram';
  constructor(name: string, help: string, registry: Registry, private readonly buckets: readonly number[]) {
    super(name, help, registry);
  }
  /** A function that records one observation (seconds) in the series with these labels. */
  child(labels: Labels): (v: number) => void {
    const b = this.buckets;
    const s = this.seriesFor(labels, () => ({ counts: new Array<number>(b.length).fill(0), sum: 0, count: 0 }));
    return (v) => {
      s.sum += v;
      s.count++;
      for (let i = 0; i < b.length; i++) {
        if (v <= b[i]!) {
          s.counts[i]!++;
          return;
        }
      }
    };
  }
  async get() {
    const values: Value[] = [];
    for (const { labels, s } of this.series.values()) {
      let acc = 0;
      this.buckets.forEach((le, i) => {
        acc += s.counts[i]!;
        values.push({ metricName: `${this.name}_bucket`, labels: { ...labels, le }, value: acc });
      });
      values.push({ metricName: `${this.name}_bucket`, labels: { ...labels, le: '+Inf' }, value: s.count });
      values.push({ metricName: `${this.name}_sum`, labels: { ...labels }, value: s.sum });
      values.push({ metricName: `${this.name}_count`, labels: { ...labels }, value: s.count });
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }
}
