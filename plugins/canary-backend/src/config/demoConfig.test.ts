import fs from 'fs';
import path from 'path';
import { parse } from 'yaml';
import { ConfigReader } from '@backstage/config';
import { readCanaryConfig } from './CanaryConfig';

describe('app-config.canary.yaml', () => {
  it('is a valid canary configuration', () => {
    const text = fs
      .readFileSync(
        path.resolve(__dirname, '../../../../app-config.canary.yaml'),
        'utf8',
      )
      .replace('${SANDBOX_TOKEN}', 'sandbox-token');
    const config = readCanaryConfig(new ConfigReader(parse(text)));
    expect(Object.keys(config.policies).sort()).toEqual([
      'gateway-api',
      'istio-sticky',
      'istio-versioned',
      'replica-ratio',
    ]);
    expect(config.policies['replica-ratio'].steps.map(s => s.weight)).toEqual([
      10, 20, 30, 40, 50,
    ]);
    expect(config.kubernetesClusters).toEqual(['sandbox']);
  });
});
