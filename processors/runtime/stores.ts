/**
 * Runtime-managed key-value stores (`ctx.store(name)`), like Kafka Streams' KeyValueStore: a
 * processor declares a store by name (processors/<name>/topology.ts), gives its spec in its
 * definition (value codec, horizon, backing), and only calls get/put/delete. The runtime owns the
 * rest:
 * - every write becomes a record of the store's changelog (`<ns>.<processor>.<store>.changelog`,
 *   keyed by the store key, `null` deletes) in the same transaction as the record's outputs;
 * - a handler's writes are held in its view and reach the partition's store only when it returns:
 *   a record that is dead-lettered or sent to a retry topic leaves no state behind, and a failed
 *   transaction restores the partition from the changelog (runner.ts);
 * - on assignment the changelog is replayed, oldest first, before the processor's own `assign`;
 * - a store with a horizon forgets entries older than it: in memory by two generations (an entry
 *   lives between half the horizon and the whole of it), on restore by the changelog record's
 *   timestamp (when it was written).
 */
import type { ProcessorId, Topology } from '../../topology/topics.ts';
import { declaredStore } from './contract.ts';
import { FingerprintTable } from './fingerprint-table.ts';
import type { RawRecord, StoreAccess } from './types.ts';

/** A partition's view of one store, as a handler sees it. */
export interface KeyValueStore<V> {
  get(key: string): V | undefined;
  put(key: string, value: V): void;
  delete(key: string): void;
}

export interface Codec<V> {
  encode(value: V): Buffer;
  decode(bytes: Buffer): V;
}

/** How a store keeps its entries in memory. */
interface Backing<V> {
  get(key: string): V | undefined;
  set(key: string, value: V): void;
  delete(key: string): void;
  readonly size: number;
}

export interface StoreSpec<V> {
  readonly codec: Codec<V>;
  /** Entries older than this are forgotten; none: kept until deleted. */
  readonly horizonMs?: number;
  /** A fresh, empty in-memory table. */
  readonly backing: () => Backing<V>;
  /** Refuses a key the backing cannot hold (a programmer error: TypeError). */
  readonly checkKey?: (key: string) => void;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- a map of specs of any value type
export type StoreSpecs = Record<string, StoreSpec<any>>;
export type StoreValue<S> = S extends StoreSpec<infer V> ? V : never;

/** A store of any string keys in a Map. */
export function keyValueStore<V>(options: { codec: Codec<V>; horizonMs?: number }): StoreSpec<V> {
  return { ...options, backing: () => new Map<string, V>() };
}

const SHA256_HEX = /^[0-9a-f]{64}$/;

/**
 * A store keyed by SHA-256 hex strings whose values are non-negative integers (an offset, a
 * count), in typed arrays (fingerprint-table.ts): about 50 bytes an entry, for stores of millions
 * of hashes such as a dedup horizon. The changelog value is the number as 8 bytes.
 */
export function hashIndex(options: { horizonMs?: number } = {}): StoreSpec<number> {
  return {
    ...options,
    codec: int64Codec,
    backing: () => new FingerprintTable(),
    checkKey: (key) => {
      if (!SHA256_HEX.test(key)) throw new TypeError('a hash index key must be a lower-case hex SHA-256');
    },
  };
}

export const int64Codec: Codec<number> = {
  encode(value) {
    const buffer = Buffer.allocUnsafe(8);
    buffer.writeBigInt64BE(BigInt(value));
    return buffer;
  },
  decode: (bytes) => Number(bytes.readBigInt64BE(0)),
};

export function jsonCodec<V>(): Codec<V> {
  return { encode: (value) => Buffer.from(JSON.stringify(value)), decode: (bytes) => JSON.parse(bytes.toString('utf8')) as V };
}

/** One store of one partition: its entries, in one or two generations when it has a horizon. */
export class PartitionStore<V> {
  private current: Backing<V>;
  private previous: Backing<V> | undefined;
  private generationStartedAt: number;

  constructor(
    readonly spec: StoreSpec<V>,
    now: number,
  ) {
    this.current = spec.backing();
    this.previous = spec.horizonMs === undefined ? undefined : spec.backing();
    this.generationStartedAt = now;
  }

  get(key: string): V | undefined {
    return this.current.get(key) ?? this.previous?.get(key);
  }

  /** Applies a write (a handler's, once it returned); `undefined` deletes. */
  apply(key: string, value: V | undefined, now: number): void {
    if (value === undefined) {
      this.current.delete(key);
      this.previous?.delete(key);
      return;
    }
    this.turn(now);
    this.current.set(key, value);
  }

  /** Replays one changelog record written at `writtenAt`; entries past the horizon are skipped. */
  restore(record: RawRecord, now: number): void {
    if (!record.key) return;
    const key = record.key.toString('utf8');
    if (!record.value) return this.apply(key, undefined, now);
    const { horizonMs } = this.spec;
    const age = now - record.timestamp;
    if (horizonMs !== undefined && age > horizonMs) return;
    // An older write of the key may sit in the other generation: the newest wins. `set`
    // overwrites within its own generation, so only the other one needs a delete.
    const old = horizonMs !== undefined && age > horizonMs / 2;
    (old ? this.current : this.previous)?.delete(key);
    (old ? this.previous! : this.current).set(key, this.spec.codec.decode(record.value));
  }

