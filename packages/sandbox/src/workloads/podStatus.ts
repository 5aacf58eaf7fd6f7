import { PodBehaviour } from './behaviour';

export interface PodTimeline {
  /** When the pod object was created, ms since epoch. */
  createdAt: number;
  readinessDelayMs: number;
  /** Time between restarts of a crash-looping container. */
  crashLoopRestartMs: number;
  /** How long an OOM-prone container runs before it is killed. */
  oomAfterMs: number;
}

function ts(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000)
    .toISOString()
    .replace(/\.\d+Z$/, 'Z');
}

/**
 * The status of a simulated pod at a point in time. It is a pure function of
 * the pod's creation time and behaviour, so the controller can recompute it
 * on every tick and write only when something visible changed.
 */
export function podStatusAt(
  pod: any,
  behaviour: PodBehaviour,
  t: PodTimeline,
  now: number,
  podIP: string,
) {
  const containers: any[] = pod.spec?.containers ?? [];
  const age = now - t.createdAt;
  const started = age >= t.readinessDelayMs;
  let restarts = 0;
  let mainReady = started;
  let mainState: any = started
    ? { running: { startedAt: ts(t.createdAt + t.readinessDelayMs) } }
    : { waiting: { reason: 'ContainerCreating' } };
  let lastState: any = {};

  if (behaviour.crashLoop && started) {
    restarts =
      1 + Math.floor((age - t.readinessDelayMs) / t.crashLoopRestartMs);
    const lastFinished =
      t.createdAt + t.readinessDelayMs + (restarts - 1) * t.crashLoopRestartMs;
    mainReady = false;
    mainState = {
      waiting: {
        reason: 'CrashLoopBackOff',
        message: `back-off restarting failed container ${
          containers[0]?.name ?? 'app'
        }`,
      },
    };
    lastState = {
      terminated: {
        exitCode: 1,
        reason: 'Error',
        startedAt: ts(lastFinished),
        finishedAt: ts(lastFinished),
      },
    };
  } else if (behaviour.oom && started) {
    const cycle = t.readinessDelayMs + t.oomAfterMs;
    restarts = Math.floor(age / cycle);
    const inCycle = age - restarts * cycle;
    mainReady = inCycle >= t.readinessDelayMs;
    const cycleStart = t.createdAt + restarts * cycle;
    mainState = mainReady
      ? { running: { startedAt: ts(cycleStart + t.readinessDelayMs) } }
      : { waiting: { reason: 'ContainerCreating' } };
    if (restarts > 0) {
      lastState = {
        terminated: {
          exitCode: 137,
          reason: 'OOMKilled',
          startedAt: ts(cycleStart - t.oomAfterMs),
          finishedAt: ts(cycleStart),
        },
      };
    }
  }

  const sidecarState = started
    ? { running: { startedAt: ts(t.createdAt + t.readinessDelayMs) } }
    : { waiting: { reason: 'ContainerCreating' } };
  const containerStatuses = containers.map((c, i) => {
    const main = i === 0;
    return {
      name: c.name,
      image: c.image,
      imageID: `sandbox://${c.image}`,
      containerID: `sandbox://${pod.metadata?.uid}/${c.name}`,
      ready: main ? mainReady : started,
      started: main ? mainReady || Boolean(mainState.running) : started,
      restartCount: main ? restarts : 0,
      state: main ? mainState : sidecarState,
      lastState: main ? lastState : {},
    };
  });
  const allReady = containerStatuses.every(c => c.ready);
  const created = ts(t.createdAt);
  const readySince = ts(t.createdAt + t.readinessDelayMs);
  return {
    phase: started ? 'Running' : 'Pending',
    conditions: [
      { type: 'PodScheduled', status: 'True', lastTransitionTime: created },
      { type: 'Initialized', status: 'True', lastTransitionTime: created },
      {
        type: 'ContainersReady',
        status: allReady ? 'True' : 'False',
        lastTransitionTime: allReady ? readySince : created,
        ...(allReady ? {} : { reason: 'ContainersNotReady' }),
      },
      {
        type: 'Ready',
        status: allReady ? 'True' : 'False',
        lastTransitionTime: allReady ? readySince : created,
        ...(allReady ? {} : { reason: 'ContainersNotReady' }),
      },
    ],
    hostIP: '10.0.0.10',
    podIP,
    podIPs: [{ ip: podIP }],
    startTime: created,
    qosClass: 'BestEffort',
    containerStatuses,
  };
}

export function isPodReady(pod: any): boolean {
  return (
    (pod?.status?.conditions ?? []).some(
      (c: any) => c.type === 'Ready' && c.status === 'True',
    ) && !pod?.metadata?.deletionTimestamp
  );
}
