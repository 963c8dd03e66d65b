import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compileMapping, FORMULA_FLAG, looksLikeFormula, type Cells } from '../../connectors/file-drop/mapper.ts';
import { loadMapping, parseMapping } from '../../connectors/file-drop/mapping.ts';
import { SF_MAPPING } from '../support/import.ts';

const BASE = `
name: test-source
reference: Ref
fields:
  jurisdiction: { const: us-or-cedar-county }
  sourceReference: { column: Ref }
  permitType: { column: Type, codes: types, required: true }
  permitClass: { column: Class, codes: classes, default: Non-Residential }
  workClass: { const: New }
  description: { column: [Desc, Notes], required: true }
  appliedAt: { column: Applied, type: datetime, formats: ['MM/dd/yyyy hh:mm a'], zone: America/Los_Angeles }
  site.address.line1: { template: '{No} {Street}', required: true }
  site.address.line2: { template: 'Unit {Unit}' }
  site.address.city: { const: Cedar }
  site.address.state: { column: State, case: upper }
  site.address.postalCode: { column: Zip, required: true }
  site.latitude: { column: Point, pattern: '^POINT \\(\\S+ (\\S+)\\)$', type: number }
  applicant.name: { column: Owner, default: unknown }
  project.estimatedCost: { column: Cost, default: 0 }
  project.stories: { column: Stories }
  /extraFields/source: { const: legacy }
codes:
  types: { values: { B: Building, D: Demolition } }
  classes: { values: { res: Residential }, otherwise: Non-Residential, ignoreCase: true }
extra: [Status]
`;

const row = (values: Record<string, string>): Cells => (c) => values[c] ?? null;
const good = { Ref: 'P-1', Type: 'B', Class: 'RES', Desc: ' New deck ', Applied: '03/09/2026 02:30 PM', No: '12', Street: 'Oak St', Unit: '', State: 'or', Zip: '97000', Point: 'POINT (-122.5 45.25)', Cost: '1200.50', Stories: '2', Status: 'issued' };

test('a row maps to an application: columns, templates, consts, codes, coercions, extras', () => {
  const mapper = compileMapping(parseMapping(BASE, 'test.yaml'));
  const out = mapper.map(row(good));
  assert.ok(out.ok, JSON.stringify(out));
  assert.equal(out.reference, 'P-1');
  assert.deepEqual(out.application, {
    jurisdiction: 'us-or-cedar-county',
    sourceReference: 'P-1',
    permitType: 'Building',
    permitClass: 'Residential',
    workClass: 'New',
    description: 'New deck',
    appliedAt: '2026-03-09T14:30:00-07:00',
    site: { address: { line1: '12 Oak St', city: 'Cedar', state: 'OR', postalCode: '97000' }, latitude: 45.25 },
    applicant: { name: 'unknown' },
    project: { estimatedCost: 1200.5, stories: 2 },
    extraFields: { source: 'legacy', Status: 'issued' },
  });
  // Standard time in winter: the zone's offset is per date.
  const winter = mapper.map(row({ ...good, Applied: '01/09/2026 09:05 AM', Notes: 'from notes', Desc: '  ' }));
  assert.ok(winter.ok);
  assert.equal(winter.application.appliedAt, '2026-01-09T09:05:00-08:00');
  assert.equal(winter.application.description, 'from notes', 'the first non-empty of a column list');
});

test('mapped rows come out in canonical key order at every level, so hashing them needs no sort', () => {
  const sortedEverywhere = (value: unknown): boolean => {
    if (value === null || typeof value !== 'object') return true;
    const keys = Object.keys(value);
    return keys.every((k, i) => i === 0 || keys[i - 1]! < k) && Object.values(value).every(sortedEverywhere);
  };
  // extraFields written by a rule, by extras alone, by a formula flag alone, or not at all.
  const withoutRule = BASE.replace('  /extraFields/source: { const: legacy }\n', '');
  for (const [yaml, cells] of [[BASE, good], [withoutRule, good], [withoutRule, { ...good, Desc: '=cmd', Status: '' }], [withoutRule.replace('extra: [Status]', 'extra: []'), good]] as const) {
    const out = compileMapping(parseMapping(yaml, 'test.yaml')).map(row(cells));
    assert.ok(out.ok, JSON.stringify(out));
    assert.ok(sortedEverywhere(out.application), JSON.stringify(out.application));
  }
});

