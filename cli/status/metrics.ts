/**
 * In-flight records per processor, scraped from the processes' Prometheus endpoints
 * (`permitflow run` serves `/metrics` on METRICS_PORT; the runtime's gauge is
 * `permitflow_in_flight_records{processor}`).
 *
 * The parser reads only the samples of one metric from the text exposition format. There is
 * no small, maintained parser of that format on npm (parse-prometheus-text-format, the usual
 * answer, is unmaintained by its users' account in prometheus/client_js#497 and ships no
 * types), and one gauge needs little:
 * comments and other metrics are skipped, label values are unescaped (`\\`, `\"`, `\n`),
 * `NaN`/`+Inf`/`-Inf` and an optional timestamp are understood.
 */

export interface Sample {
  labels: Record<string, string>;
  value: number;
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*/;

function parseValue(token: string): number | undefined {
  switch (token) {
    case 'NaN':
      return Number.NaN;
    case '+Inf':
    case 'Inf':
      return Number.POSITIVE_INFINITY;
    case '-Inf':
      return Number.NEGATIVE_INFINITY;
  }
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(token)) return undefined;
  return Number(token);
}

/** Labels from `{` on; returns them and the index after `}`, or undefined when malformed. */
function parseLabels(line: string, start: number): { labels: Record<string, string>; end: number } | undefined {
  const labels: Record<string, string> = {};
  let i = start + 1;
  const skipSpaces = () => {
    while (line[i] === ' ' || line[i] === '\t') i++;
  };
  for (;;) {
    skipSpaces();
    if (line[i] === '}') return { labels, end: i + 1 };
    const name = LABEL_NAME.exec(line.slice(i))?.[0];
    if (!name) return undefined;
    i += name.length;
    skipSpaces();
    if (line[i] !== '=') return undefined;
    i++;
    skipSpaces();
    if (line[i] !== '"') return undefined;
    i++;
    let value = '';
    for (;;) {
      const c = line[i];
      if (c === undefined) return undefined;
      if (c === '"') break;
      if (c === '\\') {
        const next = line[i + 1];
        value += next === 'n' ? '\n' : (next ?? '');
        i += 2;
      } else {
        value += c;
        i++;
      }
    }
    i++;
    labels[name] = value;
    skipSpaces();
    if (line[i] === ',') i++;
    else if (line[i] !== '}') return undefined;
  }
}

/** Every sample of metric `name` in a Prometheus text exposition; malformed lines are skipped. */
export function parseSamples(text: string, name: string): Sample[] {
  const samples: Sample[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const metric = NAME.exec(line)?.[0];
    if (metric !== name) continue;
    let i = metric.length;
    while (line[i] === ' ' || line[i] === '\t') i++;
    let labels: Record<string, string> = {};
    if (line[i] === '{') {
      const parsed = parseLabels(line, i);
      if (!parsed) continue;
      labels = parsed.labels;
      i = parsed.end;
    } else if (i === metric.length) {
      continue; // no separator before the value
    }
    const [token] = line.slice(i).trim().split(/[ \t]+/);
    const value = token === undefined ? undefined : parseValue(token);
    if (value !== undefined) samples.push({ labels, value });
  }
  return samples;
}

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
 * Scrapes every URL at once (each within `timeoutMs`) and sums the in-flight gauge per
 * processor label, so several instances of one stage add up. An endpoint that does not answer
 * is reported, never thrown.
 */
export async function scrapeInFlight(urls: readonly string[], options: { timeoutMs: number; fetch?: Fetcher }): Promise<InFlightReading> {
  const get: Fetcher = options.fetch ?? ((url, signal) => fetch(url, { signal }));
  const byProcessor = new Map<string, number>();
  const endpoints = await Promise.all(
    urls.map(async (url): Promise<EndpointReading> => {
      // A timer of our own rather than AbortSignal.timeout(), whose unref'd timer lets a process
      // with nothing else to wait for exit before the answer.
      const controller = new AbortController();
      const timer = setTimeout(() => controller.abort(new DOMException('timed out', 'TimeoutError')), options.timeoutMs);
      try {
        const res = await get(url, controller.signal);
        if (!res.ok) return { url, ok: false, error: `HTTP ${res.status}` };
        for (const s of parseSamples(await res.text(), IN_FLIGHT_METRIC)) {
          const processor = s.labels.processor;
          if (processor === undefined || !Number.isFinite(s.value)) continue;
          byProcessor.set(processor, (byProcessor.get(processor) ?? 0) + s.value);
        }
        return { url, ok: true };
      } catch (err) {
        return { url, ok: false, error: describeFetchError(err) };
      } finally {
        clearTimeout(timer);
      }
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
