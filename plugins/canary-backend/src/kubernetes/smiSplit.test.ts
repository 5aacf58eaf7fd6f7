import { TrafficSplitObject } from './objects';
import {
  applyTrafficSplit,
  parseSmiWeight,
  readTrafficSplit,
} from './smiSplit';
import { trafficSplitBackends } from './SmiTrafficProvider';
import { parseManifest } from './__fixtures__/seedManifests';

const SPLIT = `
apiVersion: split.smi-spec.io/v1alpha4
kind: TrafficSplit
metadata:
  name: api-service
spec:
  service: api-service
  backends:
  - service: api-service-stable
    weight: 100
  - service: api-service-canary
    weight: 0
`;
const backends = { stable: 'api-service-stable', canary: 'api-service-canary' };

describe('SMI TrafficSplit', () => {
  const split = parseManifest<TrafficSplitObject>(SPLIT);

  it('finds the backends of the component', () => {
    expect(trafficSplitBackends(split, 'api-service')).toEqual(backends);
    expect(trafficSplitBackends(split, 'other')).toBeUndefined();
  });

  it.each([5, 25, 50, 75, 100, 0])('writes and reads %i %%', weight => {
    const next = applyTrafficSplit(split, backends, weight);
    expect(next.spec.backends).toEqual([
      { service: 'api-service-stable', weight: 100 - weight },
      { service: 'api-service-canary', weight },
    ]);
    expect(readTrafficSplit(next, backends).canaryWeight).toBe(weight);
  });

  it('reads v1alpha1 quantities and keeps writing text', () => {
    expect(parseSmiWeight('900m')).toBe(0.9);
    const old = parseManifest<TrafficSplitObject>(SPLIT);
    old.spec.backends = [
      { service: 'api-service-stable', weight: '900m' },
      { service: 'api-service-canary', weight: '100m' },
    ];
    expect(readTrafficSplit(old, backends).canaryWeight).toBe(10);
    expect(applyTrafficSplit(old, backends, 25).spec.backends).toEqual([
      { service: 'api-service-stable', weight: '75' },
      { service: 'api-service-canary', weight: '25' },
    ]);
  });
});
