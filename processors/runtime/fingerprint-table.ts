/**
 * A hash table from SHA-256 hex strings to non-negative numbers, in typed arrays: the backing of
 * a hash-keyed store (stores.ts `hashIndex`, the windower's dedup horizon). A million entries
 * take about 50 MB here against about 110 MB in a Map of hex strings (and no per-entry garbage
 * for the collector to walk).
 *
 * Keys are the first 128 bits of the SHA-256 (hashes are uniformly random, so 128 bits keep
 * accidental collisions out of reach, and the low word is already a good slot index). Open
 * addressing with linear probing; the table doubles past 70% load. A delete leaves a tombstone
 * (probing goes past it); the horizon drops whole generations.
 */
const WORDS = 4;
const EMPTY = -1;
const DELETED = -2;
const MAX_LOAD = 0.7;

export class FingerprintTable {
  private keys: Uint32Array;
  private values: Float64Array;
  private used = 0;

  constructor(private capacity = 1024) {
    this.keys = new Uint32Array(capacity * WORDS);
    this.values = new Float64Array(capacity).fill(EMPTY);
  }

  get size(): number {
    return this.used;
  }

  get(hash: string): number | undefined {
    const value = this.values[this.find(words(hash))]!;
    return value < 0 ? undefined : value;
  }

  delete(hash: string): void {
    const slot = this.find(words(hash));
    if (this.values[slot]! >= 0) this.values[slot] = DELETED;
  }

  /** Sets a non-negative value (raw offsets are). */
  set(hash: string, value: number): void {
    if ((this.used + 1) / this.capacity > MAX_LOAD) this.grow();
    this.put(words(hash), value);
  }

  private put(key: Uint32Array, value: number): void {
    const slot = this.find(key);
    // A tombstone keeps its key: setting it again reuses the slot.
    if (this.values[slot] === EMPTY) {
      this.keys.set(key, slot * WORDS);
      this.used++;
    }
    this.values[slot] = value;
  }

  /** The slot holding `key`, or the empty slot where it would go. */
  private find(key: Uint32Array): number {
    const mask = this.capacity - 1;
    for (let slot = key[0]! & mask; ; slot = (slot + 1) & mask) {
      if (this.values[slot] === EMPTY) return slot;
      const at = slot * WORDS;
      if (this.keys[at] === key[0] && this.keys[at + 1] === key[1] && this.keys[at + 2] === key[2] && this.keys[at + 3] === key[3]) return slot;
    }
  }

  private grow(): void {
    const { keys, values, capacity } = this;
    this.capacity = capacity * 2;
    this.keys = new Uint32Array(this.capacity * WORDS);
    this.values = new Float64Array(this.capacity).fill(EMPTY);
    this.used = 0;
    for (let slot = 0; slot < capacity; slot++) {
      if (values[slot]! >= 0) this.put(keys.subarray(slot * WORDS, slot * WORDS + WORDS), values[slot]!);
    }
  }
}

const scratch = new Uint32Array(WORDS);

/** The first 128 bits of a hex hash as four words (a shared scratch array: copy before keeping). */
function words(hash: string): Uint32Array {
  for (let i = 0; i < WORDS; i++) scratch[i] = parseInt(hash.slice(i * 8, i * 8 + 8), 16) >>> 0;
  return scratch;
}
