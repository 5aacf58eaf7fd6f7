import { TestDatabases } from '@backstage/backend-test-utils';
import type { DecisionAction } from '@coalmine/backstage-plugin-canary-common';
import {
  FakeCluster,
  SimulatedCrash,
  rejected,
  unavailable,
} from './__testUtils__/FakeCluster';
import { TestClock, createEngine, resolved } from './__testUtils__/harness';
import type { RolloutAnalyzer } from '../domain/ports';
import type { RolloutEngine } from './RolloutEngine';
import type { RolloutStore } from '../store/RolloutStore';

jest.setTimeout(60_000);

const databases = TestDatabases.create({ ids: ['SQLITE_3'] });

const istio = {
  trafficProvider: 'istio',
  steps: [5, 25, 50, 75, 100],
  analysis: { interval: '10s' },
};

/** An analyzer that answers from a script (the last answer repeats); `throw` throws. */
function scripted(answers: Array<DecisionAction | 'throw'>): RolloutAnalyzer & {
  calls: number;
} {
  const analyzer = {
    calls: 0,
    hasGates: () => true,
    evaluate: async () => {
      const answer = answers[Math.min(analyzer.calls++, answers.length - 1)];
      if (answer === 'throw') throw new Error('Prometheus answered 503');
      return {
        action: answer,
        reason: answer === 'rollback' ? 'error-rate regressed' : answer,
        checks: [],
        failedChecks: answer === 'rollback' ? 1 : 0,
        state: {},
      };
    },
    series: async () => [],
  };
  return analyzer;
}

async function setup(
  shape: FakeCluster['shape'],
  policyInput: Record<string, unknown> = istio,
  analyzer?: RolloutAnalyzer,
) {
  const db = await databases.init('SQLITE_3');
  const cluster = new FakeCluster(shape);
  const clock = new TestClock();
  const { engine, service, store } = await createEngine(db, cluster, {
    clock,
    analyzer,
  });
  const target = resolved('component:default/app', policyInput);
  const { id } = await service.start({
    resolved: target,
    cluster: 'c',
    startedBy: 'u',
  });
  await engine.idle();
  return { cluster, clock, engine, service, store, id, db };
}

/** Ticks (moving the clock) until `done` holds or the rollout is terminal. */
async function runUntil(
  engine: RolloutEngine,
  store: RolloutStore,
  clock: TestClock,
  id: string,
  stepMs = 10_000,
  limit = 200,
) {
  for (let i = 0; i < limit; i++) {
    await engine.idle();
    await engine.tick();
    await engine.idle();
    const r = (await store.get(id))!;
    if (['Succeeded', 'RolledBack', 'Aborted', 'Failed'].includes(r.phase)) {
      return r;
    }
    clock.advance(stepMs);
  }
  return (await store.get(id))!;
}

