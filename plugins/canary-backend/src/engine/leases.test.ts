import { Leases } from './leases';
import type { RolloutStore } from '../store/RolloutStore';

/** A store that records the lease statements in order; `held` says which renewals succeed. */
function recordingStore(held: Set<string>) {
  const calls: string[] = [];
  const store = {
    acquireLeaseStamp: jest.fn(async (id: string) => {
      calls.push(`acquire ${id}`);
      return { version: 0, nextRunAt: null };
    }),
    renewLeases: jest.fn(async (ids: string[]) => {
      calls.push(`renew ${ids.join(',')}`);
      return new Set(ids.filter(id => held.has(id)));
    }),
    releaseLeases: jest.fn(async (releases: Array<[string, unknown]>) => {
      await new Promise(r => setTimeout(r, 5));
      calls.push(
        `release ${releases.map(([id, at]) => `${id}@${at}`).join(',')}`,
      );
    }),
  };
  return { calls, store: store as unknown as RolloutStore };
}

describe('Leases', () => {
  it('writes the releases of a few milliseconds as one statement, each with its next-due time', async () => {
    const { calls, store } = recordingStore(new Set());
    const leases = new Leases({ store, owner: 'a', leaseMs: 1000 });
    const written = [
      leases.release('r1', 100),
      leases.release('r2'),
      leases.release('r3', 300),
    ];
    await Promise.all(written);
    expect(calls).toEqual(['release r1@100,r2@undefined,r3@300']);
  });

  it('takes a lease it just released only after the release is written', async () => {
    const { calls, store } = recordingStore(new Set());
    const leases = new Leases({ store, owner: 'a', leaseMs: 10_000 });
    leases.release('r1', 100);
    leases.release('r2', 200);
    await leases.acquire('r1');
    // Not waiting for the batch's timer: written at once, then taken.
    expect(calls).toEqual(['release r1@100,r2@200', 'acquire r1']);
    await leases.stop();
  });

  it('renews every running pass in one statement and tells the passes whose lease is gone', async () => {
    const { calls, store } = recordingStore(new Set(['r1']));
    const leases = new Leases({ store, owner: 'a', leaseMs: 150 });
    const lost: string[] = [];
    leases.keep('r1', () => lost.push('r1'));
    leases.keep('r2', () => lost.push('r2'));
    while (calls.length === 0) await new Promise(r => setTimeout(r, 10));
    await new Promise(r => setImmediate(r));
    expect(calls[0]).toBe('renew r1,r2');
    expect(lost).toEqual(['r2']);
    // A lost lease is told once and not renewed again, however many
    // renewals run before the pass ends (a loaded machine ran two here).
    while (calls.length < 3) await new Promise(r => setTimeout(r, 10));
    expect(calls.slice(1, 3)).toEqual(['renew r1', 'renew r1']);
    expect(lost).toEqual(['r2']);
    await leases.release('r1');
    await leases.release('r2');
    const renewals = calls.filter(c => c.startsWith('renew')).length;
    await new Promise(r => setTimeout(r, 120));
    // Nothing running: no more renewals.
    expect(calls.filter(c => c.startsWith('renew'))).toHaveLength(renewals);
    await leases.stop();
  });
});
