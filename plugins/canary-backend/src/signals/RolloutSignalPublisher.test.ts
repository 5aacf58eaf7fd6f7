import { mockServices } from '@backstage/backend-test-utils';
import { RolloutSignalPublisher } from './RolloutSignalPublisher';

function fakeSignals(fail = false) {
  // Per-rollout channels in `published`, the organisation-wide one in `org`.
  const published: Array<{ channel: string; message: unknown }> = [];
  const org: Array<{ rolloutIds: string[]; at: number }> = [];
  return {
    published,
    org,
    signals: {
      publish: jest.fn(async (signal: any) => {
        if (fail) throw new Error('events bus down');
        if (signal.channel === 'canary:rollouts') {
          expect(signal.message.type).toBe('rollouts-changed');
          expect(signal.recipients).toEqual({ type: 'broadcast' });
          org.push({ rolloutIds: signal.message.rolloutIds, at: Date.now() });
          return;
        }
        published.push({ channel: signal.channel, message: signal.message });
      }),
    },
  };
}

const settle = (ms: number) => new Promise(r => setTimeout(r, ms));

describe('RolloutSignalPublisher', () => {
  it('turns a burst of changes into one signal now and one after the burst', async () => {
    const { signals, published } = fakeSignals();
    const publisher = new RolloutSignalPublisher({
      signals,
      lookup: async () => undefined,
      minIntervalMs: 100,
    });
    for (let i = 0; i < 10; i++) {
      publisher.changed({ rolloutId: 'r1', entityRef: 'component:default/a' });
    }
    await settle(10);
    expect(published.map(p => p.channel)).toEqual([
      'canary:entity:component:default/a',
      'canary:rollout:r1',
    ]);
    await settle(250);
    expect(published).toHaveLength(4);
    expect(published[3]).toEqual({
      channel: 'canary:rollout:r1',
      message: { type: 'rollout-changed', rolloutId: 'r1' },
    });
    publisher.stop();
  });

  it('throttles each rollout on its own', async () => {
    const { signals, published } = fakeSignals();
    const publisher = new RolloutSignalPublisher({
      signals,
      lookup: async () => undefined,
      minIntervalMs: 10_000,
    });
    publisher.changed({ rolloutId: 'r1', entityRef: 'component:default/a' });
    publisher.changed({ rolloutId: 'r2', entityRef: 'component:default/b' });
    await settle(10);
    expect(published.map(p => p.channel).sort()).toEqual([
      'canary:entity:component:default/a',
      'canary:entity:component:default/b',
      'canary:rollout:r1',
      'canary:rollout:r2',
    ]);
    publisher.stop();
  });

  it('looks the entity up when a change did not carry it, and skips a rollout that is gone', async () => {
    const { signals, published } = fakeSignals();
    const lookup = jest.fn(async (id: string) =>
      id === 'r1' ? 'component:default/Shop-Front' : undefined,
    );
    const publisher = new RolloutSignalPublisher({ signals, lookup });
    publisher.changed({ rolloutId: 'r1' });
    publisher.changed({ rolloutId: 'gone' });
    await settle(10);
    expect(lookup).toHaveBeenCalledTimes(2);
    expect(published.map(p => p.channel)).toEqual([
      // Channels are case-insensitive like entity refs.
      'canary:entity:component:default/shop-front',
      'canary:rollout:r1',
    ]);
    publisher.stop();
  });

  it('never throws when publishing fails; it logs a warning', async () => {
    const { signals } = fakeSignals(true);
    const logger = mockServices.logger.mock();
    const publisher = new RolloutSignalPublisher({
      signals,
      logger,
      lookup: async () => 'component:default/a',
    });
    expect(() => publisher.changed({ rolloutId: 'r1' })).not.toThrow();
    await settle(10);
    expect(logger.warn).toHaveBeenCalledWith(
      expect.stringContaining(
        'could not publish the live update of rollout r1',
      ),
    );
    publisher.stop();
  });

  it('announces changes on the organisation-wide channel at most once per interval, ids only', async () => {
    const { signals, org } = fakeSignals();
    const publisher = new RolloutSignalPublisher({
      signals,
      lookup: async () => 'component:default/a',
      orgMinIntervalMs: 200,
    });
    publisher.changed({ rolloutId: 'r1', entityRef: 'component:default/a' });
    await settle(20);
    expect(org.map(o => o.rolloutIds)).toEqual([['r1']]);
    // A burst over many rollouts: one more signal, after the interval, naming each once.
    for (let i = 0; i < 300; i++) {
      publisher.changed({ rolloutId: `r${i % 30}` });
    }
    await settle(50);
    expect(org).toHaveLength(1);
    await settle(300);
    expect(org).toHaveLength(2);
    expect(org[1].at - org[0].at).toBeGreaterThanOrEqual(190);
    expect([...org[1].rolloutIds].sort()).toEqual(
      Array.from({ length: 30 }, (_, i) => `r${i}`).sort(),
    );
    // Nothing changed since: no further signal.
    await settle(300);
    expect(org).toHaveLength(2);
    publisher.stop();
  });

  it('sends no organisation-wide signal after stop, and logs a failed one', async () => {
    const failing = fakeSignals(true);
    const logger = mockServices.logger.mock();
    const publisher = new RolloutSignalPublisher({
      signals: failing.signals,
      logger,
      lookup: async () => undefined,
      orgMinIntervalMs: 50,
    });
    publisher.changed({ rolloutId: 'r1' });
    await settle(20);
    expect(logger.warn).toHaveBeenCalledWith(
      expect.stringContaining('could not publish the organisation-wide'),
    );
    const { signals, org } = fakeSignals();
    const stopped = new RolloutSignalPublisher({
      signals,
      lookup: async () => undefined,
      orgMinIntervalMs: 50,
    });
    stopped.changed({ rolloutId: 'r1' });
    stopped.stop();
    await settle(100);
    expect(org).toHaveLength(0);
  });
});