describe('the engine fails safe', () => {
  it('never gives up a rollback while the cluster is unreachable, and says since when', async () => {
    const { cluster, clock, engine, service, store, id } = await setup(
      'versioned-subsets',
    );
    expect(cluster.split.canaryWeight).toBe(5);
    // The cluster stops answering, then the canary is aborted.
    cluster.fail('getSplit', unavailable, 1000);
    cluster.fail('setSplit', unavailable, 1000);
    await service.control(id, 'abort', 'user:default/jane');
    for (let i = 0; i < 40; i++) {
      clock.advance(30_000);
      await engine.tick();
      await engine.idle();
    }
    let r = (await store.get(id))!;
    expect(r.phase).toBe('RollingBack');
    expect(r.message).toMatch(
      /^Rolling back — cluster unreachable since \d\d:\d\d UTC, retrying \(attempt \d+, next in 30 s\)/,
    );
    expect(r.state.rollbackRetry!.attempts).toBeGreaterThan(20);
    // Capped back-off: never more than 30 s away.
    expect(r.nextRunAt! - clock.t).toBeLessThanOrEqual(30_000);
    // The cluster answers again: the rollback finishes with all traffic on stable.
    cluster.clearFaults();
    r = await runUntil(engine, store, clock, id, 30_000);
    expect(r.phase).toBe('Aborted');
    expect(cluster.split.canaryWeight).toBe(0);
    const events = await store.events(id);
    expect(events.some(e => e.type === 'cluster-recovered')).toBe(true);
    // A long outage is in the timeline, but not once per attempt.
    const errors = events.filter(e => e.type === 'cluster-error').length;
    expect(errors).toBeGreaterThan(3);
    expect(errors).toBeLessThan(12);
  });

  it('ends Failed only for a refusal retrying cannot fix, with the commands that restore stable', async () => {
    const { cluster, clock, engine, service, store, id } = await setup(
      'versioned-subsets',
    );
    cluster.fail('setSplit', rejected, 1000);
    await service.control(id, 'abort', 'user:default/jane');
    const r = await runUntil(engine, store, clock, id);
    expect(r.phase).toBe('Failed');
    expect(r.message).toMatch(/422/);
    expect(r.state.manualRestore).toEqual([
      expect.stringMatching(
        /^kubectl --context c -n default patch virtualservices\.networking\.istio\.io app-vs --type=merge/,
      ),
    ]);
    expect(r.message).toContain(r.state.manualRestore![0]);
  });

  it('lets a rollback supersede a forward write the cluster keeps refusing', async () => {
    const { cluster, clock, engine, store, id } = await setup(
      'versioned-subsets',
    );
    // Every write of a forward weight is refused (an admission policy).
    const original = cluster.trafficProvider('c', 'istio').setSplit;
    const provider = cluster.trafficProvider('c', 'istio');
    jest.spyOn(cluster, 'trafficProvider').mockImplementation(() => ({
      ...provider,
      setSplit: async (t, split) => {
        if (split.canaryWeight > 5) throw rejected();
        return original(t, split);
      },
    }));
    const r = await runUntil(engine, store, clock, id);
    expect(r.phase).toBe('RolledBack');
    expect(r.intent).toBeNull();
    expect(cluster.split.canaryWeight).toBe(0);
    const events = await store.events(id);
    expect(events.some(e => /superseded by the rollback/.test(e.message))).toBe(
      true,
    );
  });

  it('lets an abort replace a pending intent, which is never applied', async () => {
    const { cluster, clock, engine, service, store, id } = await setup(
      'versioned-subsets',
    );
    // The replica dies after recording "25 %" but before writing it.
    cluster.fail('setSplit', () => new SimulatedCrash('killed'), 1);
    clock.advance(10_000);
    await engine.tick();
    expect((await store.get(id))!.intent).toMatchObject({ weight: 25 });
    const aborted = await service.control(id, 'abort', 'user:default/jane');
    expect(aborted.intent).toBeNull();
    const r = await runUntil(engine, store, clock, id);
    expect(r.phase).toBe('Aborted');
    expect(cluster.routeWrites.map(w => w.canaryWeight)).toEqual([5, 0]);
  });

  it('restores the stable template saved at start when a promotion cannot finish', async () => {
    const { cluster, clock, engine, store, id } = await setup('fixed-subsets', {
      ...istio,
      steps: [50, 100],
    });
    // The template reaches stable, then finalizing is refused for good.
    cluster.fail('finalizePromotion', rejected, 1000);
    const r = await runUntil(engine, store, clock, id);
    expect(r.phase).toBe('RolledBack');
    expect(r.message).toMatch(/promotion could not finish/);
    expect(r.message).toMatch(/app-stable runs its template from before/);
    expect(cluster.deployments.get('app-stable')!.image).toBe('reg/app:v1');
    expect(cluster.split.canaryWeight).toBe(0);
  });

  it('gives a truthful end when promote-template is refused (422)', async () => {
    const { cluster, clock, engine, store, id } = await setup('fixed-subsets', {
      ...istio,
      steps: [50, 100],
    });
    cluster.fail('promoteTemplate', rejected, 1000);
    const r = await runUntil(engine, store, clock, id);
    expect(r.phase).toBe('RolledBack');
    expect(r.message).toMatch(/422/);
    expect(cluster.deployments.get('app-stable')!.image).toBe('reg/app:v1');
    expect(cluster.split.canaryWeight).toBe(0);
  });

  it('finishes a promotion after the cluster was unreachable, instead of undoing half of it', async () => {
    const { cluster, clock, engine, store, id } = await setup('fixed-subsets', {
      ...istio,
      steps: [50, 100],
      clusterErrorLimit: 2,
    });
    cluster.fail('finalizePromotion', unavailable, 8);
    const r = await runUntil(engine, store, clock, id, 30_000);
    expect(r.phase).toBe('Succeeded');
    expect(cluster.deployments.get('app-stable')!.image).toBe('reg/app:v2');
  });

  it('restarts the analysis from the first step when the canary template changes mid-rollout', async () => {
    const analyzer = scripted(['advance']);
    const { cluster, clock, engine, store, id } = await setup(
      'versioned-subsets',
      istio,
      analyzer,
    );
    for (let i = 0; i < 4; i++) {
      clock.advance(10_000);
      await engine.tick();
      await engine.idle();
    }
    expect((await store.get(id))!.weight).toBeGreaterThan(5);
    const canary = cluster.deployments.get('app-v2')!;
    canary.image = 'reg/app:v3';
    canary.template++;
    clock.advance(1000);
    await engine.tick();
    await engine.idle();
    const r = (await store.get(id))!;
    expect(r.weight).toBe(5);
    expect(r.stepIndex).toBe(0);
    expect(r.state.canaryTemplate).toBe(`t${canary.template}`);
    const events = await store.events(id);
    expect(events.some(e => e.type === 'template')).toBe(true);
    // The detector will not start another rollout for this template.
    expect(
      (await store.getWatchedHash('component:default/app', 'c'))?.hash,
    ).toBe(`app-v2@t${canary.template}`);
  });

  it('rolls back when the canary template changes and the policy says abort', async () => {
    const { cluster, clock, engine, store, id } = await setup(
      'versioned-subsets',
      { ...istio, onTemplateChange: 'abort' },
    );
    cluster.deployments.get('app-v2')!.template++;
    const r = await runUntil(engine, store, clock, id, 1000);
    expect(r.phase).toBe('RolledBack');
    expect(r.message).toMatch(/pod template changed/);
    expect(cluster.split.canaryWeight).toBe(0);
  });

  it('keeps judging a paused canary and rolls back on a regression', async () => {
    const analyzer = scripted(['hold', 'hold', 'rollback']);
    const { clock, engine, service, store, id, cluster } = await setup(
      'versioned-subsets',
      istio,
      analyzer,
    );
    await service.control(id, 'pause', 'user:default/jane');
    const r = await runUntil(engine, store, clock, id);
    expect(r.phase).toBe('RolledBack');
    expect(r.message).toMatch(/error-rate regressed/);
    expect(analyzer.calls).toBe(3);
    expect(cluster.split.canaryWeight).toBe(0);
  });

  it('rolls back a hold that lasts longer than maxHold', async () => {
    const { clock, engine, service, store, id } = await setup(
      'versioned-subsets',
      { ...istio, maxHold: '1h' },
    );
    await service.control(id, 'pause', 'user:default/jane');
    clock.advance(59 * 60_000);
    await engine.tick();
    await engine.idle();
    expect((await store.get(id))!.phase).toBe('Paused');
    const r = await runUntil(engine, store, clock, id, 60_000);
    expect(r.phase).toBe('RolledBack');
    expect(r.message).toMatch(/longer than the policy's maxHold \(3600 s\)/);
  });

  it('lets analysis exceptions follow the inconclusive policy', async () => {
    const analyzer = scripted(['throw']);
    const { clock, engine, store, id } = await setup(
      'versioned-subsets',
      {
        ...istio,
        analysis: {
          interval: '10s',
          inconclusive: { policy: 'fail', after: 2 },
        },
      },
      analyzer,
    );
    const r = await runUntil(engine, store, clock, id);
    expect(r.phase).toBe('RolledBack');
    expect(r.message).toMatch(/could not run: Prometheus answered 503/);
    expect(analyzer.calls).toBe(2);
  });

  it('answers a start on a workload another component is rolling out with 409 naming it', async () => {
    const { service } = await setup('versioned-subsets');
    const other = resolved('component:default/impostor', istio);
    await expect(
      service.start({ resolved: other, cluster: 'c', startedBy: 'u' }),
    ).rejects.toMatchObject({
      name: 'ConflictError',
      message: expect.stringMatching(
        /Service default\/app on cluster c is already in a rollout of component:default\/app/,
      ),
    });
  });

  it('processes only rollouts that are due', async () => {
    const { cluster, clock, engine, store, id } = await setup(
      'versioned-subsets',
    );
    const r = (await store.get(id))!;
    expect(r.nextRunAt).toBeGreaterThan(clock.t);
    const reads = jest.spyOn(cluster, 'podHealth');
    await engine.tick();
    await engine.tick();
    expect(reads).not.toHaveBeenCalled();
    clock.advance(r.nextRunAt! - clock.t);
    await engine.tick();
    expect(reads).toHaveBeenCalled();
  });

  it('lets an abort end a slow write of its own replica, which then never lands', async () => {
    const { cluster, clock, engine, service, store, id } = await setup(
      'versioned-subsets',
    );
    cluster.writeDelayMs = 300;
    clock.advance(10_000);
    const ticking = engine.tick();
    // The pass has recorded "25 %" and waits for the slow API server.
    for (let i = 0; i < 100 && !(await store.get(id))!.intent; i++) {
      await new Promise(r => setTimeout(r, 10));
    }
    expect((await store.get(id))!.intent).toMatchObject({ weight: 25 });
    const aborted = await service.control(id, 'abort', 'user:default/jane');
    expect(aborted.phase).toBe('RollingBack');
    await ticking;
    const r = await runUntil(engine, store, clock, id);
    expect(r.phase).toBe('Aborted');
    expect(cluster.routeWrites.map(w => w.canaryWeight)).toEqual([5, 0]);
  });

  it('gives each transition of a pass the deadline: a slow cluster that answers is not cut short, one that hangs is', async () => {
    const db = await databases.init('SQLITE_3');
    const cluster = new FakeCluster('versioned-subsets');
    const clock = new TestClock();
    const { engine, service, store } = await createEngine(db, cluster, {
      clock,
      passDeadlineMs: 400,
    });
    // Every write takes 250 ms: the pass of the last step shifts it, routes all
    // traffic to the canary and scales stable down, 750 ms in all, each within 400.
    cluster.writeDelayMs = 250;
    cluster.workloadWriteDelayMs = 250;
    const { id } = await service.start({
      resolved: resolved('component:default/app', {
        trafficProvider: 'istio',
        steps: [20, 40, 60, 80, 100],
      }),
      cluster: 'c',
      startedBy: 'u',
    });
    await engine.idle();
    const r = await runUntil(engine, store, clock, id, 1000);
    expect(r.phase).toBe('Succeeded');
    const events = await store.events(id);
    expect(events.filter(e => e.type === 'cluster-error')).toEqual([]);
    expect(cluster.routeWrites.map(w => w.canaryWeight)).toEqual([
      20, 40, 60, 80, 100, 100,
    ]);

    // One write that hangs longer than the deadline ends the pass with a record of why.
    const { id: second } = await service.start({
      resolved: resolved('component:default/other', {
        trafficProvider: 'istio',
        steps: [50, 100],
      }),
      cluster: 'c2',
      startedBy: 'u',
    });
    cluster.writeDelayMs = 1000;
    await engine.idle();
    clock.advance(1000);
    await engine.tick();
    await engine.idle();
    expect((await store.events(second)).map(e => e.message).join('\n')).toMatch(
      /ran longer than 0\.4 s/,
    );
  });
});
