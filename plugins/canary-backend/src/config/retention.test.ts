import { ConfigReader } from '@backstage/config';
import { readCanaryConfig } from './CanaryConfig';

function read(retention: unknown) {
  return readCanaryConfig(
    new ConfigReader({
      canary: retention === undefined ? {} : { retention },
    } as any),
  );
}

const DAY = 24 * 3600_000;

describe('canary.retention', () => {
  it('keeps finished rollouts 90 days by default and cleans up hourly', () => {
    const { retention } = read(undefined);
    expect(retention.maxAgeMs).toBe(90 * DAY);
    expect(retention.frequency).toEqual({ hours: 1 });
  });

  it.each([
    ['30d', 30 * DAY],
    ['12 weeks', 84 * DAY],
    ['P180D', 180 * DAY],
    [{ days: 7, hours: 12 }, 7.5 * DAY],
  ])('reads maxAge %j as a Backstage duration', (maxAge, ms) => {
    expect(read({ maxAge }).retention.maxAgeMs).toBe(ms);
  });

  it('reads the frequency as a Backstage duration', () => {
    expect(read({ frequency: { minutes: 30 } }).retention.frequency).toEqual({
      minutes: 30,
    });
  });

  it.each([
    [
      { maxAge: 'forever' },
      /canary\.retention\.maxAge: Invalid duration 'forever': Not a valid duration string, .*; give a duration such as '90d'/,
    ],
    [
      { maxAge: { dayz: 3 } },
      /canary\.retention\.maxAge: Failed to read duration from config: Needs one or more of 'years', .*; give a duration such as/,
    ],
    [
      { maxAge: 90 },
      /canary\.retention\.maxAge: .*got number.*; give a duration such as/,
    ],
    [{ maxAge: '0s' }, /canary\.retention\.maxAge: must be longer than zero/],
    [
      { maxAge: { days: -1 } },
      /canary\.retention\.maxAge: must be longer than zero/,
    ],
    [
      { frequency: 'often' },
      /canary\.retention\.frequency: Invalid duration 'often'/,
    ],
    [
      { maxAgee: '90d' },
      /canary\.retention\.maxAgee: unknown key \(known: maxAge, frequency\)/,
    ],
    ['90d', /canary\.retention: Expected object, received string/],
  ])('refuses %j with the key to fix', (retention, message) => {
    expect(() => read(retention)).toThrow(message);
  });
});
