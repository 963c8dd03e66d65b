/**
 * Reads samples of one metric from Prometheus' text exposition format (what `/metrics` serves).
 * There is no small, maintained parser of that format on npm (parse-prometheus-text-format, the
 * usual answer, is unmaintained by its users' account in prometheus/client_js#497 and ships no
 * types), and reading samples needs little: comments and other metrics are skipped, label
 * values are unescaped (`\\`, `\"`, `\n`), `NaN`/`+Inf`/`-Inf` and an optional timestamp are
 * understood.
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
