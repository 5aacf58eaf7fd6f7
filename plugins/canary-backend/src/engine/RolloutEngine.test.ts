import { TestDatabases } from '@backstage/backend-test-utils';
import { FakeCluster, unavailable } from './__testUtils__/FakeCluster';
import { TestClock, createEngine, resolved } from './__testUtils__/harness';
import type { RolloutEngine } from './RolloutEngine';
import type { RolloutStore } from '../store/RolloutStore';
import type { CanaryPolicy } from '../config/policy';
import type { RolloutRecord } from '../domain/types';

jest.setTimeout(60_000);

const databases = TestDatabases.create({ ids: ['SQLITE_3'] });

const istio = {
  trafficProvider: 'istio',
  steps: [5, 25, 50, 75, 100],
  analysis: { interval: '10s' },
};

async function setup(
  shape: FakeCluster['shape'],
  policyInput: Record<string, unknown> = istio,
) {
  const db = await databases.init('SQLITE_3');
  const cluster = new FakeCluster(shape);
  const clock = new TestClock();
  const { engine, service, store } = await createEngine(db, cluster, {
    clock,
  });
  const target = resolved('component:default/app', policyInput);
  return { cluster, clock, engine, service, store, target, db };
}

/** Ticks until the rollout is terminal, moving the clock by `stepMs` between ticks. */
async function runToEnd(
  engine: RolloutEngine,
  store: RolloutStore,
  clock: TestClock,
  id: string,
  stepMs = 10_000,
) {
  for (let i = 0; i < 100; i++) {
    await engine.idle();
    await engine.tick();
    const r = await store.get(id);
    if (['Succeeded', 'RolledBack', 'Aborted', 'Failed'].includes(r!.phase))
      return r!;
    clock.advance(stepMs);
  }
  throw new Error('rollout did not finish');
}

