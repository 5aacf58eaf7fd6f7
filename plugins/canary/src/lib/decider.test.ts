import { events, finishedRollout, rollout } from '../__testUtils__/fixtures';
import { describeDecider } from './decider';

describe('describeDecider', () => {
  const control = (id: number, name: string, actor: string) => ({
    id,
    rolloutId: 'r-1',
    time: `2026-11-21T09:0${id}:00Z`,
    type: 'control',
    message: `${name} pressed`,
    actor,
    data: { control: name },
  });

  it('names the person whose promote or abort ended the rollout', () => {
    expect(
      describeDecider(finishedRollout({ phase: 'Aborted' }), [
        ...events,
        control(1, 'pause', 'user:default/carol'),
        control(2, 'abort', 'user:default/dave'),
      ]),
    ).toBe('Aborted by user:default/dave');
    expect(
      describeDecider(finishedRollout(), [
        control(3, 'promote', 'user:default/bob'),
      ]),
    ).toBe('Promoted by user:default/bob');
  });

  it('credits the engine when nobody pressed anything', () => {
    expect(describeDecider(finishedRollout(), events)).toBe(
      'Promoted by Coalmine after every step passed',
    );
    expect(
      describeDecider(finishedRollout({ phase: 'RolledBack' }), events),
    ).toBe('Rolled back by Coalmine');
    expect(describeDecider(rollout(), events)).toBeUndefined();
  });
});
