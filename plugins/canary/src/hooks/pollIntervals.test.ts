import { DEFAULT_POLL_INTERVALS, effectiveIntervals } from './pollIntervals';

describe('effectiveIntervals', () => {
  it('polls at the defaults, or the props, without Signals', () => {
    expect(effectiveIntervals(undefined, false, '')).toEqual(
      DEFAULT_POLL_INTERVALS,
    );
    expect(effectiveIntervals({ activeMs: 500 }, false, '').activeMs).toBe(500);
  });

  it('polls less often while changes are pushed', () => {
    expect(effectiveIntervals(undefined, true, '')).toMatchObject({
      activeMs: 15000,
      idleMs: 15000,
    });
    expect(
      effectiveIntervals({ idleMs: 60_000, pushedMs: 5000 }, true, ''),
    ).toMatchObject({ activeMs: 5000, idleMs: 60_000 });
  });

  it('takes ?canaryPollSeconds=N from the URL, 1 s to 1 h, over everything else', () => {
    expect(
      effectiveIntervals(
        { activeMs: 50 },
        true,
        '?tab=x&canaryPollSeconds=600',
      ),
    ).toMatchObject({ activeMs: 600_000, idleMs: 600_000 });
    for (const bad of ['0', '-5', 'soon', '99999', '']) {
      expect(
        effectiveIntervals(undefined, false, `?canaryPollSeconds=${bad}`),
      ).toEqual(DEFAULT_POLL_INTERVALS);
    }
  });
});
