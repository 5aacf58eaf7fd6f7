import { TestDatabases } from '@backstage/backend-test-utils';
import { RolloutStore, NewAnalysis } from './RolloutStore';
import { migrationsDir } from '../engine/__testUtils__/harness';
import type { RolloutRecord } from '../domain/types';
import { storedRollout } from './__testUtils__/storedRollout';

jest.setTimeout(60_000);

const databases = TestDatabases.create({ ids: ['SQLITE_3', 'POSTGRES_15'] });

function record(id: string, workload: string): RolloutRecord {
  return storedRollout(id, workload, {
    phase: 'Progressing',
    stepIndex: 0,
    weight: 10,
  });
}

const result = (reason: string, keep?: boolean): NewAnalysis => ({
  stepIndex: 0,
  weight: 10,
  action: 'hold',
  reason,
  failedChecks: 0,
  checks: [],
  ...(keep === undefined ? {} : { keep }),
});

describe.each(databases.eachSupportedId())(
  'analysis results kept on change, latest in place (%s)',
  databaseId => {
    it('replaces only the provisional newest row, never a kept one, per rollout', async () => {
      const store = await RolloutStore.create(
        await databases.init(databaseId),
        migrationsDir,
      );
      await store.insert(record('a', 'app'));
      await store.insert(record('b', 'other'));
      let va = 0;
      let vb = 0;
      const commitA = async (a: NewAnalysis) => {
        await store.commit('a', va++, {}, { analysis: a });
      };
      await commitA(result('a1 kept'));
      await commitA(result('a2 latest', false));
      // Another rollout's provisional row is its own.
      await store.commit('b', vb++, {}, { analysis: result('b1', false) });
      await commitA(result('a3 latest', false));
      await commitA(result('a4 latest', false));
      expect((await store.analysis('a')).map(r => r.reason)).toEqual([
        'a1 kept',
        'a4 latest',
      ]);
      expect((await store.lastAnalysis(['a', 'b'])).get('a')?.reason).toBe(
        'a4 latest',
      );
      // A kept result takes the provisional row's place; the next latest is a new row.
      await commitA(result('a5 kept'));
      await commitA(result('a6 latest', false));
      expect((await store.analysis('a')).map(r => r.reason)).toEqual([
        'a1 kept',
        'a5 kept',
        'a6 latest',
      ]);
      expect((await store.analysis('b')).map(r => r.reason)).toEqual(['b1']);
    });
  },
);
