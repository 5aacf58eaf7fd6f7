import path from 'path';
import { parse } from 'yaml';
import { ConfigReader } from '@backstage/config';
import { readCanaryConfig } from './CanaryConfig';
import { canaryConfigBlock } from '../__testUtils__/readmeBlocks';

describe('README.md', () => {
  it('shows a configuration the plugin accepts, with every policy key', () => {
    const block = canaryConfigBlock(path.resolve(__dirname, '../../README.md'));
    const text = block.replace(/\$\{[A-Z_]+\}/g, 'placeholder');
    const config = readCanaryConfig(new ConfigReader(parse(text)));
    const standard = config.policies.standard;
    expect(standard.steps).toEqual([
      { weight: 5 },
      { weight: 25, pauseSeconds: 120 },
      { weight: 50, approval: true },
      { weight: 75 },
      { weight: 100 },
    ]);
    expect(standard.webhooks.map(w => w.type)).toEqual([
      'pre-rollout',
      'rollout',
      'confirm-promotion',
      'post-rollout',
      'event',
    ]);
    expect(config.clusters['prod-eu'].prometheus?.getString('url')).toBe(
      'http://prometheus.prod-eu:9090',
    );
  });
});
