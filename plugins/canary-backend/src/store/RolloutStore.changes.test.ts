import { TestDatabases } from '@backstage/backend-test-utils';
import { RolloutStore, RolloutChange } from './RolloutStore';
import { migrationsDir } from '../engine/__testUtils__/harness';
import type { RolloutRecord } from '../domain/types';
import { storedRollout } from './__testUtils__/storedRollout';

const databases = TestDatabases.create({ ids: ['SQLITE_3'] });

function record(id: string): RolloutRecord {
  return storedRollout(id, 'app', {
    canary: { name: 'app-v2' },
    createdAt: 1,
    updatedAt: 1,
  });
}

describe('RolloutStore change listeners', () => {
  it('hears every change a viewer sees, after it committed, and no bookkeeping', async () => {
    const store = await RolloutStore.create(
      await databases.init('SQLITE_3'),
      migrationsDir,
    );
    const heard: RolloutChange[] = [];
    store.onChange(change => heard.push(change));
    store.onChange(() => {
      throw new Error('a broken listener');
    });
    const app = { rolloutId: 'a', entityRef: 'component:default/app' };

    await store.insert(record('a'));
    expect(heard).toEqual([app]);

    // Bookkeeping only: schedule and engine state.
    await store.commit('a', 0, { nextRunAt: 5 });
    await store.commit('a', 1, { state: { clusterErrors: 1 } });
    expect(heard).toHaveLength(1);

    await store.commit('a', 2, { weight: 5, stepIndex: 0 });
    await store.commit(
      'a',
      3,
      {},
      {
        analysis: {
          stepIndex: 0,
          weight: 5,
          action: 'hold',
          reason: 'r',
          failedChecks: 0,
          checks: [],
        },
      },
    );
    await store.commit(
      'a',
      4,
      {},
      {
        events: [{ type: 'step', message: 'x', actor: 'u' }],
      },
    );
    expect(heard).toEqual([app, app, app, app]);

    // A stale commit changed nothing: no news.
    expect(await store.commit('a', 0, { weight: 50 })).toBeUndefined();
    expect(heard).toHaveLength(4);

    // Events recorded outside a state change name only the rollout.
    await store.addEvents('a', [{ type: 'webhook', message: 'y', actor: 'u' }]);
    await store.addEvents('a', []);
    expect(heard.slice(4)).toEqual([{ rolloutId: 'a' }]);
  });
});
