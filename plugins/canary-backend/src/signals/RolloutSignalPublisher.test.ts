import { mockServices } from '@backstage/backend-test-utils';
import { RolloutSignalPublisher } from './RolloutSignalPublisher';

function fakeSignals(fail = false) {
  const published: Array<{ channel: string; message: unknown }> = [];
  return {
    published,
    signals: {
      publish: jest.fn(async (signal: any) => {
        if (fail) throw new Error('events bus down');
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
});
