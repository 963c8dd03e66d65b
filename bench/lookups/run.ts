/**
 * Lookup throughput on the real Redis with the fixture servers answering in 2 ms:
 *   1. every record's parcel already cached (the drain of bench/e2e): the cost of a cache hit;
 *   2. generous rate limits, 80% of records for parcels already cached: bounded by CPU?
 *   3. a 20 req/s limit per API: bounded by the limit?
 * Records run `--concurrency` at a time, as the enricher's partitions would. For each scenario
 * it prints records/s, lookups/s, API requests/s, the bound the rate limit sets, and the CPU
 * used per wall-clock second (near 1.0 = CPU-bound; far below both bounds = idle waiting) and
 * per 1,000 records (the figure to compare on a busy machine). LOOKUPS_MEMORY_CACHE_MB=0 in the
 * environment measures without the in-process cache in front of Redis.
 *
 *   Usage: see USAGE below (what --help prints).
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { Redis } from 'ioredis';
import { parseBenchArgs } from '../args.ts';
import { createEnrichmentLookups } from '../../connectors/lookups/index.ts';
import { loadConfig } from '../../lib/config.ts';
import { createLogger } from '../../lib/logger.ts';
import type { PermitApplication } from '../../schemas/types.ts';
import { startArcgisFixture } from '../../test/fixtures/lookups/arcgis-server.ts';
import { box, LAYERS, PARCELS } from '../../test/fixtures/lookups/cedar-county.ts';
import { lookupsEnv } from '../../test/fixtures/lookups/harness.ts';
import { startSodaFixture } from '../../test/fixtures/lookups/soda-server.ts';
import { sampleApplications } from '../../test/support/samples.ts';
import { purgeKeys } from '../../test/support/redis.ts';

const USAGE = 'Usage: node --import tsx bench/lookups/run.ts [--seconds 10] [--concurrency 64] [--json bench/results/lookups.json]';

const { values } = parseBenchArgs('lookups', USAGE, { options: { seconds: { type: 'string', default: '10' }, concurrency: { type: 'string', default: '64' }, json: { type: 'string' } } });
const seconds = Number(values.seconds);
const concurrency = Number(values.concurrency);
const HIT_RATE = 0.8;
const LATENCY_MS = 2;
/** API requests of a record none of whose answers are cached: parcel, zoning, 3 overlays, 2 history. */
const REQUESTS_PER_MISS = { parcels: 1, zoning: 1, overlays: 3, history: 2 };

// A county of many parcels, so misses are real misses: a grid inside the R-1 zone.
const syntheticParcels = Array.from({ length: 20_000 }, (_, i) => {
  const apn = `90-00-${String(Math.floor(i / 1000)).padStart(2, '0')}-00-${String(i % 1000).padStart(5, '0')}`;
  const lon = -123.074 + (i % 200) * 0.0001;
  const lat = 44.056 + Math.floor(i / 200) * 0.00018;
  return { attributes: { ...PARCELS.features[0]!.attributes, APN: apn, SITUS_ADDRESS: `${i} BENCH WAY` }, rings: box(lon, lat, 0.00004, 0.00004) };
});
const layers = { ...LAYERS, 'CedarCounty/Parcels/FeatureServer/0': { ...PARCELS, features: syntheticParcels } };

const template = sampleApplications()[0]!;
const applicationFor = (apn: string): PermitApplication => ({ ...template, site: { ...template.site, parcelNumber: apn, latitude: null, longitude: null } });

interface Scenario {
  name: string;
  rateLimit: number;
  hitRate: number;
}

