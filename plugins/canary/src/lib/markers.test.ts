import { chartMarkers } from './markers';

const event = (type: string, data: Record<string, unknown>) => ({
  id: 1,
  rolloutId: 'r-1',
  time: '2026-11-22T10:00:10Z',
  type,
  message: '',
  actor: 'coalmine',
  data,
});

describe('chartMarkers', () => {
  it('marks weight changes and controls, nothing else', () => {
    expect(
      chartMarkers([
        event('step', { weight: 25, stepIndex: 1 }),
        event('weight', { weight: 0 }),
        event('control', { control: 'pause' }),
        event('analysis', { action: 'advance' }),
        event('webhook', {}),
      ]),
    ).toEqual([
      { t: 1795341610, label: '25 %', manual: false },
      { t: 1795341610, label: '0 %', manual: false },
      { t: 1795341610, label: 'pause', manual: true },
    ]);
  });
});
