/**
 * W3C trace context for the envelope: a submission continues the caller's trace when it sent a
 * valid `traceparent`, else it starts one. The envelope carries it to every later stage.
 */
import { randomFillSync } from 'node:crypto';

const TRACEPARENT = /^00-([0-9a-f]{32})-[0-9a-f]{16}-([0-9a-f]{2})$/;

// Ids come from a pool filled a few KB at a time: one randomBytes call per request showed in profiles.
const pool = Buffer.alloc(4096);
let offset = pool.length;

function randomHex(bytes: number): string {
  if (offset + bytes > pool.length) {
    randomFillSync(pool);
    offset = 0;
  }
  const hex = pool.toString('hex', offset, offset + bytes);
  offset += bytes;
  return hex;
}

export function childTraceparent(incoming: string | undefined): string {
  const span = randomHex(8);
  const match = incoming === undefined ? null : TRACEPARENT.exec(incoming.trim());
  if (match && !/^0+$/.test(match[1]!)) return `00-${match[1]}-${span}-${match[2]}`;
  return `00-${randomHex(16)}-${span}-01`;
}