test('each bad value is reported with its field, column and reason, all at once', () => {
  const mapper = compileMapping(parseMapping(BASE, 'test.yaml'));
  const out = mapper.map(row({ ...good, Type: 'X', Applied: '2026-03-09', Cost: '12abc', Stories: '2.5', Desc: '', Point: 'somewhere' }));
  assert.equal(out.ok, false);
  assert.ok(!out.ok);
  assert.equal(out.errorClass, 'PF_IMPORT_UNKNOWN_CODE');
  for (const part of [
    `permitType (column 'Type'): unknown code (code table types)`,
    `description (column 'Desc' / column 'Notes'): is required but empty`,
    `appliedAt (column 'Applied'): is not a datetime in format MM/dd/yyyy hh:mm a`,
    `site.latitude (column 'Point'): does not match`,
    `project.estimatedCost (column 'Cost'): is not a number`,
    `project.stories (column 'Stories'): is not a whole number`,
  ]) {
    assert.ok(out.message.includes(part), `${part}\n in ${out.message}`);
  }
  // Reasons reach reports and terminals: they name field and column, never the cell's value.
  for (const value of ['2026-03-09', 'somewhere', '12abc', '2.5']) assert.ok(!out.message.includes(value), `${value} in ${out.message}`);
  assert.deepEqual(out.columns.sort(), ['Applied', 'Cost', 'Desc', 'Notes', 'Point', 'Stories', 'Type']);
});

test('values the intake would refuse are refused here too (same JSON Schema)', () => {
  const mapper = compileMapping(parseMapping(BASE, 'test.yaml'));
  const out = mapper.map(row({ ...good, Cost: '-5', State: 'oregon' }));
  assert.ok(!out.ok);
  assert.equal(out.errorClass, 'PF_IMPORT_INVALID_ROW');
  assert.match(out.message, /project\.estimatedCost \(column 'Cost'\): must be >= 0/);
  assert.match(out.message, /site\.address\.state \(column 'State'\): must match pattern/);
});

test('formula-like cells are flagged in extraFields and kept as data; numbers and phones are not', () => {
  for (const cell of ['=1+1', '@SUM(A1)', '+cmd|calc', '-2+3+cmd', '\t=x', '\r=x', ' =HYPERLINK("x")']) assert.ok(looksLikeFormula(cell) || looksLikeFormula(cell.trim()), cell);
  for (const cell of ['-12.5', '+1 (415) 555-0100', 'plain', '', '-']) assert.equal(looksLikeFormula(cell), false, cell);
  const mapper = compileMapping(parseMapping(BASE, 'test.yaml'));
  const out = mapper.map(row({ ...good, Desc: '=HYPERLINK("http://x","y")', Status: '@evil' }));
  assert.ok(out.ok);
  assert.equal(out.application.description, '=HYPERLINK("http://x","y")');
  assert.equal(out.application.extraFields?.[FORMULA_FLAG], 'Desc, Status');
  assert.deepEqual(out.formulaColumns, ['Desc', 'Status']);
});

test('the shipped SF DBI mapping loads, and reads only columns of the real export', () => {
  const mapping = loadMapping(SF_MAPPING);
  assert.equal(mapping.name, 'sf-dbi-building-permits');
  assert.match(mapping.digest, /^[0-9a-f]{64}$/);
  const mapper = compileMapping(mapping);
  assert.ok(mapper.columns.includes('Permit Number') && mapper.columns.includes('Filed Date'));
});

test('an invalid mapping names the file and every problem', () => {
  const invalid = (yaml: string) => {
    try {
      parseMapping(yaml, 'mappings/broken.yaml');
    } catch (err) {
      return (err as Error).message;
    }
    assert.fail('expected the mapping to be refused');
  };
  assert.match(invalid('name: x\nfields: {a: [}'), /^mappings\/broken\.yaml: invalid mapping:\n {2}line 2, column/);
  const many = invalid(BASE.replace('site.address.city: { const: Cedar }', 'site.address.town: { const: Cedar }').replace('codes: types,', 'codes: kinds,').replace("project.stories: { column: Stories }", 'project.stories: { column: Stories, type: number }'));
  assert.match(many, /fields\.site\.address\.town: PermitApplication has no field site\.address\.town/);
  assert.match(many, /fields\.permitType\.codes: no code table named kinds/);
  assert.match(many, /fields\.project\.stories\.type: number does not fit project\.stories, a int/);
  assert.match(many, /fields: PermitApplication requires site\.address\.city/);
  assert.match(invalid(BASE.replace('{ const: New }', '{ const: New, column: Work }')), /fields\.workClass: give exactly one of column, template or const/);
  assert.match(invalid(BASE.replace("zone: America/Los_Angeles", 'zone: Mars/Olympus')), /fields\.appliedAt\.zone: expected an IANA time zone/);
  assert.match(invalid(BASE.replace('name: test-source', 'name: Test Source')), /name: expected a lower-case name/);
});

test('the mapping digest ignores comments and layout, and changes with the rules', () => {
  const a = parseMapping(BASE, 'a.yaml').digest;
  assert.equal(parseMapping(`# a comment\n${BASE}\n\n`, 'b.yaml').digest, a);
  assert.notEqual(parseMapping(BASE.replace('default: 0', 'default: 1'), 'c.yaml').digest, a);
});
