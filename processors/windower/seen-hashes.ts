/**
 * The submission hashes one partition has received, for duplicate detection, remembered for a
 * horizon (default 30 days).
 *
 * Two generations instead of a timestamp per entry: a hash lives in `current` until the
 * generation turns (every half horizon), then in `previous` until the next turn, so it is
 * remembered for between half the horizon and the whole of it. Entries live in typed-array
 * tables (see fingerprint-table.ts): about 50 bytes per hash; bench/windower measures it.
 */
import { FingerprintTable } from './fingerprint-table.ts';

export class SeenHashes {
  private current = new FingerprintTable();
  private previous = new FingerprintTable();
  private generationStartedAt: number;

  constructor(
    private readonly horizonMs: number,
    now: number,
  ) {
    this.generationStartedAt = now;
  }

  /** The raw-topic offset where the hash was first received, if it is within the horizon. */
  get(hash: string): number | undefined {
    return this.current.get(hash) ?? this.previous.get(hash);
  }

  add(hash: string, rawOffset: number, now: number): void {
    this.turn(now);
    this.current.set(hash, rawOffset);
  }

  /** Restores an entry seen at `seenAt`; entries beyond the horizon are dropped. */
  restore(hash: string, rawOffset: number, seenAt: number, now: number): void {
    const age = now - seenAt;
    if (age > this.horizonMs) return;
    (age > this.horizonMs / 2 ? this.previous : this.current).set(hash, rawOffset);
  }

  get size(): number {
    return this.current.size + this.previous.size;
  }

  private turn(now: number): void {
    if (now - this.generationStartedAt < this.horizonMs / 2) return;
    this.previous = this.current;
    this.current = new FingerprintTable();
    this.generationStartedAt = now;
  }
}

/** Changelog value of a seen hash: its raw-topic offset as 8 bytes. The record timestamp says when. */
export function encodeSeen(rawOffset: number): Buffer {
  const buffer = Buffer.alloc(8);
  buffer.writeBigInt64BE(BigInt(rawOffset));
  return buffer;
}

export function decodeSeen(value: Buffer): number {
  return Number(value.readBigInt64BE(0));
}
