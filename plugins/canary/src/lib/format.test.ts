import {
  formatDuration,
  formatDueIn,
  formatValue,
  workloadVersion,
} from './format';

describe('formatValue', () => {
  it.each([
    [4.1, '%', '4.1 %'],
    [0.3, '%', '0.3 %'],
    [0.01234, 'ratio', '0.0123 ratio'],
    [182.4, 'ms', '182 ms'],
    [12.345, 's', '12.3 s'],
    [0, '%', '0 %'],
    [-2.5, undefined, '-2.5'],
    [null, '%', '–'],
    [Number.NaN, '%', '–'],
  ])('%p %p → %p', (value, unit, text) => {
    expect(formatValue(value as number | null, unit)).toBe(text);
  });
});

describe('formatDuration', () => {
  it('says durations the way people do', () => {
    expect(formatDuration(42_000)).toBe('42 s');
    expect(formatDuration(200_000)).toBe('3 min 20 s');
    expect(formatDuration(180_000)).toBe('3 min');
    expect(formatDuration(3_840_000)).toBe('1 h 4 min');
    expect(formatDuration(-5)).toBe('0 s');
  });

  it('counts down to a due time', () => {
    const now = Date.parse('2026-11-22T10:00:00Z');
    expect(formatDueIn('2026-11-22T10:00:30Z', now)).toBe('in 30 s');
    expect(formatDueIn('2026-11-22T09:59:00Z', now)).toBe('due now');
  });
});

describe('workloadVersion', () => {
  it('prefers the version label, then the image tag, then the name', () => {
    expect(workloadVersion({ name: 'a', version: 'v2', image: 'x/a:1' })).toBe(
      'v2',
    );
    expect(
      workloadVersion({ name: 'a', image: 'registry:5000/x/a:1.4.0' }),
    ).toBe('1.4.0');
    expect(workloadVersion({ name: 'a', image: 'registry:5000/x/a' })).toBe(
      'a',
    );
  });

  it('shows the image tag when the label only names the role', () => {
    expect(
      workloadVersion({ name: 'a', version: 'stable', image: 'x/a:1.4.2' }),
    ).toBe('1.4.2');
    expect(workloadVersion({ name: 'a', version: 'canary' })).toBe('canary');
  });
});
