/**
 * A TCP fault proxy between Kafka clients and one broker, for the chaos suite: it adds latency,
 * silently drops traffic (a black hole: sockets stay open, nothing arrives) or resets every
 * connection, on command.
 *
 * Kafka clients connect to the addresses the broker advertises, not to their bootstrap address,
 * so a plain TCP proxy would be bypassed after the first metadata answer. This one rewrites the
 * broker port in Metadata and FindCoordinator responses to its own (same width, in place), so
 * every connection of its clients goes through it. Only the non-flexible versions kafkajs uses
 * are parsed; anything else passes through unchanged.
 */
import { once } from 'node:events';
import { createConnection, createServer, type Server, type Socket } from 'node:net';

const METADATA = 3;
const FIND_COORDINATOR = 10;

export type Fault = { kind: 'none' } | { kind: 'latency'; ms: number } | { kind: 'drop' };

export interface KafkaFaultProxy {
  port: number;
  /** Applies to traffic from now on, both directions. */
  setFault(fault: Fault): void;
  /** Resets (RST) every open connection now. */
  resetAll(): number;
  close(): Promise<void>;
}

/** Offsets of the broker port fields in a response body (after the correlation id), or none. */
function portOffsets(apiKey: number, version: number, body: Buffer): number[] {
  let at = 0;
  const string = () => {
    const length = body.readInt16BE(at);
    at += 2 + Math.max(0, length);
  };
  if (apiKey === METADATA && version <= 8) {
    if (version >= 3) at += 4; // throttle_time_ms
    const brokers = body.readInt32BE(at);
    at += 4;
    const offsets: number[] = [];
    for (let i = 0; i < brokers; i++) {
      at += 4; // node_id
      string(); // host
      offsets.push(at);
      at += 4; // port
      if (version >= 1) string(); // rack
    }
    return offsets;
  }
  if (apiKey === FIND_COORDINATOR && version <= 3) {
    if (version >= 1) at += 4; // throttle_time_ms
    at += 2; // error_code
    if (version >= 1) string(); // error_message
    at += 4; // node_id
    string(); // host
    return [at];
  }
  return [];
}

/** Splits a byte stream into Kafka frames (4-byte size, then the frame). */
function framer(onFrame: (frame: Buffer) => void): (chunk: Buffer) => void {
  let pending: Buffer = Buffer.alloc(0);
  return (chunk) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    while (pending.length >= 4) {
      const size = pending.readInt32BE(0);
      if (pending.length < 4 + size) break;
      onFrame(pending.subarray(0, 4 + size));
      pending = pending.subarray(4 + size);
    }
  };
}

export async function startKafkaFaultProxy(target: { host: string; port: number }): Promise<KafkaFaultProxy> {
  let fault: Fault = { kind: 'none' };
  const sockets = new Set<Socket>();
  let proxyPort = 0;

  /** Sends now, later (latency) or never (drop), keeping order per direction. */
  function sender(to: Socket): (frame: Buffer) => void {
    let chain = Promise.resolve();
    return (frame) => {
      const now = fault;
      if (now.kind === 'drop') return;
      if (now.kind === 'none') {
        chain = chain.then(() => void (to.destroyed || to.write(frame)));
        return;
      }
      chain = chain.then(() => new Promise<void>((resolve) => setTimeout(() => {
        if (!to.destroyed) to.write(frame);
        resolve();
      }, now.ms)));
    };
  }

  const server: Server = createServer((client) => {
    const upstream = createConnection(target);
    sockets.add(client);
    sockets.add(upstream);
    // Correlation id -> api key and version of requests in flight on this connection.
    const inFlight = new Map<number, { apiKey: number; version: number }>();
    const toUpstream = sender(upstream);
    const toClient = sender(client);
    client.on(
      'data',
      framer((frame) => {
        if (frame.length >= 12) inFlight.set(frame.readInt32BE(8), { apiKey: frame.readInt16BE(4), version: frame.readInt16BE(6) });
        toUpstream(frame);
      }),
    );
    upstream.on(
      'data',
      framer((frame) => {
        const correlation = frame.readInt32BE(4);
        const request = inFlight.get(correlation);
        inFlight.delete(correlation);
        if (request && (request.apiKey === METADATA || request.apiKey === FIND_COORDINATOR)) {
          try {
            const body = frame.subarray(8);
            for (const at of portOffsets(request.apiKey, request.version, body)) if (body.readInt32BE(at) === target.port) body.writeInt32BE(proxyPort, at);
          } catch {
            // A response this parser does not know passes unchanged.
          }
        }
        toClient(frame);
      }),
    );
    const end = () => {
      sockets.delete(client);
      sockets.delete(upstream);
      client.destroy();
      upstream.destroy();
    };
    client.on('close', end).on('error', end);
    upstream.on('close', end).on('error', end);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  proxyPort = (server.address() as { port: number }).port;

  return {
    port: proxyPort,
    setFault(next) {
      fault = next;
    },
    resetAll() {
      const n = sockets.size;
      for (const s of sockets) s.resetAndDestroy();
      sockets.clear();
      return n;
    },
    async close() {
      for (const s of sockets) s.destroy();
      server.close();
      await once(server, 'close');
    },
  };
}
