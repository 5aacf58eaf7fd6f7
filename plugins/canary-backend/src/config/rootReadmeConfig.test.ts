import path from 'path';
import { parse } from 'yaml';
import { ConfigReader } from '@backstage/config';
import { readCanaryConfig } from './CanaryConfig';
import { canaryConfigBlock } from '../__testUtils__/readmeBlocks';

describe('the repository README', () => {
  it('shows a configuration the plugin accepts', () => {
    const block = canaryConfigBlock(
      path.resolve(__dirname, '../../../../README.md'),
    );
    const text = block.replace(/\$\{[A-Z_]+\}/g, 'placeholder');
    const config = readCanaryConfig(new ConfigReader(parse(text)));
    const standard = config.policies.standard;
    expect(standard.steps.map(s => s.weight)).toEqual([5, 25, 50, 75, 100]);
    expect(standard.stickyHeader).toEqual({
      name: 'x-canary-user',
      value: 'true',
    });
  });
});
