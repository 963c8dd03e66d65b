/**
 * Synthetic exports in the layout of the SF DBI building-permits export (the shipped mapping
 * `sf-dbi-building-permits` reads them): deterministic rows, every permit number distinct, with
 * the awkward parts of the real file (quoted commas, doubled quotes, empty columns).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../../lib/config.ts';

const SAMPLE = join(REPO_ROOT, 'test/fixtures/exports/sf-dbi-building-permits.csv');

/** The real export's header line. */
export const HEADER = readFileSync(SAMPLE, 'utf8').split('\n')[0]!;

const TYPES = [
  ['8', 'otc alterations permit'],
  ['3', 'additions alterations or repairs'],
  ['4', 'sign - erect'],
  ['2', 'new construction wood frame'],
  ['6', 'demolitions'],
] as const;
const STREETS = ['Market', 'Mission', 'Valencia', 'Geneva', 'Montgomery', 'Sansome', 'Fillmore', 'Polk'];
const USES = ['office', 'apartments', '1 family dwelling', 'retail sales', ''];
const WORK = [
  'install (34) new sprinklers per nfpa #13-d & (n) underground piping',
  'fire alarm work for the ""suite 2950"" remodel on floor 29; additions are 2 duct detectors',
  'kitchen and bathroom remodel, no structural work',
  'seismic soft story retrofit per sfebc 4d',
];

const pad = (n: number, width: number) => String(n).padStart(width, '0');

/** Row `i` (0-based) of the synthetic export, without its line break. */
export function syntheticRow(i: number): string {
  const [type, definition] = TYPES[i % TYPES.length]!;
  const month = (i % 12) + 1;
  const day = (i % 28) + 1;
  const date = `${pad(month, 2)}/${pad(day, 2)}/20${pad(10 + (i % 14), 2)}`;
  const time = `${pad((i % 12) + 1, 2)}:${pad(i % 60, 2)}:${pad((i * 7) % 60, 2)} ${i % 2 ? 'PM' : 'AM'}`;
  const use = USES[i % USES.length]!;
  const permit = `9${pad(i, 11)}`;
  const description = `"unit ${i % 90}: ${WORK[i % WORK.length]!}, ref ${permit}"`;
  const cost = i % 17 === 0 ? '' : String(1000 + ((i * 7919) % 900_000));
  const lat = (37.7 + (i % 1000) / 10_000).toFixed(6);
  const lon = (-122.5 + (i % 997) / 10_000).toFixed(6);
  return [
    permit, type, definition, date, pad(i % 9000, 4), pad(i % 300, 3), String(1 + (i % 3000)), '', STREETS[i % STREETS.length], 'St', '', '',
    description, 'issued', `${date} ${time}`, `${date} ${time}`, `${date} ${time}`, '', '', '', String(i % 40), String(i % 40), '', '',
    cost, cost, use, '', use, String(i % 20), '2', '', 'B', 'B', '1', 'constr type 1', '1', 'constr type 1', '', `${date} ${time}`, 'in-house',
    'N', 'Y', String(1 + (i % 11)), 'Mission', String(94100 + (i % 60)), `POINT (${lon} ${lat})`, 'eas_address_point', String(1_000_000 + i),
    '03/02/2024 11:55:00 PM', '03/03/2024 03:32:03 AM',
  ].join(',');
}
