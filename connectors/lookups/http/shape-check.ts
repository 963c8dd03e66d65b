/**
 * A shape check of answer bodies that runs once per body. A cached answer's parsed body is one
 * object shared by every lookup the cache answers with it (response-cache.ts), so its zod check
 * ran again on every hit: about a tenth of the enricher's CPU in a drain of cached lookups. The
 * result is kept with the body, and goes when the body does. Callers only read what it returns.
 */
import type { z } from 'zod';

export function shapeCheck<T>(schema: z.ZodType<T>): (body: unknown) => z.SafeParseReturnType<unknown, T> {
  const checked = new WeakMap<object, z.SafeParseReturnType<unknown, T>>();
  return (body) => {
    if (typeof body !== 'object' || body === null) return schema.safeParse(body);
    let result = checked.get(body);
    if (!result) {
      result = schema.safeParse(body);
      checked.set(body, result);
    }
    return result;
  };
}
