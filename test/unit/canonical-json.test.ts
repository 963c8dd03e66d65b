import assert from 'node:assert/strict';
import { test } from 'node:test';
import canonicalizeModule from 'canonicalize';
import { canonicalJson } from '../../domain/hashing.ts';

// canonicalize is the oracle: the hashes of every stored submission depend on its output, and canonicalJson's fast path (JSON.stringify of an already-sorted value) must write the same text.
const canonicalize = canonicalizeModule as unknown as (value: unknown) => string | undefined;

const sparse = [1, , 3]; // eslint-disable-line no-sparse-arrays
const cases: [string, unknown][] = [
  ['sorted plain object', { a: 1, b: 'x', c: { d: [1, 'two', null, true], e: -0 } }],
  ['unsorted keys', { b: 1, a: { z: 1, y: [{ q: 1, p: 2 }] } }],
  ['integer-like keys (enumerated first by V8)', { b: 1, 10: 'ten', 9: 'nine', a: 2 }],
  ['UTF-16 key order', { '\u{1F600}': 1, '\uFFFF': 2, é: 3, e: 4, E: 5 }],
  ['numbers', { a: 1e21, b: 0.1, c: 1e-7, d: -123.456, e: 2 ** 53 }],
  ['strings needing escapes', { a: 'quote " backslash \\ tab \t nul \u0000 lone \ud800 line\n' }],
  ['undefined, symbol and function values', { a: undefined, b: Symbol('s'), c: () => 1, d: 1 }],
  ['undefined and symbol in arrays', [undefined, Symbol('s'), 1]],
  ['array holes', sparse],
  ['a hole first', [, 1]], // eslint-disable-line no-sparse-arrays
  ['toJSON (Date, Buffer)', { at: new Date(0), bytes: Buffer.from('hi') }],
  ['boxed primitives', { s: new String('ab'), n: new Number(3) }],
  ['null prototype', Object.assign(Object.create(null) as object, { b: 1, a: 2 })],
  ['empty containers', { a: {}, b: [] }],
  ['a top-level string', 'text'],
  ['a top-level null', null],
];

for (const [name, value] of cases) {
  test(`canonical JSON is canonicalize's: ${name}`, () => {
    assert.equal(canonicalJson(value), canonicalize(value));
  });
}

test('canonical JSON matches canonicalize on random nested values', () => {
  let seed = 42;
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const keys = ['a', 'b', 'B', 'aa', '1', '02', 'é', 'z', 'extraFields', 'site'];
  const make = (depth: number): unknown => {
    const r = random();
    if (depth > 3 || r < 0.3) return [random() * 1e6 - 5e5, 'str', true, null, Math.round(random() * 100)][Math.floor(random() * 5)];
    if (r < 0.45) return Array.from({ length: Math.floor(random() * 4) }, () => make(depth + 1));
    const object: Record<string, unknown> = {};
    for (let i = Math.floor(random() * 6); i > 0; i--) object[keys[Math.floor(random() * keys.length)]!] = make(depth + 1);
    return object;
  };
  for (let i = 0; i < 2000; i++) {
    const value = make(0);
    assert.equal(canonicalJson(value), canonicalize(value));
  }
});

test('canonical JSON refuses NaN and infinities as canonicalize does', () => {
  assert.throws(() => canonicalJson({ a: NaN }), /NaN is not allowed/);
  assert.throws(() => canonicalJson([Infinity]), /Infinity is not allowed/);
});
