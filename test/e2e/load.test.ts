import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { promisify } from 'node:util';
import { lxd, serverName, skip } from './helpers.ts';

describe(`load against the real ${serverName}`, skip, () => {
  test('1,000 concurrent requests succeed, long polls starve nothing, memory returns to its baseline', async () => {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--expose-gc', '--import', 'tsx', join(import.meta.dirname, 'fixtures', 'load.ts'), lxd.socket],
      {
        encoding: 'utf8',
        timeout: 120_000,
      },
    );
    const findings = JSON.parse(stdout) as {
      rounds: number[];
      quickBeforeWaits: boolean;
      waits: string[];
      heapGrowthMB: { afterLoad: number; afterIdle: number; afterClose: number };
    };
    assert.deepEqual(findings.rounds, [1000, 1000, 1000, 1000]);
    assert.equal(
      findings.quickBeforeWaits,
      true,
      'all 200 short requests finished while the 8 waits and the events stream were held',
    );
    assert.deepEqual(
      findings.waits,
      Array(8).fill('wait 103'),
      'each wait ran out its timeout with the token operation still running',
    );
    // The baseline is taken after a warm-up burst; three more bursts, long polls and an events stream leave nothing behind.
    assert.ok(
      findings.heapGrowthMB.afterLoad < 10,
      `heap after load: ${JSON.stringify(findings.heapGrowthMB)} MB over the baseline`,
    );
    assert.ok(
      findings.heapGrowthMB.afterIdle < 1,
      `heap after idle: ${JSON.stringify(findings.heapGrowthMB)} MB over the baseline`,
    );
    assert.ok(
      findings.heapGrowthMB.afterClose < 1,
      `heap after close: ${JSON.stringify(findings.heapGrowthMB)} MB over the baseline`,
    );
  });
});