  get size(): number {
    return this.current.size + (this.previous?.size ?? 0);
  }

  private turn(now: number): void {
    const { horizonMs } = this.spec;
    if (horizonMs === undefined || now - this.generationStartedAt < horizonMs / 2) return;
    this.previous = this.current;
    this.current = this.spec.backing();
    this.generationStartedAt = now;
  }
}

/** A changelog record a view's writes become. */
export interface StoreWrite {
  store: string;
  key: string;
  value: Buffer | null;
}

/** One store as one handler sees it: its own writes first, then the store. */
class StoreView implements KeyValueStore<unknown> {
  readonly writes = new Map<string, unknown>();

  constructor(
    readonly name: string,
    readonly store: PartitionStore<unknown>,
    private readonly owner: StoreViews,
  ) {}

  get(key: string): unknown {
    return this.writes.has(key) ? this.writes.get(key) : this.store.get(key);
  }

  put(key: string, value: unknown): void {
    this.owner.write(this, key, value);
  }

  delete(key: string): void {
    this.owner.write(this, key, undefined);
  }
}

/**
 * A handler's (or timer's) view of a partition's stores: reads see its own writes first; the
 * writes reach the stores only on `commit()`, which returns them as changelog records.
 * A read-only view (a restore) refuses writes. Classes, not closures: one is made per record.
 */
export class StoreViews {
  private readonly views = new Map<string, StoreView>();
  private readonly written: StoreView[] = [];

  constructor(
    private readonly resolve: (name: string) => PartitionStore<unknown>,
    private readonly clock: () => number,
    private readonly writable: boolean,
  ) {}

  view(name: string): KeyValueStore<unknown> {
    let view = this.views.get(name);
    if (!view) {
      view = new StoreView(name, this.resolve(name), this);
      this.views.set(name, view);
    }
    return view;
  }

  write(view: StoreView, key: string, value: unknown): void {
    if (!this.writable) throw new TypeError(`store ${view.name} is written only while handling a record or a timer, not while restoring`);
    view.store.spec.checkKey?.(key);
    if (view.writes.size === 0 && !this.written.includes(view)) this.written.push(view);
    view.writes.set(key, value);
  }

  /** Applies the writes to the stores and returns them as changelog records, in write order per store. */
  commit(): StoreWrite[] {
    const now = this.clock();
    const records: StoreWrite[] = [];
    for (const { name, store, writes } of this.written) {
      for (const [key, value] of writes) {
        store.apply(key, value, now);
        records.push({ store: name, key, value: value === undefined ? null : store.spec.codec.encode(value) });
      }
      writes.clear();
    }
    this.written.length = 0;
    return records;
  }
}

/**
 * The stores of one processor instance, per assigned partition: what the runner restores on
 * assignment, drops on revocation, and hands to each record's and timer's context.
 */
export function processorStores<S extends StoreSpecs>(processor: ProcessorId, topology: Topology, specs: S, clock: () => number = Date.now) {
  // A spec for a store the declaration does not name is refused at start, like an undeclared write.
  for (const name of Object.keys(specs)) declaredStore(processor, topology, name);
  const byPartition = new Map<number, Map<string, PartitionStore<unknown>>>();

  /** A name with no store: undeclared (UndeclaredOutputError), or declared without a spec. */
  function missing(name: string): never {
    declaredStore(processor, topology, name);
    throw new TypeError(`processor ${processor} declares store ${name} but its definition gives no spec for it (stores: { '${name}': ... })`);
  }

  function resolve(partition: number): (name: string) => PartitionStore<unknown> {
    // Names are checked at start (above): a known store is found without checking again.
    return (name) => byPartition.get(partition)?.get(name) ?? missing(name);
  }

  // Most processors have no store: they share one view that holds nothing, instead of one per record.
  const noStores = Object.keys(specs).length === 0;
  const noWrites: readonly StoreWrite[] = Object.freeze([]);
  const emptyViews = { view: ((name: string) => missing(name)) as StoreAccess<S>['store'], commit: (): readonly StoreWrite[] => noWrites };

  return {
    /** Replays every store's changelog for the partition; the stores replace the old ones only when all are read. */
    async restore(partition: number, read: (changelog: string, onRecord: (record: RawRecord) => void) => Promise<void>, signal: AbortSignal): Promise<void> {
      const now = clock();
      const restored = new Map<string, PartitionStore<unknown>>();
      for (const [name, spec] of Object.entries(specs)) {
        const store = new PartitionStore<unknown>(spec, now);
        await read(declaredStore(processor, topology, name), (record) => store.restore(record, now));
        restored.set(name, store);
      }
      // An abandoned restore (past the runtime's deadline) must not replace a newer one's stores.
      signal.throwIfAborted();
      byPartition.set(partition, restored);
    },
    drop(partition: number): void {
      byPartition.delete(partition);
    },
    views(partition: number, writable: boolean): { view: StoreAccess<S>['store']; commit: () => readonly StoreWrite[] } {
      if (noStores) return emptyViews;
      const views = new StoreViews(resolve(partition), clock, writable);
      // Bound, not wrapped in arrows: made per record. The names and value types come from the specs the views read.
      return { view: views.view.bind(views) as StoreAccess<S>['store'], commit: views.commit.bind(views) };
    },
  };
}