async function run(scenario: Scenario): Promise<Record<string, number | string>> {
  const arcgis = await startArcgisFixture({ layers });
  const soda = await startSodaFixture();
  arcgis.setLatency(LATENCY_MS);
  soda.setLatency(LATENCY_MS);
  const prefix = `permitflow:bench:${randomBytes(4).toString('hex')}:`;
  const limit = String(scenario.rateLimit);
  const config = loadConfig({
    ...process.env,
    LOG_LEVEL: 'silent',
    ...lookupsEnv(arcgis.origin, soda.origin),
    LOOKUPS_REDIS_PREFIX: prefix,
    LOOKUPS_DEADLINE_MS: '60000',
    LOOKUPS_PARCELS_RATE_LIMIT: limit,
    LOOKUPS_ZONING_RATE_LIMIT: limit,
    LOOKUPS_OVERLAYS_RATE_LIMIT: limit,
    LOOKUPS_HISTORY_RATE_LIMIT: limit,
  });
  // The lookups open their own Redis connection, as the enricher's do (auto-pipelined); this one only purges.
  const redis = new Redis(config.redis.url);
  const lookups = await createEnrichmentLookups(config, { logger: createLogger({ level: 'silent' }) });

  // The hot set every hit comes from is cached before the clock starts.
  const hot = syntheticParcels.slice(0, 50).map((p) => applicationFor(String(p.attributes.APN)));
  await Promise.all(hot.map((application) => lookups.lookupAll(application)));
  let nextCold = hot.length;
  const nextApplication = (): PermitApplication =>
    Math.random() < scenario.hitRate ? hot[Math.floor(Math.random() * hot.length)]! : applicationFor(String(syntheticParcels[nextCold++ % syntheticParcels.length]!.attributes.APN));

  const requestsBefore = arcgis.count() + soda.count();
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  const stopAt = started + seconds * 1000;
  let records = 0;
  let cacheHits = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < stopAt) {
        const results = await lookups.lookupAll(nextApplication());
        records++;
        cacheHits += results.filter((r) => r.cacheHit).length;
      }
    }),
  );
  const elapsedS = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  const requests = arcgis.count() + soda.count() - requestsBefore;

  await lookups.close();
  await purgeKeys(redis, prefix);
  await redis.quit();
  await Promise.all([arcgis.close(), soda.close()]);

  const remoteLookups = records * 4; // parcel, zoning, overlays, history; fees are local
  const missRate = 1 - cacheHits / remoteLookups;
  const rateBound = Math.min(...Object.values(REQUESTS_PER_MISS).map((perMiss) => scenario.rateLimit / (perMiss * Math.max(missRate, 1e-9))));
  return {
    scenario: scenario.name,
    seconds: Number(elapsedS.toFixed(1)),
    concurrency,
    recordsPerS: Math.round(records / elapsedS),
    lookupsPerS: Math.round((records * 5) / elapsedS),
    apiRequestsPerS: Math.round(requests / elapsedS),
    cacheHitRate: Number((cacheHits / remoteLookups).toFixed(2)),
    rateLimitBoundRecordsPerS: Math.round(rateBound),
    cpuSecondsPerSecond: Number(((cpu.user + cpu.system) / 1e6 / elapsedS).toFixed(2)),
    cpuSecondsPer1000Records: Number(((cpu.user + cpu.system) / 1e3 / records).toFixed(3)),
    memoryCacheMb: config.lookups.cache.memoryMaxBytes / 1024 / 1024,
    loadAverage: Number(loadavg()[0]!.toFixed(2)),
  };
}

const results = [];
for (const scenario of [
  // The drain of bench/e2e: every application on a few parcels, every lookup a cache hit.
  { name: '100% cache hits', rateLimit: 1000, hitRate: 1 },
  { name: `2 ms latency, ${HIT_RATE * 100}% cache hits, limits not binding`, rateLimit: 1000, hitRate: HIT_RATE },
  { name: `2 ms latency, ${HIT_RATE * 100}% cache hits, 20 req/s per API`, rateLimit: 20, hitRate: HIT_RATE },
]) {
  const result = await run(scenario);
  results.push(result);
  console.log(JSON.stringify(result));
}
if (values.json) writeFileSync(values.json, `${JSON.stringify(results, null, 2)}\n`);
