/**
 * Remembers which submission hashes a file has already produced, to count in-file duplicates
 * in the report. Memory is what the count is allowed to cost: 8 bytes per slot in two typed
 * arrays (the first 64 bits of each SHA-256; all-zero marks an empty slot, so a hash whose
 * prefix is zero is stored as 1), open addressing at most half full, growing up to
 * room for `capacity` distinct hashes and no further (a `Set<string>` of hex hashes costs about
 * 100 bytes each). Past capacity it still answers for the hashes it holds and says it is
 * saturated, so the report can say the count covers the first `capacity` distinct rows.
 *
 * A 64-bit prefix can collide (about 1 in 10^7 for two million rows): that could miscount a
 * duplicate, never lose a row, because this set only counts; the windower's exact dedup decides.
 */
export interface Fingerprints {
  /** Adds a hex SHA-256; true when it was already there. */
  seen(hash: string): boolean;
  readonly saturated: boolean;
  readonly size: number;
}

export function createFingerprints(capacity: number): Fingerprints {
  let slots = 1 << 12;
  let hi = new Uint32Array(slots);
  let lo = new Uint32Array(slots);
  let size = 0;
  let saturated = false;
  const maxSlots = 2 ** Math.ceil(Math.log2(Math.max(capacity, 1) * 2));

  function find(h: number, l: number): number {
    const mask = slots - 1;
    let i = (l ^ Math.imul(h, 0x9e3779b1)) & mask;
    while ((hi[i] !== 0 || lo[i] !== 0) && (hi[i] !== h || lo[i] !== l)) i = (i + 1) & mask;
    return i;
  }

  function grow(): void {
    const [oldHi, oldLo] = [hi, lo];
    slots *= 2;
    hi = new Uint32Array(slots);
    lo = new Uint32Array(slots);
    for (let j = 0; j < oldHi.length; j++) {
      if (oldHi[j] === 0 && oldLo[j] === 0) continue;
      const i = find(oldHi[j]!, oldLo[j]!);
      hi[i] = oldHi[j]!;
      lo[i] = oldLo[j]!;
    }
  }

  return {
    seen(hash) {
      const h = parseInt(hash.slice(0, 8), 16) >>> 0;
      const l = parseInt(hash.slice(8, 16), 16) >>> 0 || (h === 0 ? 1 : 0);
      const i = find(h, l);
      if (hi[i] !== 0 || lo[i] !== 0) return true;
      if (size >= capacity) {
        saturated = true;
        return false;
      }
      hi[i] = h;
      lo[i] = l;
      size++;
      if (size * 2 > slots && slots < maxSlots) grow();
      return false;
    },
    get saturated() {
      return saturated;
    },
    get size() {
      return size;
    },
  };
}
