/**
 * Redis for the local stack, from Debian's redis-server package. Password-protected even on
 * loopback (the password goes into REDIS_URL), append-only file for persistence, since intake's
 * idempotency keys must survive a restart; 256 MB at most, evicting only keys with a TTL.
 */
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { childEnv, logFile, spawnDetached } from '../stack/proc.ts';
import { withTimeout } from '../../lib/timeout.ts';
import { HOST } from '../stack/service.ts';
import type { Service, StackContext } from '../stack/service.ts';
import { aptInstall, which } from '../stack/tools.ts';

export function redisService(ctx: StackContext): Service {
  const port = ctx.config.stack.ports.redis;
  const dir = join(ctx.paths.dir, 'redis');
  const conf = join(dir, 'redis.conf');
  const password = ctx.secrets.redisPassword;
  let binary = '';

  return {
    name: 'redis',
    endpoint: `redis://${HOST}:${port}`,
    ports: [port],
    after: [],
    stopSignal: 'SIGTERM',
    stopTimeoutMs: 10_000,
    // Redis rewrites its process title to "redis-server 127.0.0.1:<port>", so the config path is
    // gone; not matching the port lets `down` still stop it after PERMITFLOW_REDIS_PORT changed.
    owns: (cmd) => cmd.includes('redis-server'),

    async prepare() {
      binary = which('redis-server') ?? '';
      if (!binary) {
        ctx.say('redis', 'redis-server not found: installing the Debian package redis-server');
        await aptInstall(['redis-server'], 'redis-server', logFile(ctx.paths, 'redis.prepare'));
        binary = which('redis-server') ?? '/usr/bin/redis-server';
      }
      mkdirSync(dir, { recursive: true });
      // A config file rather than arguments: the password must not show in `ps`.
      const lines = [
        '# Written by `permitflow stack up` at every start; edit ops/redis/service.ts instead.',
        `bind ${HOST}`,
        `port ${port}`,
        'protected-mode yes',
        'daemonize no',
        `dir ${dir}`,
        'logfile ""',
        `requirepass ${password}`,
        'appendonly yes',
        'appendfsync everysec',
        'save ""',
        // Bounded. Every key permitflow writes has a TTL (idempotency entries and their per-client
        // index, receipts, rate-limit windows, lookup cache), so volatile-lru can always make room:
        // the least recently used go first (old idempotency responses nobody retries, stale cache
        // entries), while the hot ones (this second's rate-limit windows, in-flight reservations)
        // stay. noeviction instead turned a full Redis into a 503 for every idempotent POST of
        // every client. A key without a TTL is never evicted (volatile-*); a write that finds
        // Redis full of those is refused, and that request alone answers 503.
        'maxmemory 256mb',
        'maxmemory-policy volatile-lru',
        '',
      ];
      writeFileSync(conf, lines.join('\n'), { mode: 0o600 });
      chmodSync(conf, 0o600);
    },

    start() {
      return Promise.resolve(spawnDetached({ paths: ctx.paths, name: 'redis', command: binary, args: [conf], env: childEnv(), cwd: dir }));
    },

    async probe() {
      const client = new Redis({ host: HOST, port, password, lazyConnect: true, connectTimeout: 1000, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null });
      client.on('error', () => {}); // the rejected promise below carries the reason
      try {
        await withTimeout(client.connect(), 3000, 'redis connect');
        const pong = await withTimeout(client.ping(), 3000, 'redis PING');
        if (String(pong) !== 'PONG') throw new Error(`PING answered ${String(pong)}`);
      } finally {
        client.disconnect();
      }
    },

    async configure() {},

    env: () => ({ REDIS_URL: `redis://:${password}@${HOST}:${port}` }),
  };
}