describe('RolloutEngine', () => {
  it('runs versioned subsets 5 → 25 → 50 → 75 → 100, ends on v2 alone and retires v1', async () => {
    const { cluster, clock, engine, service, store, target } = await setup(
      'versioned-subsets',
    );
    const started = await service.start({
      resolved: target,
      cluster: 'c',
      startedBy: 'user:default/jane',
    });
    const done = await runToEnd(engine, store, clock, started.id);
    expect(done.phase).toBe('Succeeded');
    expect(cluster.routeWrites.map(w => w.canaryWeight)).toEqual([
      5, 25, 50, 75, 100, 100,
    ]);
    expect(cluster.routeWrites[5].finalized).toBe(true);
    expect(cluster.deployments.get('app-v1')!.replicas).toBe(0);
    const events = await store.events(started.id);
    expect(
      events.filter(e => e.type === 'step').map(e => e.data?.weight),
    ).toEqual([5, 25, 50, 75, 100]);
    expect(events[0].actor).toBe('user:default/jane');
  });

  it('fences each cluster write once, not once more in the client right after', async () => {
    const { cluster, clock, engine, service, store, target } = await setup(
      'versioned-subsets',
    );
    const fences = jest.spyOn(store, 'renewLease');
    const started = await service.start({
      resolved: target,
      cluster: 'c',
      startedBy: 'user:default/jane',
    });
    const done = await runToEnd(engine, store, clock, started.id);
    expect(done.phase).toBe('Succeeded');
    // One fence per weight written, one for the canary's preparation and
    // one for its scale to 3 pods before 75 % (ceil(0.75 × 3)): the
    // client's fence right before each write reuses the intent's (fourteen
    // fences without that).
    expect(cluster.routeWrites).toHaveLength(6);
    expect(cluster.scaleWrites).toEqual([
      { name: 'app-v2', replicas: 3 },
      { name: 'app-v1', replicas: 0 },
    ]);
    expect(fences.mock.calls.length).toBeLessThanOrEqual(8);
  });

  it('reads a rollout only when it changed since its last pass here (the lease answers the version)', async () => {
    const { clock, engine, service, store, target } = await setup(
      'versioned-subsets',
      { ...istio, steps: [{ weight: 5, pause: '1m' }, 100] },
    );
    const { id } = await service.start({
      resolved: target,
      cluster: 'c',
      startedBy: 'u',
    });
    await engine.tick();
    const atStep = (await store.get(id))!;
    expect(atStep).toMatchObject({ phase: 'Progressing', weight: 5 });
    const gets = jest.spyOn(store, 'get');
    // Looks at the canary while the step's pause runs: nothing changes.
    for (let i = 0; i < 3; i++) {
      clock.advance(5_000);
      await engine.tick();
    }
    expect(gets).not.toHaveBeenCalled();
    expect((await store.get(id))!.version).toBe(atStep.version);
    gets.mockClear();
    // Someone else changes the rollout (another replica, a control).
    await store.commit(id, atStep.version, { message: 'changed elsewhere' });
    clock.advance(5_000);
    await engine.tick();
    expect(gets).toHaveBeenCalledTimes(1);
    clock.advance(60_000);
    await engine.tick();
    const after = (await store.get(id))!;
    expect(after.weight).toBe(100);
    expect(after.message).not.toBe('changed elsewhere');
  });

  it('keeps the old stable when the policy says so', async () => {
    const { cluster, clock, engine, service, store, target } = await setup(
      'versioned-subsets',
      {
        ...istio,
        promotion: { retireStable: 'keep' },
      },
    );
    const started = await service.start({
      resolved: target,
      cluster: 'c',
      startedBy: 'u',
    });
    expect((await runToEnd(engine, store, clock, started.id)).phase).toBe(
      'Succeeded',
    );
    expect(cluster.deployments.get('app-v1')!.replicas).toBe(3);
  });

  it('promotes fixed subsets: template copied, header route during the rollout and removed at the end, canary scaled down', async () => {
    const { cluster, clock, engine, service, store, target } = await setup(
      'fixed-subsets',
      {
        ...istio,
        stickyHeader: 'x-canary-user: true',
      },
    );
    const started = await service.start({
      resolved: target,
      cluster: 'c',
      startedBy: 'u',
      image: 'reg/app:v3',
    });
    const done = await runToEnd(engine, store, clock, started.id);
    expect(done.phase).toBe('Succeeded');
    expect(cluster.routeWrites.slice(0, 5).every(w => w.headerRoute)).toBe(
      true,
    );
    expect(cluster.routeWrites[5]).toEqual({
      canaryWeight: 0,
      headerRoute: false,
      finalized: true,
    });
    expect(cluster.deployments.get('app-stable')!.image).toBe('reg/app:v3');
    expect(cluster.deployments.get('app-canary')!.replicas).toBe(0);
  });

  it('reports the actual weight of a replica ratio split', async () => {
    const { clock, engine, service, store, target } = await setup(
      'replica-ratio',
      {
        trafficProvider: 'replicas',
        steps: [10, 50, 100],
        analysis: { interval: '10s' },
      },
    );
    const started = await service.start({
      resolved: target,
      cluster: 'c',
      startedBy: 'u',
    });
    await engine.idle();
    const r = await store.get(started.id);
    expect(r!.weight).toBe(10);
    expect(r!.actualWeight).toBe(10);
    expect((await runToEnd(engine, store, clock, started.id)).phase).toBe(
      'Succeeded',
    );
  });

  it('rolls a crash-looping canary back before the progress deadline', async () => {
    const { cluster, clock, engine, service, store, target } = await setup(
      'versioned-subsets',
      {
        ...istio,
        progressDeadline: '10m',
        maxCanaryRestarts: 2,
      },
    );
    const started = await service.start({
      resolved: target,
      cluster: 'c',
      startedBy: 'u',
      image: 'reg/app:crash',
    });
    const done = await runToEnd(engine, store, clock, started.id, 1000);
    expect(done.phase).toBe('RolledBack');
    expect(done.finishedAt! - done.createdAt).toBeLessThan(600_000);
    expect(done.message).toMatch(/restarted/);
    expect(cluster.routeWrites.every(w => w.canaryWeight === 0)).toBe(true);
    expect(cluster.deployments.get('app-v2')!.replicas).toBe(0);
  });

  it('aborts at once: all traffic back on stable without waiting for the loop', async () => {
    const { cluster, clock, engine, service, store, target } = await setup(
      'versioned-subsets',
    );
    const started = await service.start({
      resolved: target,
      cluster: 'c',
      startedBy: 'u',
    });
    await engine.idle();
    clock.advance(10_000);
    await engine.tick();
    expect(cluster.split.canaryWeight).toBe(25);
    await service.control(
      started.id,
      'abort',
      'user:default/jane',
      'looks wrong',
    );
    await engine.idle();
    const r = await store.get(started.id);
    expect(r!.phase).toBe('Aborted');
    expect(cluster.split.canaryWeight).toBe(0);
    // idempotent
    expect((await service.control(started.id, 'abort', 'u')).phase).toBe(
      'Aborted',
    );
    await expect(service.control(started.id, 'promote', 'u')).rejects.toThrow(
      /rolling back or finished/,
    );
  });

  it('pauses, resumes, waits at an approval gate and promotes on demand', async () => {
    const { cluster, clock, engine, service, store, target } = await setup(
      'versioned-subsets',
      {
        trafficProvider: 'istio',
        steps: [10, { weight: 30, approval: true }, 60, 100],
        analysis: { interval: '10s' },
      },
    );
    const { id } = await service.start({
      resolved: target,
      cluster: 'c',
      startedBy: 'u',
    });
    await engine.idle();
    await expect(service.control(id, 'approve', 'u')).rejects.toThrow(
      /no approval gate/,
    );
    expect((await service.control(id, 'pause', 'u')).phase).toBe('Paused');
    expect((await service.control(id, 'pause', 'u')).phase).toBe('Paused');
    clock.advance(60_000);
    await engine.tick();
    expect(cluster.split.canaryWeight).toBe(10);
    expect((await service.control(id, 'resume', 'u')).phase).toBe(
      'Progressing',
    );
    for (let i = 0; i < 4; i++) {
      clock.advance(10_000);
      await engine.tick();
    }
    await engine.idle();
    expect((await store.get(id))!.phase).toBe('AwaitingApproval');
    expect(cluster.split.canaryWeight).toBe(30);
    expect(
      (await service.control(id, 'approve', 'user:default/lead')).phase,
    ).toBe('Progressing');
    await engine.idle();
    expect(cluster.split.canaryWeight).toBe(60);
    expect((await service.control(id, 'promote', 'u')).phase).toBe('Promoting');
    await engine.idle();
    expect((await store.get(id))!.phase).toBe('Succeeded');
    expect(cluster.routeWrites.map(w => w.canaryWeight)).toEqual([
      10, 30, 60, 100,
    ]);
    expect((await service.control(id, 'promote', 'u')).phase).toBe('Succeeded');
    await expect(service.control(id, 'pause', 'u')).rejects.toThrow(
      /409|paused/,
    );
  });

  it('answers a second start for the same component and cluster with a conflict', async () => {
    const { service, target } = await setup('versioned-subsets');
    await service.start({ resolved: target, cluster: 'c', startedBy: 'u' });
    await expect(
      service.start({ resolved: target, cluster: 'c', startedBy: 'u' }),
    ).rejects.toMatchObject({ name: 'ConflictError' });
  });

  it('holds the weight on cluster errors, backs off, and carries on when the cluster answers again', async () => {
    const { cluster, clock, engine, service, store, target } = await setup(
      'versioned-subsets',
    );
    const { id } = await service.start({
      resolved: target,
      cluster: 'c',
      startedBy: 'u',
    });
    await engine.idle();
    cluster.fail('setSplit', unavailable, 2);
    clock.advance(10_000);
    await engine.tick();
    let r = await store.get(id);
    expect(r!.weight).toBe(5);
    expect(r!.state.clusterErrors).toBe(1);
    expect(r!.intent).toMatchObject({ op: 'set-weight', weight: 25 });
    await engine.tick(); // backing off: nothing happens
    expect((await store.get(id))!.state.clusterErrors).toBe(1);
    clock.advance(1000);
    await engine.tick();
    expect((await store.get(id))!.state.clusterErrors).toBe(2);
    clock.advance(2000);
    await engine.tick();
    r = await store.get(id);
    expect(r!.weight).toBe(25);
    expect(r!.state.clusterErrors).toBe(0);
    expect(cluster.routeWrites.map(w => w.canaryWeight)).toEqual([5, 25]);
    const types = (await store.events(id)).map(e => e.type);
    expect(types.filter(t => t === 'cluster-error')).toHaveLength(2);
  });

  it('rolls back after the policy limit of cluster errors', async () => {
    const { cluster, clock, engine, service, store, target } = await setup(
      'versioned-subsets',
      { ...istio, clusterErrorLimit: 3 },
    );
    const { id } = await service.start({
      resolved: target,
      cluster: 'c',
      startedBy: 'u',
    });
    await engine.idle();
    cluster.fail('getSplit', unavailable, 3);
    for (let i = 0; i < 6; i++) {
      clock.advance(5_000);
      await engine.tick();
    }
    const r = await store.get(id);
    expect(r!.phase).toBe('RolledBack');
    expect(cluster.split.canaryWeight).toBe(0);
  });

  it('re-applies a recorded intent after a crash without writing twice', async () => {
    const { cluster, clock, store, target, db } = await setup(
      'versioned-subsets',
    );
    const first = await createEngine(db, cluster, {
      clock,
      owner: 'a',
      leaseMs: 5000,
    });
    const { id } = await first.service.start({
      resolved: target,
      cluster: 'c',
      startedBy: 'u',
    });
    await first.engine.idle();
    // The replica "dies" right after the cluster stored 25 %, before the commit.
    cluster.fail('setSplit', () => new Error('killed'), 1, true);
    clock.advance(10_000);
    await first.engine.tick();
    expect((await store.get(id))!.intent).toMatchObject({ weight: 25 });
    const second = await createEngine(db, cluster, {
      clock,
      owner: 'b',
      leaseMs: 5000,
    });
    clock.advance(10_000);
    const done = await runToEnd(second.engine, store, clock, id);
    expect(done.phase).toBe('Succeeded');
    expect(cluster.routeWrites.map(w => w.canaryWeight)).toEqual([
      5, 25, 50, 75, 100, 100,
    ]);
  });

  it('notices a weight changed by hand and restores it', async () => {
    const { cluster, clock, engine, service, store, target } = await setup(
      'versioned-subsets',
    );
    const { id } = await service.start({
      resolved: target,
      cluster: 'c',
      startedBy: 'u',
    });
    await engine.idle();
    cluster.split.canaryWeight = 40;
    clock.advance(1000);
    await engine.tick();
    expect(cluster.split.canaryWeight).toBe(5);
    const drift = (await store.events(id)).find(e => e.type === 'drift');
    expect(drift?.message).toMatch(/expected 5 %, found 40 %/);
  });

  it('waits for a passing analysis at every step and rolls back when the analysis says so', async () => {
    const db = await databases.init('SQLITE_3');
    const cluster = new FakeCluster('versioned-subsets');
    const clock = new TestClock();
    const verdicts = ['hold', 'advance', 'advance', 'rollback'] as const;
    let call = 0;
    const listed: Record<string, string[]> = {};
    const analyzer = {
      hasGates: () => true,
      evaluate: jest.fn(async (req: any) => {
        if (call === 0) {
          // The analysis may ask for each arm's pods (a series went quiet).
          for (const arm of ['canary', 'stable'])
            listed[arm] = await req.listPods(arm);
        }
        const action = verdicts[Math.min(call++, verdicts.length - 1)];
        return {
          action,
          reason:
            action === 'rollback'
              ? 'error-rate: canary 12 % vs stable 0.2 %'
              : action,
          checks: [
            {
              metric: 'error-rate',
              judge: 'sequential' as const,
              canaryValue: 1,
              stableValue: 0,
              verdict:
                action === 'rollback' ? ('fail' as const) : ('pass' as const),
              evidence: 'x',
            },
          ],
          failedChecks: action === 'rollback' ? 1 : 0,
          state: { ticks: (req.state?.ticks ?? 0) + 1 },
        };
      }),
      series: async () => [],
    };
    const { engine, service, store } = await createEngine(db, cluster, {
      clock,
      analyzer,
    });
    const { id } = await service.start({
      resolved: resolved('component:default/app', istio),
      cluster: 'c',
      startedBy: 'u',
    });
    const done = await runToEnd(engine, store, clock, id);
    expect(done.phase).toBe('RolledBack');
    expect(done.message).toMatch(/analysis failed: error-rate/);
    // hold at 5 %, advance → 25 %, advance → 50 %, rollback → 0 %
    expect(cluster.routeWrites.map(w => w.canaryWeight)).toEqual([
      5, 25, 50, 0,
    ]);
    const analysis = await store.analysis(id);
    expect(analysis.map(a => [a.weight, a.action])).toEqual([
      [5, 'hold'],
      [5, 'advance'],
      [25, 'advance'],
      [50, 'rollback'],
    ]);
    expect(analyzer.evaluate.mock.calls[3][0].state).toEqual({ ticks: 3 });
    // Read from the cluster: each arm's own pods.
    const { topology } = (await store.get(id))!.state;
    for (const arm of ['canary', 'stable'] as const) {
      expect(listed[arm].length).toBeGreaterThan(0);
      for (const pod of listed[arm])
        expect(pod.startsWith(`${topology![arm].name}-`)).toBe(true);
    }
    expect(listed.canary).not.toEqual(listed.stable);
  });

  it('holds the weight when the analysis cannot run at all', async () => {
    const db = await databases.init('SQLITE_3');
    const cluster = new FakeCluster('versioned-subsets');
    const clock = new TestClock();
    const analyzer = {
      hasGates: () => true,
      evaluate: async () => {
        throw new Error('No Prometheus for cluster c');
      },
      series: async () => [],
    };
    const { engine, service, store } = await createEngine(db, cluster, {
      clock,
      analyzer,
    });
    const { id } = await service.start({
      resolved: resolved('component:default/app', istio),
      cluster: 'c',
      startedBy: 'u',
    });
    for (let i = 0; i < 10; i++) {
      await engine.idle();
      clock.advance(10_000);
      await engine.tick();
    }
    const r = await store.get(id);
    expect(r!.phase).toBe('Progressing');
    expect(r!.weight).toBe(5);
    expect(r!.state.clusterErrors ?? 0).toBe(0);
    const analysis = await store.analysis(id);
    expect(
      analysis.every(
        a => a.action === 'hold' && /No Prometheus/.test(a.reason),
      ),
    ).toBe(true);
    expect(
      (await store.events(id)).filter(e => e.type === 'analysis'),
    ).toHaveLength(1);
  });

  it('removes the sticky header route when a rollout is aborted', async () => {
    const { cluster, engine, service, store, target } = await setup(
      'fixed-subsets',
      {
        ...istio,
        stickyHeader: 'x-canary-user: true',
      },
    );
    const { id } = await service.start({
      resolved: target,
      cluster: 'c',
      startedBy: 'u',
      image: 'reg/app:v3',
    });
    await engine.idle();
    expect(cluster.split).toMatchObject({ canaryWeight: 5, headerRoute: true });
    await service.control(id, 'abort', 'u');
    await engine.idle();
    expect((await store.get(id))!.phase).toBe('Aborted');
    expect(cluster.routeWrites[cluster.routeWrites.length - 1]).toEqual({
      canaryWeight: 0,
      headerRoute: false,
    });
    expect(cluster.deployments.get('app-canary')!.replicas).toBe(0);
  });

  it('notices a hand-edited weight while paused and restores it', async () => {
    const { cluster, clock, engine, service, store, target } = await setup(
      'versioned-subsets',
    );
    const { id } = await service.start({
      resolved: target,
      cluster: 'c',
      startedBy: 'u',
    });
    await engine.idle();
    await service.control(id, 'pause', 'u');
    await engine.idle();
    cluster.split.canaryWeight = 60;
    clock.advance(1000);
    await engine.tick();
    const r = await store.get(id);
    expect(r!.phase).toBe('Paused');
    expect(cluster.split.canaryWeight).toBe(5);
    expect((await store.events(id)).some(e => e.type === 'drift')).toBe(true);
  });

  describe('canary sized by the weight (canaryScale)', () => {
    /** Starts a rollout beside 8 stable pods with a canary of 1; records the weight at each scale. */
    async function sized(
      policyInput: Record<string, unknown>,
      edit: (policy: CanaryPolicy) => void = () => {},
      autoscalerMax = Infinity,
    ) {
      const setupResult = await setup('versioned-subsets', policyInput);
      const { cluster } = setupResult;
      edit(setupResult.target.policy);
      cluster.deployments.get('app-v1')!.replicas = 8;
      cluster.deployments.get('app-v2')!.replicas = 1;
      const scales: Array<{
        name: string;
        replicas: number;
        atWeight: number;
      }> = [];
      const scale = cluster.scale.bind(cluster);
      cluster.scale = async (ns: string, name: string, replicas: number) => {
        scales.push({ name, replicas, atWeight: cluster.split.canaryWeight });
        await scale(ns, name, replicas);
        // An HPA at its maxReplicas sets the canary back at once.
        const canary = cluster.deployments.get('app-v2')!;
        canary.replicas = Math.min(canary.replicas, autoscalerMax);
      };
      const { id } = await setupResult.service.start({
        resolved: setupResult.target,
        cluster: 'c',
        startedBy: 'u',
      });
      return { ...setupResult, id, scales };
    }

    /** 8 stable pods: 25 % needs 2 canary pods, 50 % 4, 75 % 6, 100 % 8 — each written while the previous weight holds. */
    const SIZED_EACH_STEP = [
      { name: 'app-v2', replicas: 2, atWeight: 5 },
      { name: 'app-v2', replicas: 4, atWeight: 25 },
      { name: 'app-v2', replicas: 6, atWeight: 50 },
      { name: 'app-v2', replicas: 8, atWeight: 75 },
      { name: 'app-v1', replicas: 0, atWeight: 100 },
    ];

    /** Runs a sized rollout to its end, which must be a promotion; its scales. */
    async function promoted(run: Awaited<ReturnType<typeof sized>>) {
      const done = await runToEnd(run.engine, run.store, run.clock, run.id);
      expect(done.phase).toBe('Succeeded');
      return run.scales;
    }

    it("scales the canary to the weight's share of the stable's pods before traffic moves, by default", async () => {
      const run = await sized(istio);
      expect(await promoted(run)).toEqual(SIZED_EACH_STEP);
      const messages = (await run.store.events(run.id)).map(e => e.message);
      const scaled = messages.indexOf('Scaled app-v2 to 4');
      expect(scaled).toBeGreaterThan(-1);
      expect(messages[scaled + 1]).toBe('Canary weight 50 % (step 3 of 5)');
    });

    it("keeps the canary's own pods with canaryScale: fixed, and in a rollout whose policy predates the setting", async () => {
      const fixed = await sized({ ...istio, canaryScale: 'fixed' });
      expect(fixed.target.policy.canaryScale).toBe('fixed');
      const older = await sized(istio, policy => {
        delete policy.canaryScale;
      });
      for (const run of [fixed, older]) {
        expect(await promoted(run)).toEqual([
          { name: 'app-v1', replicas: 0, atWeight: 100 },
        ]);
      }
    });

    it('scales once per weight and goes on with the pods an autoscaler leaves, instead of writing the count every pass', async () => {
      const run = await sized(istio, () => {}, 3);
      // An HPA with maxReplicas 3 undoes 4, 6 and 8 at once: one write per
      // weight all the same, and the rollout goes on with 3 pods.
      expect(await promoted(run)).toEqual(SIZED_EACH_STEP);
      expect(run.cluster.deployments.get('app-v2')!.replicas).toBe(3);
    });

    it('resumes a canary scale after a crash right after the cluster stored it, and holds through a cluster that refuses it', async () => {
      const run = await sized(istio);
      // The backend "dies" once the cluster stored 2 pods, before the commit;
      // then the cluster answers 503 to the next two scale writes.
      run.cluster.fail('scale', () => new Error('killed'), 1, true);
      run.cluster.fail('scale', unavailable, 2);
      await run.engine.idle();
      for (let i = 0; i < 3 && !(await run.store.get(run.id))!.intent; i++) {
        run.clock.advance(10_000);
        await run.engine.tick();
        await run.engine.idle();
      }
      expect((await run.store.get(run.id))!.intent).toMatchObject({
        op: 'scale',
        replicas: 2,
        why: 'size-canary',
      });
      const second = await createEngine(run.db, run.cluster, {
        clock: run.clock,
        owner: 'b',
      });
      const done = await runToEnd(second.engine, run.store, run.clock, run.id);
      expect(done.phase).toBe('Succeeded');
      // No count was written twice: the resumed scale found 2 stored, and
      // the refused ones were tried again until the cluster took them.
      expect(run.cluster.scaleWrites.filter(w => w.name === 'app-v2')).toEqual([
        { name: 'app-v2', replicas: 2 },
        { name: 'app-v2', replicas: 4 },
        { name: 'app-v2', replicas: 6 },
        { name: 'app-v2', replicas: 8 },
      ]);
      expect(run.scales.filter(s => s.name === 'app-v2').length).toBe(6);
      expect(run.cluster.routeWrites.map(w => w.canaryWeight)).toEqual([
        5, 25, 50, 75, 100, 100,
      ]);
    });

    it('gives a weight adopted from a hand edit its pods at once', async () => {
      const run = await sized(istio, policy => {
        policy.onManualWeightChange = 'adopt';
      });
      await run.engine.idle();
      expect(run.cluster.split.canaryWeight).toBe(5);
      // Someone moves half the traffic to the one-pod canary by hand.
      run.cluster.split.canaryWeight = 50;
      for (let i = 0; i < 3; i++) {
        run.clock.advance(1000);
        await run.engine.tick();
        await run.engine.idle();
      }
      expect((await run.store.get(run.id))!.weight).toBe(50);
      expect(run.scales).toEqual([
        { name: 'app-v2', replicas: 4, atWeight: 50 },
      ]);
      const events = (await run.store.events(run.id)).map(e => e.message);
      const drift = events.findIndex(m => /expected 5 %, found 50 %/.test(m));
      expect(drift).toBeGreaterThan(-1);
      expect(events.indexOf('Scaled app-v2 to 4')).toBeGreaterThan(drift);
      // The steps go on; 25 % and 50 % need no more than the 4 pods.
      expect(await promoted(run)).toEqual([
        { name: 'app-v2', replicas: 4, atWeight: 50 },
        { name: 'app-v2', replicas: 6, atWeight: 50 },
        { name: 'app-v2', replicas: 8, atWeight: 75 },
        { name: 'app-v1', replicas: 0, atWeight: 100 },
      ]);
    });

    it('gives a weight changed by hand while the policy pauses its pods when the rollout is resumed', async () => {
      const run = await sized(istio, policy => {
        policy.onManualWeightChange = 'pause';
      });
      await run.engine.idle();
      run.cluster.split.canaryWeight = 50;
      run.clock.advance(1000);
      await run.engine.tick();
      await run.engine.idle();
      expect((await run.store.get(run.id))!.phase).toBe('Paused');
      // Paused: nothing is written, the canary keeps its one pod.
      expect(run.scales).toEqual([]);
      await run.service.control(run.id, 'resume', 'u');
      run.clock.advance(1000);
      await run.engine.tick();
      await run.engine.idle();
      expect(run.scales).toEqual([
        { name: 'app-v2', replicas: 4, atWeight: 50 },
      ]);
    });

    it("gives the first step its pods before any traffic, and the promoted version the stable's before the route moves", async () => {
      const run = await sized({ ...istio, steps: [50] });
      expect(await promoted(run)).toEqual([
        { name: 'app-v2', replicas: 4, atWeight: 0 },
        { name: 'app-v2', replicas: 8, atWeight: 50 },
        { name: 'app-v1', replicas: 0, atWeight: 100 },
      ]);
      expect(run.cluster.routeWrites.map(w => w.canaryWeight)).toEqual([
        50, 100,
      ]);
    });

    it('waits for the new pods at the step and rolls back at the progress deadline when they never come', async () => {
      const { cluster, clock, engine, store, id } = await sized({
        ...istio,
        progressDeadline: '2m',
      });
      // A quota: only 3 canary pods can run; 50 % needs 4.
      cluster.deployments.get('app-v2')!.availableCap = 3;
      /** Ticks every 10 s until the rollout is as `wanted` says (at most 40 ticks). */
      async function tickUntil(wanted: (r: RolloutRecord) => boolean) {
        let r = (await store.get(id))!;
        for (let i = 0; i < 40 && !wanted(r); i++) {
          await engine.idle();
          await engine.tick();
          clock.advance(10_000);
          r = (await store.get(id))!;
        }
        return r;
      }
      expect((await tickUntil(r => r.weight >= 25)).weight).toBe(25);
      const waiting = await tickUntil(r =>
        (r.message ?? '').startsWith('Waiting'),
      );
      expect(waiting.message).toBe(
        'Waiting for the canary: 3/4 pods available',
      );
      expect(waiting.weight).toBe(25);
      const done = await runToEnd(engine, store, clock, id);
      expect(done.phase).toBe('RolledBack');
      expect(done.message).toMatch(
        /canary not available within the progress deadline \(120 s\): 3\/4 pods available/,
      );
      expect(cluster.routeWrites.map(w => w.canaryWeight)).toEqual([5, 25, 0]);
      expect(cluster.deployments.get('app-v2')!.replicas).toBe(0);
    });
  });
});
