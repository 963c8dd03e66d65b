import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { checkpointPartition, keyPartition } from '../../connectors/file-drop/checkpoints.ts';

test("keyPartition is kafkajs' default partitioner: every key length, any bytes, 1 to 12 partitions", () => {
  const keys: (string | Buffer)[] = ['', 'a', 'ab', 'abc', 'abcd', 'é', '\u{1F600}x', 'f'.repeat(64)];
  for (let i = 0; i < 500; i++) keys.push(randomBytes(i % 70).toString('hex'), randomBytes(i % 37));
  for (const key of keys) {
    for (let count = 1; count <= 12; count++) {
      // checkpointPartition asks kafkajs' own partitioner (its 64-bit Long murmur2).
      assert.equal(keyPartition(key, count), checkpointPartition('t', key as string, count), `key ${Buffer.from(key).toString('hex')}, ${count} partitions`);
    }
  }
});
