/** Removes every key under `prefix` (a test's or a bench's own), with SCAN rather than the blocking KEYS. */
import type { Redis } from 'ioredis';

export async function purgeKeys(redis: Redis, prefix: string): Promise<void> {
  for await (const keys of redis.scanStream({ match: `${prefix}*`, count: 500 })) {
    if ((keys as string[]).length > 0) await redis.unlink(...(keys as string[]));
  }
}
