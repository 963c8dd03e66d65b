/**
 * In-flight records per processor, scraped from the processes' Prometheus endpoints
 * (`permitflow run` serves `/metrics` on METRICS_PORT; the runtime's gauge is
 * `permitflow_in_flight_records{processor}`).
 */
import { parseSamples } from '../../lib/observability/prometheus-text.ts';

export const IN_FLIGHT_METRIC = 'permitflow_in_flight_records';

export interface EndpointReading {
  url: string;
  ok: boolean;
  /** Why the endpoint could not be read. */
  error?: string;
}

export interface InFlightReading {
  /** Sum over every endpoint that reports the processor; absent when none does. */
  byProcessor: Map<string, number>;
  endpoints: EndpointReading[];
}

export type Fetcher = (url: string, signal: AbortSignal) => Promise<{ ok: boolean; status: number; text(): Promise<string> }>;

/**
 * One endpoint's exposition text within `timeoutMs`, or why not (never thrown). A timer of our
 * own rather than AbortSignal.timeout(), whose unref'd timer lets a process with nothing else
 * to wait for exit before the answer.
 */
export async function scrapeText(url: string, timeoutMs: number, get: Fetcher = (u, signal) => fetch(u, { signal })): Promise<{ ok: true; text: string } | { ok: false; error: string }> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new DOMException('timed out', 'TimeoutError')), timeoutMs);
  try {
    const res = await get(url, controller.signal);
    if (!res.ok) return { ok: false, error: `HTTP ${res.status}` };
    return { ok: true, text: await res.text() };
  } catch (err) {
    return { ok: false, error: describeFetchError(err) };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Scrapes every URL at once (each within `timeoutMs`) and sums the in-flight gauge per
 * processor label, so several instances of one stage add up. An endpoint that does not answer
 * is reported, never thrown.
 */
export async function scrapeInFlight(urls: readonly string[], options: { timeoutMs: number; fetch?: Fetcher }): Promise<InFlightReading> {
  const byProcessor = new Map<string, number>();
  const endpoints = await Promise.all(
    urls.map(async (url): Promise<EndpointReading> => {
      const scraped = await scrapeText(url, options.timeoutMs, options.fetch);
      if (!scraped.ok) return { url, ok: false, error: scraped.error };
      for (const s of parseSamples(scraped.text, IN_FLIGHT_METRIC)) {
        const processor = s.labels.processor;
        if (processor === undefined || !Number.isFinite(s.value)) continue;
        byProcessor.set(processor, (byProcessor.get(processor) ?? 0) + s.value);
      }
      return { url, ok: true };
    }),
  );
  return { byProcessor, endpoints };
}

/** undici hides the useful part (ECONNREFUSED, a timeout) in the cause. */
function describeFetchError(err: unknown): string {
  if (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError')) return 'timed out';
  const cause = err instanceof Error ? (err.cause as { code?: string; message?: string } | undefined) : undefined;
  return cause?.code ?? cause?.message ?? (err instanceof Error ? err.message : String(err));
}
