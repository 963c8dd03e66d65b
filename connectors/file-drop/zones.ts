/**
 * A time zone whose UTC offsets are memoised per quarter hour. Parsing a local date-time in an
 * IANA zone costs luxon an Intl lookup per call (about 15 µs, most of a row's mapping time); an
 * export's dates fall in few distinct quarter hours, and offsets only change on quarter-hour
 * boundaries (DST and zone changes), so the memo answers the same as the zone itself.
 */
import { IANAZone, Zone, type ZoneOffsetFormat, type ZoneOffsetOptions } from 'luxon';

const BUCKET_MS = 15 * 60 * 1000;
const MAX_ENTRIES = 100_000;

class MemoZone extends Zone {
  private readonly offsets = new Map<number, number>();
  constructor(private readonly inner: IANAZone) {
    super();
  }
  override get type(): string {
    return this.inner.type;
  }
  override get name(): string {
    return this.inner.name;
  }
  override get isUniversal(): boolean {
    return false;
  }
  override get isValid(): boolean {
    return this.inner.isValid;
  }
  override offsetName(ts: number, options: ZoneOffsetOptions): string | null {
    return this.inner.offsetName(ts, options);
  }
  override formatOffset(ts: number, format: ZoneOffsetFormat): string {
    return this.inner.formatOffset(ts, format);
  }
  override offset(ts: number): number {
    const bucket = Math.floor(ts / BUCKET_MS);
    let offset = this.offsets.get(bucket);
    if (offset === undefined) {
      offset = this.inner.offset(ts);
      if (this.offsets.size >= MAX_ENTRIES) this.offsets.clear();
      this.offsets.set(bucket, offset);
    }
    return offset;
  }
  override equals(other: Zone): boolean {
    return other instanceof MemoZone ? other.name === this.name : this.inner.equals(other);
  }
}

const zones = new Map<string, Zone>();

export function memoZone(name: string): Zone {
  let zone = zones.get(name);
  if (!zone) {
    zone = new MemoZone(IANAZone.create(name));
    zones.set(name, zone);
  }
  return zone;
}
