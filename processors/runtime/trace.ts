/**
 * W3C trace context carried in the `traceparent` Kafka header. Each hop keeps the trace id and
 * starts a new span id, so a submission can be followed from the intake to its decision. The
 * observability work swaps this for OpenTelemetry spans behind the same two functions.
 */
import { randomBytes } from 'node:crypto';

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

export function childTraceparent(parent: string | undefined): string {
  const match = parent ? TRACEPARENT.exec(parent) : null;
  const traceId = match?.[1] ?? randomBytes(16).toString('hex');
  const flags = match?.[3] ?? '01';
  return `00-${traceId}-${randomBytes(8).toString('hex')}-${flags}`;
}

export function traceIdOf(traceparent: string | undefined | null): string | null {
  return (traceparent && TRACEPARENT.exec(traceparent)?.[1]) ?? null;
}
