/**
 * A TCP proxy in front of a real HTTP service that fails chosen requests and forwards the rest:
 * `cut` closes the connection under the request (the client sees "socket hang up", as when a
 * server closes a kept-alive socket); `swallow` keeps the connection open and never answers.
 * Each request is looked at, on kept-alive connections too (a test's request arrives in one chunk).
 */
import net from 'node:net';
import type { TestContext } from 'node:test';

export interface FaultyProxy {
  /** The service's URL with the proxy's host and port. */
  url: string;
  /** Requests failed so far. */
  failed(): number;
}

export async function faultyProxy(
  t: TestContext,
  serviceUrl: string,
  options: { fail: (requestLine: string) => boolean; times: number; how: 'cut' | 'swallow' },
): Promise<FaultyProxy> {
  const target = new URL(serviceUrl);
  const upstreamPort = Number(target.port);
  let failed = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(upstreamPort, target.hostname);
    sockets.add(client).add(upstream);
    upstream.pipe(client);
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
    client.on('close', () => upstream.destroy());
    client.on('data', (chunk: Buffer) => {
      const requestLine = chunk.subarray(0, chunk.indexOf('\r\n')).toString();
      if (failed < options.times && options.fail(requestLine)) {
        failed++;
        if (options.how === 'cut') client.destroy();
        else client.removeAllListeners('data');
        return;
      }
      upstream.write(chunk);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    for (const socket of sockets) socket.destroy();
    server.close();
  });
  const url = new URL(serviceUrl);
  url.host = `127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  return { url: url.toString().replace(/\/$/, ''), failed: () => failed };
}
